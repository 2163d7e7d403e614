"""Adam (and AMSGrad), as keras/src/optimizers/adam.py: eps is not bias-corrected.

Where the backend has a fused Adam kernel (``backend.fused("adam")``: one compiled pass
per weight on NumPy, one elementwise kernel on CuPy), Adam and its subclasses hand it the
weights, gradients and moments of a step as arrays; AMSGrad, and arrays the kernel
declines, take ``update_step``, the portable path the tests compare it with.
"""

import math

from ..validation import check_number
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
            check_number(b, n, type(self).__name__, 0, 1, high_open=True)
        check_number(epsilon, "epsilon", type(self).__name__, low=0, low_open=True)
        # The fused kernel's buffers (owned moments, scratch), kept between steps.
        self._kernel_cache = {}
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
        if not self.amsgrad and self._fused_update(pairs, grads, alpha):
            return
        for (i, v), g in zip(pairs, grads):
            self.update_step(g, v, alpha, self._slots[i])

    def _fused_update(self, pairs, grads, alpha):
        """The backend's fused Adam over all pairs (True), or False when it has none or it
        declines these arrays (nothing was changed then)."""
        kernel = pairs[0][1].backend.fused("adam")
        if kernel is None:
            return False
        all_slots = self._slots
        slots = [all_slots[i] for i, _ in pairs]
        out = kernel([v.value for _, v in pairs], grads, [s["momentum"] for s in slots],
                     [s["velocity"] for s in slots], self.beta_1, self.beta_2, self.epsilon, alpha,
                     self._kernel_cache)
        if out is None:
            return False
        new_weights, momentums, velocities = out
        for k, (_, variable) in enumerate(pairs):
            variable._set(new_weights[k])
            s = slots[k]
            s["momentum"] = momentums[k]
            s["velocity"] = velocities[k]
        return True

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
