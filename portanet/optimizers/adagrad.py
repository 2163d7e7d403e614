"""Adagrad, as keras/src/optimizers/adagrad.py."""

from .base import Optimizer


class Adagrad(Optimizer):
    """A += g² (A starts at initial_accumulator_value); w -= lr·g/√(A + eps).

    Args:
        learning_rate: 0.001. initial_accumulator_value: 0.1. epsilon: 1e-7.
    """

    def __init__(self, learning_rate=0.001, initial_accumulator_value=0.1, epsilon=1e-7,
                 name="adagrad", **kwargs):
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        if initial_accumulator_value < 0:
            raise ValueError(f"Adagrad: initial_accumulator_value={initial_accumulator_value!r}; expected >= 0")
        if not epsilon > 0:
            raise ValueError(f"Adagrad: epsilon={epsilon!r}; expected a positive float")
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
