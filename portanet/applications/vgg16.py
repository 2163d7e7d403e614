"""``keras.applications.vgg16``: ``VGG16`` (13 convolutions in blocks of 2, 2, 3, 3, 3)."""

from ._vgg import build_vgg


def VGG16(include_top=True, weights="imagenet", input_tensor=None, input_shape=None,
          pooling=None, classes=1000, classifier_activation="softmax", name="vgg16"):
    """Keras's VGG16: the same arguments, layer names and shapes (224x224x3 by default)."""
    return build_vgg((2, 2, 3, 3, 3), include_top, weights, input_tensor, input_shape, pooling,
                     classes, classifier_activation, name,
                     ("vgg16_weights_tf_dim_ordering_tf_kernels.h5",
                      "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"),
                     ("64373286793e3c8b2b4e3219cbf3544b", "6d6bbae143d832006294945121d1f1fc"))
