"""Training-step shortcuts that the built-in ``train_step`` takes when they apply.

Both are measured wins (bench/) and both are exact: they skip work whose result nobody
reads, or take a mathematically equal, numerically stabler route. They live here, with
the loop, rather than in the Layer contract; a layer opts in to each by one class
attribute declared on its own class (a layer without it is never touched).

1. Unused input gradient. The layer that reads the model's own input (a Sequential's
   first layer, see ``Model._input_fed_layer``) returns an input gradient that nobody
   reads, and for Dense/Conv/LSTM it is the largest matmul of the backward pass.
   Opt-in: the layer class declares ``_skip_input_grad = False``. During the training
   forward pass, ``skipping_input_grad`` sets the instance attribute to True; the
   layer reads it in ``forward`` and its ``backward`` may then return None. A layer
   written with ``call()`` is always in: its generated forward (layers/traced.py) then
   treats the input as a constant of the tape, so the input's gradient is never formed.

2. Fused softmax + cross-entropy. When the model's output layer applies softmax and the
   loss is (sparse_)categorical_crossentropy on probabilities, the gradient with respect
   to the pre-activation ``z`` is ``(p - y) * w / N``: the softmax Jacobian is never
   formed. Opt-in: the layer class itself (not a subclass) declares
   ``_accepts_pre_activation_grad = True``, has ``activation`` and
   ``activity_regularizer`` attributes, and its ``backward(dy)`` uses
   ``dy.pre_activation_grad`` as dL/dz when ``dy`` is a ``PreActivationGrad``
   (``getattr(dy, "pre_activation_grad", None)``). It applies only where the model says
   that layer's output is the model's output and nothing else reads it
   (``Model._output_layer``).
"""

from .. import activations as _activations
from .. import losses as _losses
from ..layers import traced as _traced


class PreActivationGrad:
    """A gradient with respect to a layer's pre-activation output ``z`` rather than its
    output (see the module docstring, shortcut 2)."""

    __slots__ = ("pre_activation_grad",)

    def __init__(self, dz):
        self.pre_activation_grad = dz


def input_grad_skipper(model):
    """The layer whose input gradient the training step may skip, or None (shortcut 1)."""
    layer = model._input_fed_layer()
    if layer is None:
        return None
    if not hasattr(type(layer), "_skip_input_grad") and not _traced.uses_call(layer):
        return None
    return layer


def fused_cross_entropy_applies(model, loss):
    """True when shortcut 2 applies to ``model``'s single output trained with ``loss``."""
    last = model._output_layer()
    if last is None or not type(last).__dict__.get("_accepts_pre_activation_grad", False):
        return False
    if getattr(last, "activation", None) is not _activations.softmax \
            or getattr(last, "activity_regularizer", None) is not None:
        return False
    if type(loss) is _losses.SparseCategoricalCrossentropy:
        ok = loss.ignore_class is None
    elif type(loss) is _losses.CategoricalCrossentropy:
        ok = loss.axis in (-1, 1)
    else:
        return False
    return ok and not loss.from_logits and loss.reduction == "sum_over_batch_size"


class FusedCrossEntropy:
    """Caches, per model, whether shortcut 2 applies (one dict lookup per step)."""

    __slots__ = ("key", "applies")

    def __init__(self):
        self.key = None
        self.applies = False

    def kernel(self, model, loss, p):
        """The backend's fused gradient function when shortcut 2 applies, else None."""
        if p.ndim != 2:
            return None
        key = (id(loss), id(model._output_layer()))
        if key != self.key:
            self.key, self.applies = key, fused_cross_entropy_applies(model, loss)
        return model.backend.fused("softmax_cross_entropy") if self.applies else None


def fused_loss_and_grad(model, kernel, loss, y, p, sample_weight, weight):
    """Loss value (Keras's) and the ``PreActivationGrad`` (p - y)·w/N for shortcut 2."""
    xp = model.xp
    sparse = isinstance(loss, _losses.SparseCategoricalCrossentropy)
    target = y
    if sparse and y.ndim == 2:
        target = xp.reshape(y, (y.shape[0],))
    elif not sparse:
        target = loss._smooth(xp.astype(y, p.dtype) if y.dtype != p.dtype else y, p.shape[-1])
    value_fn = model.backend.fused("sparse_ce_value") if sparse and sample_weight is None else None
    value = value_fn(p, target) if value_fn is not None else None
    if value is None:
        value, _ = loss.forward(y, p, sample_weight)
    dz = kernel(p, target, sparse, weight / p.shape[0], sample_weight)
    return value, PreActivationGrad(dz)
