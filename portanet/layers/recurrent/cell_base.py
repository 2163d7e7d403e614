"""What SimpleRNNCell, LSTMCell and GRUCell share: arguments, weights, dropout masks, the
recurrent matmul, the one-step ``forward`` (the cell contract of ``RNN``) and the
whole-sequence path ``RNN`` takes for them.

A subclass sets ``_gates`` (blocks of ``units`` columns in the kernels) and
``_state_count`` (1, or 2 for LSTM), builds its weights with ``_build_kernels``, and
implements ``_step(ctx, xt, states) -> (new_states, cache)`` and
``_step_backward(ctx, cache, d_new_states) -> (d_xt, d_rec, d_prev_states)``. ``xt`` is the
step's input projection ``x_t @ kernel + input bias``; ``d_xt`` is its gradient (the
kernel side) and ``d_rec`` that of the recurrent pre-activations (the recurrent-kernel
side, whose left factors ``cache[0]`` lists).
"""

from ... import activations as _activations
from ..base import Layer, check_positive_int
from . import sequence as _sequence

__all__ = []

_WEIGHT_OPTIONS = ("kernel_initializer", "recurrent_initializer", "bias_initializer",
                   "kernel_regularizer", "recurrent_regularizer", "bias_regularizer",
                   "kernel_constraint", "recurrent_constraint", "bias_constraint")


def _rate(value, name, owner):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value < 1.0:
        raise ValueError(f"{owner}: {name}={value!r}; expected a float in [0, 1)")
    return float(value)


class _GatedCell(Layer):
    """Base of the built-in cells (not public: subclass ``Layer`` for a cell of your own)."""

    _gates = 1
    _state_count = 1

    def __init__(self, units, activation, use_bias, dropout, recurrent_dropout, seed,
                 implementation=2, **options_and_kwargs):
        options = {k: options_and_kwargs.pop(k) for k in _WEIGHT_OPTIONS}
        owner = type(self).__name__
        # Check everything before any state changes.
        units = check_positive_int(units, "units", owner)
        activation = _activations.get(activation)
        dropout = _rate(dropout, "dropout", owner)
        recurrent_dropout = _rate(recurrent_dropout, "recurrent_dropout", owner)
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise TypeError(f"{owner}: seed={seed!r}; expected None or an int")
        if implementation not in (1, 2):
            raise ValueError(f"{owner}: implementation={implementation!r}; expected 1 or 2")
        super().__init__(**options_and_kwargs)
        self.units = units
        self.activation = activation
        self.use_bias = bool(use_bias)
        self._set_weight_options(**options)
        self.dropout = dropout
        self.recurrent_dropout = recurrent_dropout
        self.seed = seed
        # Keras: implementation 1 draws one dropout mask per gate; recurrent dropout forces it.
        self.implementation = 1 if recurrent_dropout > 0 else implementation
        self._step_masks = None

    @property
    def state_size(self):
        return [self.units] * self._state_count if self._state_count > 1 else self.units

    @property
    def output_size(self):
        return self.units

    def get_initial_state(self, batch_size=None):
        """Zero states, one (batch_size, units) array per state (Keras's cell method)."""
        zeros = self.xp.zeros((batch_size, self.units), dtype=self.backend.dtype(self.dtype))
        return [zeros] * self._state_count

    # ------------------------------------------------------------------ weights
    def _build_kernels(self, input_shape, bias_shape, bias_initializer):
        features = input_shape[-1]
        if features is None:
            raise ValueError(f"{type(self).__name__} {self.name!r}: the features axis of the input "
                             f"must be known; got shape {tuple(input_shape)}")
        width = self._gates * self.units
        self.kernel = self.add_weight("kernel", (features, width), self.kernel_initializer,
                                      self.kernel_regularizer, self.kernel_constraint)
        self.recurrent_kernel = self.add_weight("recurrent_kernel", (self.units, width),
                                                self.recurrent_initializer,
                                                self.recurrent_regularizer,
                                                self.recurrent_constraint)
        self.bias = (self.add_weight("bias", bias_shape, bias_initializer, self.bias_regularizer,
                                     self.bias_constraint) if self.use_bias else None)
        self.built = True

    def _input_bias(self):
        return self.bias.value if self.bias is not None else None

    def _add_bias_grad(self, d_xp_sum, d_rec_sum):
        if self.bias is not None:
            self.bias.add_grad(d_xp_sum)

    def _prepare_context(self, ctx):
        """Hook for per-call constants a cell needs (e.g. the GRU recurrent bias)."""

    def _context(self, rec_masks):
        recurrent_kernel = self.recurrent_kernel.value
        ctx = {"recurrent_kernel": recurrent_kernel,
               "recurrent_kernel_t": self.xp.matrix_transpose(recurrent_kernel),
               "rec_masks": rec_masks}
        self._prepare_context(ctx)
        return ctx

    # ------------------------------------------------------------------ dropout masks
    def _dropout_masks(self, training, batch, features):
        """Input and recurrent dropout masks for one sequence (None when not active)."""
        dtype = self.backend.dtype(self.dtype)
        per_gate = self._gates if self.implementation == 1 else 1
        in_masks = rec_masks = None
        if training and self.dropout > 0:
            in_masks = [self.backend.dropout_mask((batch, features), self.dropout, dtype=dtype)
                        for _ in range(per_gate)]
        if training and self.recurrent_dropout > 0:
            rec_masks = [self.backend.dropout_mask((batch, self.units), self.recurrent_dropout,
                                                   dtype=dtype)
                         for _ in range(per_gate)]
        return in_masks, rec_masks

    def reset_dropout_mask(self):
        """Draw fresh dropout masks at the next step (``RNN`` calls it once per sequence)."""
        self._step_masks = None

    def reset_recurrent_dropout_mask(self):
        """Draw fresh recurrent dropout masks at the next step."""
        self._step_masks = None

    # ------------------------------------------------------------------ recurrent matmul
    def _rec_forward(self, ctx, h, first, last):
        """(h ⊙ mask_g) @ U over gate blocks first..last-1; returns (pre-activations, lefts)."""
        xp = self.xp
        u = self.units
        kernel = ctx["recurrent_kernel"]
        masks = ctx["rec_masks"]
        if masks is None:
            block = kernel if (first == 0 and last == self._gates) else kernel[:, first * u:last * u]
            return h @ block, [h]
        if len(masks) == 1:
            hd = h * masks[0]
            block = kernel if (first == 0 and last == self._gates) else kernel[:, first * u:last * u]
            return hd @ block, [hd]
        lefts = [h * masks[g] for g in range(first, last)]
        parts = [lefts[g - first] @ kernel[:, g * u:(g + 1) * u] for g in range(first, last)]
        return xp.concat(parts, axis=1), lefts

    def _rec_backward(self, ctx, d_rec, first, last):
        """Gradient of h through ``_rec_forward`` for the same gate blocks."""
        u = self.units
        kernel_t = ctx["recurrent_kernel_t"]
        masks = ctx["rec_masks"]
        if masks is None or len(masks) == 1:
            block = kernel_t if (first == 0 and last == self._gates) else kernel_t[first * u:last * u, :]
            dh = d_rec @ block
            return dh if masks is None else dh * masks[0]
        dh = None
        for g in range(first, last):
            part = (d_rec[:, (g - first) * u:(g - first + 1) * u] @ kernel_t[g * u:(g + 1) * u, :]) \
                * masks[g]
            dh = part if dh is None else dh + part
        return dh

    def _rec_slices(self, ctx):
        """Column ranges of the recurrent kernel that each cached left factor multiplies."""
        u, g = self.units, self._gates
        if ctx["rec_masks"] is not None and len(ctx["rec_masks"]) > 1:
            return [(k * u, (k + 1) * u) for k in range(g)]
        return [(0, g * u)]

    # ------------------------------------------------------------------ one step (RNN's cell contract)
    def forward(self, inputs, states, training=False):
        """One timestep: ``((output, new_states), backward)``; ``backward(d_output,
        d_new_states) -> (d_inputs, d_states)``. Dropout masks are drawn at the first step
        after ``reset_dropout_mask()`` and reused until the next reset."""
        xp = self.xp
        x = inputs
        batch, features = x.shape
        states = list(states)
        in_masks = rec_masks = None
        if training and (self.dropout > 0 or self.recurrent_dropout > 0):
            if self._step_masks is None or self._step_masks[0] != batch:
                self._step_masks = (batch,) + self._dropout_masks(True, batch, features)
            in_masks, rec_masks = self._step_masks[1:]
        ctx = self._context(rec_masks)
        kernel = self.kernel.value
        u = self.units
        if in_masks is None:
            x_in = [x]
            projection = x @ kernel
        elif len(in_masks) == 1:
            x_in = [x * in_masks[0]]
            projection = x_in[0] @ kernel
        else:
            x_in = [x * m for m in in_masks]
            projection = xp.concat([x_in[g] @ kernel[:, g * u:(g + 1) * u]
                                    for g in range(self._gates)], axis=1)
        in_bias = self._input_bias()
        if in_bias is not None:
            projection = projection + in_bias
        new_states, cache = self._step(ctx, projection, states)

        def backward(d_output, d_new_states):
            d_new = [xp.zeros((batch, u), dtype=x.dtype) if d is None else d
                     for d in (list(d_new_states) if d_new_states is not None
                               else [None] * self._state_count)]
            if d_output is not None:
                d_new[0] = d_new[0] + d_output
            d_xt, d_rec, d_prev = self._step_backward(ctx, cache, d_new)
            if len(x_in) == 1:
                self.kernel.add_grad(xp.matrix_transpose(x_in[0]) @ d_xt)
                dx = d_xt @ xp.matrix_transpose(kernel)
                if in_masks is not None:
                    dx = dx * in_masks[0]
            else:
                parts, dx = [], None
                for g in range(self._gates):
                    d_g = d_xt[:, g * u:(g + 1) * u]
                    parts.append(xp.matrix_transpose(x_in[g]) @ d_g)
                    part = (d_g @ xp.matrix_transpose(kernel[:, g * u:(g + 1) * u])) * in_masks[g]
                    dx = part if dx is None else dx + part
                self.kernel.add_grad(xp.concat(parts, axis=1))
            gu = self._gates * u
            grads = []
            for left, (a, b) in zip(cache[0], self._rec_slices(ctx)):
                block = d_rec if (a == 0 and b == gu) else d_rec[:, a:b]
                grads.append(xp.matrix_transpose(left) @ block)
            self.recurrent_kernel.add_grad(grads[0] if len(grads) == 1 else xp.concat(grads, axis=1))
            self._add_bias_grad(xp.sum(d_xt, axis=0), xp.sum(d_rec, axis=0))
            return dx, d_prev
        return (new_states[0], new_states), backward

    # ------------------------------------------------------------------ whole sequence
    def _sequence_forward(self, rnn, x, given_states, mask, training, want_dx, multi):
        """The whole sequence at once (``RNN.forward`` calls it; see sequence.py)."""
        return _sequence.run_sequence(self, rnn, x, given_states, mask, training, multi)

    # ------------------------------------------------------------------ config
    def get_config(self):
        config = super().get_config()
        config.update({
            "units": self.units,
            "activation": _activations.serialize(self.activation),
            "use_bias": self.use_bias,
            **self._weight_options_config(*_WEIGHT_OPTIONS),
            "dropout": self.dropout,
            "recurrent_dropout": self.recurrent_dropout,
            "seed": self.seed,
        })
        return config
