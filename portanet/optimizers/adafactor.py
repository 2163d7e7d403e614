"""Adafactor, as keras/src/optimizers/adafactor.py (Shazeer & Stern 2018): factored second
moments for weights of rank >= 2."""

import math

import array_api_compat

from ..validation import check_number
from .base import Optimizer


class Adafactor(Optimizer):
    """Keras's Adafactor step t (1-based):

    ρ = min(lr, 1/√t) (with ``relative_step`` and a float rate, lr itself is first capped at
    1/√t); α = max(epsilon_2, RMS(w))·ρ; G = g² + epsilon_1; β2 = 1 - t^beta_2_decay.
    Rank >= 2: r = β2·r + (1 - β2)·mean(G, last axis); c = β2·c + (1 - β2)·mean(G, axis -2);
    v = (r/mean(r))[..., None]·c[..., None, :]. Rank < 2: v = β2·v + (1 - β2)·G.
    u = g/√v; û = u/max(1, RMS(u)/clip_threshold); w -= α·û.

    Slots per weight, Keras's order: "r" and "c" (the row and column factors; scalar
    placeholders for weights of rank < 2, as Keras), "velocity".

    Args:
        learning_rate: 0.001. beta_2_decay: -0.8. epsilon_1: 1e-30. epsilon_2: 1e-3.
        clip_threshold: 1.0. relative_step: True.
    """

    def __init__(self, learning_rate=0.001, beta_2_decay=-0.8, epsilon_1=1e-30, epsilon_2=1e-3,
                 clip_threshold=1.0, relative_step=True, name=None, **kwargs):
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        check_number(beta_2_decay, "beta_2_decay", "Adafactor")
        check_number(epsilon_1, "epsilon_1", "Adafactor", low=0)
        check_number(epsilon_2, "epsilon_2", "Adafactor", low=0)
        check_number(clip_threshold, "clip_threshold", "Adafactor", low=0, low_open=True)
        self.beta_2_decay = float(beta_2_decay)
        self.epsilon_1, self.epsilon_2 = float(epsilon_1), float(epsilon_2)
        self.clip_threshold = float(clip_threshold)
        self.relative_step = bool(relative_step)

    def _make_slots(self, variable):
        xp = variable.backend.xp
        w = variable.value
        if w.ndim < 2:
            zero = xp.zeros((), dtype=w.dtype, device=array_api_compat.device(w))
            r, c = zero, zero
        else:
            r = xp.zeros(tuple(w.shape[:-1]), dtype=w.dtype, device=array_api_compat.device(w))
            c = xp.zeros(tuple(w.shape[:-2]) + (w.shape[-1],), dtype=w.dtype, device=array_api_compat.device(w))
        return {"r": r, "c": c, "velocity": self._zeros_like(variable)}

    def update_step(self, g, variable, lr, slots):
        xp = variable.backend.xp
        t = float(self.iterations + 1)
        if not callable(self._learning_rate) and self.relative_step:
            lr = min(lr, 1.0 / math.sqrt(t))
        rho = min(lr, 1.0 / math.sqrt(t))
        w = variable.value
        rms_w = xp.sqrt(xp.mean(w * w))
        alpha = xp.maximum(rms_w, xp.asarray(self.epsilon_2, dtype=w.dtype, device=array_api_compat.device(w))) * rho
        gsq = g * g + self.epsilon_1
        beta2 = 1.0 - t ** self.beta_2_decay
        if w.ndim >= 2:
            r = beta2 * slots["r"] + (1.0 - beta2) * xp.mean(gsq, axis=-1)
            c = beta2 * slots["c"] + (1.0 - beta2) * xp.mean(gsq, axis=-2)
            v = xp.expand_dims(r / xp.mean(r, axis=-1, keepdims=True), axis=-1) * xp.expand_dims(c, axis=-2)
            slots["r"], slots["c"] = r, c
        else:
            v = beta2 * slots["velocity"] + (1.0 - beta2) * gsq
        slots["velocity"] = v
        u = g / xp.sqrt(v)
        rms_u = xp.sqrt(xp.mean(u * u))
        u_hat = u / xp.maximum(xp.ones_like(rms_u), rms_u / self.clip_threshold)
        variable._set(w - alpha * u_hat)

    def get_config(self):
        config = super().get_config()
        config.update({"beta_2_decay": self.beta_2_decay, "epsilon_1": self.epsilon_1,
                       "epsilon_2": self.epsilon_2, "clip_threshold": self.clip_threshold,
                       "relative_step": self.relative_step})
        return config
