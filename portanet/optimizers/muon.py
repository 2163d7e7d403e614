"""Muon, as keras/src/optimizers/muon.py (Jordan et al. 2024; the Moonlight RMS scaling):
momentum orthogonalized by Newton-Schulz iterations for 2-D weights, AdamW for the rest."""

import math
import re

import array_api_compat

from ..validation import check_number, check_positive_int
from .base import Optimizer


class Muon(Optimizer):
    """Which rule a weight gets is Keras's ``_should_use_adamw``: AdamW for every weight that
    is not 2-D, for 2-D weights whose path contains "embedding" (``exclude_embeddings``)
    and for paths matching a regex of ``exclude_layers``; Muon for the other 2-D weights.

    Muon: m = momentum·m + g; g' = g + momentum·m (``nesterov``) or m; O = NS5(g')
    (``ns_steps`` quintic Newton-Schulz iterations with coefficients muon_a/b/c, on the
    transposed matrix when it has more rows than columns, after scaling to Frobenius norm
    1); w -= lr·O·√max(rows, cols)·rms_rate (no scaling when rms_rate is None).
    AdamW: Adam with adam_beta_1/2 and epsilon at lr·adam_lr_ratio.
    Weight decay (decoupled, before the update, as Keras): ``weight_decay`` for Muon
    weights, ``adam_weight_decay`` for AdamW weights.

    Slots per weight, Keras's names: "momentum" (every weight), "velocity" (AdamW weights).

    Args:
        learning_rate: 0.001. adam_beta_1: 0.9. adam_beta_2: 0.999. adam_weight_decay: 0.004.
        epsilon: 1e-7. weight_decay: 0.004. exclude_layers: None (regexes). exclude_embeddings:
        True. muon_a: 3.4445. muon_b: -4.7750. muon_c: 2.0315. adam_lr_ratio: 1.
        momentum: 0.95. ns_steps: 5. nesterov: True. rms_rate: 0.2.
    """

    def __init__(self, learning_rate=0.001, adam_beta_1=0.9, adam_beta_2=0.999, adam_weight_decay=0.004,
                 epsilon=1e-7, weight_decay=0.004, clipnorm=None, clipvalue=None, global_clipnorm=None,
                 use_ema=False, ema_momentum=0.99, ema_overwrite_frequency=None, loss_scale_factor=None,
                 gradient_accumulation_steps=None, name=None, exclude_layers=None,
                 exclude_embeddings=True, muon_a=3.4445, muon_b=-4.7750, muon_c=2.0315, adam_lr_ratio=1,
                 momentum=0.95, ns_steps=5, nesterov=True, rms_rate=0.2, **kwargs):
        super().__init__(learning_rate=learning_rate, name=name, weight_decay=weight_decay,
                         clipnorm=clipnorm, clipvalue=clipvalue, global_clipnorm=global_clipnorm,
                         use_ema=use_ema, ema_momentum=ema_momentum,
                         ema_overwrite_frequency=ema_overwrite_frequency,
                         loss_scale_factor=loss_scale_factor,
                         gradient_accumulation_steps=gradient_accumulation_steps, **kwargs)
        for n, b in (("adam_beta_1", adam_beta_1), ("adam_beta_2", adam_beta_2), ("momentum", momentum)):
            check_number(b, n, "Muon", 0, 1, high_open=True)
        check_number(epsilon, "epsilon", "Muon", low=0, low_open=True)
        check_number(adam_weight_decay, "adam_weight_decay", "Muon", low=0, allow_none=True)
        check_number(adam_lr_ratio, "adam_lr_ratio", "Muon", low=0)
        check_number(rms_rate, "rms_rate", "Muon", low=0, allow_none=True)
        for n, v in (("muon_a", muon_a), ("muon_b", muon_b), ("muon_c", muon_c)):
            check_number(v, n, "Muon")
        check_positive_int(ns_steps, "ns_steps", "Muon")
        if exclude_layers is not None and (isinstance(exclude_layers, str) or not all(
                isinstance(k, str) for k in exclude_layers)):
            raise ValueError(f"Muon: exclude_layers={exclude_layers!r}; expected a list of regex strings")
        self.adam_beta_1, self.adam_beta_2 = adam_beta_1, adam_beta_2
        self.epsilon = epsilon
        self.muon_a, self.muon_b, self.muon_c = muon_a, muon_b, muon_c
        self.adam_lr_ratio = adam_lr_ratio
        self.momentum = momentum
        self.ns_steps = ns_steps
        self.nesterov = bool(nesterov)
        self.exclude_embeddings = bool(exclude_embeddings)
        self.exclude_layers = list(exclude_layers or [])
        self.adam_weight_decay = adam_weight_decay
        self.rms_rate = rms_rate

    def _should_use_adamw(self, variable):
        if len(variable.shape) != 2:
            return True
        path = getattr(variable, "path", None) or variable.name
        if self.exclude_embeddings and "embedding" in path.lower():
            return True
        return any(re.search(k, path) for k in self.exclude_layers)

    def _make_slots(self, variable):
        slots = {"momentum": self._zeros_like(variable)}
        if self._should_use_adamw(variable):
            slots["velocity"] = self._zeros_like(variable)
        return slots

    def _decays(self, v):
        # Muon applies its own two decay rates in _update_all; the base step's single rate
        # is switched off here.
        return False

    def _update_all(self, pairs, grads, lr):
        for _, v in pairs:
            if not Optimizer._decays(self, v):
                continue
            wd = self.adam_weight_decay if self._should_use_adamw(v) else self.weight_decay
            if wd is not None:
                v._set(v.value - v.value * (wd * lr))
        for (i, v), g in zip(pairs, grads):
            slots = self._slots[i]
            if "velocity" in slots:
                self._adamw_step(g, v, lr * self.adam_lr_ratio, slots)
            else:
                self._muon_step(g, v, lr, slots)

    def _adamw_step(self, g, variable, lr, slots):
        xp = variable.backend.xp
        t = self.iterations + 1
        alpha = lr * math.sqrt(1.0 - self.adam_beta_2 ** t) / (1.0 - self.adam_beta_1 ** t)
        m = slots["momentum"] + (g - slots["momentum"]) * (1.0 - self.adam_beta_1)
        v = slots["velocity"] + (g * g - slots["velocity"]) * (1.0 - self.adam_beta_2)
        slots["momentum"], slots["velocity"] = m, v
        variable._set(variable.value - (m * alpha) / (xp.sqrt(v) + self.epsilon))

    def _muon_step(self, g, variable, lr, slots):
        m = slots["momentum"] + (g + slots["momentum"] * (self.momentum - 1.0))
        slots["momentum"] = m
        direction = g + self.momentum * m if self.nesterov else m
        update = self.zeropower_via_newtonschulz5(direction, self.ns_steps)
        variable._set(variable.value - self.lr_adjust(lr * update))

    def lr_adjust(self, x):
        """Moonlight's scaling: x·√max(rows, cols)·rms_rate (x itself when rms_rate is None)."""
        if self.rms_rate is None:
            return x
        return x * math.sqrt(max(x.shape[0], x.shape[1])) * self.rms_rate

    def zeropower_via_newtonschulz5(self, x, steps):
        """The quintic Newton-Schulz iteration of Keras's Muon (an approximate
        orthogonalization of ``x``, rank >= 2, acting on the last two axes)."""
        if x.ndim < 2:
            raise ValueError(f"Muon: expected a gradient of at least 2 dimensions; got shape "
                             f"{tuple(x.shape)}")
        xp = array_api_compat.array_namespace(x)
        a, b, c = self.muon_a, self.muon_b, self.muon_c
        tall = x.shape[-2] > x.shape[-1]
        if tall:
            x = xp.matrix_transpose(x)
        x = x / (xp.sqrt(xp.sum(x * x, axis=(-2, -1), keepdims=True)) + 1e-7)
        for _ in range(steps):
            ta = x @ xp.matrix_transpose(x)
            tb = b * ta + c * (ta @ ta)
            x = a * x + tb @ x
        return xp.matrix_transpose(x) if tall else x

    def get_config(self):
        config = super().get_config()
        config.update({"adam_beta_1": self.adam_beta_1, "adam_beta_2": self.adam_beta_2,
                       "epsilon": self.epsilon, "exclude_layers": self.exclude_layers,
                       "muon_a": self.muon_a, "muon_b": self.muon_b, "muon_c": self.muon_c,
                       "adam_lr_ratio": self.adam_lr_ratio, "momentum": self.momentum,
                       "ns_steps": self.ns_steps, "nesterov": self.nesterov,
                       "exclude_embeddings": self.exclude_embeddings,
                       "adam_weight_decay": self.adam_weight_decay, "rms_rate": self.rms_rate})
        return config
