"""Lamb, as keras/src/optimizers/lamb.py (You et al. 2019, layer-wise adaptive moments)."""

from ..validation import check_number
from .base import Optimizer


class Lamb(Optimizer):
    """Adam's bias-corrected direction u = m̂/(√v̂ + eps), scaled per weight tensor by the
    trust ratio ‖w‖/‖u‖ (1 when either norm is 0): w -= ratio·lr·u.

    m += (g - m)(1 - β1); v += (g² - v)(1 - β2); m̂ = m/(1 - β1^t); v̂ = v/(1 - β2^t).

    Args:
        learning_rate: 0.001. beta_1: 0.9. beta_2: 0.999. epsilon: 1e-7.
    """

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, name=None,
                 **kwargs):
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        for n, b in (("beta_1", beta_1), ("beta_2", beta_2)):
            check_number(b, n, "Lamb", 0, 1, high_open=True)
        check_number(epsilon, "epsilon", "Lamb", low=0, low_open=True)
        self.beta_1, self.beta_2, self.epsilon = float(beta_1), float(beta_2), float(epsilon)

    def _make_slots(self, variable):
        return {"momentum": self._zeros_like(variable), "velocity": self._zeros_like(variable)}

    def update_step(self, g, variable, lr, slots):
        xp = variable.backend.xp
        t = self.iterations + 1
        m = slots["momentum"] + (g - slots["momentum"]) * (1.0 - self.beta_1)
        v = slots["velocity"] + (g * g - slots["velocity"]) * (1.0 - self.beta_2)
        slots["momentum"], slots["velocity"] = m, v
        update = (m / (1.0 - self.beta_1 ** t)) / (xp.sqrt(v / (1.0 - self.beta_2 ** t)) + self.epsilon)
        w = variable.value
        w_norm = xp.sqrt(xp.sum(w * w))
        u_norm = xp.sqrt(xp.sum(update * update))
        ok = (w_norm > 0) & (u_norm > 0)
        ratio = xp.where(ok, w_norm / xp.where(ok, u_norm, xp.ones_like(u_norm)), xp.ones_like(w_norm))
        variable._set(w - ratio * lr * update)

    def get_config(self):
        config = super().get_config()
        config.update({"beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon})
        return config
