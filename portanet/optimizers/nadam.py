"""Nadam, as keras/src/optimizers/nadam.py (Adam with Nesterov momentum, Dozat 2016)."""

import math

from ..validation import check_number
from .base import Optimizer


class Nadam(Optimizer):
    """μ_t = β1(1 - ½·0.96^t); Π_t = Π_{t-1}·μ_t (Π_0 = 1); m, v as in Adam;
    m̂ = μ_{t+1}·m/(1 - Π_t·μ_{t+1}) + (1-μ_t)·g/(1 - Π_t); v̂ = v/(1-β2^t);
    w -= lr·m̂/(√v̂ + eps).

    Args:
        learning_rate: 0.001. beta_1: 0.9. beta_2: 0.999. epsilon: 1e-7.
    """

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, name="nadam",
                 **kwargs):
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        for n, b in (("beta_1", beta_1), ("beta_2", beta_2)):
            check_number(b, n, "Nadam", 0, 1, high_open=True)
        check_number(epsilon, "epsilon", "Nadam", low=0, low_open=True)
        self.beta_1, self.beta_2, self.epsilon = float(beta_1), float(beta_2), float(epsilon)
        # Π_t, the running product of the momentum schedule: optimizer state, saved with it.
        self._u_product = 1.0

    def _make_slots(self, variable):
        return {"momentum": self._zeros_like(variable), "velocity": self._zeros_like(variable)}

    def _mu(self, t):
        return self.beta_1 * (1.0 - 0.5 * 0.96 ** t)

    def _update_all(self, pairs, grads, lr):
        t = self.iterations + 1
        u_t, u_next = self._mu(t), self._mu(t + 1)
        # Keras updates the product once per step, before any variable's update.
        self._u_product *= u_t
        coefs = (u_next / (1.0 - self._u_product * u_next),
                 (1.0 - u_t) / (1.0 - self._u_product),
                 1.0 / math.sqrt(1.0 - self.beta_2 ** t))
        for (i, v), g in zip(pairs, grads):
            self.update_step(g, v, lr, self._slots[i], coefs)

    def update_step(self, g, variable, lr, slots, coefs):
        xp = variable.backend.xp
        c_m, c_g, inv_sqrt_bc2 = coefs
        m = slots["momentum"] + (g - slots["momentum"]) * (1.0 - self.beta_1)
        v = slots["velocity"] + (g * g - slots["velocity"]) * (1.0 - self.beta_2)
        slots["momentum"], slots["velocity"] = m, v
        m_hat = c_m * m + c_g * g
        # √(v/(1-β2^t)) = √v/√(1-β2^t).
        variable._set(variable.value - lr * m_hat / (xp.sqrt(v) * inv_sqrt_bc2 + self.epsilon))

    def get_state(self):
        state = super().get_state()
        state["u_product"] = self._u_product
        return state

    def set_state(self, state, variables):
        super().set_state(state, variables)
        self._u_product = float(state.get("u_product", 1.0))

    def get_config(self):
        config = super().get_config()
        config.update({"beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon})
        return config
