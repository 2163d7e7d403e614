"""GRUCell and GRU (Keras 3's ``keras/src/layers/rnn/gru.py``), gates [z, r, h].

reset_after=True (default, cuDNN compatible): with ``(xz, xr, xh) = x_t @ kernel + b_in``
and ``(rz, rr, rh) = h_{t-1} @ recurrent_kernel + b_rec``:
``z = σ(xz + rz)``, ``r = σ(xr + rr)``, ``h̃ = tanh(xh + r·rh)``,
``h_t = z·h_{t-1} + (1 − z)·h̃``. reset_after=False: ``h̃ = tanh(xh + (r·h_{t-1}) @ U_h)``
with a single bias.
Weights: kernel (features, 3u), recurrent_kernel (u, 3u), bias (2, 3u) with
reset_after=True (input bias; recurrent bias), else (3u,).
"""

from ... import activations as _activations
from ._helpers import cell_property, check_use_cudnn
from .cell_base import _GatedCell
from ..input_spec import InputSpec
from .rnn import RNN

__all__ = ["GRUCell", "GRU"]


class GRUCell(_GatedCell):
    """The cell of a GRU layer, for ``RNN(GRUCell(units))`` or ``StackedRNNCells``.

    Args:
        units: positive int, the size of the state and output.
        activation: default "tanh". recurrent_activation: default "sigmoid".
        use_bias: whether to add a bias.
        kernel_initializer / recurrent_initializer / bias_initializer: default
            "glorot_uniform" / "orthogonal" / "zeros".
        kernel_regularizer / recurrent_regularizer / bias_regularizer.
        kernel_constraint / recurrent_constraint / bias_constraint.
        dropout / recurrent_dropout: floats in [0, 1), training only (one mask per sequence).
        reset_after: the GRU convention (see the module docstring); default True.
        seed: accepted for Keras compatibility; masks come from ``pn.utils.set_random_seed``.

    Input shape: (batch, features) per step; state: one (batch, units) array.
    Weights: kernel (features, 3u), recurrent_kernel (u, 3u), bias (2, 3u) or (3u,).

    Example:
        >>> layer = pn.layers.RNN(pn.layers.GRUCell(32))
    """

    _gates = 3
    _state_count = 1

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal",
                 bias_initializer="zeros", kernel_regularizer=None, recurrent_regularizer=None,
                 bias_regularizer=None, kernel_constraint=None, recurrent_constraint=None,
                 bias_constraint=None, dropout=0.0, recurrent_dropout=0.0, reset_after=True,
                 seed=None, **kwargs):
        recurrent_activation = _activations.get(recurrent_activation)
        super().__init__(units, activation, use_bias, dropout, recurrent_dropout, seed,
                         implementation=kwargs.pop("implementation", 2),
                         kernel_initializer=kernel_initializer,
                         recurrent_initializer=recurrent_initializer,
                         bias_initializer=bias_initializer, kernel_regularizer=kernel_regularizer,
                         recurrent_regularizer=recurrent_regularizer,
                         bias_regularizer=bias_regularizer, kernel_constraint=kernel_constraint,
                         recurrent_constraint=recurrent_constraint,
                         bias_constraint=bias_constraint, **kwargs)
        self.recurrent_activation = recurrent_activation
        self.reset_after = bool(reset_after)

    def build(self, input_shape):
        bias_shape = (2, 3 * self.units) if self.reset_after else (3 * self.units,)
        self._build_kernels(input_shape, bias_shape, self.bias_initializer)

    def _input_bias(self):
        if self.bias is None:
            return None
        return self.bias.value[0, :] if self.reset_after else self.bias.value

    def _prepare_context(self, ctx):
        ctx["rec_bias"] = (self.bias.value[1, :]
                           if self.bias is not None and self.reset_after else None)

    def _add_bias_grad(self, d_xp_sum, d_rec_sum):
        if self.bias is None:
            return
        if self.reset_after:
            self.bias.add_grad(self.xp.stack([d_xp_sum, d_rec_sum], axis=0))
        else:
            self.bias.add_grad(d_xp_sum)

    def _rec_slices(self, ctx):
        u = self.units
        per_gate = ctx["rec_masks"] is not None and len(ctx["rec_masks"]) > 1
        if self.reset_after:
            return [(0, u), (u, 2 * u), (2 * u, 3 * u)] if per_gate else [(0, 3 * u)]
        # reset_before: the candidate block multiplies r·h, a left factor of its own.
        return ([(0, u), (u, 2 * u), (2 * u, 3 * u)] if per_gate
                else [(0, 2 * u), (2 * u, 3 * u)])

    def _step(self, ctx, xt, states):
        u = self.units
        h_prev = states[0]
        if self.reset_after:
            rec, lefts = self._rec_forward(ctx, h_prev, 0, 3)
            if ctx["rec_bias"] is not None:
                rec = rec + ctx["rec_bias"]
            rh = rec[:, 2 * u:]
            # z and r are adjacent blocks: one activation call for both.
            zr, zr_back = _activations.apply(self.recurrent_activation,
                                             xt[:, :2 * u] + rec[:, :2 * u])
            z, r = zr[:, :u], zr[:, u:]
            hh, hh_back = _activations.apply(self.activation, xt[:, 2 * u:] + r * rh)
            h = z * h_prev + (1.0 - z) * hh
            return [h], (lefts, h_prev, z, r, hh, rh, zr_back, hh_back)
        rec_zr, lefts = self._rec_forward(ctx, h_prev, 0, 2)
        zr, zr_back = _activations.apply(self.recurrent_activation, xt[:, :2 * u] + rec_zr)
        z, r = zr[:, :u], zr[:, u:]
        masks = ctx["rec_masks"]
        h_cand = h_prev if masks is None else h_prev * masks[-1]
        reset_h = r * h_cand
        hh, hh_back = _activations.apply(
            self.activation, xt[:, 2 * u:] + reset_h @ ctx["recurrent_kernel"][:, 2 * u:])
        h = z * h_prev + (1.0 - z) * hh
        return [h], (lefts + [reset_h], h_prev, z, r, hh, h_cand, zr_back, hh_back)

    def _step_backward(self, ctx, cache, d_new):
        xp = self.xp
        u = self.units
        _, h_prev, z, r, hh, aux, zr_back, hh_back = cache
        dh = d_new[0]
        d_hh = hh_back(dh * (1.0 - z))
        dh_prev = dh * z
        if self.reset_after:
            rh = aux
            d_zr = zr_back(xp.concat([dh * (h_prev - hh), d_hh * rh], axis=1))
            d_xt = xp.concat([d_zr, d_hh], axis=1)
            d_rec = xp.concat([d_zr, d_hh * r], axis=1)
            return d_xt, d_rec, [dh_prev + self._rec_backward(ctx, d_rec, 0, 3)]
        h_cand = aux
        d_reset_h = d_hh @ ctx["recurrent_kernel_t"][2 * u:, :]
        d_zr = zr_back(xp.concat([dh * (h_prev - hh), d_reset_h * h_cand], axis=1))
        d_h_cand = d_reset_h * r
        masks = ctx["rec_masks"]
        if masks is not None:
            d_h_cand = d_h_cand * masks[-1]
        d_xt = xp.concat([d_zr, d_hh], axis=1)
        dh_prev = dh_prev + d_h_cand + self._rec_backward(ctx, d_zr, 0, 2)
        return d_xt, d_xt, [dh_prev]

    def get_config(self):
        config = super().get_config()
        config.update({
            "recurrent_activation": _activations.serialize(self.recurrent_activation),
            "reset_after": self.reset_after,
        })
        return config


class GRU(RNN):
    """Gated Recurrent Unit (Cho et al., 2014), Keras 3 layout, gates [z, r, h].

    ``RNN`` over a ``GRUCell`` (``layer.cell``); the cell's arguments are readable on the
    layer (``layer.units``, ``layer.kernel``, ...). See the module docstring for the
    equations.

    Args:
        units: positive int, the size of the state and output.
        activation: default "tanh". recurrent_activation: default "sigmoid".
        use_bias, initializers, regularizers, constraints: as LSTM.
        dropout / recurrent_dropout: floats in [0, 1), training only (masks fixed per call).
        seed: accepted for Keras compatibility; masks come from ``pn.utils.set_random_seed``.
        return_sequences / return_state / go_backwards / stateful / unroll: as ``RNN``;
            ``return_state`` gives ``[output, h]``.
        reset_after: the GRU convention; default True.
        use_cudnn: accepted for Keras compatibility (no effect).
        zero_output_for_mask: zeros instead of the repeated output at masked timesteps.

    Input shape: (batch, timesteps, features), or a list ``[x, h0]``.
    Output shape: (batch, units), or (batch, timesteps, units) with ``return_sequences``.
    Weights: kernel (features, 3u), recurrent_kernel (u, 3u), bias (2, 3u) with
    reset_after=True, else (3u,).

    Example:
        >>> layer = pn.layers.GRU(32, return_sequences=True)
    """

    _owns_cell = True

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal",
                 bias_initializer="zeros", kernel_regularizer=None, recurrent_regularizer=None,
                 bias_regularizer=None, activity_regularizer=None, kernel_constraint=None,
                 recurrent_constraint=None, bias_constraint=None, dropout=0.0,
                 recurrent_dropout=0.0, seed=None, return_sequences=False, return_state=False,
                 go_backwards=False, stateful=False, unroll=False, reset_after=True,
                 use_cudnn="auto", zero_output_for_mask=False, **kwargs):
        use_cudnn = check_use_cudnn(use_cudnn, type(self).__name__)
        cell = GRUCell(units, activation=activation, recurrent_activation=recurrent_activation,
                       use_bias=use_bias, kernel_initializer=kernel_initializer,
                       recurrent_initializer=recurrent_initializer,
                       bias_initializer=bias_initializer, kernel_regularizer=kernel_regularizer,
                       recurrent_regularizer=recurrent_regularizer,
                       bias_regularizer=bias_regularizer, kernel_constraint=kernel_constraint,
                       recurrent_constraint=recurrent_constraint, bias_constraint=bias_constraint,
                       dropout=dropout, recurrent_dropout=recurrent_dropout,
                       reset_after=reset_after, seed=seed, dtype=kwargs.get("dtype"),
                       trainable=kwargs.get("trainable", True), name="gru_cell",
                       implementation=kwargs.pop("implementation", 2))
        super().__init__(cell, return_sequences=return_sequences, return_state=return_state,
                         go_backwards=go_backwards, stateful=stateful, unroll=unroll,
                         zero_output_for_mask=zero_output_for_mask,
                         activity_regularizer=activity_regularizer, **kwargs)
        self.input_spec = InputSpec(ndim=3)
        self.use_cudnn = use_cudnn

    def get_config(self):
        return self._flat_config()     # Keras writes no use_cudnn

    @classmethod
    def from_config(cls, config):
        # The cell's arguments sit beside the RNN options (no nested "cell"), as Keras.
        return cls(**config)


for _name in ("units", "activation", "recurrent_activation", "use_bias", "kernel_initializer",
              "recurrent_initializer", "bias_initializer", "kernel_regularizer",
              "recurrent_regularizer", "bias_regularizer", "kernel_constraint",
              "recurrent_constraint", "bias_constraint", "dropout", "recurrent_dropout", "seed",
              "implementation", "reset_after", "kernel", "recurrent_kernel", "bias"):
    setattr(GRU, _name, cell_property(_name))
del _name
