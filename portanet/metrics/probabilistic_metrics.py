"""Probabilistic metrics (keras/src/metrics/probabilistic_metrics.py): KLDivergence, Poisson
and the cross-entropies.
"""

from .reduction_metrics import _loss_fn, _wrapper_class


kl_divergence = _loss_fn("kl_divergence")
poisson = _loss_fn("poisson")
binary_crossentropy = _loss_fn("binary_crossentropy")
categorical_crossentropy = _loss_fn("categorical_crossentropy")
sparse_categorical_crossentropy = _loss_fn("sparse_categorical_crossentropy")
binary_focal_crossentropy = _loss_fn("binary_focal_crossentropy")


KLDivergence = _wrapper_class("KLDivergence", kl_divergence, "kl_divergence", "Mean KL divergence.")
Poisson = _wrapper_class("Poisson", poisson, "poisson", "Mean Poisson loss.")
BinaryCrossentropy = _wrapper_class(
    "BinaryCrossentropy", binary_crossentropy, "binary_crossentropy", "Mean binary cross-entropy.",
    from_logits=False, label_smoothing=0)
CategoricalCrossentropy = _wrapper_class(
    "CategoricalCrossentropy", categorical_crossentropy, "categorical_crossentropy",
    "Mean categorical cross-entropy.", from_logits=False, label_smoothing=0, axis=-1)
SparseCategoricalCrossentropy = _wrapper_class(
    "SparseCategoricalCrossentropy", sparse_categorical_crossentropy, "sparse_categorical_crossentropy",
    "Mean sparse categorical cross-entropy.", _last_axis_only=("axis",), from_logits=False,
    ignore_class=None, axis=-1)
