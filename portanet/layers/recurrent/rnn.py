"""``RNN(cell)``: runs any recurrent cell over the time axis (Keras 3's ``keras.layers.RNN``).

A cell is a Layer with ``state_size`` (an int or a list of ints), optionally
``output_size``, and a one-step ``forward(inputs, states, training=False)`` returning
``((output, new_states), backward)``, where ``backward(d_output, d_new_states)`` returns
``(d_inputs, d_states)`` (states are lists of arrays; a None gradient means zero). See
docs/ARCHITECTURE.md for the Layer/backward contract.

``RNN`` calls the cell once per timestep and backpropagates through time by calling the
step closures in reverse. The built-in cells (``SimpleRNNCell``, ``LSTMCell``,
``GRUCell``) also offer a whole-sequence path (``cell._sequence_forward``): the input
projection of every timestep as one matmul and the weight gradients summed over time as
one matmul each. ``RNN`` takes it whenever the cell has one, so ``RNN(LSTMCell(u))`` and
``LSTM(u)`` run the same code and give the same numbers.

**Initial state.** ``layer([x, *states])`` or ``layer(x, initial_state=[...])``; the
backward pass then returns ``[dx, *d_states]``.

**Masks** (from ``Embedding(mask_zero=True)`` or ``Masking``): a masked timestep keeps the
previous state and repeats the previous output (zeros before the first unmasked step), as
Keras; with ``zero_output_for_mask=True`` masked outputs are zeros instead (Bidirectional
sets this when it returns sequences, as Keras).

``go_backwards=True`` processes the sequence from the end and, as Keras, returns the output
sequence in that (reversed) order. ``stateful=True`` keeps the final states of each call
(``layer.states``, non-trainable Variables not listed in ``weights``) as the initial states
of the next one, as Keras; ``reset_states()`` sets them to zeros. ``unroll`` is accepted for
Keras compatibility: the loop is always a Python loop.
"""

from ... import regularizers as _regularizers
from ..base import Layer, Variable
from ._helpers import first_mask, output_size, serialize_layer, state_sizes
from .stacked_rnn_cells import StackedRNNCells
from ..serialization import deserialize

__all__ = ["RNN"]


class RNN(Layer):
    """Base class for recurrent layers: runs ``cell`` over the timesteps of its input.

    Args:
        cell: a cell (a Layer with ``state_size`` and a one-step ``forward``, see the
            module docstring), or a list of cells (wrapped in ``StackedRNNCells``).
        return_sequences: return the output of every timestep (batch, timesteps, output)
            instead of the last one (batch, output).
        return_state: also return the final states: ``[output, *states]``.
        go_backwards: process the sequence from the end (output sequence reversed).
        stateful: keep the final states of a call as the initial states of the next (the
            batch size must then stay the same; ``reset_states()`` zeroes them).
        unroll: accepted for Keras compatibility (no effect).
        zero_output_for_mask: zeros instead of the repeated output at masked timesteps.

    Input shape: (batch, timesteps, features), or a list ``[x, *initial_states]``.
    Output shape: (batch, output_size), or (batch, timesteps, output_size) with
    ``return_sequences``; with ``return_state`` followed by one (batch, size) per state.
    Weights: the cell's.

    Example:
        >>> layer = pn.layers.RNN(pn.layers.LSTMCell(32), return_sequences=True)
    """

    supports_masking = True
    _owns_cell = False
    # Opt-in to the training package's unused-input-gradient shortcut (training/fast_paths.py):
    # as the model's first layer, backward may return None for the input.
    _skip_input_grad = False

    def __init__(self, cell, return_sequences=False, return_state=False, go_backwards=False,
                 stateful=False, unroll=False, zero_output_for_mask=False, **kwargs):
        owner = type(self).__name__
        if isinstance(cell, (list, tuple)):
            cell = StackedRNNCells(cell)
        if not isinstance(cell, Layer) or not hasattr(cell, "state_size"):
            raise TypeError(f"{owner}: cell={cell!r}; expected a Layer with a `state_size` "
                            "attribute and a one-step forward(inputs, states, training)")
        super().__init__(**kwargs)
        self.cell = cell
        self._layers = [cell]
        self.return_sequences = bool(return_sequences)
        self.return_state = bool(return_state)
        self.go_backwards = bool(go_backwards)
        self.stateful = bool(stateful)
        self.states = None          # a stateful layer's kept states (Variables)
        self.unroll = bool(unroll)
        self.zero_output_for_mask = bool(zero_output_for_mask)

    @property
    def _state_count(self):
        return len(state_sizes(self.cell))

    # ------------------------------------------------------------------ shapes
    @staticmethod
    def _sequence_shape(input_shape):
        if isinstance(input_shape, list):
            return tuple(input_shape[0])
        return tuple(input_shape)

    def build(self, input_shape):
        shape = self._sequence_shape(input_shape)
        if len(shape) != 3:
            raise ValueError(f"{type(self).__name__} {self.name!r}: expected inputs of shape "
                             f"(batch, timesteps, features); got shape {shape}")
        if shape[-1] is None:
            raise ValueError(f"{type(self).__name__} {self.name!r}: the features axis of the input "
                             f"must be known; got shape {shape}")
        cell = self.cell
        if not cell.built:
            if cell.backend is None:
                cell.backend = self.backend
            cell._maybe_build((shape[0], shape[-1]))
            # A layer that builds its own cell (LSTM, ...) names weights "lstm/kernel", as
            # before cells existed; RNN(cell) keeps the cell's name: "rnn/lstm_cell/kernel".
            for v in cell.weights:
                v.path = f"{self.name}/{v.name if self._owns_cell else v.path}"
        if self.stateful:
            if shape[0] is None:
                raise ValueError(f"{type(self).__name__} {self.name!r}: with stateful=True the batch "
                                 f"size must be static; got input shape {shape} (give the Input a "
                                 "batch_size=...)")
            self._create_state_variables(shape[0])
        self.built = True

    # ------------------------------------------------------------------ stateful
    def _create_state_variables(self, batch_size):
        # Keras's "rnn_state" variables: non-trainable, and not among the layer's weights.
        xp = self.xp
        if hasattr(self.cell, "get_initial_state"):
            values = list(self.cell.get_initial_state(batch_size=batch_size))
        else:
            values = [xp.zeros((batch_size, s), dtype=self.backend.dtype(self.dtype))
                      for s in state_sizes(self.cell)]
        self.states = [Variable(v, "rnn_state", trainable=False, backend=self.backend)
                       for v in values]

    def reset_states(self):
        """A stateful layer's kept states back to zeros (Keras's ``reset_states``)."""
        if self.states is not None:
            for v in self.states:
                v.assign(self.xp.zeros_like(v.value))

    reset_state = reset_states

    def compute_output_shape(self, input_shape):
        shape = self._sequence_shape(input_shape)
        batch = shape[0]
        size = output_size(self.cell)
        out = (batch, shape[1], size) if self.return_sequences else (batch, size)
        if self.return_state:
            return [out] + [(batch, s) for s in state_sizes(self.cell)]
        return out

    def compute_mask(self, inputs, mask=None):
        mask = first_mask(mask)
        out = mask if self.return_sequences else None
        if self.return_state:
            return [out] + [None] * self._state_count
        return out

    def _spec_inputs(self, inputs):
        # input_spec describes the sequences (Keras checks the call's first argument); the
        # states given in the list are not part of it.
        return inputs[0] if isinstance(inputs, (list, tuple)) and inputs else inputs

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

    # ------------------------------------------------------------------ forward / BPTT
    def forward(self, inputs, training=False, mask=None):
        if not self.stateful:
            return self._forward(inputs, training, mask)
        # A stateful layer needs its final states even when it does not return them.
        returns = self.return_state
        self.return_state = True
        try:
            result, inner = self._forward(inputs, training, mask)
        finally:
            self.return_state = returns
        for variable, value in zip(self.states, result[1:]):
            variable.assign(value)
        if returns:
            return result, inner
        count = len(result) - 1

        def backward(dy):
            self.return_state = True
            try:
                return inner([dy] + [None] * count)
            finally:
                self.return_state = returns
        return result[0], backward

    def _forward(self, inputs, training, mask):
        owner = f"{type(self).__name__} {self.name!r}"
        sizes = state_sizes(self.cell)
        multi = isinstance(inputs, (list, tuple))
        if multi:
            x, given_states = inputs[0], list(inputs[1:])
            if len(given_states) != len(sizes):
                raise ValueError(f"{owner}: initial_state needs {len(sizes)} array(s) of shape "
                                 f"(batch, {sizes[0]}); got {len(given_states)}")
        else:
            x, given_states = inputs, []
        if not given_states and self.stateful:
            kept = tuple(self.states[0].shape)[0]
            if x.shape[0] != kept:
                raise ValueError(f"{owner}: stateful layer keeps states for a batch of {kept}; "
                                 f"got a batch of {x.shape[0]} (the batch size must stay the same)")
            given_states = [v.value for v in self.states]
        if x.ndim != 3:
            raise ValueError(f"{owner}: expected inputs of shape (batch, timesteps, features); "
                             f"got shape {tuple(x.shape)}")
        batch = x.shape[0]
        for s, size in zip(given_states, sizes):
            if tuple(s.shape) != (batch, size):
                raise ValueError(f"{owner}: initial state of shape {tuple(s.shape)}; expected "
                                 f"({batch}, {size})")
        mask = first_mask(mask)
        sequence_forward = getattr(self.cell, "_sequence_forward", None)
        if sequence_forward is not None:
            want_dx = multi or not self._skip_input_grad
            return sequence_forward(self, x, given_states, mask, training, want_dx, multi)
        return self._step_loop(x, given_states, mask, training, multi)

    def _step_loop(self, x, given_states, mask, training, multi):
        """The generic loop: ``cell.forward`` per timestep, the step closures in reverse."""
        xp = self.xp
        cell = self.cell
        batch, steps = x.shape[0], x.shape[1]
        if self.go_backwards:
            x = xp.flip(x, axis=1)
            if mask is not None:
                mask = xp.flip(mask, axis=1)
        step_mask = None
        if mask is not None:
            step_mask = xp.reshape(xp.astype(mask, x.dtype), (batch, steps, 1))
        # Dropout masks are drawn once per sequence and reused at every step (Keras).
        for hook in ("reset_dropout_mask", "reset_recurrent_dropout_mask"):
            reset = getattr(cell, hook, None)
            if reset is not None:
                reset()
        sizes = state_sizes(cell)
        if given_states:
            states = list(given_states)
        elif hasattr(cell, "get_initial_state"):
            states = list(cell.get_initial_state(batch_size=batch))
        else:
            states = [xp.zeros((batch, s), dtype=x.dtype) for s in sizes]
        out = xp.zeros((batch, output_size(cell)), dtype=x.dtype)
        outputs, backs = [], []
        for t in range(steps):
            (o, new_states), back = cell.forward(x[:, t, :], states, training=training)
            new_states = list(new_states)
            if step_mask is None:
                states, out = new_states, o
            else:
                m = step_mask[:, t, :]
                states = [s + m * (n - s) for n, s in zip(new_states, states)]
                out = m * o if self.zero_output_for_mask else out + m * (o - out)
            backs.append(back)
            if self.return_sequences:
                outputs.append(out)
        y = xp.stack(outputs, axis=1) if self.return_sequences else out
        result = [y] + list(states) if self.return_state else y
        x_shape = (batch, x.shape[2])

        def backward(dy):
            if self.return_state:
                d_out, d_states = dy[0], list(dy[1:])
            else:
                d_out, d_states = dy, [None] * len(sizes)
            d_carry = None  # gradient reaching the previous output through a masked step
            dxs = [None] * steps
            for t in range(steps - 1, -1, -1):
                if d_out is None:
                    d_o = None
                elif self.return_sequences:
                    d_o = d_out[:, t, :]
                else:
                    d_o = d_out if t == steps - 1 else None
                if step_mask is None:
                    d_xt, d_prev = backs[t](d_o, d_states)
                    d_states = list(d_prev)
                else:
                    m = step_mask[:, t, :]
                    if d_carry is not None:
                        d_o = d_carry if d_o is None else d_o + d_carry
                    d_new = [None if d is None else m * d for d in d_states]
                    d_cell_out = None
                    if d_o is not None:
                        d_cell_out = m * d_o
                        if not self.zero_output_for_mask:
                            d_carry = d_o - m * d_o
                    d_xt, d_prev = backs[t](d_cell_out, d_new)
                    d_states = [_masked_state_grad(d, m, p) for d, p in zip(d_states, d_prev)]
                dxs[t] = xp.zeros(x_shape, dtype=x.dtype) if d_xt is None else d_xt
            dx = xp.stack(dxs, axis=1)
            if self.go_backwards:
                dx = xp.flip(dx, axis=1)
            if multi:
                d_states = [xp.zeros((batch, s), dtype=x.dtype) if d is None else d
                            for d, s in zip(d_states, sizes)]
                return [dx] + d_states
            return dx
        return result, backward

    # ------------------------------------------------------------------ config
    def _rnn_config(self):
        config = super().get_config()
        config.update({
            "return_sequences": self.return_sequences,
            "return_state": self.return_state,
            "go_backwards": self.go_backwards,
            "stateful": self.stateful,
            "unroll": self.unroll,
            "zero_output_for_mask": self.zero_output_for_mask,
        })
        return config

    def get_config(self):
        config = self._rnn_config()
        config["cell"] = serialize_layer(self.cell)
        return config

    def _flat_config(self):
        """The config of a layer that builds its own cell (LSTM, GRU, SimpleRNN): the RNN
        options and the cell's arguments side by side, as Keras."""
        config = self._rnn_config()
        cell_config = self.cell.get_config()
        for key in ("name", "trainable", "dtype"):
            cell_config.pop(key, None)
        config.update(cell_config)
        # Keras's LSTM/GRU/SimpleRNN write it even when None.
        config["activity_regularizer"] = _regularizers.serialize(self.activity_regularizer)
        return config

    @classmethod
    def from_config(cls, config):
        # The layer registry lives in portanet.layers, which imports this module.
        config = dict(config)
        cell = deserialize(config.pop("cell"))
        return cls(cell, **config)


def _masked_state_grad(d, m, p):
    """Gradient of the previous state through ``s + m·(n − s)``: (1 − m)·d plus the cell's."""
    kept = None if d is None else d - m * d
    if p is None:
        return kept
    return p if kept is None else kept + p
