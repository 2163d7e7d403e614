"""Recurrent layers: SimpleRNN, LSTM, GRU, and the Bidirectional and TimeDistributed wrappers.

Weight layouts, gate orders and defaults are Keras 3's, so ``get_weights``/``set_weights``
exchange weights with Keras (KERAS_REFERENCE.md §5):

- SimpleRNN: kernel (in, u), recurrent_kernel (u, u), bias (u,).
- LSTM: kernel (in, 4u), recurrent_kernel (u, 4u), bias (4u,), gates [i, f, c, o].
- GRU (reset_after=True, the default): kernel (in, 3u), recurrent_kernel (u, 3u),
  bias (2, 3u) = [input bias; recurrent bias], gates [z, r, h]. reset_after=False: bias (3u,).

The input projection ``x @ kernel + bias`` is computed for all timesteps in one matmul;
the recurrence then runs step by step, each step keeping what its backward needs, and
backpropagation through time runs the steps in reverse. Gradients of the recurrent
kernel are summed over time with one matmul at the end.

**Initial state.** A layer given a list ``[x, h0]`` (LSTM: ``[x, h0, c0]``) starts from
those states; ``layer(x, initial_state=[h0, c0])`` is the same call (on arrays and on
symbolic tensors). The backward pass then returns ``[dx, dh0, (dc0)]``.

**Masks** (from ``Embedding(mask_zero=True)`` or ``Masking``): a masked timestep keeps the
previous state and repeats the previous output (zeros before the first unmasked step),
as Keras; with ``zero_output_for_mask=True`` masked outputs are zeros instead
(Bidirectional sets this when it returns sequences, as Keras).

**Dropout** (training only): ``dropout`` on the inputs and ``recurrent_dropout`` on the
recurrent state, with masks drawn once per call and reused at every timestep. As Keras 3,
LSTM and GRU draw one mask per gate when ``recurrent_dropout > 0`` or
``implementation=1`` (a keyword Keras accepts) and a single shared mask otherwise.

``go_backwards=True`` processes the sequence from the end and, as Keras, returns the
output sequence in that (reversed) order. ``stateful=True`` is not supported.
"""

from .. import activations as _activations
from .base import Layer, check_positive_int

__all__ = ["SimpleRNN", "LSTM", "GRU", "Bidirectional", "TimeDistributed"]


def _rate(value, name, owner):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value < 1.0:
        raise ValueError(f"{owner}: {name}={value!r}; expected a float in [0, 1)")
    return float(value)


def _check_use_cudnn(value, owner):
    # Accepted only for Keras compatibility: the value has no effect here.
    if value not in ("auto", True, False):
        raise ValueError(f"{owner}: use_cudnn={value!r}; expected 'auto', True or False")
    return value


def _first_mask(mask):
    if isinstance(mask, (list, tuple)):
        return mask[0] if mask else None
    return mask


class _Recurrent(Layer):
    """What SimpleRNN, LSTM and GRU share: argument handling, the time loop, BPTT.

    A subclass sets ``_gates`` (blocks of ``units`` columns in the kernels),
    ``_state_count`` (1, or 2 for LSTM), builds its weights, and implements
    ``_step(ctx, xt, states) -> (new_states, cache)`` and
    ``_step_backward(ctx, cache, d_new_states) -> (d_xt, d_rec, d_prev_states)``.
    ``d_xt`` is the gradient of the step's input projection (the kernel side) and
    ``d_rec`` that of its recurrent pre-activations (the recurrent-kernel side, whose
    left factors the cache lists in ``cache[0]``).
    """

    _gates = 1
    _state_count = 1
    supports_masking = True

    def _init_recurrent(self, units, activation, use_bias, kernel_initializer,
                        recurrent_initializer, bias_initializer, kernel_regularizer,
                        recurrent_regularizer, bias_regularizer, kernel_constraint,
                        recurrent_constraint, bias_constraint, dropout, recurrent_dropout, seed,
                        return_sequences, return_state, go_backwards, stateful, unroll,
                        zero_output_for_mask, implementation=2):
        owner = type(self).__name__
        self.units = check_positive_int(units, "units", owner)
        self.activation = _activations.get(activation)
        self.use_bias = bool(use_bias)
        self._set_weight_options(kernel_initializer=kernel_initializer,
                                 recurrent_initializer=recurrent_initializer,
                                 bias_initializer=bias_initializer,
                                 kernel_regularizer=kernel_regularizer,
                                 recurrent_regularizer=recurrent_regularizer,
                                 bias_regularizer=bias_regularizer,
                                 kernel_constraint=kernel_constraint,
                                 recurrent_constraint=recurrent_constraint,
                                 bias_constraint=bias_constraint)
        self.dropout = _rate(dropout, "dropout", owner)
        self.recurrent_dropout = _rate(recurrent_dropout, "recurrent_dropout", owner)
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise TypeError(f"{owner}: seed={seed!r}; expected None or an int")
        self.seed = seed
        self.return_sequences = bool(return_sequences)
        self.return_state = bool(return_state)
        self.go_backwards = bool(go_backwards)
        if stateful:
            raise ValueError(f"{owner}: stateful={stateful!r} is not supported; expected False "
                             "(pass the state explicitly with initial_state=[...] instead)")
        self.stateful = False
        # A speed hint in Keras; the loop here is always a Python loop.
        self.unroll = bool(unroll)
        self.zero_output_for_mask = bool(zero_output_for_mask)
        if implementation not in (1, 2):
            raise ValueError(f"{owner}: implementation={implementation!r}; expected 1 or 2")
        # Keras: implementation 1 draws one dropout mask per gate; recurrent dropout forces it.
        self.implementation = 1 if self.recurrent_dropout > 0 else implementation

    # ------------------------------------------------------------------ shapes
    @staticmethod
    def _sequence_shape(input_shape):
        if isinstance(input_shape, list):
            return tuple(input_shape[0])
        return tuple(input_shape)

    def _check_sequence_shape(self, shape):
        if len(shape) != 3:
            raise ValueError(f"{type(self).__name__} {self.name!r}: expected inputs of shape "
                             f"(batch, timesteps, features); got shape {shape}")
        if shape[-1] is None:
            raise ValueError(f"{type(self).__name__} {self.name!r}: the features axis of the input "
                             f"must be known; got shape {shape}")

    def compute_output_shape(self, input_shape):
        shape = self._sequence_shape(input_shape)
        batch = shape[0]
        if self.return_sequences:
            out = (batch, shape[1], self.units)
        else:
            out = (batch, self.units)
        if self.return_state:
            return [out] + [(batch, self.units)] * self._state_count
        return out

    def compute_mask(self, inputs, mask=None):
        mask = _first_mask(mask)
        out = mask if self.return_sequences else None
        if self.return_state:
            return [out] + [None] * self._state_count
        return out

    def __call__(self, inputs, initial_state=None, training=False, mask=None, **kwargs):
        """``layer(x)``, ``layer([x, *states])`` or ``layer(x, initial_state=[...])``."""
        if initial_state is not None:
            if isinstance(inputs, (list, tuple)):
                raise ValueError(f"{self.name}: give the initial state either in the input list "
                                 "or as initial_state=, not both")
            states = list(initial_state) if isinstance(initial_state, (list, tuple)) \
                else [initial_state]
            inputs = [inputs] + states
        return super().__call__(inputs, training=training, mask=mask, **kwargs)

    # ------------------------------------------------------------------ dropout masks
    def _dropout_masks(self, training, batch, features):
        """Input and recurrent dropout masks for one call (None when not active)."""
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

    def _input_bias(self):
        return self.bias.value if self.bias is not None else None

    def _add_bias_grad(self, d_xp_sum, d_rec_sum):
        if self.bias is not None:
            self.bias.add_grad(d_xp_sum)

    # ------------------------------------------------------------------ forward / BPTT
    def forward(self, inputs, training=False, mask=None):
        xp = self.xp
        multi = isinstance(inputs, (list, tuple))
        if multi:
            x, given_states = inputs[0], list(inputs[1:])
            if len(given_states) != self._state_count:
                raise ValueError(f"{type(self).__name__} {self.name!r}: initial_state needs "
                                 f"{self._state_count} array(s) of shape (batch, {self.units}); "
                                 f"got {len(given_states)}")
        else:
            x, given_states = inputs, []
        if x.ndim != 3:
            raise ValueError(f"{type(self).__name__} {self.name!r}: expected inputs of shape "
                             f"(batch, timesteps, features); got shape {tuple(x.shape)}")
        batch, steps, features = x.shape
        u = self.units
        for s in given_states:
            if tuple(s.shape) != (batch, u):
                raise ValueError(f"{type(self).__name__} {self.name!r}: initial state of shape "
                                 f"{tuple(s.shape)}; expected ({batch}, {u})")
        mask = _first_mask(mask)
        if self.go_backwards:
            x = xp.flip(x, axis=1)
            if mask is not None:
                mask = xp.flip(mask, axis=1)
        step_mask = None
        if mask is not None:
            step_mask = xp.reshape(xp.astype(mask, x.dtype), (batch, steps, 1))

        in_masks, rec_masks = self._dropout_masks(training, batch, features)
        kernel = self.kernel.value
        recurrent_kernel = self.recurrent_kernel.value
        ctx = {"recurrent_kernel": recurrent_kernel,
               "recurrent_kernel_t": xp.matrix_transpose(recurrent_kernel),
               "rec_masks": rec_masks}
        self._prepare_context(ctx)

        # Input projection for every timestep at once (one matmul per distinct mask).
        gu = self._gates * u
        if in_masks is None:
            x_in = [x]
            projection = x @ kernel
        elif len(in_masks) == 1:
            x_in = [x * in_masks[0][:, None, :]]
            projection = x_in[0] @ kernel
        else:
            x_in = [x * m[:, None, :] for m in in_masks]
            projection = xp.concat([x_in[g] @ kernel[:, g * u:(g + 1) * u]
                                    for g in range(self._gates)], axis=2)
        in_bias = self._input_bias()
        if in_bias is not None:
            projection = projection + in_bias

        zeros = xp.zeros((batch, u), dtype=x.dtype)
        states = given_states if given_states else [zeros] * self._state_count
        out = zeros
        outputs = []
        caches = []
        for t in range(steps):
            new_states, cache = self._step(ctx, projection[:, t, :], states)
            if step_mask is None:
                states = new_states
                out = new_states[0]
            else:
                m = step_mask[:, t, :]
                states = [s + m * (n - s) for n, s in zip(new_states, states)]
                out = m * new_states[0] if self.zero_output_for_mask else out + m * (new_states[0] - out)
            caches.append(cache)
            if self.return_sequences:
                outputs.append(out)
        y = xp.stack(outputs, axis=1) if self.return_sequences else out
        result = [y] + list(states) if self.return_state else y

        def backward(dy):
            if self.return_state:
                d_out = dy[0]
                d_states = [zeros if d is None else d for d in dy[1:]]
            else:
                d_out = dy
                d_states = [zeros] * self._state_count
            d_carry = None  # gradient reaching the previous output through a masked step
            d_proj = [None] * steps
            d_recs = [None] * steps
            for t in range(steps - 1, -1, -1):
                if d_out is None:
                    d_o = None
                elif self.return_sequences:
                    d_o = d_out[:, t, :]
                else:
                    d_o = d_out if t == steps - 1 else None
                if step_mask is None:
                    d_new = list(d_states)
                    if d_o is not None:
                        d_new[0] = d_new[0] + d_o
                    d_xt, d_rec, d_prev = self._step_backward(ctx, caches[t], d_new)
                    d_states = d_prev
                else:
                    m = step_mask[:, t, :]
                    if d_carry is not None:
                        d_o = d_carry if d_o is None else d_o + d_carry
                    d_new = [m * d for d in d_states]
                    if d_o is not None:
                        d_new[0] = d_new[0] + m * d_o
                        if not self.zero_output_for_mask:
                            d_carry = d_o - m * d_o
                    d_xt, d_rec, d_prev = self._step_backward(ctx, caches[t], d_new)
                    d_states = [d - m * d + p for d, p in zip(d_states, d_prev)]
                d_proj[t] = d_xt
                d_recs[t] = d_rec
            d_projection = xp.stack(d_proj, axis=1)               # (batch, steps, G·u)
            rows = batch * steps
            d_proj2 = xp.reshape(d_projection, (rows, gu))
            # Kernel and input gradients, one matmul per distinct input mask.
            if len(x_in) == 1:
                self.kernel.add_grad(xp.matrix_transpose(xp.reshape(x_in[0], (rows, features)))
                                     @ d_proj2)
                dx = d_projection @ xp.matrix_transpose(kernel)
                if in_masks is not None:
                    dx = dx * in_masks[0][:, None, :]
            else:
                kernel_parts = []
                dx = None
                for g in range(self._gates):
                    d_g = d_projection[:, :, g * u:(g + 1) * u]
                    kernel_parts.append(
                        xp.matrix_transpose(xp.reshape(x_in[g], (rows, features)))
                        @ xp.reshape(d_g, (rows, u)))
                    part = (d_g @ xp.matrix_transpose(kernel[:, g * u:(g + 1) * u])) \
                        * in_masks[g][:, None, :]
                    dx = part if dx is None else dx + part
                self.kernel.add_grad(xp.concat(kernel_parts, axis=1))
            # Recurrent kernel: Σ_t left_tᵀ · d_rec_t as one matmul per left factor.
            d_rec_all = xp.concat(d_recs, axis=0)                   # (steps·batch, G·u)
            slices = self._rec_slices(ctx)
            parts = []
            for k, (a, b) in enumerate(slices):
                left = xp.concat([c[0][k] for c in caches], axis=0)  # (steps·batch, u)
                block = d_rec_all if (a == 0 and b == gu) else d_rec_all[:, a:b]
                parts.append(xp.matrix_transpose(left) @ block)
            self.recurrent_kernel.add_grad(parts[0] if len(parts) == 1 else xp.concat(parts, axis=1))
            self._add_bias_grad(xp.sum(d_proj2, axis=0), xp.sum(d_rec_all, axis=0))
            if self.go_backwards:
                dx = xp.flip(dx, axis=1)
            if multi:
                return [dx] + list(d_states)
            return dx
        return result, backward

    def _prepare_context(self, ctx):
        """Hook for per-call constants a cell needs (e.g. the GRU recurrent bias)."""

    # ------------------------------------------------------------------ config
    def _base_recurrent_config(self):
        config = super().get_config()
        config.update({
            "units": self.units,
            "activation": _activations.serialize(self.activation),
            "use_bias": self.use_bias,
            **self._weight_options_config("kernel_initializer", "recurrent_initializer",
                                          "bias_initializer", "kernel_regularizer",
                                          "recurrent_regularizer", "bias_regularizer",
                                          "kernel_constraint", "recurrent_constraint",
                                          "bias_constraint"),
            "dropout": self.dropout,
            "recurrent_dropout": self.recurrent_dropout,
            "seed": self.seed,
            "return_sequences": self.return_sequences,
            "return_state": self.return_state,
            "go_backwards": self.go_backwards,
            "stateful": self.stateful,
            "unroll": self.unroll,
            "zero_output_for_mask": self.zero_output_for_mask,
        })
        return config

    def _build_kernels(self, input_shape, bias_shape, bias_initializer):
        shape = self._sequence_shape(input_shape)
        self._check_sequence_shape(shape)
        features = shape[-1]
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


class SimpleRNN(_Recurrent):
    """Fully connected RNN: ``h_t = activation(x_t @ kernel + h_{t-1} @ recurrent_kernel + bias)``.

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
        stateful: only False is supported.
        unroll: accepted for Keras compatibility (no effect).
        seed: accepted for Keras compatibility; masks come from ``pn.utils.set_random_seed``.
        zero_output_for_mask: zeros instead of the repeated output at masked timesteps.

    Input shape: (batch, timesteps, features), or a list ``[x, h0]``.
    Weights: kernel (features, units), recurrent_kernel (units, units), bias (units,).

    Example:
        >>> layer = pn.layers.SimpleRNN(16, return_sequences=True)
    """

    _gates = 1
    _state_count = 1

    def __init__(self, units, activation="tanh", use_bias=True, kernel_initializer="glorot_uniform",
                 recurrent_initializer="orthogonal", bias_initializer="zeros",
                 kernel_regularizer=None, recurrent_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, kernel_constraint=None, recurrent_constraint=None,
                 bias_constraint=None, dropout=0.0, recurrent_dropout=0.0, return_sequences=False,
                 return_state=False, go_backwards=False, stateful=False, unroll=False, seed=None,
                 zero_output_for_mask=False, **kwargs):
        implementation = kwargs.pop("implementation", 2)
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        self._init_recurrent(units, activation, use_bias, kernel_initializer,
                             recurrent_initializer, bias_initializer, kernel_regularizer,
                             recurrent_regularizer, bias_regularizer, kernel_constraint,
                             recurrent_constraint, bias_constraint, dropout, recurrent_dropout,
                             seed, return_sequences, return_state, go_backwards, stateful, unroll,
                             zero_output_for_mask, implementation)

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

    def get_config(self):
        return self._base_recurrent_config()


class LSTM(_Recurrent):
    """Long Short-Term Memory layer (Hochreiter & Schmidhuber, 1997), Keras 3 layout.

    With ``z = x_t @ kernel + h_{t-1} @ recurrent_kernel + bias`` split into gates
    [i, f, c, o]: ``i, f, o = recurrent_activation(z_i, z_f, z_o)``,
    ``c_t = f·c_{t-1} + i·activation(z_c)``, ``h_t = o·activation(c_t)``.

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
        return_sequences / return_state / go_backwards / stateful / unroll: as SimpleRNN;
            ``return_state`` gives ``[output, h, c]``.
        use_cudnn: accepted for Keras compatibility ("auto", True or False; no effect).
        zero_output_for_mask: zeros instead of the repeated output at masked timesteps.

    Input shape: (batch, timesteps, features), or a list ``[x, h0, c0]``.
    Weights: kernel (features, 4u), recurrent_kernel (u, 4u), bias (4u,).

    Example:
        >>> layer = pn.layers.LSTM(32)
    """

    _skip_input_grad = False  # opt-in, see portanet/training/fast_paths.py

    _gates = 4
    _state_count = 2

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal",
                 bias_initializer="zeros", unit_forget_bias=True, kernel_regularizer=None,
                 recurrent_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, recurrent_constraint=None, bias_constraint=None,
                 dropout=0.0, recurrent_dropout=0.0, seed=None, return_sequences=False,
                 return_state=False, go_backwards=False, stateful=False, unroll=False,
                 use_cudnn="auto", zero_output_for_mask=False, **kwargs):
        implementation = kwargs.pop("implementation", 2)
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        self._init_recurrent(units, activation, use_bias, kernel_initializer,
                             recurrent_initializer, bias_initializer, kernel_regularizer,
                             recurrent_regularizer, bias_regularizer, kernel_constraint,
                             recurrent_constraint, bias_constraint, dropout, recurrent_dropout,
                             seed, return_sequences, return_state, go_backwards, stateful, unroll,
                             zero_output_for_mask, implementation)
        self.recurrent_activation = _activations.get(recurrent_activation)
        self.unit_forget_bias = bool(unit_forget_bias)
        self.use_cudnn = _check_use_cudnn(use_cudnn, type(self).__name__)

    def build(self, input_shape):
        init = self.bias_initializer
        if self.unit_forget_bias:
            u = self.units
            base = self.bias_initializer

            def init(shape, dtype=None):
                from ..backend import host_xp
                hxp = host_xp()
                return hxp.concat([hxp.asarray(base((u,), dtype=dtype)),
                                   hxp.ones((u,), dtype=getattr(hxp, dtype or self.dtype)),
                                   hxp.asarray(base((2 * u,), dtype=dtype))])
        self._build_kernels(input_shape, (4 * self.units,), init)

    # ------------------------------------------------------------------ fast path
    def forward(self, inputs, training=False, mask=None):
        dropping = training and (self.dropout > 0 or self.recurrent_dropout > 0)
        if (_first_mask(mask) is not None or dropping
                or self.recurrent_activation is not _activations.sigmoid
                or self.activation is not _activations.tanh):
            return super().forward(inputs, training=training, mask=mask)
        return self._fast_forward(inputs)

    def _fast_forward(self, inputs):
        """The default LSTM (sigmoid/tanh, no mask, no dropout) with few array ops per step.

        sigmoid(z) = 0.5·tanh(z/2) + 0.5 exactly, so scaling the i, f, o columns of the
        kernels and bias by 0.5 once per call lets ONE tanh over all four gate blocks give
        every gate (absolute error of a few ulps of 0.5, which is all a gate needs). The
        projection is kept time-major so each step reads a contiguous block. Backward
        works with q = dL/da·(1 - a²), the gradient of the scaled pre-activations up to
        the constant column weights w = [1/4, 1/4, 1, 1/4]; w is folded into the
        transposed kernels once per call and into the weight gradients once at the end.
        """
        xp = self.xp
        multi = isinstance(inputs, (list, tuple))
        if multi:
            x, given_states = inputs[0], list(inputs[1:])
            if len(given_states) != 2:
                raise ValueError(f"LSTM {self.name!r}: initial_state needs 2 array(s) of shape "
                                 f"(batch, {self.units}); got {len(given_states)}")
        else:
            x, given_states = inputs, []
        if x.ndim != 3:
            raise ValueError(f"LSTM {self.name!r}: expected inputs of shape "
                             f"(batch, timesteps, features); got shape {tuple(x.shape)}")
        batch, steps, features = x.shape
        u = self.units
        gu = 4 * u
        for s in given_states:
            if tuple(s.shape) != (batch, u):
                raise ValueError(f"LSTM {self.name!r}: initial state of shape "
                                 f"{tuple(s.shape)}; expected ({batch}, {u})")
        want_dx = multi or not self._skip_input_grad
        if self.go_backwards:
            x = xp.flip(x, axis=1)
        dtype = x.dtype
        half = xp.full((u,), 0.5, dtype=dtype)
        one = xp.ones((u,), dtype=dtype)
        scale = xp.concat([half, half, one, half])
        quarter = half * 0.5
        w = xp.concat([quarter, quarter, one, quarter])
        kernel = self.kernel.value
        recurrent_kernel = self.recurrent_kernel.value
        # Row-major whatever the variable's layout (the orthogonal initializer gives a
        # column-major array): h @ rk is the per-step GEMM and ~25% faster that way. The
        # reshape to 1-D forces the C-ordered copy with standard calls only.
        rk = xp.reshape(xp.reshape(recurrent_kernel * scale, (-1,)), (u, gu))
        # Time-major input (steps·batch, features): a C-ordered copy, so reshapes are free.
        x_tm = xp.reshape(xp.permute_dims(x, (1, 0, 2)), (steps * batch, features))
        proj = x_tm @ (kernel * scale)
        if self.bias is not None:
            proj = proj + self.bias.value * scale
        proj = xp.reshape(proj, (steps, batch, gu))

        zeros = xp.zeros((batch, u), dtype=dtype)
        h, c = given_states if given_states else (zeros, zeros)
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
            if self.return_sequences:
                outputs.append(h)
        y = xp.stack(outputs, axis=1) if self.return_sequences else h
        result = [y, h, c] if self.return_state else y

        def backward(dy):
            if self.return_state:
                d_out, dh, dc = dy
                dh = zeros if dh is None else dh
                dc = zeros if dc is None else dc
            else:
                d_out, dh, dc = dy, zeros, zeros
            # (w ⊙ U)ᵀ as a C-ordered (4u, u) array: the reshape to 1-D forces the copy,
            # and a row-major right factor is the faster GEMM on OpenBLAS.
            rk_t = xp.reshape(xp.reshape(xp.matrix_transpose(recurrent_kernel * w), (-1,)),
                              (gu, u))
            q_buf = xp.empty((steps, batch, gu), dtype=dtype)
            for t in range(steps - 1, -1, -1):
                if d_out is not None:
                    if self.return_sequences:
                        dh = dh + d_out[:, t, :]
                    elif t == steps - 1:
                        dh = dh + d_out
                dc = dc + dh * keep[t, :, gu:5 * u]
                q = xp.reshape(xp.stack([dc, dc, dc, dh], axis=1)
                               * xp.reshape(keep[t, :, :gu], (batch, 4, u)), (batch, gu))
                q_buf[t, ...] = q
                dh = q @ rk_t
                dc = dc * keep[t, :, 5 * u:]
            q_all = xp.reshape(q_buf, (steps * batch, gu))
            h_2d = xp.reshape(h_all, (steps * batch, u))
            self.recurrent_kernel.add_grad((xp.matrix_transpose(h_2d) @ q_all) * w)
            self.kernel.add_grad((xp.matrix_transpose(x_tm) @ q_all) * w)
            if self.bias is not None:
                self.bias.add_grad(xp.sum(q_all, axis=0) * w)
            dx = None
            if want_dx:
                dx = xp.reshape(q_all @ xp.matrix_transpose(kernel * w), (steps, batch, features))
                dx = xp.permute_dims(dx, (1, 0, 2))
                if self.go_backwards:
                    dx = xp.flip(dx, axis=1)
            if multi:
                return [dx, dh, dc]
            return dx
        return result, backward

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

    def get_config(self):
        config = self._base_recurrent_config()
        config.update({
            "recurrent_activation": _activations.serialize(self.recurrent_activation),
            "unit_forget_bias": self.unit_forget_bias,
            "use_cudnn": self.use_cudnn,
        })
        return config


class GRU(_Recurrent):
    """Gated Recurrent Unit (Cho et al., 2014), Keras 3 layout, gates [z, r, h].

    reset_after=True (default, cuDNN compatible): with ``(xz, xr, xh) = x_t @ kernel + b_in``
    and ``(rz, rr, rh) = h_{t-1} @ recurrent_kernel + b_rec``:
    ``z = σ(xz + rz)``, ``r = σ(xr + rr)``, ``h̃ = tanh(xh + r·rh)``,
    ``h_t = z·h_{t-1} + (1 − z)·h̃``. reset_after=False: ``h̃ = tanh(xh + (r·h_{t-1}) @ U_h)``
    with a single bias.

    Args:
        units: positive int, the size of the state and output.
        activation: default "tanh". recurrent_activation: default "sigmoid".
        use_bias, initializers, regularizers, constraints: as LSTM.
        dropout / recurrent_dropout: floats in [0, 1), training only (masks fixed per call).
        seed: accepted for Keras compatibility; masks come from ``pn.utils.set_random_seed``.
        return_sequences / return_state / go_backwards / stateful / unroll: as SimpleRNN;
            ``return_state`` gives ``[output, h]``.
        reset_after: the GRU convention (see above); default True.
        use_cudnn: accepted for Keras compatibility (no effect).
        zero_output_for_mask: zeros instead of the repeated output at masked timesteps.

    Input shape: (batch, timesteps, features), or a list ``[x, h0]``.
    Weights: kernel (features, 3u), recurrent_kernel (u, 3u), bias (2, 3u) with
    reset_after=True, else (3u,).

    Example:
        >>> layer = pn.layers.GRU(32, return_sequences=True)
    """

    _gates = 3
    _state_count = 1

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal",
                 bias_initializer="zeros", kernel_regularizer=None, recurrent_regularizer=None,
                 bias_regularizer=None, activity_regularizer=None, kernel_constraint=None,
                 recurrent_constraint=None, bias_constraint=None, dropout=0.0,
                 recurrent_dropout=0.0, seed=None, return_sequences=False, return_state=False,
                 go_backwards=False, stateful=False, unroll=False, reset_after=True,
                 use_cudnn="auto", zero_output_for_mask=False, **kwargs):
        implementation = kwargs.pop("implementation", 2)
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        self._init_recurrent(units, activation, use_bias, kernel_initializer,
                             recurrent_initializer, bias_initializer, kernel_regularizer,
                             recurrent_regularizer, bias_regularizer, kernel_constraint,
                             recurrent_constraint, bias_constraint, dropout, recurrent_dropout,
                             seed, return_sequences, return_state, go_backwards, stateful, unroll,
                             zero_output_for_mask, implementation)
        self.recurrent_activation = _activations.get(recurrent_activation)
        self.reset_after = bool(reset_after)
        self.use_cudnn = _check_use_cudnn(use_cudnn, type(self).__name__)

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
        config = self._base_recurrent_config()
        config.update({
            "recurrent_activation": _activations.serialize(self.recurrent_activation),
            "reset_after": self.reset_after,
            "use_cudnn": self.use_cudnn,
        })
        return config


# ---------------------------------------------------------------------------- wrappers
def _run_inner(layer, x, training, mask=None):
    """Call a wrapped layer's forward (with the mask when it takes one)."""
    if mask is not None and layer._forward_takes_mask():
        return layer.forward(x, training=training, mask=mask)
    if layer._forward_takes_mask():
        return layer.forward(x, training=training, mask=None)
    return layer.forward(x, training=training)


class Bidirectional(Layer):
    """Runs a recurrent layer forwards and a copy backwards, and merges their outputs.

    Args:
        layer: a SimpleRNN, LSTM or GRU instance. As Keras, the wrapper builds fresh
            copies from its config ("forward_<name>" and "backward_<name>", the latter
            with go_backwards flipped): the instance's own weights are not reused.
        merge_mode: "concat" (default), "sum", "mul", "ave" or None (a list of both).
        backward_layer: optional recurrent layer for the backward direction; it must
            have the opposite go_backwards and the same return_sequences/return_state.

    The backward direction's output sequence is flipped back to input order before
    merging; with ``return_sequences`` both directions output zeros at masked steps (as
    Keras). ``initial_state`` (in the input list or as ``initial_state=``) holds the
    forward states then the backward states. With ``return_state`` the output is
    ``[merged, *forward_states, *backward_states]``.

    Input shape: (batch, timesteps, features). Output shape: the wrapped layer's with
    the last axis doubled for "concat".
    Weights: the forward layer's, then the backward layer's.

    Example:
        >>> layer = pn.layers.Bidirectional(pn.layers.LSTM(16, return_sequences=True))
    """

    supports_masking = True
    _MODES = ("concat", "sum", "mul", "ave", None)

    def __init__(self, layer, merge_mode="concat", weights=None, backward_layer=None, **kwargs):
        from . import deserialize, serialize
        if not isinstance(layer, _Recurrent):
            raise ValueError(f"Bidirectional: layer={layer!r}; expected a recurrent layer "
                             "instance (SimpleRNN, LSTM or GRU)")
        if backward_layer is not None and not isinstance(backward_layer, _Recurrent):
            raise ValueError(f"Bidirectional: backward_layer={backward_layer!r}; expected a "
                             "recurrent layer instance (SimpleRNN, LSTM or GRU) or None")
        if merge_mode not in self._MODES:
            raise ValueError(f"Bidirectional: merge_mode={merge_mode!r}; expected one of "
                             "'concat', 'sum', 'mul', 'ave' or None")
        super().__init__(**kwargs)
        config = serialize(layer)
        config["config"]["name"] = "forward_" + _remove_prefix(layer.name, "forward_")
        self.forward_layer = deserialize(config)
        if backward_layer is None:
            config = serialize(layer)
            config["config"]["go_backwards"] = not layer.go_backwards
            config["config"]["name"] = "backward_" + _remove_prefix(layer.name, "backward_")
            self.backward_layer = deserialize(config)
        else:
            self.backward_layer = backward_layer
        if self.forward_layer.go_backwards == self.backward_layer.go_backwards:
            raise ValueError("Bidirectional: the forward and backward layers must have different "
                             f"go_backwards; both have {self.forward_layer.go_backwards}")
        for attr in ("return_sequences", "return_state"):
            a, b = getattr(self.forward_layer, attr), getattr(self.backward_layer, attr)
            if a != b:
                raise ValueError(f"Bidirectional: the forward and backward layers must have the "
                                 f"same {attr}; got {a} and {b}")
        for sub in (self.forward_layer, self.backward_layer):
            sub.zero_output_for_mask = sub.return_sequences
        self.merge_mode = merge_mode
        self.return_sequences = self.forward_layer.return_sequences
        self.return_state = self.forward_layer.return_state
        self.stateful = False
        self._layers = [self.forward_layer, self.backward_layer]
        self._initial_weights = list(weights) if weights else None

    def __call__(self, inputs, initial_state=None, training=False, mask=None, **kwargs):
        if initial_state is not None:
            states = list(initial_state) if isinstance(initial_state, (list, tuple)) \
                else [initial_state]
            inputs = [inputs] + states
        return super().__call__(inputs, training=training, mask=mask, **kwargs)

    def build(self, input_shape):
        seq = tuple(input_shape[0]) if isinstance(input_shape, list) else tuple(input_shape)
        for sub in self._layers:
            if sub.backend is None:
                sub.backend = self.backend
            sub._maybe_build(seq)
        if self._initial_weights is not None:
            self.set_weights(self._initial_weights)
            self._initial_weights = None
        self.built = True

    def compute_output_shape(self, input_shape):
        seq = tuple(input_shape[0]) if isinstance(input_shape, list) else tuple(input_shape)
        shape = self.forward_layer.compute_output_shape(seq)
        states = []
        if self.return_state:
            shape, states = shape[0], list(shape[1:])
        if self.merge_mode == "concat":
            last = None if shape[-1] is None else 2 * shape[-1]
            outputs = [tuple(shape[:-1]) + (last,)]
        elif self.merge_mode is None:
            outputs = [tuple(shape), tuple(shape)]
        else:
            outputs = [tuple(shape)]
        if self.return_state or self.merge_mode is None:
            return outputs + states + states
        return outputs[0]

    def compute_mask(self, inputs, mask=None):
        mask = _first_mask(mask)
        out = mask if self.return_sequences else None
        outs = [out, out] if self.merge_mode is None else [out]
        if self.return_state:
            return outs + [None] * (2 * self.forward_layer._state_count)
        return outs if self.merge_mode is None else outs[0]

    def forward(self, inputs, training=False, mask=None):
        xp = self.xp
        multi = isinstance(inputs, (list, tuple))
        n_states = self.forward_layer._state_count
        if multi:
            x, states = inputs[0], list(inputs[1:])
            if len(states) != 2 * n_states:
                raise ValueError(f"Bidirectional {self.name!r}: initial_state needs "
                                 f"{2 * n_states} arrays (forward then backward); got {len(states)}")
            fwd_in = [x] + states[:n_states]
            bwd_in = [x] + states[n_states:]
        else:
            x = fwd_in = bwd_in = inputs
        mask = _first_mask(mask)
        y_f, back_f = _run_inner(self.forward_layer, fwd_in, training, mask)
        y_b, back_b = _run_inner(self.backward_layer, bwd_in, training, mask)
        if self.return_state:
            states_out = list(y_f[1:]) + list(y_b[1:])
            y_f, y_b = y_f[0], y_b[0]
        else:
            states_out = []
        if self.return_sequences:
            y_b = xp.flip(y_b, axis=1)
        mode = self.merge_mode
        if mode == "concat":
            merged = [xp.concat([y_f, y_b], axis=-1)]
        elif mode == "sum":
            merged = [y_f + y_b]
        elif mode == "ave":
            merged = [(y_f + y_b) / 2.0]
        elif mode == "mul":
            merged = [y_f * y_b]
        else:
            merged = [y_f, y_b]
        listed = self.return_state or mode is None
        result = merged + states_out if listed else merged[0]
        units = y_f.shape[-1]

        def backward(dy):
            dys = list(dy) if listed else [dy]
            if dys[0] is None:
                dys[0] = xp.zeros_like(merged[0])
            if mode == "concat":
                d_f, d_b = dys[0][..., :units], dys[0][..., units:]
                rest = dys[1:]
            elif mode == "sum":
                d_f = d_b = dys[0]
                rest = dys[1:]
            elif mode == "ave":
                d_f = d_b = dys[0] / 2.0
                rest = dys[1:]
            elif mode == "mul":
                d_f, d_b = dys[0] * y_b, dys[0] * y_f
                rest = dys[1:]
            else:
                d_f = dys[0]
                d_b = dys[1] if dys[1] is not None else xp.zeros_like(y_b)
                rest = dys[2:]
            if self.return_sequences:
                d_b = xp.flip(d_b, axis=1)
            if self.return_state:
                dx_f = back_f([d_f] + list(rest[:n_states]))
                dx_b = back_b([d_b] + list(rest[n_states:]))
            else:
                dx_f = back_f(d_f)
                dx_b = back_b(d_b)
            if multi:
                return [dx_f[0] + dx_b[0]] + list(dx_f[1:]) + list(dx_b[1:])
            return dx_f + dx_b
        return result, backward

    def get_config(self):
        from . import serialize
        config = super().get_config()
        config.update({
            "merge_mode": self.merge_mode,
            "layer": serialize(self.forward_layer),
            "backward_layer": serialize(self.backward_layer),
        })
        return config

    @classmethod
    def from_config(cls, config):
        from . import deserialize
        config = dict(config)
        config["layer"] = deserialize(config["layer"])
        if config.get("backward_layer") is not None:
            config["backward_layer"] = deserialize(config["backward_layer"])
        return cls(**config)


def _remove_prefix(text, prefix):
    return text[len(prefix):] if text.startswith(prefix) else text


class TimeDistributed(Layer):
    """Applies a layer to every temporal slice of its input: (batch, time, ...) -> (batch, time, ...).

    Args:
        layer: a layer instance (Dense, Conv2D, ...); its weights are shared by all timesteps.

    The time axis is folded into the batch axis, so the wrapped layer runs once on
    (batch·time, ...) (the same result as Keras's per-timestep loop for every layer
    whose output for a sample depends only on that sample; a BatchNormalization inside
    sees the batch·time samples together). A (batch, time) mask is passed on unchanged.

    Input shape: (batch, time, ...) with at least 3 axes.
    Output shape: (batch, time) + the wrapped layer's output shape without its batch axis.
    Weights: the wrapped layer's.

    Example:
        >>> layer = pn.layers.TimeDistributed(pn.layers.Dense(8))
    """

    supports_masking = True

    def __init__(self, layer, **kwargs):
        if not isinstance(layer, Layer):
            raise ValueError(f"TimeDistributed: layer={layer!r}; expected a layer instance")
        super().__init__(**kwargs)
        self.layer = layer
        self._layers = [layer]

    @staticmethod
    def _child_shape(input_shape, name):
        shape = tuple(input_shape)
        if len(shape) < 3:
            raise ValueError(f"TimeDistributed {name!r}: expected inputs with at least 3 axes "
                             f"(batch, time, ...); got shape {shape}")
        batch, steps = shape[0], shape[1]
        folded = None if batch is None or steps is None else batch * steps
        return (folded,) + shape[2:]

    def build(self, input_shape):
        child = self._child_shape(input_shape, self.name)
        if self.layer.backend is None:
            self.layer.backend = self.backend
        self.layer._maybe_build((None,) + child[1:])
        self.built = True

    def compute_output_shape(self, input_shape):
        child = self._child_shape(input_shape, self.name)
        out = self.layer.compute_output_shape((None,) + child[1:])
        return (input_shape[0], input_shape[1]) + tuple(out[1:])

    def forward(self, x, training=False, mask=None):
        xp = self.xp
        if x.ndim < 3:
            raise ValueError(f"TimeDistributed {self.name!r}: expected inputs with at least 3 axes "
                             f"(batch, time, ...); got shape {tuple(x.shape)}")
        batch, steps = x.shape[0], x.shape[1]
        inner_mask = None
        if mask is not None and mask.ndim > 2:
            inner_mask = xp.reshape(mask, (batch * steps,) + tuple(mask.shape[2:]))
        folded = xp.reshape(x, (batch * steps,) + tuple(x.shape[2:]))
        y, inner_backward = _run_inner(self.layer, folded, training, inner_mask)
        nested = getattr(self.layer, "_pending_extra", None)
        if nested:
            self._pending_extra = list(nested)
            self.layer._pending_extra = None
        out_shape = (batch, steps) + tuple(y.shape[1:])
        in_shape = tuple(x.shape)

        def backward(dy):
            dx = inner_backward(xp.reshape(dy, (batch * steps,) + tuple(dy.shape[2:])))
            return None if dx is None else xp.reshape(dx, in_shape)
        return xp.reshape(y, out_shape), backward

    def compute_mask(self, inputs, mask=None):
        return mask

    def get_config(self):
        from . import serialize
        config = super().get_config()
        config["layer"] = serialize(self.layer)
        return config

    @classmethod
    def from_config(cls, config):
        from . import deserialize
        config = dict(config)
        config["layer"] = deserialize(config["layer"])
        return cls(**config)
