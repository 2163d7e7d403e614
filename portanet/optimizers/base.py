"""Optimizer base: clipping, weight decay, learning-rate schedules, slots and state.

Step order is Keras's (base_optimizer.apply): clip (clipnorm per tensor, global_clipnorm,
or clipvalue; one at most), decoupled weight decay w -= w·wd·lr, ``update_step`` per
variable, the EMA of the weights (``use_ema``; fit copies it into the weights at the end
through ``finalize_variable_values``), then constraints, then ``iterations += 1``. With
``gradient_accumulation_steps`` k, only every k-th call updates (with the mean of the k
gradients); the others accumulate. The learning rate of a step is
``schedule(iterations)`` read before the increment. ``iterations`` is a host int, so
bias corrections are host floats and a step never synchronizes the device.
"""

import math

from ..utils.naming import snake_case


class Optimizer:
    """Base class of optimizers.

    Args:
        learning_rate: float or a ``LearningRateSchedule`` (or any callable of the step).
        weight_decay: decoupled weight decay factor, or None.
        clipnorm: clip each gradient to this L2 norm.
        clipvalue: clip each gradient element to [-clipvalue, clipvalue].
        global_clipnorm: clip all gradients together to this global L2 norm.
        name: optimizer name.
    """

    def __init__(self, learning_rate=0.001, weight_decay=None, clipnorm=None, clipvalue=None,
                 global_clipnorm=None, use_ema=False, ema_momentum=0.99, ema_overwrite_frequency=None,
                 loss_scale_factor=None, gradient_accumulation_steps=None, name=None, **kwargs):
        if kwargs:
            raise TypeError(f"{type(self).__name__}: unexpected keyword argument(s) {sorted(kwargs)}")
        set_clips = [n for n, v in (("clipnorm", clipnorm), ("clipvalue", clipvalue),
                                    ("global_clipnorm", global_clipnorm)) if v is not None]
        if len(set_clips) > 1:
            raise ValueError(f"{type(self).__name__}: only one of clipnorm, clipvalue and "
                             f"global_clipnorm may be set; got {', '.join(set_clips)}")
        for n, v in (("clipnorm", clipnorm), ("clipvalue", clipvalue), ("global_clipnorm", global_clipnorm)):
            if v is not None and not v > 0:
                raise ValueError(f"{type(self).__name__}: {n}={v!r}; expected a positive float")
        if weight_decay is not None and (not isinstance(weight_decay, (int, float)) or weight_decay < 0):
            raise ValueError(f"{type(self).__name__}: weight_decay={weight_decay!r}; expected a non-negative float")
        if loss_scale_factor is not None and not loss_scale_factor > 0:
            raise ValueError(f"{type(self).__name__}: loss_scale_factor={loss_scale_factor!r}; expected > 0")
        if use_ema and not 0.0 <= ema_momentum <= 1.0:
            raise ValueError(f"{type(self).__name__}: ema_momentum={ema_momentum!r}; expected a float in [0, 1]")
        if ema_overwrite_frequency is not None and (isinstance(ema_overwrite_frequency, bool) or not isinstance(
                ema_overwrite_frequency, int) or ema_overwrite_frequency < 1):
            raise ValueError(f"{type(self).__name__}: ema_overwrite_frequency={ema_overwrite_frequency!r}; "
                             "expected None or a positive integer")
        if gradient_accumulation_steps is not None and (isinstance(gradient_accumulation_steps, bool) or not
                isinstance(gradient_accumulation_steps, int) or gradient_accumulation_steps < 2):
            raise ValueError(f"{type(self).__name__}: gradient_accumulation_steps={gradient_accumulation_steps!r}; "
                             "expected None or an integer >= 2")
        self.name = name or snake_case(type(self).__name__)
        self.weight_decay = weight_decay
        self.clipnorm, self.clipvalue, self.global_clipnorm = clipnorm, clipvalue, global_clipnorm
        self.use_ema, self.ema_momentum = bool(use_ema), float(ema_momentum)
        self.ema_overwrite_frequency = ema_overwrite_frequency
        self.loss_scale_factor = loss_scale_factor
        self.gradient_accumulation_steps = gradient_accumulation_steps
        self._learning_rate = self._check_lr(learning_rate)
        self.iterations = 0
        self._variables = None
        self._slots = []
        self._slot_names = []
        self._exclude_names = ()
        self._exclude_ids = set()

    # ------------------------------------------------------------------ learning rate
    def _check_lr(self, lr):
        if callable(lr):
            return lr
        if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not lr >= 0 or math.isinf(lr):
            raise ValueError(f"{type(self).__name__}: learning_rate={lr!r}; expected a non-negative "
                             "float or a LearningRateSchedule")
        return float(lr)

    @property
    def learning_rate(self):
        """The current rate (a float; for a schedule, its value at ``iterations``)."""
        return self._current_lr()

    @learning_rate.setter
    def learning_rate(self, value):
        from .schedules import LearningRateSchedule
        if isinstance(self._learning_rate, LearningRateSchedule) and not callable(value):
            # Keras: a schedule-driven rate is not settable by a float.
            raise TypeError(f"{type(self).__name__}: learning_rate is a {type(self._learning_rate).__name__} "
                            "schedule, so it cannot be set to a float; create the optimizer with a float "
                            "learning_rate to make it settable")
        self._learning_rate = self._check_lr(value)

    def _current_lr(self):
        lr = self._learning_rate
        return float(lr(self.iterations)) if callable(lr) else lr

    # ------------------------------------------------------------------ state
    def build(self, variables):
        """Create the slots for ``variables`` (called on the first apply)."""
        self._variables = list(variables)
        self._slots = [self._new_slots(v) for v in self._variables]

    def _new_slots(self, variable):
        # Base-owned slots ride along with the subclass's so get_state/set_state carry them.
        slots = self._make_slots(variable)
        if self.use_ema:
            slots["average"] = self._zeros_like(variable)
        if self.gradient_accumulation_steps:
            slots["accumulated_gradient"] = self._zeros_like(variable)
        return slots

    def _make_slots(self, variable):
        """A dict of slot arrays for one variable; subclasses add theirs."""
        return {}

    def _zeros_like(self, variable, fill=0.0):
        xp = variable.backend.xp
        if fill == 0.0:
            return xp.zeros_like(variable.value)
        return xp.full_like(variable.value, fill)

    @property
    def variables(self):
        return self._variables or []

    def exclude_from_weight_decay(self, var_list=None, var_names=None):
        """Exclude variables (or those whose name contains one of ``var_names``) from decay."""
        self._exclude_ids |= {v._id for v in (var_list or [])}
        self._exclude_names = tuple(var_names or ())

    def get_state(self):
        """{"iterations": int, "slots": [{name: host array}, ...]} for saving."""
        return {"iterations": self.iterations,
                "slots": [{k: v.backend.to_numpy(s).copy() if hasattr(v, "backend") else s
                           for k, s in slots.items()}
                          for v, slots in zip(self.variables, self._slots)]}

    def set_state(self, state, variables):
        """Restore ``get_state()``'s output for ``variables`` (builds the slots first)."""
        self.build(variables)
        self.iterations = int(state["iterations"])
        slots = state["slots"]
        if len(slots) != len(self._slots):
            raise ValueError(f"{self.name}: optimizer state holds {len(slots)} variables' slots; "
                             f"the model has {len(self._slots)} trainable variables")
        for v, mine, theirs in zip(self.variables, self._slots, slots):
            for k in mine:
                if k not in theirs:
                    raise ValueError(f"{self.name}: optimizer state lacks slot {k!r} of {v.path!r}")
                mine[k] = v.backend.asarray(theirs[k], dtype=v.value.dtype)

    # ------------------------------------------------------------------ applying
    def apply(self, variables):
        """One step on ``variables`` using their ``.grad`` (None grads are skipped)."""
        if self._variables is None:
            self.build(variables)
        elif len(variables) != len(self._variables) or any(
                a is not b for a, b in zip(variables, self._variables)):
            self._rebuild_for(variables)
        pairs = [(i, v) for i, v in enumerate(self._variables) if v.grad is not None]
        if not pairs:
            self.iterations += 1
            return
        grads = [v.grad for _, v in pairs]
        if self.loss_scale_factor is not None:
            grads = [g / self.loss_scale_factor for g in grads]
        k = self.gradient_accumulation_steps
        update = not k or (self.iterations + 1) % k == 0
        if k:
            # Keras: between updates gradients only accumulate; every k-th step uses the mean.
            summed = []
            for (i, v), g in zip(pairs, grads):
                acc = self._slots[i]["accumulated_gradient"]
                summed.append(acc + g)
                self._slots[i]["accumulated_gradient"] = self._zeros_like(v) if update else acc + g
            if update:
                grads = [s / k for s in summed]
        if update:
            grads = self._clip(grads)
            lr = self._current_lr()
            if self.weight_decay:
                for _, v in pairs:
                    if self._decays(v):
                        v._set(v.value - v.value * (self.weight_decay * lr))
            if not self._fused_update(pairs, grads, lr):
                self._update_all(pairs, grads, lr)
        if self.use_ema:
            self._update_ema()
        for _, v in pairs:
            if v.constraint is not None:
                v._set(v.constraint(v.value))
        self.iterations += 1

    def _rebuild_for(self, variables):
        old = {id(v): s for v, s in zip(self._variables, self._slots)}
        self._variables = list(variables)
        self._slots = [old.get(id(v)) or self._new_slots(v) for v in self._variables]

    def _update_ema(self):
        # Keras: μ = 0 on the first step (the average starts as the weights), else ema_momentum.
        mu = self.ema_momentum if self.iterations != 0 else 0.0
        for v, slots in zip(self._variables, self._slots):
            slots["average"] = mu * slots["average"] + (1.0 - mu) * v.value
        freq = self.ema_overwrite_frequency
        if freq and (self.iterations + 1) % freq == 0:
            self.finalize_variable_values()

    def finalize_variable_values(self, var_list=None):
        """With ``use_ema``, copy the moving averages into the weights (fit calls this at the end)."""
        if not self.use_ema or self._variables is None:
            return
        wanted = None if var_list is None else {id(v) for v in var_list}
        for v, slots in zip(self._variables, self._slots):
            if wanted is None or id(v) in wanted:
                v._set(slots["average"])

    # Class name -> the backend fast path that implements that optimizer's whole update.
    _FUSED_BY_CLASS = {"Adam": "adam", "AdamW": "adam"}

    def _fused_update(self, pairs, grads, lr):
        """Run the backend's fused update for this optimizer if it has one (True when done).

        The fast path must produce what ``_update_all`` would, up to rounding; tests run
        both. It declines (False) options it does not cover, e.g. amsgrad.
        """
        name = self._FUSED_BY_CLASS.get(type(self).__name__)
        if name is None:
            return False
        fn = pairs[0][1].backend.fused(name)
        return fn is not None and bool(fn(self, pairs, grads, lr))

    def _update_all(self, pairs, grads, lr):
        for (i, v), g in zip(pairs, grads):
            self.update_step(g, v, lr, self._slots[i])

    def update_step(self, gradient, variable, learning_rate, slots):  # pragma: no cover
        raise NotImplementedError

    def _decays(self, v):
        if v._id in self._exclude_ids:
            return False
        return not any(n in v.name for n in self._exclude_names)

    def _clip(self, grads):
        if self.clipvalue is not None:
            import array_api_compat
            xp = array_api_compat.array_namespace(grads[0])
            return [xp.clip(g, -self.clipvalue, self.clipvalue) for g in grads]
        if self.clipnorm is not None:
            import array_api_compat
            xp = array_api_compat.array_namespace(grads[0])
            out = []
            for g in grads:
                norm = xp.sqrt(xp.sum(g * g))
                out.append(g * (self.clipnorm / xp.maximum(norm, xp.asarray(self.clipnorm, dtype=g.dtype))))
            return out
        if self.global_clipnorm is not None:
            import array_api_compat
            xp = array_api_compat.array_namespace(grads[0])
            total = xp.sqrt(sum(xp.sum(g * g) for g in grads))
            scale = self.global_clipnorm / xp.maximum(total, xp.asarray(self.global_clipnorm, dtype=total.dtype))
            return [g * xp.astype(scale, g.dtype) for g in grads]
        return grads

    # ------------------------------------------------------------------ config
    def get_config(self):
        lr = self._learning_rate
        if callable(lr) and hasattr(lr, "get_config"):
            from . import schedules
            lr = schedules.serialize(lr)
        return {"name": self.name, "learning_rate": lr, "weight_decay": self.weight_decay,
                "clipnorm": self.clipnorm, "clipvalue": self.clipvalue,
                "global_clipnorm": self.global_clipnorm, "use_ema": self.use_ema,
                "ema_momentum": self.ema_momentum, "ema_overwrite_frequency": self.ema_overwrite_frequency,
                "loss_scale_factor": self.loss_scale_factor,
                "gradient_accumulation_steps": self.gradient_accumulation_steps}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if isinstance(config.get("learning_rate"), dict):
            from . import schedules
            config["learning_rate"] = schedules.deserialize(config["learning_rate"])
        return cls(**config)

    def __repr__(self):
        return f"<{type(self).__name__} learning_rate={self._learning_rate!r}>"
