"""Learning-rate schedules, as keras/src/optimizers/schedules/learning_rate_schedule.py.

A schedule maps the optimizer's step (``optimizer.iterations``, read before the
increment, so the first update uses ``schedule(0)``) to a learning rate. Schedules are
evaluated on the host with Python floats: the rate of a step is a scalar the update
multiplies by, so computing it never touches (or synchronizes) the device.
"""

import math

from ..naming import NameRegistry


def _number(cls, name, value, minimum=None, strict=False, integer=False):
    ok = not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)
    if ok and integer:
        ok = float(value) == int(value)
    if ok and minimum is not None:
        ok = value > minimum if strict else value >= minimum
    if not ok:
        kind = "an integer" if integer else "a number"
        bound = "" if minimum is None else f" {'>' if strict else '>='} {minimum}"
        raise ValueError(f"{cls}: {name}={value!r}; expected {kind}{bound}")
    return value


class LearningRateSchedule:
    """Base class: ``schedule(step) -> learning rate`` (a Python float).

    Subclasses implement ``__call__(step)`` and ``get_config()``; any callable of the
    step also works as an optimizer's ``learning_rate``, but only a schedule serializes.
    """

    def __call__(self, step):  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__} must implement __call__(step)")

    def get_config(self):
        return {}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items() if k != "name")
        return f"{type(self).__name__}({args})"


class _StepFractionDecay(LearningRateSchedule):
    """What ExponentialDecay and InverseTimeDecay share: their arguments, the decay
    exponent ``step / decay_steps`` (floored with ``staircase``) and their config."""

    def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase, name):
        n = type(self).__name__
        self.initial_learning_rate = _number(n, "initial_learning_rate", initial_learning_rate, 0)
        self.decay_steps = _number(n, "decay_steps", decay_steps, 0, strict=True)
        self.decay_rate = _number(n, "decay_rate", decay_rate, 0)
        self.staircase = bool(staircase)
        self.name = name

    def _fraction(self, step):
        p = float(step) / self.decay_steps
        return math.floor(p) if self.staircase else p

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate, "decay_steps": self.decay_steps,
                "decay_rate": self.decay_rate, "staircase": self.staircase, "name": self.name}


class ExponentialDecay(_StepFractionDecay):
    """lr0 · rate^(step / decay_steps); with ``staircase`` the exponent is floored, so
    the rate drops in steps every ``decay_steps``.

    Args:
        initial_learning_rate: lr0. decay_steps: a positive number of steps.
        decay_rate: the factor per ``decay_steps``. staircase: False.
        name: "ExponentialDecay".
    """

    def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase=False,
                 name="ExponentialDecay"):
        super().__init__(initial_learning_rate, decay_steps, decay_rate, staircase, name)

    def __call__(self, step):
        return self.initial_learning_rate * self.decay_rate ** self._fraction(step)


class PiecewiseConstantDecay(LearningRateSchedule):
    """values[0] while step <= boundaries[0], values[i] while boundaries[i-1] < step <=
    boundaries[i], values[-1] after the last boundary.

    Args:
        boundaries: increasing step numbers. values: one more rate than boundaries.
        name: "PiecewiseConstant".
    """

    def __init__(self, boundaries, values, name="PiecewiseConstant"):
        n = type(self).__name__
        boundaries, values = list(boundaries), list(values)
        if len(values) != len(boundaries) + 1:
            raise ValueError(f"{n}: values has {len(values)} entries and boundaries {len(boundaries)}; "
                             "expected exactly one more value than boundaries")
        for b in boundaries:
            _number(n, "boundaries", b)
        for v in values:
            _number(n, "values", v, 0)
        if any(b2 <= b1 for b1, b2 in zip(boundaries, boundaries[1:])):
            raise ValueError(f"{n}: boundaries={boundaries!r}; expected strictly increasing steps")
        self.boundaries, self.values, self.name = boundaries, values, name

    def __call__(self, step):
        s = float(step)
        for b, v in zip(self.boundaries, self.values):
            if s <= b:
                return float(v)
        return float(self.values[-1])

    def get_config(self):
        return {"boundaries": list(self.boundaries), "values": list(self.values), "name": self.name}


class PolynomialDecay(LearningRateSchedule):
    """(lr0 - end)·(1 - s'/D')^power + end. Without ``cycle``: s' = min(step, D), D' = D;
    with ``cycle``: s' = step and D' = D·ceil(step/D) (1 at step 0), so the rate
    restarts from a lower peak each cycle.

    Args:
        initial_learning_rate: lr0. decay_steps: D, a positive number of steps.
        end_learning_rate: 1e-4. power: 1.0. cycle: False. name: "PolynomialDecay".
    """

    def __init__(self, initial_learning_rate, decay_steps, end_learning_rate=0.0001, power=1.0,
                 cycle=False, name="PolynomialDecay"):
        n = type(self).__name__
        self.initial_learning_rate = _number(n, "initial_learning_rate", initial_learning_rate, 0)
        self.decay_steps = _number(n, "decay_steps", decay_steps, 0, strict=True)
        self.end_learning_rate = _number(n, "end_learning_rate", end_learning_rate, 0)
        self.power = _number(n, "power", power)
        self.cycle = bool(cycle)
        self.name = name

    def __call__(self, step):
        s = float(step)
        d = float(self.decay_steps)
        if self.cycle:
            d = d * (1.0 if s == 0 else math.ceil(s / d))
        else:
            s = min(s, d)
        return ((self.initial_learning_rate - self.end_learning_rate) * (1.0 - s / d) ** self.power
                + self.end_learning_rate)

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate, "decay_steps": self.decay_steps,
                "end_learning_rate": self.end_learning_rate, "power": self.power, "cycle": self.cycle,
                "name": self.name}


class InverseTimeDecay(_StepFractionDecay):
    """lr0 / (1 + rate · step/decay_steps) (the quotient floored with ``staircase``).

    Args:
        initial_learning_rate: lr0. decay_steps: a positive number of steps.
        decay_rate: rate. staircase: False. name: "InverseTimeDecay".
    """

    def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase=False,
                 name="InverseTimeDecay"):
        super().__init__(initial_learning_rate, decay_steps, decay_rate, staircase, name)

    def __call__(self, step):
        return self.initial_learning_rate / (1.0 + self.decay_rate * self._fraction(step))


def _cosine(fraction, alpha):
    return (1.0 - alpha) * 0.5 * (1.0 + math.cos(math.pi * fraction)) + alpha


class CosineDecay(LearningRateSchedule):
    """Cosine decay (SGDR without restarts), with an optional linear warmup.

    f(x) = (1-α)·½(1 + cos πx) + α. Without warmup: lr0·f(min(step, D)/D). With
    ``warmup_target``: the rate rises linearly from lr0 to the target over
    ``warmup_steps`` W, then decays as target·f(min(step-W, D)/D).

    Args:
        initial_learning_rate: lr0. decay_steps: D, a positive number of steps.
        alpha: 0.0, the final rate as a fraction of the peak.
        name: "CosineDecay". warmup_target: None. warmup_steps: 0.
    """

    def __init__(self, initial_learning_rate, decay_steps, alpha=0.0, name="CosineDecay",
                 warmup_target=None, warmup_steps=0):
        n = type(self).__name__
        self.initial_learning_rate = _number(n, "initial_learning_rate", initial_learning_rate, 0)
        self.decay_steps = _number(n, "decay_steps", decay_steps, 0, strict=True)
        self.alpha = _number(n, "alpha", alpha, 0)
        self.warmup_target = None if warmup_target is None else _number(n, "warmup_target", warmup_target, 0)
        self.warmup_steps = _number(n, "warmup_steps", warmup_steps, 0)
        self.name = name

    def __call__(self, step):
        s = float(step)
        d = float(self.decay_steps)
        if self.warmup_target is None:
            return self.initial_learning_rate * _cosine(min(s, d) / d, self.alpha)
        w = float(self.warmup_steps)
        s = min(s, d + w)
        if s < w:
            return self.initial_learning_rate + (self.warmup_target - self.initial_learning_rate) * s / w
        return self.warmup_target * _cosine((s - w) / d, self.alpha)

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate, "decay_steps": self.decay_steps,
                "alpha": self.alpha, "name": self.name, "warmup_target": self.warmup_target,
                "warmup_steps": self.warmup_steps}


class CosineDecayRestarts(LearningRateSchedule):
    """Cosine decay with warm restarts (SGDR, Loshchilov & Hutter 2017).

    The first period lasts ``first_decay_steps`` D; each next one is ``t_mul`` times
    longer and starts from a peak ``m_mul`` times the previous one. Within restart i at
    fraction c of its period: lr0·((1-α)·½·m_mul^i·(1 + cos πc) + α).

    Args:
        initial_learning_rate: lr0. first_decay_steps: D, a positive number of steps.
        t_mul: 2.0. m_mul: 1.0. alpha: 0.0. name: "SGDRDecay".
    """

    def __init__(self, initial_learning_rate, first_decay_steps, t_mul=2.0, m_mul=1.0, alpha=0.0,
                 name="SGDRDecay"):
        n = type(self).__name__
        self.initial_learning_rate = _number(n, "initial_learning_rate", initial_learning_rate, 0)
        self.first_decay_steps = _number(n, "first_decay_steps", first_decay_steps, 0, strict=True)
        self.t_mul = _number(n, "t_mul", t_mul, 0, strict=True)
        self.m_mul = _number(n, "m_mul", m_mul, 0)
        self.alpha = _number(n, "alpha", alpha, 0)
        self.name = name

    def __call__(self, step):
        c = float(step) / self.first_decay_steps
        t_mul = float(self.t_mul)
        if t_mul == 1.0:
            i = math.floor(c)
            c -= i
        else:
            i = math.floor(math.log(1.0 - c * (1.0 - t_mul)) / math.log(t_mul))
            c = (c - (1.0 - t_mul ** i) / (1.0 - t_mul)) / t_mul ** i
        decayed = (1.0 - self.alpha) * 0.5 * self.m_mul ** i * (1.0 + math.cos(math.pi * c)) + self.alpha
        return self.initial_learning_rate * decayed

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate,
                "first_decay_steps": self.first_decay_steps, "t_mul": self.t_mul, "m_mul": self.m_mul,
                "alpha": self.alpha, "name": self.name}


_registry = NameRegistry("learning-rate schedule", LearningRateSchedule, "keras.optimizers.schedules")
for _cls in (ExponentialDecay, PiecewiseConstantDecay, PolynomialDecay, InverseTimeDecay, CosineDecay,
             CosineDecayRestarts):
    _registry.register(_cls)


def register(cls, *names):
    """Register a custom LearningRateSchedule subclass so configs naming it deserialize."""
    return _registry.register(cls, *names)


def serialize(schedule):
    """{"class_name": ..., "config": ...} of a schedule."""
    if not isinstance(schedule, LearningRateSchedule):
        raise TypeError(f"serialize: {schedule!r} is not a LearningRateSchedule")
    return _registry.serialize(schedule)


def deserialize(config):
    """A schedule from ``serialize``'s output (only registered classes are built)."""
    obj = _registry.deserialize(config)
    if not isinstance(obj, LearningRateSchedule):
        raise TypeError(f"deserialize: {config!r} does not describe a LearningRateSchedule")
    return obj


def get(identifier):
    """A schedule from a config dict, a class name (needs its arguments: use a config) or an instance."""
    if isinstance(identifier, LearningRateSchedule):
        return identifier
    return deserialize(identifier)


__all__ = ["LearningRateSchedule", "ExponentialDecay", "PiecewiseConstantDecay", "PolynomialDecay",
           "InverseTimeDecay", "CosineDecay", "CosineDecayRestarts", "serialize", "deserialize", "get",
           "register"]
