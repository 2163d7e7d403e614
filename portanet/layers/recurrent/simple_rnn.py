"""SimpleRNNCell and SimpleRNN (Keras 3's ``keras/src/layers/rnn/simple_rnn.py``).

``h_t = activation(x_t @ kernel + h_{t-1} @ recurrent_kernel + bias)``.
Weights: kernel (features, units), recurrent_kernel (units, units), bias (units,).
"""

from ... import activations as _activations
from ._helpers import cell_property
from .cell_base import _GatedCell
from ..input_spec import InputSpec
from .rnn import RNN

__all__ = ["SimpleRNNCell", "SimpleRNN"]


class SimpleRNNCell(_GatedCell):
    """The cell of a fully connected RNN, for ``RNN(SimpleRNNCell(units))``.

    Args:
        units: positive int, the size of the state and output.
        activation: default "tanh".
        use_bias: whether to add a bias.
        kernel_initializer / recurrent_initializer / bias_initializer: default
            "glorot_uniform" / "orthogonal" / "zeros".
        kernel_regularizer / recurrent_regularizer / bias_regularizer.
        kernel_constraint / recurrent_constraint / bias_constraint.
        dropout / recurrent_dropout: floats in [0, 1), training only (one mask per sequence).
        seed: accepted for Keras compatibility; masks come from ``pn.utils.set_random_seed``.

    Input shape: (batch, features) per step; state: one (batch, units) array.
    Weights: kernel (features, units), recurrent_kernel (units, units), bias (units,).

    Example:
        >>> layer = pn.layers.RNN(pn.layers.SimpleRNNCell(16))
    """

    _gates = 1
    _state_count = 1

    def __init__(self, units, activation="tanh", use_bias=True, kernel_initializer="glorot_uniform",
                 recurrent_initializer="orthogonal", bias_initializer="zeros",
                 kernel_regularizer=None, recurrent_regularizer=None, bias_regularizer=None,
                 kernel_constraint=None, recurrent_constraint=None, bias_constraint=None,
                 dropout=0.0, recurrent_dropout=0.0, seed=None, **kwargs):
        super().__init__(units, activation, use_bias, dropout, recurrent_dropout, seed,
                         implementation=kwargs.pop("implementation", 2),
                         kernel_initializer=kernel_initializer,
                         recurrent_initializer=recurrent_initializer,
                         bias_initializer=bias_initializer, kernel_regularizer=kernel_regularizer,
                         recurrent_regularizer=recurrent_regularizer,
                         bias_regularizer=bias_regularizer, kernel_constraint=kernel_constraint,
                         recurrent_constraint=recurrent_constraint,
                         bias_constraint=bias_constraint, **kwargs)

    def build(self, input_shape):
        self._build_kernels(input_shape, (self.units,), self.bias_initializer)

    def _step(self, ctx, xt, states):
        rec, lefts = self._rec_forward(ctx, states[0], 0, 1)
        h, act_backward = _activations.apply(self.activation, xt + rec)
        return [h], (lefts, act_backward)

    def _step_backward(self, ctx, cache, d_new):
        _, act_backward = cache
        dz = act_backward(d_new[0])
        return dz, dz, [self._rec_backward(ctx, dz, 0, 1)]


class SimpleRNN(RNN):
    """Fully connected RNN: ``h_t = activation(x_t @ kernel + h_{t-1} @ recurrent_kernel + bias)``.

    ``RNN`` over a ``SimpleRNNCell`` (``layer.cell``); the cell's arguments are readable on
    the layer (``layer.units``, ``layer.kernel``, ...).

    Args:
        units: positive int, the size of the state and output.
        activation: default "tanh".
        use_bias: whether to add a bias.
        kernel_initializer / recurrent_initializer / bias_initializer: default
            "glorot_uniform" / "orthogonal" / "zeros".
        kernel_regularizer / recurrent_regularizer / bias_regularizer / activity_regularizer.
        kernel_constraint / recurrent_constraint / bias_constraint.
        dropout / recurrent_dropout: floats in [0, 1), training only (masks fixed per call).
        return_sequences: return the output of every timestep (batch, timesteps, units)
            instead of the last (batch, units).
        return_state: also return the last state: ``[output, h]``.
        go_backwards: process the sequence from the end (output sequence reversed).
        stateful: keep the final state for the next call, as ``RNN``.
        unroll: accepted for Keras compatibility (no effect).
        seed: accepted for Keras compatibility; masks come from ``pn.utils.set_random_seed``.
        zero_output_for_mask: zeros instead of the repeated output at masked timesteps.

    Input shape: (batch, timesteps, features), or a list ``[x, h0]``.
    Output shape: (batch, units), or (batch, timesteps, units) with ``return_sequences``.
    Weights: kernel (features, units), recurrent_kernel (units, units), bias (units,).

    Example:
        >>> layer = pn.layers.SimpleRNN(16, return_sequences=True)
    """

    _owns_cell = True

    def __init__(self, units, activation="tanh", use_bias=True, kernel_initializer="glorot_uniform",
                 recurrent_initializer="orthogonal", bias_initializer="zeros",
                 kernel_regularizer=None, recurrent_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, kernel_constraint=None, recurrent_constraint=None,
                 bias_constraint=None, dropout=0.0, recurrent_dropout=0.0, return_sequences=False,
                 return_state=False, go_backwards=False, stateful=False, unroll=False, seed=None,
                 zero_output_for_mask=False, **kwargs):
        cell = SimpleRNNCell(units, activation=activation, use_bias=use_bias,
                             kernel_initializer=kernel_initializer,
                             recurrent_initializer=recurrent_initializer,
                             bias_initializer=bias_initializer,
                             kernel_regularizer=kernel_regularizer,
                             recurrent_regularizer=recurrent_regularizer,
                             bias_regularizer=bias_regularizer,
                             kernel_constraint=kernel_constraint,
                             recurrent_constraint=recurrent_constraint,
                             bias_constraint=bias_constraint, dropout=dropout,
                             recurrent_dropout=recurrent_dropout, seed=seed,
                             dtype=kwargs.get("dtype"), trainable=kwargs.get("trainable", True),
                             name="simple_rnn_cell",
                             implementation=kwargs.pop("implementation", 2))
        super().__init__(cell, return_sequences=return_sequences, return_state=return_state,
                         go_backwards=go_backwards, stateful=stateful, unroll=unroll,
                         zero_output_for_mask=zero_output_for_mask,
                         activity_regularizer=activity_regularizer, **kwargs)
        self.input_spec = [InputSpec(ndim=3)]     # (a list, as Keras's)

    def get_config(self):
        config = self._flat_config()
        config.pop("seed", None)       # Keras's SimpleRNN writes no seed (its cell does)
        return config

    @classmethod
    def from_config(cls, config):
        # The cell's arguments sit beside the RNN options (no nested "cell"), as Keras.
        return cls(**config)


for _name in ("units", "activation", "use_bias", "kernel_initializer", "recurrent_initializer",
              "bias_initializer", "kernel_regularizer", "recurrent_regularizer",
              "bias_regularizer", "kernel_constraint", "recurrent_constraint",
              "bias_constraint", "dropout", "recurrent_dropout", "seed", "implementation",
              "kernel", "recurrent_kernel", "bias"):
    setattr(SimpleRNN, _name, cell_property(_name))
del _name
