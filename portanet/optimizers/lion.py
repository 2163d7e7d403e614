"""Lion, as keras/src/optimizers/lion.py (Chen et al. 2023, "Symbolic Discovery of
Optimization Algorithms")."""

from ..validation import check_number
from .base import Optimizer


class Lion(Optimizer):
    """w -= lr·sign(β1·m + (1-β1)·g); then m = β2·m + (1-β2)·g.

    Every coordinate moves by exactly ±lr (or 0), so Lion wants a rate 3-10x smaller
    than Adam's.

    Args:
        learning_rate: 0.001. beta_1: 0.9, in (0, 1]. beta_2: 0.99, in [0, 1).
    """

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.99, name="lion", **kwargs):
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        # Keras: beta_1 = 0 would make Lion sign-SGD.
        check_number(beta_1, "beta_1", "Lion", 0, 1, low_open=True)
        check_number(beta_2, "beta_2", "Lion", 0, 1, high_open=True)
        self.beta_1, self.beta_2 = float(beta_1), float(beta_2)

    def _make_slots(self, variable):
        return {"momentum": self._zeros_like(variable)}

    def update_step(self, g, variable, lr, slots):
        xp = variable.backend.xp
        m = slots["momentum"]
        variable._set(variable.value - lr * xp.sign(m * self.beta_1 + g * (1.0 - self.beta_1)))
        slots["momentum"] = m * self.beta_2 + g * (1.0 - self.beta_2)

    def get_config(self):
        config = super().get_config()
        config.update({"beta_1": self.beta_1, "beta_2": self.beta_2})
        return config
