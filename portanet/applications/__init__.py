"""``keras.applications``: the VGG16 and VGG19 architectures (Keras 3's layer names and
shapes). ``weights="imagenet"`` downloads Keras's weight files with ``utils.get_file`` (so it
needs the network, as Keras does); ``weights=None`` gives randomly initialized weights and a
path loads a weight file."""

from . import vgg16, vgg19
from .vgg16 import VGG16
from .vgg19 import VGG19

__all__ = ["VGG16", "VGG19", "vgg16", "vgg19"]
