"""LSTMCell and LSTM (Keras 3's ``keras/src/layers/rnn/lstm.py``), with the whole-sequence
fast path that ``LSTM(u)`` and ``RNN(LSTMCell(u))`` both take.

With ``z = x_t @ kernel + h_{t-1} @ recurrent_kernel + bias`` split into gates
[i, f, c, o]: ``i, f, o = recurrent_activation(z_i, z_f, z_o)``,
``c_t = f·c_{t-1} + i·activation(z_c)``, ``h_t = o·activation(c_t)``.
Weights: kernel (features, 4u), recurrent_kernel (u, 4u), bias (4u,).
"""

from ... import activations as _activations
from ... import backend as _backend
from ._helpers import cell_property, check_use_cudnn
from .cell_base import _GatedCell
from ..input_spec import InputSpec
from .rnn import RNN

__all__ = ["LSTMCell", "LSTM"]


class LSTMCell(_GatedCell):
    """The cell of an LSTM layer, for ``RNN(LSTMCell(units))`` or ``StackedRNNCells``.

    Args:
        units: positive int, the size of the state and output.
        activation: default "tanh". recurrent_activation: default "sigmoid".
        use_bias: whether to add a bias.
        kernel_initializer / recurrent_initializer / bias_initializer: default
            "glorot_uniform" / "orthogonal" / "zeros".
        unit_forget_bias: add 1 to the forget gate's bias at initialization (default True,
            as Keras; the bias is then [init(u), ones(u), init(2u)]).
        kernel_regularizer / recurrent_regularizer / bias_regularizer.
        kernel_constraint / recurrent_constraint / bias_constraint.
        dropout / recurrent_dropout: floats in [0, 1), training only (one mask per sequence).
        seed: accepted for Keras compatibility; masks come from ``pn.utils.set_random_seed``.

    Input shape: (batch, features) per step; states: ``[h, c]``, each (batch, units).
    Weights: kernel (features, 4u), recurrent_kernel (u, 4u), bias (4u,), gates [i, f, c, o].

    Example:
        >>> layer = pn.layers.RNN(pn.layers.LSTMCell(32))
    """

    _gates = 4
    _state_count = 2

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal",
                 bias_initializer="zeros", unit_forget_bias=True, kernel_regularizer=None,
                 recurrent_regularizer=None, bias_regularizer=None, kernel_constraint=None,
                 recurrent_constraint=None, bias_constraint=None, dropout=0.0,
                 recurrent_dropout=0.0, seed=None, **kwargs):
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
        self.unit_forget_bias = bool(unit_forget_bias)

    def build(self, input_shape):
        init = self.bias_initializer
        if self.unit_forget_bias:
            u = self.units
            base = self.bias_initializer

            def init(shape, dtype=None):
                hxp = _backend.host_xp()
                return hxp.concat([hxp.asarray(base((u,), dtype=dtype)),
                                   hxp.ones((u,), dtype=getattr(hxp, dtype or self.dtype)),
                                   hxp.asarray(base((2 * u,), dtype=dtype))])
        self._build_kernels(input_shape, (4 * self.units,), init)

    def _step(self, ctx, xt, states):
        h_prev, c_prev = states
        u = self.units
        rec, lefts = self._rec_forward(ctx, h_prev, 0, 4)
        z = xt + rec
        # One call per activation over all four blocks (then sliced): far fewer array
        # operations per timestep than one call per gate, which is what the loop costs.
        gates, gates_back = _activations.apply(self.recurrent_activation, z)
        cand, cand_back = _activations.apply(self.activation, z)
        i, f, o = gates[:, :u], gates[:, u:2 * u], gates[:, 3 * u:]
        g = cand[:, 2 * u:3 * u]
        c = f * c_prev + i * g
        tc, tc_back = _activations.apply(self.activation, c)
        h = o * tc
        return [h, c], (lefts, c_prev, i, f, g, o, tc, gates_back, cand_back, tc_back)

    def _step_backward(self, ctx, cache, d_new):
        xp = self.xp
        u = self.units
        _, c_prev, i, f, g, o, tc, gates_back, cand_back, tc_back = cache
        dh, dc = d_new
        dc = dc + tc_back(dh * o)
        d_act = xp.concat([dc * g, dc * c_prev, dc * i, dh * tc], axis=1)
        d_gates = gates_back(d_act)
        d_cand = cand_back(d_act)
        dz = xp.concat([d_gates[:, :2 * u], d_cand[:, 2 * u:3 * u], d_gates[:, 3 * u:]], axis=1)
        return dz, dz, [self._rec_backward(ctx, dz, 0, 4), dc * f]

    def _sequence_forward(self, rnn, x, given_states, mask, training, want_dx, multi):
        dropping = training and (self.dropout > 0 or self.recurrent_dropout > 0)
        if (mask is not None or dropping
                or self.recurrent_activation is not _activations.sigmoid
                or self.activation is not _activations.tanh):
            return super()._sequence_forward(rnn, x, given_states, mask, training, want_dx, multi)
        return _fast_sequence(self, rnn, x, given_states, want_dx, multi)

    def get_config(self):
        config = super().get_config()
        config.update({
            "recurrent_activation": _activations.serialize(self.recurrent_activation),
            "unit_forget_bias": self.unit_forget_bias,
        })
        return config


def _fast_sequence(cell, rnn, x, given_states, want_dx, multi):
    """The default LSTM (sigmoid/tanh, no mask, no dropout) with few array ops per step.

    sigmoid(z) = 0.5·tanh(z/2) + 0.5 exactly, so scaling the i, f, o columns of the
    kernels and bias by 0.5 once per call lets ONE tanh over all four gate blocks give
    every gate (absolute error of a few ulps of 0.5, which is all a gate needs). The
    projection is kept time-major so each step reads a contiguous block. Backward
    works with q = dL/da·(1 - a²), the gradient of the scaled pre-activations up to
    the constant column weights w = [1/4, 1/4, 1, 1/4]; w is folded into the
    transposed kernels once per call and into the weight gradients once at the end.
    """
    xp = cell.xp
    batch, steps, features = x.shape
    u = cell.units
    gu = 4 * u
    return_sequences = rnn.return_sequences
    return_state = rnn.return_state
    go_backwards = rnn.go_backwards
    if go_backwards:
        x = xp.flip(x, axis=1)
    dtype = x.dtype
    half = xp.full((u,), 0.5, dtype=dtype)
    one = xp.ones((u,), dtype=dtype)
    scale = xp.concat([half, half, one, half])
    quarter = half * 0.5
    w = xp.concat([quarter, quarter, one, quarter])
    kernel = cell.kernel.value
    recurrent_kernel = cell.recurrent_kernel.value
    # Row-major whatever the variable's layout (the orthogonal initializer gives a
    # column-major array): h @ rk is the per-step GEMM and ~25% faster that way. The
    # reshape to 1-D forces the C-ordered copy with standard calls only.
    rk = xp.reshape(xp.reshape(recurrent_kernel * scale, (-1,)), (u, gu))
    # Time-major input (steps·batch, features): a C-ordered copy, so reshapes are free.
    x_tm = xp.reshape(xp.permute_dims(x, (1, 0, 2)), (steps * batch, features))
    proj = x_tm @ (kernel * scale)
    bias = cell.bias.value * scale if cell.bias is not None else None
    zeros = xp.zeros((batch, u), dtype=dtype)
    h, c = given_states if given_states else (zeros, zeros)
    steps_fn = cell.backend.fused("lstm_steps")
    # The compiled steps add the bias inside their loop (no pass over the projection).
    fast = (steps_fn(xp.reshape(proj, (steps, batch, gu)), rk, h, c, bias=bias)
            if steps_fn is not None else None)
    if fast is None and bias is not None:
        # The bias written into the fresh product where the backend can (no new array).
        fused = cell.backend.fused("bias_activation")
        done = fused(proj, bias, _activations.linear) if fused else None
        proj = done[0] if done is not None else proj + bias
    proj = xp.reshape(proj, (steps, batch, gu))
    back_steps = None
    if fast is not None:
        # The backend runs the loop below as one GEMM and one compiled loop per step
        # (NumPy with numba: backend/lstm_numba.py), filling the same `keep`.
        hs, c, keep, back_steps = fast
        h = hs[steps, ...]
        h_all = hs[:steps, ...]
        y = (xp.permute_dims(hs[1:, ...], (1, 0, 2)) if return_sequences else h)
        if return_sequences:
            y = xp.reshape(xp.reshape(y, (-1,)), (batch, steps, u))  # C order, as xp.stack
    else:
        y, h, c, keep, h_all = _loop_forward(xp, proj, rk, h, c, steps, batch, u, dtype,
                                             return_sequences)
    result = [y, h, c] if return_state else y

    def backward(dy):
        if return_state:
            d_out, dh, dc = dy
            dh = zeros if dh is None else dh
            dc = zeros if dc is None else dc
        else:
            d_out, dh, dc = dy, zeros, zeros
        # (w ⊙ U)ᵀ as a C-ordered (4u, u) array: the reshape to 1-D forces the copy,
        # and a row-major right factor is the faster GEMM on OpenBLAS.
        rk_t = xp.reshape(xp.reshape(xp.matrix_transpose(recurrent_kernel * w), (-1,)),
                          (gu, u))
        if back_steps is not None:
            if d_out is not None and not return_sequences:
                dh = dh + d_out
            q_buf, dh, dc = back_steps(rk_t, d_out if return_sequences else None, dh, dc)
        else:
            q_buf, dh, dc = _loop_backward(xp, keep, rk_t, d_out, dh, dc, steps, batch, u,
                                           dtype, return_sequences)
        q_all = xp.reshape(q_buf, (steps * batch, gu))
        h_2d = xp.reshape(h_all, (steps * batch, u))
        cell.recurrent_kernel.add_grad((xp.matrix_transpose(h_2d) @ q_all) * w)
        cell.kernel.add_grad((xp.matrix_transpose(x_tm) @ q_all) * w)
        if cell.bias is not None:
            # (A ones-vector GEMM on NumPy: bench lstm's 2,048 x 512, 0.18 ms against 0.31.)
            cell.bias.add_grad(cell.backend.sum_rows(q_all) * w)
        dx = None
        if want_dx:
            dx = xp.reshape(q_all @ xp.matrix_transpose(kernel * w), (steps, batch, features))
            dx = xp.permute_dims(dx, (1, 0, 2))
            if go_backwards:
                dx = xp.flip(dx, axis=1)
        if multi:
            return [dx, dh, dc]
        return dx
    return result, backward


def _loop_forward(xp, proj, rk, h, c, steps, batch, u, dtype, return_sequences):
    """The forward time loop of ``_fast_sequence`` in Array API calls: returns
    ``(y, h, c, keep, h_all)``."""
    gu = 4 * u
    # Per step, backward needs only the local derivatives, prepared here so that its
    # loop is a few operations: m = [g, c_{t-1}, i, tanh(c_t)]·(1 - a²) (the factor
    # turning [dc, dc, dc, dh] into q), o·(1 - tanh²(c_t)) (h -> c) and f (c_t ->
    # c_{t-1}); and h_{t-1} for the recurrent kernel's gradient. They go into two
    # buffers allocated once per call (7u values per sample and step) rather than
    # dozens of separately retained arrays, and h_all is ready for one GEMM.
    keep = xp.empty((steps, batch, 6 * u), dtype=dtype)
    h_all = xp.empty((steps, batch, u), dtype=dtype)
    outputs = []
    for t in range(steps):
        a = xp.tanh(proj[t, ...] + h @ rk)
        s = a * 0.5 + 0.5
        h_all[t, ...] = h
        c_prev = c
        c = s[:, u:2 * u] * c_prev + s[:, :u] * a[:, 2 * u:3 * u]
        tc = xp.tanh(c)
        h = s[:, 3 * u:] * tc
        keep[t, :, :gu] = xp.concat([a[:, 2 * u:3 * u], c_prev, s[:, :u], tc], axis=1) \
            * (1.0 - a * a)
        keep[t, :, gu:5 * u] = s[:, 3 * u:] * (1.0 - tc * tc)
        keep[t, :, 5 * u:] = s[:, u:2 * u]
        if return_sequences:
            outputs.append(h)
    y = xp.stack(outputs, axis=1) if return_sequences else h
    return y, h, c, keep, h_all


def _loop_backward(xp, keep, rk_t, d_out, dh, dc, steps, batch, u, dtype, return_sequences):
    """The backward time loop of ``_fast_sequence`` in Array API calls: returns
    ``(q_buf, dh, dc)``."""
    gu = 4 * u
    q_buf = xp.empty((steps, batch, gu), dtype=dtype)
    for t in range(steps - 1, -1, -1):
        if d_out is not None:
            if return_sequences:
                dh = dh + d_out[:, t, :]
            elif t == steps - 1:
                dh = dh + d_out
        dc = dc + dh * keep[t, :, gu:5 * u]
        q = xp.reshape(xp.stack([dc, dc, dc, dh], axis=1)
                       * xp.reshape(keep[t, :, :gu], (batch, 4, u)), (batch, gu))
        q_buf[t, ...] = q
        dh = q @ rk_t
        dc = dc * keep[t, :, 5 * u:]
    return q_buf, dh, dc


class LSTM(RNN):
    """Long Short-Term Memory layer (Hochreiter & Schmidhuber, 1997), Keras 3 layout.

    ``RNN`` over an ``LSTMCell`` (``layer.cell``); the cell's arguments are readable on
    the layer (``layer.units``, ``layer.kernel``, ...). See the module docstring for the
    equations.

    Args:
        units: positive int, the size of the state and output.
        activation: default "tanh". recurrent_activation: default "sigmoid".
        use_bias: whether to add a bias.
        kernel_initializer / recurrent_initializer / bias_initializer: default
            "glorot_uniform" / "orthogonal" / "zeros".
        unit_forget_bias: add 1 to the forget gate's bias at initialization (default True,
            as Keras; the bias is then [init(u), ones(u), init(2u)]).
        kernel_regularizer / recurrent_regularizer / bias_regularizer / activity_regularizer.
        kernel_constraint / recurrent_constraint / bias_constraint.
        dropout / recurrent_dropout: floats in [0, 1), training only (masks fixed per call).
        seed: accepted for Keras compatibility; masks come from ``pn.utils.set_random_seed``.
        return_sequences / return_state / go_backwards / stateful / unroll: as ``RNN``;
            ``return_state`` gives ``[output, h, c]``.
        use_cudnn: accepted for Keras compatibility ("auto", True or False; no effect).
        zero_output_for_mask: zeros instead of the repeated output at masked timesteps.

    Input shape: (batch, timesteps, features), or a list ``[x, h0, c0]``.
    Output shape: (batch, units), or (batch, timesteps, units) with ``return_sequences``.
    Weights: kernel (features, 4u), recurrent_kernel (u, 4u), bias (4u,).

    Example:
        >>> layer = pn.layers.LSTM(32)
    """

    _owns_cell = True

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal",
                 bias_initializer="zeros", unit_forget_bias=True, kernel_regularizer=None,
                 recurrent_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, recurrent_constraint=None, bias_constraint=None,
                 dropout=0.0, recurrent_dropout=0.0, seed=None, return_sequences=False,
                 return_state=False, go_backwards=False, stateful=False, unroll=False,
                 use_cudnn="auto", zero_output_for_mask=False, **kwargs):
        use_cudnn = check_use_cudnn(use_cudnn, type(self).__name__)
        cell = LSTMCell(units, activation=activation, recurrent_activation=recurrent_activation,
                        use_bias=use_bias, kernel_initializer=kernel_initializer,
                        recurrent_initializer=recurrent_initializer,
                        bias_initializer=bias_initializer, unit_forget_bias=unit_forget_bias,
                        kernel_regularizer=kernel_regularizer,
                        recurrent_regularizer=recurrent_regularizer,
                        bias_regularizer=bias_regularizer, kernel_constraint=kernel_constraint,
                        recurrent_constraint=recurrent_constraint, bias_constraint=bias_constraint,
                        dropout=dropout, recurrent_dropout=recurrent_dropout, seed=seed,
                        dtype=kwargs.get("dtype"), trainable=kwargs.get("trainable", True),
                        name="lstm_cell", implementation=kwargs.pop("implementation", 2))
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


for _name in ("units", "activation", "recurrent_activation", "use_bias", "unit_forget_bias",
              "kernel_initializer", "recurrent_initializer", "bias_initializer",
              "kernel_regularizer", "recurrent_regularizer", "bias_regularizer",
              "kernel_constraint", "recurrent_constraint", "bias_constraint", "dropout",
              "recurrent_dropout", "seed", "implementation", "kernel", "recurrent_kernel", "bias"):
    setattr(LSTM, _name, cell_property(_name))
del _name
