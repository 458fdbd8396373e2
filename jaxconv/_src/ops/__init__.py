"""The ops, one module each, and their registry.

Importing this package imports every module in it and registers the ``SPECS`` each declares
(:class:`jaxconv._src.core.spec.OpSpec`): a new op module is found without being listed
anywhere. :data:`SPECS` maps each op's name to its entry, in the order of
:data:`jaxconv._src.core.spec.KINDS`, then by name.
"""

import importlib
import pkgutil

from jaxconv._src.core import spec as _spec

for _info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
    for _entry in getattr(importlib.import_module(f"{__name__}.{_info.name}"), "SPECS", ()):
        _spec.register(_entry)


def _order(s):
    return (_spec.KINDS.index(s.kind) if s.kind in _spec.KINDS else len(_spec.KINDS), s.name)


SPECS = {s.name: s for s in sorted(_spec.REGISTRY.values(),
                                   key=_order)}
NAMES = tuple(SPECS)
