"""ScheduleFreeAdamW, as keras/src/optimizers/schedule_free_adamw.py (Defazio et al. 2024,
"The Road Less Scheduled")."""

from ..validation import check_number, check_positive_int
from .base import Optimizer


class ScheduleFreeAdamW(Optimizer):
    """Schedule-free AdamW as Keras 3.15.1 implements it. The weight holds y; the slot
    "momentum" holds z (initialised to the weights); x is recovered from them each step:

    lr_t = lr·min(t/warmup_steps, 1) (warmup_steps > 0); v += (g² - v)(1 - β2);
    z_old = z; z -= lr_t·g/(√(v/(1 - β2^t)) + eps); x = (y - (1 - β1)·z_old)/β1;
    x = (1 - 1/t)·x + z/t; y = (1 - β1)·z + β1·x.

    Keras 3.15.1 has no separate train/eval weights for this optimizer (the weights are y
    during training and evaluation alike), so neither has portanet.

    Args:
        learning_rate: 0.0025. beta_1: 0.9. beta_2: 0.999. epsilon: 1e-8. warmup_steps: 0.
    """

    def __init__(self, learning_rate=0.0025, beta_1=0.9, beta_2=0.999, epsilon=1e-8, warmup_steps=0,
                 name=None, **kwargs):
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        check_number(beta_1, "beta_1", "ScheduleFreeAdamW", 0, 1, low_open=True, high_open=True)
        check_number(beta_2, "beta_2", "ScheduleFreeAdamW", 0, 1, high_open=True)
        check_number(epsilon, "epsilon", "ScheduleFreeAdamW", low=0, low_open=True)
        if warmup_steps != 0:
            check_positive_int(warmup_steps, "warmup_steps", "ScheduleFreeAdamW")
        self.beta_1, self.beta_2, self.epsilon = float(beta_1), float(beta_2), float(epsilon)
        self.warmup_steps = warmup_steps

    def _make_slots(self, variable):
        xp = variable.backend.xp
        return {"momentum": xp.asarray(variable.value, copy=True), "velocity": self._zeros_like(variable)}

    def update_step(self, g, variable, lr, slots):
        xp = variable.backend.xp
        t = float(self.iterations + 1)
        if self.warmup_steps > 0:
            lr = lr * min(t / self.warmup_steps, 1.0)
        b1, b2 = self.beta_1, self.beta_2
        z_old = slots["momentum"]
        v = slots["velocity"] + (g * g - slots["velocity"]) * (1.0 - b2)
        denom = xp.sqrt(v / (1.0 - b2 ** t)) + self.epsilon
        z = z_old - lr * g / denom
        x = (variable.value - (1.0 - b1) * z_old) / b1
        weight = 1.0 / t
        x = (1.0 - weight) * x + weight * z
        slots["momentum"], slots["velocity"] = z, v
        variable._set((1.0 - b1) * z + b1 * x)

    def get_config(self):
        config = super().get_config()
        config.update({"beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon,
                       "warmup_steps": self.warmup_steps})
        return config
