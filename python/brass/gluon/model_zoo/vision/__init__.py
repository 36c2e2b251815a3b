"""Vision networks of MXNet 1.x's model zoo, with MXNet 1.9.1's parameter names and shapes:
ResNet v1/v2, MobileNet v1/v2, VGG (with and without BatchNorm), SqueezeNet, DenseNet, AlexNet,
Inception v3. ``get_model(name)`` builds one by name; ``pretrained=True`` loads MXNet's published
parameter file from a local folder (``model_store.get_model_file``).

>>> import brass as mx
>>> net = mx.gluon.model_zoo.vision.get_model('mobilenet0.25', classes=10)
>>> net.initialize()
>>> net(mx.nd.zeros((2, 3, 32, 32))).shape
(2, 10)
"""
from ....base import BrassError
from .alexnet import *  # noqa: F401,F403
from .densenet import *  # noqa: F401,F403
from .inception import *  # noqa: F401,F403
from .mobilenet import *  # noqa: F401,F403
from .resnet import *  # noqa: F401,F403
from .squeezenet import *  # noqa: F401,F403
from .vgg import *  # noqa: F401,F403
from .alexnet import alexnet
from .densenet import densenet121, densenet161, densenet169, densenet201
from .inception import inception_v3
from .mobilenet import (mobilenet1_0, mobilenet0_75, mobilenet0_5, mobilenet0_25, mobilenet_v2_1_0,
                        mobilenet_v2_0_75, mobilenet_v2_0_5, mobilenet_v2_0_25)
from .resnet import (resnet18_v1, resnet34_v1, resnet50_v1, resnet101_v1, resnet152_v1, resnet18_v2,
                     resnet34_v2, resnet50_v2, resnet101_v2, resnet152_v2)
from .squeezenet import squeezenet1_0, squeezenet1_1
from .vgg import vgg11, vgg13, vgg16, vgg19, vgg11_bn, vgg13_bn, vgg16_bn, vgg19_bn

_models = {
    "resnet18_v1": resnet18_v1, "resnet34_v1": resnet34_v1, "resnet50_v1": resnet50_v1,
    "resnet101_v1": resnet101_v1, "resnet152_v1": resnet152_v1,
    "resnet18_v2": resnet18_v2, "resnet34_v2": resnet34_v2, "resnet50_v2": resnet50_v2,
    "resnet101_v2": resnet101_v2, "resnet152_v2": resnet152_v2,
    "vgg11": vgg11, "vgg13": vgg13, "vgg16": vgg16, "vgg19": vgg19,
    "vgg11_bn": vgg11_bn, "vgg13_bn": vgg13_bn, "vgg16_bn": vgg16_bn, "vgg19_bn": vgg19_bn,
    "alexnet": alexnet,
    "densenet121": densenet121, "densenet161": densenet161,
    "densenet169": densenet169, "densenet201": densenet201,
    "squeezenet1.0": squeezenet1_0, "squeezenet1.1": squeezenet1_1,
    "inceptionv3": inception_v3,
    "mobilenet1.0": mobilenet1_0, "mobilenet0.75": mobilenet0_75,
    "mobilenet0.5": mobilenet0_5, "mobilenet0.25": mobilenet0_25,
    "mobilenetv2_1.0": mobilenet_v2_1_0, "mobilenetv2_0.75": mobilenet_v2_0_75,
    "mobilenetv2_0.5": mobilenet_v2_0_5, "mobilenetv2_0.25": mobilenet_v2_0_25,
}


def get_model(name, **kwargs):
    """The network called ``name`` (case-insensitive; the names of MXNet's get_model, e.g.
    'resnet50_v1', 'mobilenetv2_1.0', 'squeezenet1.1', 'inceptionv3'). Keywords:
    pretrained (False; True loads ``<name>-<sha1 prefix>.params`` from root), classes (1000),
    ctx (where pretrained parameters go), root (default ``$BRASS_HOME/models``), and the
    network's own (thumbnail, batch_norm, prefix...). An unknown name raises BrassError
    listing the known ones.

    >>> get_model('ResNet18_v1').__class__.__name__
    'ResNetV1'
    """
    key = name.lower() if isinstance(name, str) else name
    if key not in _models:
        raise BrassError("get_model: no model named %r; the model zoo has:\n\t%s"
                         % (name, "\n\t".join(sorted(_models))))
    return _models[key](**kwargs)


def list_models():
    """The names get_model accepts, sorted.

    >>> 'alexnet' in list_models()
    True
    """
    return sorted(_models)
