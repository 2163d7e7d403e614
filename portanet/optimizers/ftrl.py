"""FTRL-Proximal, as keras/src/optimizers/ftrl.py (McMahan et al. 2013)."""

from ..validation import check_number
from .base import Optimizer


class Ftrl(Optimizer):
    """g' = g + 2·l2s·w; n' = n + g²; σ = (n'^-p - n^-p)/lr; z += g' - σ·w;
    q = n'^-p/lr + 2(l2 + β/(2lr)); w = (clip(z, -l1, l1) - z)/q; n = n'.

    Args:
        learning_rate: 0.001.
        learning_rate_power: -0.5 (p; must be <= 0).
        initial_accumulator_value: 0.1 (the start of n; must be >= 0).
        l1_regularization_strength: 0.0. l2_regularization_strength: 0.0.
        l2_shrinkage_regularization_strength: 0.0 (an L2 penalty on the gradient only).
        beta: 0.0.
    """

    def __init__(self, learning_rate=0.001, learning_rate_power=-0.5, initial_accumulator_value=0.1,
                 l1_regularization_strength=0.0, l2_regularization_strength=0.0,
                 l2_shrinkage_regularization_strength=0.0, beta=0.0, name="ftrl", **kwargs):
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        check_number(initial_accumulator_value, "initial_accumulator_value", "Ftrl", low=0)
        check_number(learning_rate_power, "learning_rate_power", "Ftrl", high=0)
        for n, v in (("l1_regularization_strength", l1_regularization_strength),
                     ("l2_regularization_strength", l2_regularization_strength),
                     ("l2_shrinkage_regularization_strength", l2_shrinkage_regularization_strength)):
            check_number(v, n, "Ftrl", low=0)
        self.learning_rate_power = float(learning_rate_power)
        self.initial_accumulator_value = float(initial_accumulator_value)
        self.l1_regularization_strength = float(l1_regularization_strength)
        self.l2_regularization_strength = float(l2_regularization_strength)
        self.l2_shrinkage_regularization_strength = float(l2_shrinkage_regularization_strength)
        self.beta = float(beta)

    def _make_slots(self, variable):
        return {"accumulator": self._zeros_like(variable, self.initial_accumulator_value),
                "linear": self._zeros_like(variable)}

    def update_step(self, g, variable, lr, slots):
        xp = variable.backend.xp
        w = variable.value
        p = self.learning_rate_power
        l1 = self.l1_regularization_strength
        l2 = self.l2_regularization_strength + self.beta / (2.0 * lr)
        g_used = g + 2.0 * self.l2_shrinkage_regularization_strength * w
        n = slots["accumulator"]
        n_new = n + g * g
        n_new_pow = n_new ** (-p)
        linear = slots["linear"] + g_used - (n_new_pow - n ** (-p)) / lr * w
        quadratic = n_new_pow / lr + 2.0 * l2
        slots["linear"], slots["accumulator"] = linear, n_new
        variable._set((xp.clip(linear, -l1, l1) - linear) / quadratic)

    def get_config(self):
        config = super().get_config()
        config.update({"learning_rate_power": self.learning_rate_power,
                       "initial_accumulator_value": self.initial_accumulator_value,
                       "l1_regularization_strength": self.l1_regularization_strength,
                       "l2_regularization_strength": self.l2_regularization_strength,
                       "l2_shrinkage_regularization_strength": self.l2_shrinkage_regularization_strength,
                       "beta": self.beta})
        return config
