"""Attention (Luong-style dot-product attention), keras/src/layers/attention/attention.py."""

from ..base import Layer
from . import _attention_math as _am
from .. import symbolic

__all__ = ["Attention"]

_SCORE_MODES = ("dot", "concat")


class Attention(Layer):
    """Dot-product attention: ``softmax(query @ key^T * scale) @ value``, as Keras's layer.

    Args:
        use_scale: if True, a learned scalar ``scale`` (initialized to 1) multiplies the
            scores.
        score_mode: "dot" (``query @ key^T``) or "concat" (``concat_score_weight *
            sum(tanh(scale * (query + key)), -1)``).
        dropout: dropout rate on the attention probabilities (training only).
        seed: accepted for Keras compatibility; masks come from ``pn.utils.set_random_seed``.

    Call: ``layer([query, value])`` or ``layer([query, value, key])``, with
    ``mask=[query_mask, value_mask]`` (or the masks of the input tensors),
    ``return_attention_scores`` and ``use_causal_mask`` (kept on the layer for its
    functional node, and in its config when set).

    Input shapes: query (B, Tq, dim), value (B, Tv, dim), key (B, Tv, dim).
    Output shape: (B, Tq, dim); scores (B, Tq, Tv).
    """

    def __init__(self, use_scale=False, score_mode="dot", dropout=0.0, seed=None,
                 use_causal_mask=False, return_attention_scores=False, **kwargs):
        if score_mode not in _SCORE_MODES:
            raise ValueError(f"{type(self).__name__}: score_mode={score_mode!r}; expected one of "
                             f"{list(_SCORE_MODES)}")
        if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0 <= dropout < 1:
            raise ValueError(f"{type(self).__name__}: dropout={dropout!r}; expected a float in [0, 1)")
        super().__init__(**kwargs)
        self.use_scale = bool(use_scale)
        self.score_mode = score_mode
        self.dropout = float(dropout)
        self.seed = seed
        self.use_causal_mask = bool(use_causal_mask)
        self.return_attention_scores = bool(return_attention_scores)
        self.supports_masking = True
        self.scale = None
        self.concat_score_weight = None

    def __call__(self, inputs, mask=None, training=None, return_attention_scores=False,
                 use_causal_mask=False, **kwargs):
        flags = (bool(return_attention_scores) or self.return_attention_scores,
                 bool(use_causal_mask) or self.use_causal_mask)
        if symbolic.is_symbolic(inputs):
            self.return_attention_scores, self.use_causal_mask = flags
            return super().__call__(inputs, training=bool(training), mask=mask, **kwargs)
        saved = (self.return_attention_scores, self.use_causal_mask)
        self.return_attention_scores, self.use_causal_mask = flags
        try:
            out = super().__call__(inputs, training=bool(training), mask=mask, **kwargs)
        finally:
            self.return_attention_scores, self.use_causal_mask = saved
        return tuple(out) if isinstance(out, list) else out

    def _validate(self, input_shape):
        name = type(self).__name__
        if not isinstance(input_shape, (list, tuple)) or not all(
                isinstance(s, (list, tuple)) for s in input_shape) or len(input_shape) not in (2, 3):
            raise ValueError(f"{name} {self.name!r}: expected a list [query, value] or [query, value, "
                             f"key]; got input shape {input_shape!r}")
        shapes = [tuple(s) for s in input_shape]
        if any(len(s) != 3 for s in shapes):
            raise ValueError(f"{name} {self.name!r}: inputs must have rank 3 (batch, steps, dim); "
                             f"got shapes {shapes}")
        return shapes

    def build(self, input_shape):
        self._validate(input_shape)
        if self.use_scale:
            self.scale = self.add_weight(name="scale", shape=(), initializer="ones")
        if self.score_mode == "concat":
            self.concat_score_weight = self.add_weight(name="concat_score_weight", shape=(),
                                                       initializer="ones")
        self.built = True

    def compute_output_shape(self, input_shape):
        shapes = self._validate(input_shape)
        q, v = shapes[0], shapes[1]
        out = tuple(q[:-1]) + (v[-1],)
        if self.return_attention_scores:
            return [out, (q[0], q[1], v[1])]
        return out

    def compute_mask(self, inputs, mask=None):
        q_mask = mask[0] if isinstance(mask, (list, tuple)) and mask else None
        return [q_mask, None] if self.return_attention_scores else q_mask

    # Scores and their backward: (scores, backward(d_scores) -> (dq, dk)).
    def _calculate_scores(self, xp, q, k):
        if self.score_mode == "dot":
            raw = q @ xp.matrix_transpose(k)
            if self.scale is None:
                def backward(ds):
                    return ds @ k, xp.matrix_transpose(ds) @ q
                return raw, backward
            s = self.scale.value

            def backward(ds):
                self.scale.add_grad(xp.sum(ds * raw))
                ds = ds * s
                return ds @ k, xp.matrix_transpose(ds) @ q
            return raw * s, backward
        # concat: c * sum(tanh(scale * (q + k)), -1)
        u = xp.expand_dims(q, axis=-2) + xp.expand_dims(k, axis=-3)   # (B, Tq, Tv, dim)
        s = None if self.scale is None else self.scale.value
        t = xp.tanh(u if s is None else s * u)
        cw = self.concat_score_weight.value
        summed = xp.sum(t, axis=-1)

        def backward(ds):
            self.concat_score_weight.add_grad(xp.sum(ds * summed))
            dt = xp.expand_dims(ds * cw, axis=-1) * (1.0 - t * t)
            if s is not None:
                self.scale.add_grad(xp.sum(dt * u))
                dt = dt * s
            return xp.sum(dt, axis=-2), xp.sum(dt, axis=-3)
        return cw * summed, backward

    def forward(self, inputs, training=False, mask=None):
        xp = self.xp
        if not isinstance(inputs, (list, tuple)) or len(inputs) not in (2, 3):
            raise ValueError(f"{type(self).__name__} {self.name!r}: expected a list [query, value] or "
                             "[query, value, key]")
        q, v = inputs[0], inputs[1]
        k = inputs[2] if len(inputs) > 2 else v
        masks = list(mask) if isinstance(mask, (list, tuple)) else [None, None]
        q_mask = _am.as_bool(self.backend, masks[0] if masks else None)
        v_mask = _am.as_bool(self.backend, masks[1] if len(masks) > 1 else None)
        scores, scores_back = self._calculate_scores(xp, q, k)
        scores_mask = v_mask
        if self.use_causal_mask:
            causal = _am.causal_mask(self.backend, scores.shape[-2], scores.shape[-1])
            scores_mask = causal if v_mask is None else xp.logical_and(
                xp.expand_dims(v_mask, axis=-2), causal)
        if scores_mask is not None:
            if scores_mask.ndim == 2:
                scores_mask = xp.expand_dims(scores_mask, axis=-2)
            max_value = 65504.0 if "float16" in str(scores.dtype) else 1.0e9
            scores = scores - max_value * xp.astype(xp.logical_not(scores_mask), scores.dtype)
        w, softmax_back = _am.masked_softmax(xp, scores, None, backend=self.backend)
        wd, drop = w, None
        if training and self.dropout > 0:
            drop = self.backend.dropout_mask(tuple(w.shape), self.dropout, dtype=w.dtype)
            wd = w * drop
        out = wd @ v
        qm = None
        if q_mask is not None:
            qm = xp.astype(xp.expand_dims(q_mask, axis=-1), out.dtype)
            out = out * qm
        want_scores = self.return_attention_scores
        n_in = len(inputs)

        def backward(dy):
            d_w_extra = None
            if want_scores:
                dy, d_w_extra = dy[0], dy[1]
            if qm is not None:
                dy = dy * qm
            dwd = dy @ xp.matrix_transpose(v)
            dv = xp.matrix_transpose(wd) @ dy
            dw = dwd if drop is None else dwd * drop
            if d_w_extra is not None:
                dw = dw + d_w_extra
            dq, dk = scores_back(softmax_back(dw))
            if n_in == 2:
                return [dq, dv + dk]
            return [dq, dv, dk]

        if want_scores:
            return [out, w], backward
        return out, backward

    def get_config(self):
        config = super().get_config()
        config.update({"use_scale": self.use_scale, "score_mode": self.score_mode,
                       "dropout": self.dropout, "seed": self.seed})
        if self.use_causal_mask:
            config["use_causal_mask"] = True
        if self.return_attention_scores:
            config["return_attention_scores"] = True
        return config
