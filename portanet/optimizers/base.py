"""Optimizer base: clipping, weight decay, learning-rate schedules, slots and state.

Step order is Keras's (base_optimizer.apply): clip (clipnorm per tensor, global_clipnorm,
or clipvalue; one at most), decoupled weight decay w -= w·wd·lr, ``update_step`` per
variable, the EMA of the weights (``use_ema``; fit copies it into the weights at the end
through ``finalize_variable_values``), then constraints, then ``iterations += 1``. With
``gradient_accumulation_steps`` k, only every k-th call updates (with the mean of the k
gradients); the others accumulate. The learning rate of a step is
``schedule(iterations)`` read before the increment. ``iterations`` is a host int, so
bias corrections are host floats and a step never synchronizes the device.

Applying, as keras/src/optimizers/base_optimizer.py: ``apply(grads, trainable_variables)``
(the first call builds the optimizer for those variables; a None gradient is skipped with
a warning; all None is an error), ``apply(grads)`` on a built optimizer, and
``apply_gradients(grads_and_vars)``. portanet's own form ``apply(variables)`` (a list of
Variables, each gradient taken from ``.grad``) stays: the training loop uses it.
"""

import inspect
import math
import numbers
import struct
import warnings

from .. import backend as _backend
from .. import config as _config
from ..naming import snake_case
from ..ops import tape as _tape
from ..validation import check_number, check_positive_int
from . import schedules
from .schedules import LearningRateSchedule


def _round_to_dtype(rate, dtype):
    """``rate`` as a value of the float dtype ``dtype`` holds it (float32: 0.001 ->
    0.0010000000474974513), computed on the host."""
    code = {"float32": "<f", "float16": "<e"}.get(dtype)
    if code is None:
        return float(rate)
    try:
        return struct.unpack(code, struct.pack(code, rate))[0]
    except OverflowError:
        raise ValueError(f"learning_rate={rate!r} does not fit in {dtype}") from None


class LearningRateVariable(_tape.VariableLike):
    """``optimizer.learning_rate`` of an optimizer given a float rate, as Keras's: a
    non-trainable scalar variable of the floatx at creation (``<Variable
    path=sgd/learning_rate, shape=(), dtype=float32, value=0.0010000000474974513>``).

    ``float(lr)``, ``lr.numpy()``, ``ops.convert_to_numpy(lr)``, ``lr.assign(0.01)``,
    ``lr * 0.5`` (a backend array) and ``lr == 0.01`` (compared in its dtype) work as on
    Keras's. The rate is kept on the host (``_rate``, already rounded to the dtype) and
    the update step reads it once per step, so a step never reads the device; the device
    array (``value``) is made when first used in an op."""

    def __init__(self, rate, owner="optimizer"):
        self.name = "learning_rate"
        self.path = f"{owner}/learning_rate"
        self.trainable = False
        self.grad = self.regularizer = self.constraint = None
        self.backend = None
        self._owner = owner
        self._dtype = _config.floatx()
        self._array = None
        self.assign(rate)

    @property
    def value(self):
        """The rate as a 0-d array of the current backend (made on first use)."""
        if self._array is None:
            self.backend = self.backend or _backend.current()
            self._array = self.backend.asarray(self._rate, dtype=self._dtype)
        return self._array

    @property
    def shape(self):
        return ()

    def assign(self, value):
        """Set the rate (a non-negative number or a 0-d array), rounded to the dtype."""
        self._rate = _round_to_dtype(_rate_of(value, self._owner), self._dtype)
        self._array = None
        return self

    def assign_add(self, value):
        return self.assign(self._rate + _rate_of(value, self._owner, check=False))

    def assign_sub(self, value):
        return self.assign(self._rate - _rate_of(value, self._owner, check=False))

    def add_grad(self, g):
        """Not trained: a gradient reaching it in a trace is dropped."""

    def numpy(self):
        return _backend.host_xp().asarray(self._rate, dtype=self._dtype)

    def __array__(self, dtype=None, copy=None):
        value = self.numpy()
        return value if dtype is None else value.astype(dtype)

    def __float__(self):
        return self._rate     # a constant: readable inside a trace too

    def __eq__(self, other):
        if isinstance(other, LearningRateVariable):
            return self._rate == _round_to_dtype(other._rate, self._dtype)
        if isinstance(other, numbers.Real) or getattr(other, "shape", None) == ():
            return self._rate == _round_to_dtype(float(other), self._dtype)
        return NotImplemented

    def __ne__(self, other):
        equal = self.__eq__(other)
        return equal if equal is NotImplemented else not equal

    __hash__ = object.__hash__

    def __repr__(self):
        # Keras's Variable form, with the value as float() prints it
        return (f"<Variable path={self.path}, shape=(), dtype={self._dtype}, "
                f"value={self._rate}>")


def _takes_an_argument(fn):
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):      # a builtin without a signature
        return True
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD,
             inspect.Parameter.VAR_POSITIONAL)
    return any(p.kind in kinds for p in params)


def _rate_of(value, owner, check=True):
    """A learning rate given to ``assign`` or ``optimizer.learning_rate = ...`` as a float."""
    if isinstance(value, LearningRateVariable):
        return value._rate
    ok = not isinstance(value, (bool, str, bytes)) and (
        isinstance(value, numbers.Real) or (getattr(value, "shape", None) == () and hasattr(value, "__float__")))
    rate = float(value) if ok else None
    if rate is None or (check and not (rate >= 0 and not math.isinf(rate))):
        raise ValueError(f"{owner}: learning_rate={value!r}; expected a non-negative float (or a "
                         "0-d array of one)")
    return rate


class Optimizer:
    """Base class of optimizers.

    Args:
        learning_rate: float or a ``LearningRateSchedule`` (or any callable of the step,
            or of nothing as Keras's ``lambda: 0.01``); ``optimizer.learning_rate`` is then
            a ``LearningRateVariable`` (a float rate) or the current scheduled value.
        weight_decay: decoupled weight decay factor, or None.
        clipnorm: clip each gradient to this L2 norm.
        clipvalue: clip each gradient element to [-clipvalue, clipvalue].
        global_clipnorm: clip all gradients together to this global L2 norm.
        name: optimizer name.
    """

    def __init__(self, learning_rate=0.001, weight_decay=None, clipnorm=None, clipvalue=None,
                 global_clipnorm=None, use_ema=False, ema_momentum=0.99, ema_overwrite_frequency=None,
                 loss_scale_factor=None, gradient_accumulation_steps=None, name=None, **kwargs):
        # As Keras 3: `decay` is ignored with a warning; any other unknown argument is a
        # ValueError (Keras 2's `lr` among them).
        if kwargs.pop("decay", None) is not None:
            warnings.warn("Argument `decay` is no longer supported and will be ignored.")
        if kwargs:
            hint = " (`lr` is Keras 2's name: pass learning_rate=...)" if "lr" in kwargs else ""
            raise ValueError(f"{type(self).__name__}: Argument(s) not recognized: {kwargs}; "
                             f"expected the arguments of {type(self).__name__}{hint}")
        set_clips = [n for n, v in (("clipnorm", clipnorm), ("clipvalue", clipvalue),
                                    ("global_clipnorm", global_clipnorm)) if v is not None]
        if len(set_clips) > 1:
            raise ValueError(f"{type(self).__name__}: only one of clipnorm, clipvalue and "
                             f"global_clipnorm may be set; got {', '.join(set_clips)}")
        owner = type(self).__name__
        for n, v in (("clipnorm", clipnorm), ("clipvalue", clipvalue), ("global_clipnorm", global_clipnorm)):
            check_number(v, n, owner, low=0, low_open=True, allow_none=True, allow_inf=True)
        check_number(weight_decay, "weight_decay", owner, low=0, allow_none=True)
        check_number(loss_scale_factor, "loss_scale_factor", owner, low=0, low_open=True, allow_none=True)
        if use_ema:
            check_number(ema_momentum, "ema_momentum", owner, 0, 1)
        check_positive_int(ema_overwrite_frequency, "ema_overwrite_frequency", owner, allow_none=True)
        if gradient_accumulation_steps is not None:
            check_positive_int(gradient_accumulation_steps, "gradient_accumulation_steps", owner)
            if gradient_accumulation_steps < 2:
                raise ValueError(f"{owner}: gradient_accumulation_steps={gradient_accumulation_steps!r}; "
                                 "expected None or an integer >= 2")
        self.name = name or snake_case(type(self).__name__)
        self.weight_decay = weight_decay
        self.clipnorm, self.clipvalue, self.global_clipnorm = clipnorm, clipvalue, global_clipnorm
        self.use_ema, self.ema_momentum = bool(use_ema), float(ema_momentum)
        self.ema_overwrite_frequency = ema_overwrite_frequency
        self.loss_scale_factor = loss_scale_factor
        self.gradient_accumulation_steps = gradient_accumulation_steps
        self._learning_rate = self._check_lr(learning_rate)
        if not callable(self._learning_rate):
            self._learning_rate = LearningRateVariable(self._learning_rate, self.name)
        self.iterations = 0
        self._variables = None
        self._slots = []
        self._slot_names = []
        self._exclude_names = ()
        self._exclude_ids = set()

    # ------------------------------------------------------------------ learning rate
    def _check_lr(self, lr):
        if callable(lr):
            # Keras calls a callable that is not a schedule with no argument; portanet's
            # callables of the step (lambda step: ...) get ``iterations``.
            self._lr_takes_step = isinstance(lr, LearningRateSchedule) or _takes_an_argument(lr)
            return lr
        if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not lr >= 0 or math.isinf(lr):
            raise ValueError(f"{type(self).__name__}: learning_rate={lr!r}; expected a non-negative "
                             "float or a LearningRateSchedule")
        return float(lr)

    @property
    def learning_rate(self):
        """As Keras: for a float rate, its ``LearningRateVariable`` (``float()`` it,
        ``assign`` it); for a schedule (or another callable of the step), its value at
        ``iterations`` as a floatx scalar."""
        lr = self._learning_rate
        if isinstance(lr, LearningRateVariable):
            return lr
        # A host scalar of floatx, as Keras's numpy backend gives (np.float32(0.1)).
        return _backend.host_xp().asarray(self._current_lr(), dtype=_config.floatx())[()]

    @learning_rate.setter
    def learning_rate(self, value):
        if callable(value):
            self._learning_rate = self._check_lr(value)
        elif isinstance(self._learning_rate, LearningRateSchedule):
            # Keras: a schedule-driven rate is not settable by a float.
            raise TypeError(f"{type(self).__name__}: learning_rate is a {type(self._learning_rate).__name__} "
                            "schedule, so it cannot be set to a float; create the optimizer with a float "
                            "learning_rate to make it settable")
        elif isinstance(self._learning_rate, LearningRateVariable):
            self._learning_rate.assign(value)      # the same variable, as Keras
        else:
            self._learning_rate = LearningRateVariable(_rate_of(value, type(self).__name__), self.name)

    def _current_lr(self):
        """The rate of this step as a Python float (the update reads it once per step)."""
        lr = self._learning_rate
        if isinstance(lr, LearningRateVariable):
            return lr._rate
        return float(lr(self.iterations) if self._lr_takes_step else lr())

    # ------------------------------------------------------------------ state
    def build(self, variables):
        """Create the slots for ``variables`` (the first apply does this)."""
        self._variables = list(variables)
        self._slots = [self._new_slots(v) for v in self._variables]

    @property
    def built(self):
        """Whether the optimizer has been built for a list of variables (Keras's ``built``)."""
        return self._variables is not None

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
        """The variables the optimizer was built for, in order ([] before it is built).

        Keras 3's ``optimizer.variables`` lists the optimizer's own state variables
        (iterations, learning rate, slots) instead; portanet keeps its slots as arrays in
        ``get_state()["slots"]`` (one dict per variable listed here, in this order), which
        is what saving and resuming use.
        """
        return list(self._variables or [])

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
    def apply(self, grads, trainable_variables=None):
        """One optimization step.

        Keras 3's forms: ``apply(grads, trainable_variables)`` updates those variables with
        those gradients (the first call builds the optimizer for them; later calls may pass
        any of the variables it was built for, others are a ValueError);
        ``apply(grads)`` pairs the gradients one-to-one with the variables the optimizer
        was built for. A None gradient skips its variable (with a warning); all None is a
        ValueError; ``apply([], [])`` does nothing.

        portanet's form ``apply(variables)``: a list of Variables, each updated with its
        ``.grad`` (None grads are skipped silently; a list with none, or an empty list,
        still counts a step, as the training loop of a model without trainable weights
        expects).
        A new list of variables rebuilds the optimizer, keeping the slots of the
        variables it already knew.

        Args:
            grads: a list of gradient arrays (or None), or portanet's list of Variables.
            trainable_variables: the variables ``grads`` belong to (Keras form), or None.
        """
        grads = list(grads)
        # The first element decides (a mixed list fails either way); a step costs O(1) here.
        if trainable_variables is None and (not grads or _is_variable(grads[0])):
            # portanet's form (an empty list included: the ambiguity resolves to it).
            self._apply_own_gradients(grads)
            return
        if not grads:
            return
        if trainable_variables is None:
            if self._variables is None:
                raise ValueError(f"{self.name}: apply(grads) without trainable_variables needs a built "
                                 "optimizer; call optimizer.build(trainable_variables) first, or pass "
                                 "trainable_variables")
            if len(grads) != len(self._variables):
                raise ValueError(f"{self.name}: apply got {len(grads)} gradients; the optimizer was "
                                 f"built for {len(self._variables)} variables (one gradient each)")
            variables, indices = self._variables, range(len(grads))
        else:
            variables = list(trainable_variables)
            if len(variables) != len(grads):
                raise ValueError(f"{self.name}: apply got {len(grads)} gradients and "
                                 f"{len(variables)} trainable_variables; expected one gradient each")
            if self._variables is None:
                self.build(variables)
            position = self._positions()
            unknown = [v for v in variables if id(v) not in position]
            if unknown:
                raise ValueError(f"{self.name}: unknown variable {_label(unknown[0])}: this optimizer can "
                                 "only be applied to the variables it was built with; create a new "
                                 "optimizer for new variables")
            indices = [position[id(v)] for v in variables]
        pairs, kept, missing = [], [], []
        for i, v, g in zip(indices, variables, grads):
            if g is None:
                missing.append(_label(v))
            else:
                pairs.append((i, v))
                kept.append(g)
        if not pairs:
            raise ValueError(f"{self.name}: no gradients provided for any variable")
        if missing:
            warnings.warn(f"{self.name}: gradients do not exist for variables {missing} when "
                          "minimizing the loss", stacklevel=2)
        self._step(pairs, kept)

    def apply_gradients(self, grads_and_vars):
        """``apply(grads, trainable_variables)`` from ``(gradient, variable)`` pairs (Keras).

        Returns ``iterations`` after the step.
        """
        pairs = list(grads_and_vars)
        if pairs:
            grads, variables = zip(*pairs)
            self.apply(list(grads), list(variables))
        return self.iterations

    def _apply_own_gradients(self, variables):
        # portanet's apply(variables): each Variable's .grad.
        if self._variables is None:
            self.build(variables)
        elif len(variables) != len(self._variables) or any(
                a is not b for a, b in zip(variables, self._variables)):
            self._rebuild_for(variables)
        pairs = [(i, v) for i, v in enumerate(self._variables) if v.grad is not None]
        if not pairs:
            self.iterations += 1
            return
        self._step(pairs, [v.grad for _, v in pairs])

    def _positions(self):
        # {id(variable): its index among the built variables}, cached per list of variables.
        cached = self.__dict__.get("_position_cache")
        if cached is None or cached[0] is not self._variables:
            cached = self._position_cache = (self._variables,
                                             {id(v): i for i, v in enumerate(self._variables)})
        return cached[1]

    def _step(self, pairs, grads):
        """The update of ``pairs`` ((slot index, variable)) with ``grads``, in Keras's order."""
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

    def _swap_variables_with_average(self):
        """With ``use_ema``: exchange each weight with its moving average (the
        SwapEMAWeights callback uses it to evaluate and save with the averages)."""
        if not self.use_ema or self._variables is None:
            return
        for v, slots in zip(self._variables, self._slots):
            xp = v.backend.xp
            held = xp.asarray(v.value, copy=True)
            v._set(slots["average"])
            slots["average"] = held

    def _set_average_from_variables(self):
        """With ``use_ema``: set each moving average to its weight's current value."""
        if not self.use_ema or self._variables is None:
            return
        for v, slots in zip(self._variables, self._slots):
            slots["average"] = v.backend.xp.asarray(v.value, copy=True)

    def _update_all(self, pairs, grads, lr):
        """``update_step`` for each (slot index, variable) pair; a subclass may override
        this to run a backend's fused kernel over all of them (Adam does)."""
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
            lr = schedules.serialize(lr)
        elif isinstance(lr, LearningRateVariable):
            lr = float(lr)   # as Keras: float() of the variable (float32: 0.0010000000474974513)
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
            config["learning_rate"] = schedules.deserialize(config["learning_rate"])
        return cls(**config)

    def __repr__(self):
        lr = self._learning_rate
        lr = float(lr) if isinstance(lr, LearningRateVariable) else lr
        return f"<{type(self).__name__} learning_rate={lr!r}>"


def _is_variable(obj):
    # portanet's Variable (value, grad, _set); arrays have none of these.
    return hasattr(obj, "grad") and hasattr(obj, "_set")


def _label(variable):
    return getattr(variable, "path", None) or getattr(variable, "name", None) or repr(variable)
