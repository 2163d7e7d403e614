"""AdditiveAttention (Bahdanau-style), keras/src/layers/attention/additive_attention.py."""

from .attention import Attention

__all__ = ["AdditiveAttention"]


class AdditiveAttention(Attention):
    """Additive attention: scores ``sum(scale * tanh(query + key), -1)``, then as Attention.

    Args:
        use_scale: if True (default), a learned vector ``scale`` of shape (dim,)
            (glorot_uniform) weights the summed features; else the plain sum.
        dropout: dropout rate on the attention probabilities (training only).

    Call, masks and shapes as ``Attention``: inputs [query, value] or [query, value, key],
    each (B, T, dim); output (B, Tq, dim); scores (B, Tq, Tv).
    """

    def __init__(self, use_scale=True, dropout=0.0, **kwargs):
        kwargs.pop("score_mode", None)
        super().__init__(use_scale=use_scale, dropout=dropout, **kwargs)

    def build(self, input_shape):
        shapes = self._validate(input_shape)
        dim = shapes[0][-1]
        self.scale = None
        if self.use_scale:
            self.scale = self.add_weight(name="scale", shape=(dim,), initializer="glorot_uniform")
        self.built = True

    def _calculate_scores(self, xp, q, k):
        u = xp.expand_dims(q, axis=-2) + xp.expand_dims(k, axis=-3)   # (B, Tq, Tv, dim)
        t = xp.tanh(u)
        s = None if self.scale is None else self.scale.value

        def backward(ds):
            ds = xp.expand_dims(ds, axis=-1)
            if s is not None:
                self.scale.add_grad(xp.sum(ds * t, axis=(0, 1, 2)))
                ds = ds * s
            du = ds * (1.0 - t * t)
            return xp.sum(du, axis=-2), xp.sum(du, axis=-3)
        return xp.sum(t if s is None else s * t, axis=-1), backward

    def get_config(self):
        config = super().get_config()
        del config["score_mode"]
        return config
