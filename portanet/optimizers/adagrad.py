"""Adagrad, as keras/src/optimizers/adagrad.py."""

from ..validation import check_number
from .base import Optimizer


class Adagrad(Optimizer):
    """A += g² (A starts at initial_accumulator_value); w -= lr·g/√(A + eps).

    Args:
        learning_rate: 0.001. initial_accumulator_value: 0.1. epsilon: 1e-7.
    """

    def __init__(self, learning_rate=0.001, initial_accumulator_value=0.1, epsilon=1e-7,
                 name="adagrad", **kwargs):
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        check_number(initial_accumulator_value, "initial_accumulator_value", "Adagrad", low=0)
        check_number(epsilon, "epsilon", "Adagrad", low=0, low_open=True)
        self.initial_accumulator_value = float(initial_accumulator_value)
        self.epsilon = float(epsilon)

    def _make_slots(self, variable):
        return {"accumulator": self._zeros_like(variable, self.initial_accumulator_value)}

    def update_step(self, g, variable, lr, slots):
        xp = variable.backend.xp
        acc = slots["accumulator"] + g * g
        slots["accumulator"] = acc
        variable._set(variable.value - lr * g / xp.sqrt(acc + self.epsilon))

    def get_config(self):
        config = super().get_config()
        config.update({"initial_accumulator_value": self.initial_accumulator_value,
                       "epsilon": self.epsilon})
        return config
