"""LossScaleOptimizer, as keras/src/optimizers/loss_scale_optimizer.py (Keras 3.15.1).

Dynamic loss scaling for float16 training: the training step multiplies the loss by
``dynamic_scale`` (so small float16 gradients do not underflow to zero) and this optimizer
divides the gradients by it before the inner optimizer's update. On a step whose gradients
hold an inf or a NaN the update is skipped (weights, slots and ``iterations`` unchanged),
the scale is halved and the counter reset; after ``dynamic_growth_steps`` finite steps in a
row the scale doubles.

``step_counter`` (int) and ``dynamic_scale`` (float) are Keras's two variables; portanet
keeps them on the host (a Python int and float: the scale is a power of two times
``initial_scale``, exact in float32) and saves them in ``get_state()``. Deciding whether to
skip reads one device boolean back per step: the one synchronization of a loss-scaled step.
"""

import math

from ..validation import check_positive_int
from .base import Optimizer, _is_variable

# Set by portanet.optimizers (the registry lives there, which imports this module): the
# function turning a serialized inner optimizer back into an Optimizer.
_deserialize_optimizer = None

_BASE_OPTIMIZER_DEFAULTS = {"weight_decay": None, "clipnorm": None, "global_clipnorm": None,
                            "clipvalue": None, "use_ema": False, "ema_momentum": 0.99,
                            "ema_overwrite_frequency": None, "loss_scale_factor": None,
                            "gradient_accumulation_steps": None}


class LossScaleOptimizer(Optimizer):
    """An optimizer that dynamically scales the loss to prevent float16 underflow.

    ``compile()`` wraps the optimizer in one automatically when the model's dtype policy
    is ``"mixed_float16"`` (``auto_scale_loss=True``), as Keras.

    Args:
        inner_optimizer: the ``pn.optimizers.Optimizer`` to wrap.
        initial_scale: the first loss scale, 2**15.
        dynamic_growth_steps: double the scale after this many finite steps in a row, 2000.
        name: the optimizer's name.
    """

    def __init__(self, inner_optimizer, initial_scale=2.0 ** 15, dynamic_growth_steps=2000,
                 name=None, **kwargs):
        if not kwargs.pop("dynamic", True):
            raise ValueError("LossScaleOptimizer no longer supports `dynamic=False`. Instead, "
                             "simply set `loss_scale_factor` directly on the `inner_optimizer`.")
        for arg_name, default_value in _BASE_OPTIMIZER_DEFAULTS.items():
            if arg_name not in kwargs:
                continue
            arg_value = kwargs.pop(arg_name)
            if (default_value is None and arg_value is not None) or arg_value != default_value:
                raise ValueError(f"LossScaleOptimizer does not support `{arg_name}`. Instead, "
                                 f"set `{arg_name}` on the `inner_optimizer`.")
        if kwargs:
            raise ValueError("LossScaleOptimizer does not support arguments: "
                             f"`{'`, `'.join(kwargs.keys())}`.")
        if not isinstance(inner_optimizer, Optimizer):
            raise TypeError(f"LossScaleOptimizer: inner_optimizer={inner_optimizer!r}; expected a "
                            "pn.optimizers.Optimizer instance (e.g. pn.optimizers.Adam())")
        if isinstance(initial_scale, bool) or not isinstance(initial_scale, (int, float)) \
                or not initial_scale > 0 or math.isinf(initial_scale):
            raise ValueError(f"LossScaleOptimizer: initial_scale={initial_scale!r}; expected a "
                             "positive finite number")
        check_positive_int(dynamic_growth_steps, "dynamic_growth_steps", "LossScaleOptimizer")
        super().__init__(learning_rate=0.0, name=name)
        self.inner_optimizer = inner_optimizer
        self.initial_scale = initial_scale
        self.dynamic_growth_steps = dynamic_growth_steps
        # The inner optimizer must not scale again.
        self.inner_optimizer.loss_scale_factor = None
        self.step_counter = 0
        self.dynamic_scale = float(initial_scale)

    # ------------------------------------------------------------------ delegated state
    @property
    def learning_rate(self):
        return self.inner_optimizer.learning_rate

    @learning_rate.setter
    def learning_rate(self, value):
        self.inner_optimizer.learning_rate = value

    @property
    def iterations(self):
        inner = self.__dict__.get("inner_optimizer")
        return 0 if inner is None else inner.iterations

    @iterations.setter
    def iterations(self, value):
        inner = self.__dict__.get("inner_optimizer")
        if inner is not None:  # Optimizer.__init__ sets 0 before the inner one is attached
            inner.iterations = value

    @property
    def built(self):
        return self.inner_optimizer.built

    @property
    def variables(self):
        return self.inner_optimizer.variables

    def build(self, variables):
        self.inner_optimizer.build(variables)

    def _new_slots(self, variable):
        return self.inner_optimizer._new_slots(variable)

    def _make_slots(self, variable):
        return self.inner_optimizer._make_slots(variable)

    def finalize_variable_values(self, var_list=None):
        self.inner_optimizer.finalize_variable_values(var_list)

    def exclude_from_weight_decay(self, var_list=None, var_names=None):
        self.inner_optimizer.exclude_from_weight_decay(var_list, var_names)

    def get_state(self):
        """The inner optimizer's state plus ``step_counter`` and ``dynamic_scale``."""
        state = dict(self.inner_optimizer.get_state())
        state["step_counter"] = int(self.step_counter)
        state["dynamic_scale"] = float(self.dynamic_scale)
        return state

    def set_state(self, state, variables):
        state = dict(state)
        step_counter = state.pop("step_counter", 0)
        dynamic_scale = state.pop("dynamic_scale", float(self.initial_scale))
        if isinstance(step_counter, bool) or not isinstance(step_counter, int) or step_counter < 0:
            raise ValueError(f"{self.name}: state step_counter={step_counter!r}; expected an int >= 0")
        if isinstance(dynamic_scale, bool) or not isinstance(dynamic_scale, (int, float)) \
                or not dynamic_scale > 0:
            raise ValueError(f"{self.name}: state dynamic_scale={dynamic_scale!r}; expected a "
                             "positive float")
        self.inner_optimizer.set_state(state, variables)
        self.step_counter = step_counter
        self.dynamic_scale = float(dynamic_scale)

    # ------------------------------------------------------------------ scaling
    def scale_loss(self, loss):
        """``loss * dynamic_scale`` (the training step calls this, as Keras's)."""
        return loss * self.dynamic_scale

    def check_finite(self, grads):
        """Whether every gradient is finite (one device read for all of them)."""
        arrays = [g for g in grads if g is not None]
        if not arrays:
            return True
        import array_api_compat  # the gradients' own namespace (no backend object needed)
        xp = array_api_compat.array_namespace(arrays[0])
        flags = [xp.all(xp.isfinite(g)) for g in arrays]
        ok = flags[0]
        for f in flags[1:]:
            ok = ok & f
        return bool(ok)

    def apply(self, grads, trainable_variables=None):
        """One loss-scaled step: skip it and halve the scale on non-finite gradients; else
        unscale them, let the inner optimizer update, and count toward doubling the scale.

        Takes the same forms as ``Optimizer.apply`` (Keras's ``apply(grads, variables)`` and
        portanet's ``apply(variables)`` with each gradient in ``.grad``).
        """
        grads = list(grads)
        own_form = trainable_variables is None and (not grads or _is_variable(grads[0]))
        arrays = [v.grad for v in grads] if own_form else grads
        if own_form and not self.inner_optimizer.built:
            self.inner_optimizer.build(grads)
        elif not own_form and not self.inner_optimizer.built and trainable_variables is not None:
            self.inner_optimizer.build(list(trainable_variables))
        if not self.check_finite(arrays):
            self.step_counter = 0
            self.dynamic_scale = self.dynamic_scale * 0.5
            return
        scale = self.dynamic_scale
        if own_form:
            for v in grads:
                if v.grad is not None:
                    v.grad = v.grad / scale
            self.inner_optimizer.apply(grads)
        else:
            self.inner_optimizer.apply([None if g is None else g / scale for g in arrays],
                                       trainable_variables)
        if self.step_counter == self.dynamic_growth_steps - 1:
            self.step_counter = 0
            self.dynamic_scale = self.dynamic_scale * 2.0
        else:
            self.step_counter += 1

    # ------------------------------------------------------------------ config
    def get_config(self):
        inner = self.inner_optimizer
        return {"name": self.name,
                "inner_optimizer": {"module": "keras.optimizers", "class_name": type(inner).__name__,
                                    "config": inner.get_config(), "registered_name": None},
                "initial_scale": self.initial_scale,
                "dynamic_growth_steps": self.dynamic_growth_steps}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        inner = config.pop("inner_optimizer")
        if not isinstance(inner, Optimizer):
            inner = _deserialize_optimizer(inner)
        return cls(inner, **config)

    def __repr__(self):
        return (f"<LossScaleOptimizer inner={self.inner_optimizer!r} "
                f"dynamic_scale={self.dynamic_scale!r}>")
