"""An LSTM cell written the Keras way (``call(inputs, states)`` with ``pn.ops``) inside
``RNN`` trains to the same weights as the built-in ``LSTM`` (issue: ops and the tape)."""

import numpy as np

import portanet as pn
from portanet import ops


class OpsLSTMCell(pn.layers.Layer):
    """Keras's LSTMCell arithmetic (gates i, f, c, o) with ops; the tape differentiates it."""

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.state_size = [units, units]
        self.output_size = units

    def build(self, input_shape):
        u = self.units
        self.kernel = self.add_weight(shape=(input_shape[-1], 4 * u), initializer="glorot_uniform",
                                      name="kernel")
        self.recurrent_kernel = self.add_weight(shape=(u, 4 * u), initializer="orthogonal",
                                                name="recurrent_kernel")
        self.bias = self.add_weight(shape=(4 * u,), initializer="zeros", name="bias")

    def call(self, inputs, states, training=None):
        h, c = states
        u = self.units
        z = ops.matmul(inputs, self.kernel) + ops.matmul(h, self.recurrent_kernel) + self.bias
        i = ops.sigmoid(z[:, :u])
        f = ops.sigmoid(z[:, u:2 * u])
        g = ops.tanh(z[:, 2 * u:3 * u])
        o = ops.sigmoid(z[:, 3 * u:])
        c_new = f * c + i * g
        h_new = o * ops.tanh(c_new)
        return h_new, [h_new, c_new]


def _model(layer, timesteps, features):
    return pn.Sequential([pn.Input((timesteps, features)), layer, pn.layers.Dense(1)])


def test_call_written_lstm_cell_trains_to_the_builtin_lstm_weights(backend, float64, rng):
    timesteps, features, units = 5, 3, 4
    x = rng.standard_normal((16, timesteps, features))
    y = rng.standard_normal((16, 1))
    builtin = _model(pn.layers.LSTM(units), timesteps, features)
    custom = _model(pn.layers.RNN(OpsLSTMCell(units)), timesteps, features)
    start = builtin.get_weights()
    custom.set_weights(start)
    for model in (builtin, custom):
        model.compile(optimizer=pn.optimizers.Adam(0.01), loss="mse")
        model.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0)
    for a, b in zip(builtin.get_weights(), custom.get_weights()):
        np.testing.assert_allclose(b, a, rtol=1e-10, atol=1e-10)
    # Training moved every weight: the comparison is not between two untouched models.
    for before, after in zip(start, builtin.get_weights()):
        assert np.abs(after - before).max() > 1e-3
