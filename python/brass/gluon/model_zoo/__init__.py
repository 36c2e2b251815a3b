"""Predefined networks (MXNet 1.x ``gluon.model_zoo``): ``vision.get_model(name)`` builds one with
MXNet 1.9.1's parameter names and shapes; ``pretrained=True`` loads MXNet's published parameter
files from a local folder (see ``model_store``)."""
from . import model_store  # noqa: F401
from . import vision  # noqa: F401
