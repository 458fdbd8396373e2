"""Checking your own ``custom_vjp`` rules the way jaxconv checks its own: ``check_vjp`` against
the same math differentiated by JAX (values, VJPs, finite differences, jit / eager / vmap, each
argument alone, float64 to 16-bit), its building blocks, and ``cases`` for sweeps."""

from jaxconv._src.tools.compare import CallRow as CallRow
from jaxconv._src.tools.compare import ModelReport as ModelReport
from jaxconv._src.tools.compare import compare_model as compare_model
from jaxconv._src.tools.testing import TOLERANCE as TOLERANCE
from jaxconv._src.tools.testing import TRANSFORMS as TRANSFORMS
from jaxconv._src.tools.testing import DtypeReport as DtypeReport
from jaxconv._src.tools.testing import GradientErrors as GradientErrors
from jaxconv._src.tools.testing import LeafError as LeafError
from jaxconv._src.tools.testing import Params as Params
from jaxconv._src.tools.testing import Report as Report
from jaxconv._src.tools.testing import assert_rel_close as assert_rel_close
from jaxconv._src.tools.testing import assert_trees_close as assert_trees_close
from jaxconv._src.tools.testing import cases as cases
from jaxconv._src.tools.testing import check_grads_rev as check_grads_rev
from jaxconv._src.tools.testing import check_vjp as check_vjp
from jaxconv._src.tools.testing import compiled_pullback as compiled_pullback
from jaxconv._src.tools.testing import compiled_vjp as compiled_vjp
from jaxconv._src.tools.testing import cotangent_loss as cotangent_loss
from jaxconv._src.tools.testing import directional_errors as directional_errors
from jaxconv._src.tools.testing import gradient_errors as gradient_errors
from jaxconv._src.tools.testing import leaf_errors as leaf_errors
from jaxconv._src.tools.testing import max_abs as max_abs
from jaxconv._src.tools.testing import no_worse as no_worse
from jaxconv._src.tools.testing import rel_err as rel_err
from jaxconv._src.tools.testing import verdicts as verdicts

__all__ = [
    "CallRow",
    "DtypeReport",
    "GradientErrors",
    "LeafError",
    "ModelReport",
    "Params",
    "Report",
    "TOLERANCE",
    "TRANSFORMS",
    "assert_rel_close",
    "assert_trees_close",
    "cases",
    "check_grads_rev",
    "check_vjp",
    "compare_model",
    "compiled_pullback",
    "compiled_vjp",
    "cotangent_loss",
    "directional_errors",
    "gradient_errors",
    "leaf_errors",
    "max_abs",
    "no_worse",
    "rel_err",
    "verdicts",
]
