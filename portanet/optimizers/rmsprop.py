"""RMSprop, as keras/src/optimizers/rmsprop.py (eps inside the square root)."""

from ..validation import check_number
from .base import Optimizer


class RMSprop(Optimizer):
    """s = ρs + (1-ρ)g²; den = s + eps (centered: a = ρa + (1-ρ)g, den = s - a² + eps);
    inc = lr·g/√den; with momentum m = μm + inc, w -= m; else w -= inc.

    Args:
        learning_rate: 0.001. rho: 0.9. momentum: 0.0. epsilon: 1e-7. centered: False.
    """

    def __init__(self, learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7, centered=False,
                 name="rmsprop", **kwargs):
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        check_number(rho, "rho", "RMSprop", 0, 1, high_open=True)
        check_number(momentum, "momentum", "RMSprop", 0, 1)
        check_number(epsilon, "epsilon", "RMSprop", low=0, low_open=True)
        self.rho, self.momentum, self.epsilon, self.centered = float(rho), float(momentum), float(epsilon), bool(centered)

    def _make_slots(self, variable):
        slots = {"velocity": self._zeros_like(variable)}
        if self.momentum:
            slots["momentum"] = self._zeros_like(variable)
        if self.centered:
            slots["average_gradient"] = self._zeros_like(variable)
        return slots

    def update_step(self, g, variable, lr, slots):
        xp = variable.backend.xp
        s = self.rho * slots["velocity"] + (1.0 - self.rho) * (g * g)
        slots["velocity"] = s
        if self.centered:
            a = self.rho * slots["average_gradient"] + (1.0 - self.rho) * g
            slots["average_gradient"] = a
            den = s - a * a + self.epsilon
        else:
            den = s + self.epsilon
        inc = lr * g / xp.sqrt(den)
        if self.momentum:
            m = self.momentum * slots["momentum"] + inc
            slots["momentum"] = m
            variable._set(variable.value - m)
        else:
            variable._set(variable.value - inc)

    def get_config(self):
        config = super().get_config()
        config.update({"rho": self.rho, "momentum": self.momentum, "epsilon": self.epsilon,
                       "centered": self.centered})
        return config
