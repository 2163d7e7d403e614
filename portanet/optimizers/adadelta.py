"""Adadelta, as keras/src/optimizers/adadelta.py."""

from ..validation import check_number
from .base import Optimizer


class Adadelta(Optimizer):
    """Eg = ρEg + (1-ρ)g²; d = -√(Ed + eps)/√(Eg + eps)·g; Ed = ρEd + (1-ρ)d²; w += lr·d.

    Args:
        learning_rate: 0.001 (Keras keeps a rate; the original paper has none, i.e. 1.0).
        rho: 0.95, the decay of both running averages.
        epsilon: 1e-7, added inside both square roots.
    """

    def __init__(self, learning_rate=0.001, rho=0.95, epsilon=1e-7, name="adadelta", **kwargs):
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        check_number(rho, "rho", "Adadelta", 0, 1, high_open=True)
        check_number(epsilon, "epsilon", "Adadelta", low=0, low_open=True)
        self.rho, self.epsilon = float(rho), float(epsilon)

    def _make_slots(self, variable):
        return {"accumulated_grad": self._zeros_like(variable),
                "accumulated_delta_var": self._zeros_like(variable)}

    def update_step(self, g, variable, lr, slots):
        xp = variable.backend.xp
        rho, eps = self.rho, self.epsilon
        eg = rho * slots["accumulated_grad"] + (1.0 - rho) * (g * g)
        delta = -xp.sqrt(slots["accumulated_delta_var"] + eps) * g / xp.sqrt(eg + eps)
        slots["accumulated_grad"] = eg
        slots["accumulated_delta_var"] = rho * slots["accumulated_delta_var"] + (1.0 - rho) * (delta * delta)
        variable._set(variable.value + lr * delta)

    def get_config(self):
        config = super().get_config()
        config.update({"rho": self.rho, "epsilon": self.epsilon})
        return config
