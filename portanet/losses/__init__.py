"""Losses by their Keras names (keras/src/losses/losses.py), each with its exact gradient.

A loss's ``forward(y_true, y_pred, sample_weight=None)`` returns ``(value, backward)``
where ``backward(scale=1.0)`` gives scale·dL/dy_pred (docs/ARCHITECTURE.md, section 3). Calling
the loss returns only the value, as in Keras.

Each loss is written as a per-sample function ``_per_sample(y, p) -> (l, grad)`` where
``l`` reduces the last axis and ``grad(dl) -> dp``; the base class does Keras's rank
alignment, sample weighting and reduction (default ``sum_over_batch_size``: the weighted
sum divided by the number of per-sample values, not by the sum of weights).

Classes (string names in brackets): MeanSquaredError ("mse"), MeanAbsoluteError ("mae"),
MeanAbsolutePercentageError ("mape"), MeanSquaredLogarithmicError ("msle"), Huber
("huber"), LogCosh ("log_cosh"), KLDivergence ("kld", "kl_divergence"), Poisson,
Hinge, SquaredHinge, CategoricalHinge, CosineSimilarity, BinaryCrossentropy ("bce"),
BinaryFocalCrossentropy, CategoricalCrossentropy, SparseCategoricalCrossentropy,
CategoricalFocalCrossentropy, CategoricalGeneralizedCrossEntropy, Dice, Tversky, Circle,
CTC; each
also as a function (``pn.losses.huber(y_true, y_pred)``) returning per-sample values.
A custom ``f(y_true, y_pred)`` written with ``pn.ops`` trains as it is: its gradient
comes from the tape (``portanet.ops.tape``); one carrying ``f.grad(y_true, y_pred, dl)``
uses that instead. A ``Loss`` subclass that defines ``call(y_true, y_pred)`` (Keras's way)
returns per-sample values from ``call`` and gets Keras's sample weighting and reduction.

One family a file, as keras/src/losses: ``loss`` (the base Loss, reductions, the tape bridge,
LossFunctionWrapper), ``regression``, ``probabilistic``, ``hinges``, ``categorical_extra``
(categorical focal, generalized cross-entropy), ``segmentation`` (Dice, Tversky), ``circle``,
``ctc``; this module holds the
functional forms, the registry and get/serialize/deserialize.
"""

from ..naming import NameRegistry
from .hinges import CategoricalHinge, Hinge, SquaredHinge, _hinge_labels  # noqa: F401
from .loss import (  # noqa: F401  (the names portanet.losses has always exported)
    REDUCTIONS, Loss, LossFunctionWrapper, _bcast, _functions, _last_mean,
    _same_namespace, _xp, traced_per_sample)
from .probabilistic import (BinaryCrossentropy, BinaryFocalCrossentropy, CategoricalCrossentropy,
                            KLDivergence, Poisson, SparseCategoricalCrossentropy, _cce)  # noqa: F401
from .regression import (CosineSimilarity, Huber, LogCosh, MeanAbsoluteError,
                         MeanAbsolutePercentageError, MeanSquaredError,
                         MeanSquaredLogarithmicError)
from .categorical_extra import CategoricalFocalCrossentropy, CategoricalGeneralizedCrossEntropy
from .circle import Circle, circle_values
from .ctc import CTC
from .segmentation import Dice, Tversky


# Functional forms (Keras's keras.losses.mean_squared_error(y_true, y_pred) etc.).
def _functional(cls, **fixed):
    def fn(y_true, y_pred, **kwargs):
        return cls(reduction="none", **fixed, **kwargs)(y_true, y_pred)
    return fn


mean_squared_error = _functional(MeanSquaredError)
mean_absolute_error = _functional(MeanAbsoluteError)
mean_absolute_percentage_error = _functional(MeanAbsolutePercentageError)
mean_squared_logarithmic_error = _functional(MeanSquaredLogarithmicError)
huber = _functional(Huber)
log_cosh = _functional(LogCosh)
kl_divergence = _functional(KLDivergence)
poisson = _functional(Poisson)
hinge = _functional(Hinge)
squared_hinge = _functional(SquaredHinge)
categorical_hinge = _functional(CategoricalHinge)
cosine_similarity = _functional(CosineSimilarity)
binary_crossentropy = _functional(BinaryCrossentropy)
binary_focal_crossentropy = _functional(BinaryFocalCrossentropy)
categorical_crossentropy = _functional(CategoricalCrossentropy)
sparse_categorical_crossentropy = _functional(SparseCategoricalCrossentropy)


def categorical_focal_crossentropy(y_true, y_pred, alpha=0.25, gamma=2.0, from_logits=False,
                                   label_smoothing=0.0, axis=-1):
    """Per-sample categorical focal cross-entropy (see CategoricalFocalCrossentropy)."""
    return CategoricalFocalCrossentropy(alpha=alpha, gamma=gamma, from_logits=from_logits,
                                        label_smoothing=label_smoothing, axis=axis,
                                        reduction="none")(y_true, y_pred)


def dice(y_true, y_pred, axis=None):
    """Dice loss 1 - 2·Σ(y·p)/(Σy + Σp + EPS) over ``axis`` (None: a scalar)."""
    return Dice(axis=axis, reduction="none")(y_true, y_pred)


def tversky(y_true, y_pred, alpha=0.5, beta=0.5, axis=None):
    """Tversky loss over ``axis`` (see Tversky)."""
    return Tversky(alpha=alpha, beta=beta, axis=axis, reduction="none")(y_true, y_pred)


def circle(y_true, y_pred, ref_labels=None, ref_embeddings=None, remove_diagonal=True, gamma=80,
           margin=0.4):
    """Per-sample circle losses of integer labels and L2-normalized embeddings against
    reference labels/embeddings (default: the batch itself)."""
    kw = {"ref_labels": ref_labels, "ref_embeddings": ref_embeddings,
          "remove_diagonal": remove_diagonal, "gamma": gamma, "margin": margin}

    def fn(y, p):
        return circle_values(y, p, **kw)[0]

    def grad(y, p, dl):
        return circle_values(y, p, **kw)[1](dl)
    wrapper = LossFunctionWrapper(fn, grad=grad, reduction="none", name="circle")
    wrapper.target_kind = "labels"
    wrapper._align = lambda y, p: (y, p)
    return wrapper(y_true, y_pred)


def ctc(y_true, y_pred):
    """Per-sequence CTC losses (see CTC)."""
    return CTC(reduction="none")(y_true, y_pred)


def categorical_generalized_cross_entropy(y_true, y_pred, q):
    """Per-sample generalized cross-entropy (1 - p^q)/q of integer labels."""
    return CategoricalGeneralizedCrossEntropy(q=q, reduction="none")(y_true, y_pred)


for _n in ["mean_squared_error", "mean_absolute_error", "mean_absolute_percentage_error",
           "mean_squared_logarithmic_error", "huber", "log_cosh", "kl_divergence", "poisson",
           "hinge", "squared_hinge", "categorical_hinge", "cosine_similarity",
           "binary_crossentropy", "binary_focal_crossentropy", "categorical_crossentropy",
           "sparse_categorical_crossentropy"]:
    globals()[_n].__name__ = _n
    globals()[_n].__qualname__ = _n
mse, mae, mape, msle = (mean_squared_error, mean_absolute_error, mean_absolute_percentage_error,
                        mean_squared_logarithmic_error)
kld = kullback_leibler_divergence = kl_divergence
logcosh = log_cosh

_registry = NameRegistry("loss", Loss, "keras.losses")
_STRING_TO_CLASS = {}


def register(cls, *names):
    """Register a Loss class under its class name and string aliases (e.g. "mse")."""
    _registry.register(cls, *names)
    for n in names:
        _STRING_TO_CLASS[n] = cls
    return cls


register(MeanSquaredError, "mean_squared_error", "mse", "MSE")
register(MeanAbsoluteError, "mean_absolute_error", "mae", "MAE")
register(MeanAbsolutePercentageError, "mean_absolute_percentage_error", "mape", "MAPE")
register(MeanSquaredLogarithmicError, "mean_squared_logarithmic_error", "msle", "MSLE")
register(Huber, "huber", "huber_loss")
register(LogCosh, "log_cosh", "logcosh")
register(KLDivergence, "kl_divergence", "kld", "KLD", "kullback_leibler_divergence")
register(Poisson, "poisson")
register(Hinge, "hinge")
register(SquaredHinge, "squared_hinge")
register(CategoricalHinge, "categorical_hinge")
register(CosineSimilarity, "cosine_similarity")
register(BinaryCrossentropy, "binary_crossentropy", "bce", "BCE")
register(BinaryFocalCrossentropy, "binary_focal_crossentropy")
register(CategoricalCrossentropy, "categorical_crossentropy")
register(SparseCategoricalCrossentropy, "sparse_categorical_crossentropy")
register(CategoricalFocalCrossentropy, "categorical_focal_crossentropy")
register(CategoricalGeneralizedCrossEntropy, "categorical_generalized_cross_entropy")
register(Dice, "dice")
register(Tversky, "tversky")
register(Circle, "circle")
register(CTC, "ctc")
_registry.register(LossFunctionWrapper)
_FUNCTION_TO_CLASS = {
    mean_squared_error: MeanSquaredError, mean_absolute_error: MeanAbsoluteError,
    mean_absolute_percentage_error: MeanAbsolutePercentageError,
    mean_squared_logarithmic_error: MeanSquaredLogarithmicError, huber: Huber, log_cosh: LogCosh,
    kl_divergence: KLDivergence, poisson: Poisson, hinge: Hinge, squared_hinge: SquaredHinge,
    categorical_hinge: CategoricalHinge, cosine_similarity: CosineSimilarity,
    binary_crossentropy: BinaryCrossentropy, binary_focal_crossentropy: BinaryFocalCrossentropy,
    categorical_crossentropy: CategoricalCrossentropy,
    sparse_categorical_crossentropy: SparseCategoricalCrossentropy,
    categorical_focal_crossentropy: CategoricalFocalCrossentropy, dice: Dice, tversky: Tversky,
    circle: Circle, ctc: CTC,
}


def get(identifier):
    """A Loss from a name ("mse", "categorical_crossentropy"), a config, a Loss or a
    function ``f(y_true, y_pred)`` written with ``pn.ops`` (differentiated by the tape)."""
    if identifier is None:
        return None
    if isinstance(identifier, str):
        cls = _registry.lookup(identifier)
        return cls() if isinstance(cls, type) else cls
    if isinstance(identifier, Loss):
        return identifier
    if isinstance(identifier, dict):
        return _registry.deserialize(identifier)
    if isinstance(identifier, type) and issubclass(identifier, Loss):
        return identifier()
    if callable(identifier):
        cls = _FUNCTION_TO_CLASS.get(identifier)
        if cls is not None:
            # compile(loss=pn.losses.huber): the built-in function trains through its class.
            return cls()
        return LossFunctionWrapper(identifier)
    raise TypeError(f"could not interpret loss={identifier!r}; expected a name (one of "
                    f"{', '.join(_registry.names())}), a Loss or a function")


def serialize(loss):
    return _registry.serialize(loss)


def deserialize(config):
    return _registry.deserialize(config)
