"""Adamax, as keras/src/optimizers/adamax.py (Adam with the infinity norm)."""

from ..validation import check_number
from .base import Optimizer


class Adamax(Optimizer):
    """m += (g-m)(1-β1); u = max(β2·u, |g|); w -= lr·m/((1-β1^t)(u + eps)).

    Args:
        learning_rate: 0.001. beta_1: 0.9. beta_2: 0.999. epsilon: 1e-7.
    """

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, name="adamax",
                 **kwargs):
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        for n, b in (("beta_1", beta_1), ("beta_2", beta_2)):
            check_number(b, n, "Adamax", 0, 1, high_open=True)
        check_number(epsilon, "epsilon", "Adamax", low=0, low_open=True)
        self.beta_1, self.beta_2, self.epsilon = float(beta_1), float(beta_2), float(epsilon)

    def _make_slots(self, variable):
        return {"m": self._zeros_like(variable), "u": self._zeros_like(variable)}

    def _update_all(self, pairs, grads, lr):
        # The bias correction is a host float: one per step, no device work.
        scale = lr / (1.0 - self.beta_1 ** (self.iterations + 1))
        for (i, v), g in zip(pairs, grads):
            self.update_step(g, v, scale, self._slots[i])

    def update_step(self, g, variable, scale, slots):
        xp = variable.backend.xp
        m = slots["m"] + (g - slots["m"]) * (1.0 - self.beta_1)
        u = xp.maximum(self.beta_2 * slots["u"], xp.abs(g))
        slots["m"], slots["u"] = m, u
        variable._set(variable.value - scale * m / (u + self.epsilon))

    def get_config(self):
        config = super().get_config()
        config.update({"beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon})
        return config
