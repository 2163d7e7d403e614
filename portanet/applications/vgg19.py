"""``keras.applications.vgg19``: ``VGG19`` (16 convolutions in blocks of 2, 2, 4, 4, 4)."""

from ._vgg import build_vgg


def VGG19(include_top=True, weights="imagenet", input_tensor=None, input_shape=None,
          pooling=None, classes=1000, classifier_activation="softmax", name="vgg19"):
    """Keras's VGG19: the same arguments, layer names and shapes (224x224x3 by default)."""
    return build_vgg((2, 2, 4, 4, 4), include_top, weights, input_tensor, input_shape, pooling,
                     classes, classifier_activation, name,
                     ("vgg19_weights_tf_dim_ordering_tf_kernels.h5",
                      "vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5"),
                     ("cbe5617147190e668d6c5d5026f83318", "253f8cb515780f3b799900260a226db6"))
