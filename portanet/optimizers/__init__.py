"""Optimizers by their Keras names: ``get("adam")``, ``serialize``, ``deserialize``."""

from ..naming import NameRegistry
from . import schedules
from .adadelta import Adadelta
from .adafactor import Adafactor
from .adagrad import Adagrad
from .adam import Adam
from .adamax import Adamax
from .adamw import AdamW
from .base import Optimizer
from .ftrl import Ftrl
from .lamb import Lamb
from .lion import Lion
from . import multi_optimizer as _multi_optimizer
from .multi_optimizer import MultiOptimizer, OptimizerMap
from .muon import Muon
from . import loss_scale_optimizer as _loss_scale_optimizer
from .loss_scale_optimizer import LossScaleOptimizer
from .nadam import Nadam
from .rmsprop import RMSprop
from .schedule_free_adamw import ScheduleFreeAdamW
from .sgd import SGD

_registry = NameRegistry("optimizer", Optimizer, "keras.optimizers")


def register(cls, *names):
    """Register an Optimizer class under its class name and string aliases."""
    return _registry.register(cls, *names)


register(SGD, "sgd")
register(RMSprop, "rmsprop")
register(Adagrad, "adagrad")
register(Adam, "adam")
register(Adadelta, "adadelta")
register(AdamW, "adamw")
register(Adamax, "adamax")
register(Nadam, "nadam")
register(Lion, "lion")
register(Ftrl, "ftrl")
register(Lamb, "lamb")
register(Adafactor, "adafactor")
register(Muon, "muon")
register(ScheduleFreeAdamW, "schedule_free_adamw", "schedulefreeadamw")
register(MultiOptimizer)
register(LossScaleOptimizer)


def get(identifier):
    """An Optimizer from a name ("adam"), a config dict or an instance."""
    if isinstance(identifier, str):
        cls = _registry.lookup(identifier.lower() if identifier.lower() in _registry.names() else identifier)
        return cls()
    obj = _registry.get(identifier)
    if not isinstance(obj, Optimizer):
        raise TypeError(f"optimizer={identifier!r} is not an Optimizer; expected a name (one of "
                        f"{', '.join(_registry.names())}), a config or an Optimizer")
    return obj


def serialize(optimizer):
    return _registry.serialize(optimizer)


def deserialize(config):
    return _registry.deserialize(config)


_multi_optimizer._serialize = serialize
_multi_optimizer._deserialize = deserialize
_loss_scale_optimizer._deserialize_optimizer = get  # LossScaleOptimizer.from_config's inner


__all__ = ["Optimizer", "SGD", "RMSprop", "Adagrad", "Adadelta", "Adam", "AdamW", "Adamax", "Nadam",
           "Lion", "Ftrl", "Lamb", "Adafactor", "Muon", "ScheduleFreeAdamW", "MultiOptimizer",
           "OptimizerMap", "LossScaleOptimizer", "schedules", "get", "serialize", "deserialize"]
