"""SGD with optional (Nesterov) momentum, as keras/src/optimizers/sgd.py."""

from ..validation import check_number
from .base import Optimizer


class SGD(Optimizer):
    """Gradient descent: w -= lr·g; with momentum μ: v = μv - lr·g, w += v
    (nesterov: w += μv - lr·g).

    Args:
        learning_rate: 0.01. momentum: 0.0 (a float in [0, 1]). nesterov: False.
    """

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, name="SGD", **kwargs):
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        check_number(momentum, "momentum", "SGD", 0, 1)
        self.momentum = float(momentum)
        self.nesterov = bool(nesterov)

    def _make_slots(self, variable):
        return {"momentum": self._zeros_like(variable)} if self.momentum else {}

    def update_step(self, g, variable, lr, slots):
        if not self.momentum:
            variable._set(variable.value - lr * g)
            return
        m = self.momentum * slots["momentum"] - lr * g
        slots["momentum"] = m
        if self.nesterov:
            variable._set(variable.value + (self.momentum * m - lr * g))
        else:
            variable._set(variable.value + m)

    def get_config(self):
        config = super().get_config()
        config.update({"momentum": self.momentum, "nesterov": self.nesterov})
        return config
