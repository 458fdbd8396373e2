"""Models: the classic and modern CNNs as ``init``/``apply`` pairs (``lenet5()``, ``get(name)``)."""

from jaxconv._src.nn.models import Model as Model
from jaxconv._src.nn.models import cnn1d as cnn1d
from jaxconv._src.nn.models import cnn3d as cnn3d
from jaxconv._src.nn.models import get as get
from jaxconv._src.nn.models import lenet5 as lenet5
from jaxconv._src.nn.models import logistic as logistic
from jaxconv._src.nn.models import mlp as mlp
from jaxconv._src.nn.models import param_count as param_count
from jaxconv._src.nn.models import resnet as resnet
from jaxconv._src.nn.models import resnet20 as resnet20
from jaxconv._src.nn.models import unet as unet
from jaxconv._src.nn.models import vgg_small as vgg_small

__all__ = [
    "Model",
    "cnn1d",
    "cnn3d",
    "get",
    "lenet5",
    "logistic",
    "mlp",
    "param_count",
    "resnet",
    "resnet20",
    "unet",
    "vgg_small",
]
