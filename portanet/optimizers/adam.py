"""Adam (and AMSGrad), as keras/src/optimizers/adam.py: eps is not bias-corrected."""

import math

from .base import Optimizer


class Adam(Optimizer):
    """m += (g-m)(1-β1); v += (g²-v)(1-β2); α = lr·√(1-β2^t)/(1-β1^t);
    w -= α·m/(√v + eps) (amsgrad: v replaced by the running max v̂).

    Args:
        learning_rate: 0.001. beta_1: 0.9. beta_2: 0.999. epsilon: 1e-7. amsgrad: False.
    """

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False,
                 name="adam", **kwargs):
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        for n, b in (("beta_1", beta_1), ("beta_2", beta_2)):
            if not 0 <= b < 1:
                raise ValueError(f"{type(self).__name__}: {n}={b!r}; expected a float in [0, 1)")
        if not epsilon > 0:
            raise ValueError(f"{type(self).__name__}: epsilon={epsilon!r}; expected a positive float")
        self.beta_1, self.beta_2, self.epsilon, self.amsgrad = float(beta_1), float(beta_2), float(epsilon), bool(amsgrad)

    def _make_slots(self, variable):
        slots = {"momentum": self._zeros_like(variable), "velocity": self._zeros_like(variable)}
        if self.amsgrad:
            slots["velocity_hat"] = self._zeros_like(variable)
        return slots

    def _alpha(self, lr):
        t = self.iterations + 1
        return lr * math.sqrt(1.0 - self.beta_2 ** t) / (1.0 - self.beta_1 ** t)

    def _update_all(self, pairs, grads, lr):
        alpha = self._alpha(lr)
        for (i, v), g in zip(pairs, grads):
            self.update_step(g, v, alpha, self._slots[i])

    def update_step(self, g, variable, alpha, slots):
        xp = variable.backend.xp
        m = slots["momentum"] + (g - slots["momentum"]) * (1.0 - self.beta_1)
        v = slots["velocity"] + (g * g - slots["velocity"]) * (1.0 - self.beta_2)
        slots["momentum"], slots["velocity"] = m, v
        if self.amsgrad:
            v = xp.maximum(slots["velocity_hat"], v)
            slots["velocity_hat"] = v
        variable._set(variable.value - alpha * m / (xp.sqrt(v) + self.epsilon))

    def get_config(self):
        config = super().get_config()
        config.update({"beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon,
                       "amsgrad": self.amsgrad})
        return config
