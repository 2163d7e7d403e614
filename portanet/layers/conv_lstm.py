"""Convolutional LSTM layers of Keras 3 (keras/src/layers/rnn/conv_lstm*.py):
``ConvLSTM1D``, ``ConvLSTM2D``, ``ConvLSTM3D`` over a ``ConvLSTMCell``.

An LSTM whose input and recurrent transformations are convolutions. At each timestep,
with gates [i, f, c, o] (Keras's order)::

    i = σ(conv(x, K_i) + b_i + conv_same(h, R_i))      f, o likewise
    c' = f·c + i·tanh(conv(x, K_c) + b_c + conv_same(h, R_c))
    h' = o·tanh(c')

``conv`` uses the layer's strides / padding / dilation_rate; the recurrent convolution
is stride 1, "same". The layers are written with ``call()`` over ``pn.ops`` (``ops.conv``
and the element-wise ops), so their backward pass comes from the tape
(docs/ARCHITECTURE.md, section 4): ConvLSTM is not on a hot path here.

Weights (Keras layout, get_weights order): kernel (*kernel_size, in_channels, 4·filters),
recurrent_kernel (*kernel_size, filters, 4·filters), bias (4·filters,), named
"<layer>/conv_lstm_cell/kernel" etc.
"""

from .. import activations as _activations
from .. import backend as _backend
from .. import ops
from .. import regularizers as _regularizers
from ..ops._dispatch import primitive as _primitive
from ..ops import tape as _tape
from ..validation import check_positive_int
from . import _windows as W
from . import traced as _traced
from .base import Layer
from .input_spec import InputSpec
from .recurrent.rnn import RNN

__all__ = ["ConvLSTM1D", "ConvLSTM2D", "ConvLSTM3D"]

_ACTIVATION_OPS = {}


def traced_activation(activation, x):
    """``activation(x)`` as one op of the tape (its gradient is the activation's own)."""
    if activation is _activations.linear:
        return x
    if activation is _activations.tanh:
        return ops.tanh(x)
    if activation is _activations.sigmoid:
        return ops.sigmoid(x)
    op = _ACTIVATION_OPS.get(id(activation))
    if op is None:
        def vjp(g, out, value, activation=activation):
            return (_activations.apply(activation, value)[1](g),)
        name = getattr(activation, "__name__", None) or getattr(
            getattr(activation, "func", None), "__name__", "activation")
        op = _primitive(f"activation_{name}_{id(activation)}", activation, vjp)
        _ACTIVATION_OPS[id(activation)] = (op, activation)
    else:
        op = op[0]
    return op(x)


def _rate(value, name, owner):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{owner}: {name}={value!r}; expected a float in [0, 1]")
    return min(1.0, max(0.0, float(value)))


def _forget_bias_initializer(initializer, filters):
    """[init(f), ones(f), init(2f)] (Keras's unit_forget_bias)."""
    def init(shape, dtype=None):
        hx = _backend.host_xp()
        parts = [initializer((filters,), dtype=dtype), hx.ones((filters,), dtype=dtype or "float32"),
                 initializer((2 * filters,), dtype=dtype)]
        return hx.concat([hx.asarray(p, dtype=parts[0].dtype) for p in parts])
    return init


class ConvLSTMCell(Layer):
    """One ConvLSTM step (Keras's ``ConvLSTMCell``): ``call(inputs, states, training)``
    returns ``(h, [h, c])``. Arguments are those of ``ConvLSTM2D`` plus ``rank``."""

    def __init__(self, rank, filters, kernel_size, strides=1, padding="valid", data_format=None,
                 dilation_rate=1, activation="tanh", recurrent_activation="sigmoid",
                 use_bias=True, kernel_initializer="glorot_uniform",
                 recurrent_initializer="orthogonal", bias_initializer="zeros",
                 unit_forget_bias=True, kernel_regularizer=None, recurrent_regularizer=None,
                 bias_regularizer=None, kernel_constraint=None, recurrent_constraint=None,
                 bias_constraint=None, dropout=0.0, recurrent_dropout=0.0, seed=None, **kwargs):
        owner = f"ConvLSTM{rank}D"
        if rank not in (1, 2, 3):
            raise ValueError(f"{owner}: rank={rank!r}; expected 1, 2 or 3")
        filters = check_positive_int(filters, "filters", owner)
        kernel_size = W.normalize_tuple(kernel_size, rank, "kernel_size", owner)
        strides = W.normalize_tuple(strides, rank, "strides", owner)
        padding = W.normalize_padding(padding, owner)
        data_format = W.normalize_data_format(data_format, owner)
        dilation_rate = W.normalize_tuple(dilation_rate, rank, "dilation_rate", owner)
        if max(strides) > 1 and max(dilation_rate) > 1:
            raise ValueError(f"{owner}: strides={strides} > 1 is not compatible with "
                             f"dilation_rate={dilation_rate} > 1; provide strides=1 or "
                             "dilation_rate=1")
        activation = _activations.get(activation)
        recurrent_activation = _activations.get(recurrent_activation)
        dropout = _rate(dropout, "dropout", owner)
        recurrent_dropout = _rate(recurrent_dropout, "recurrent_dropout", owner)
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise TypeError(f"{owner}: seed={seed!r}; expected None or an int")
        options = dict(kernel_initializer=kernel_initializer,
                       recurrent_initializer=recurrent_initializer,
                       bias_initializer=bias_initializer, kernel_regularizer=kernel_regularizer,
                       recurrent_regularizer=recurrent_regularizer,
                       bias_regularizer=bias_regularizer, kernel_constraint=kernel_constraint,
                       recurrent_constraint=recurrent_constraint, bias_constraint=bias_constraint)
        super().__init__(**kwargs)
        self._set_weight_options(**options)
        self.rank = rank
        self.filters = filters
        self.kernel_size = kernel_size
        self.strides = strides
        self.padding = padding
        self.data_format = data_format
        self.dilation_rate = dilation_rate
        self.activation = activation
        self.recurrent_activation = recurrent_activation
        self.use_bias = bool(use_bias)
        self.unit_forget_bias = bool(unit_forget_bias)
        self.dropout = dropout
        self.recurrent_dropout = recurrent_dropout
        self.seed = seed
        self._masks = None

    @property
    def state_size(self):
        return [self.filters, self.filters]

    def build(self, input_shape):
        """``input_shape``: one step, (batch, *spatial, channels) (channels_last)."""
        owner = f"ConvLSTM{self.rank}D {self.name!r}"
        input_shape = tuple(input_shape)
        spatial = W.spatial_shape(input_shape, self.data_format)
        channels = W.channels_of(input_shape, self.data_format)
        if None in tuple(spatial):
            raise ValueError(f"{owner}: ConvLSTM layers only support static input shapes for the "
                             f"spatial dimensions; got step input shape {input_shape}")
        if channels is None:
            raise ValueError(f"{owner}: the channel dimension of the inputs should be defined; "
                             f"got step input shape {input_shape}")
        self.spatial_dims = tuple(spatial)
        self.input_dim = channels
        f4 = 4 * self.filters
        self.kernel = self.add_weight("kernel", self.kernel_size + (channels, f4),
                                      self.kernel_initializer, self.kernel_regularizer,
                                      self.kernel_constraint)
        self.recurrent_kernel = self.add_weight("recurrent_kernel",
                                                self.kernel_size + (self.filters, f4),
                                                self.recurrent_initializer,
                                                self.recurrent_regularizer,
                                                self.recurrent_constraint)
        if self.use_bias:
            init = (_forget_bias_initializer(self.bias_initializer, self.filters)
                    if self.unit_forget_bias else self.bias_initializer)
            self.bias = self.add_weight("bias", (f4,), init, self.bias_regularizer,
                                        self.bias_constraint)
        else:
            self.bias = None
        self.built = True

    def compute_output_shape(self, inputs_shape):
        """The state shape for a step input shape (Keras returns it for output and states)."""
        spatial = W.spatial_shape(inputs_shape, self.data_format)
        out = [W.output_length(n, k, self.padding, s, d) for n, k, s, d in
               zip(spatial, self.kernel_size, self.strides, self.dilation_rate)]
        return W.assemble_shape(inputs_shape[0], out, self.filters, self.data_format)

    def get_initial_state(self, batch_size=None):
        shape = self.compute_output_shape(
            W.assemble_shape(batch_size, self.spatial_dims, self.input_dim, self.data_format))
        zeros = self.xp.zeros(tuple(shape), dtype=self.backend.dtype(self.dtype),
                              device=self.backend.device)
        return [zeros, zeros]

    def reset_dropout_mask(self):
        self._masks = None

    reset_recurrent_dropout_mask = reset_dropout_mask

    def _dropout_masks(self, inputs, h, training):
        """Four input masks and four recurrent masks per sequence (Keras's
        dropout_mask_count = 4), drawn at the first step after a reset."""
        if not training or (not 0.0 < self.dropout < 1.0 and not 0.0 < self.recurrent_dropout < 1.0):
            return None, None
        if self._masks is None:
            dtype = self.backend.dtype(self.dtype)
            xin = ops.shape(inputs)
            hs = ops.shape(h)
            dp = ([self.backend.dropout_mask(xin, self.dropout, dtype=dtype) for _ in range(4)]
                  if 0.0 < self.dropout < 1.0 else None)
            rdp = ([self.backend.dropout_mask(hs, self.recurrent_dropout, dtype=dtype)
                    for _ in range(4)] if 0.0 < self.recurrent_dropout < 1.0 else None)
            self._masks = (dp, rdp)
        return self._masks

    def _conv(self, x, w, strides, padding, dilation):
        return ops.conv(x, w, strides=strides, padding=padding, data_format=self.data_format,
                        dilation_rate=dilation)

    def call(self, inputs, states, training=False):
        h_tm1, c_tm1 = states[0], states[1]
        dp, rdp = self._dropout_masks(inputs, h_tm1, training)
        xs = [inputs * m for m in dp] if dp is not None else [inputs] * 4
        hs = [h_tm1 * m for m in rdp] if rdp is not None else [h_tm1] * 4
        f = self.filters
        k = self.kernel
        r = self.recurrent_kernel
        lead = (slice(None),) * (self.rank + 1)
        pre = []
        for g in range(4):
            kg = k[lead + (slice(g * f, (g + 1) * f),)]
            rg = r[lead + (slice(g * f, (g + 1) * f),)]
            z = self._conv(xs[g], kg, self.strides, self.padding, self.dilation_rate)
            if self.bias is not None:
                b = self.bias[g * f:(g + 1) * f]
                shape = ((1,) * (self.rank + 1) + (f,) if self.data_format == "channels_last"
                         else (1, f) + (1,) * self.rank)
                z = z + ops.reshape(b, shape)
            z = z + self._conv(hs[g], rg, 1, "same", 1)
            pre.append(z)
        i = traced_activation(self.recurrent_activation, pre[0])
        fg = traced_activation(self.recurrent_activation, pre[1])
        c = fg * c_tm1 + i * traced_activation(self.activation, pre[2])
        o = traced_activation(self.recurrent_activation, pre[3])
        h = o * traced_activation(self.activation, c)
        return h, [h, c]

    def get_config(self):
        config = super().get_config()
        config.update(_cell_config(self))
        return config


def _cell_config(cell):
    return {
        "filters": cell.filters,
        "kernel_size": cell.kernel_size,
        "strides": cell.strides,
        "padding": cell.padding,
        "data_format": cell.data_format,
        "dilation_rate": cell.dilation_rate,
        "activation": _activations.serialize(cell.activation),
        "recurrent_activation": _activations.serialize(cell.recurrent_activation),
        "use_bias": cell.use_bias,
        **cell._weight_options_config("kernel_initializer", "recurrent_initializer",
                                      "bias_initializer"),
        "unit_forget_bias": cell.unit_forget_bias,
        **cell._weight_options_config("kernel_regularizer", "recurrent_regularizer",
                                      "bias_regularizer"),
        **cell._weight_options_config("kernel_constraint", "recurrent_constraint",
                                      "bias_constraint"),
        "dropout": cell.dropout,
        "recurrent_dropout": cell.recurrent_dropout,
        "seed": cell.seed,
    }


def _cell_property(name):
    return property(lambda self: getattr(self.cell, name), doc=f"The cell's ``{name}``.")


class ConvLSTM(RNN):
    """Base of ConvLSTM1D/2D/3D (Keras's abstract ``ConvLSTM``): runs a ``ConvLSTMCell``
    over the time axis of (batch, time, *spatial, channels) inputs."""

    rank = None
    supports_masking = True

    def __init__(self, filters, kernel_size, strides=1, padding="valid", data_format=None,
                 dilation_rate=1, activation="tanh", recurrent_activation="sigmoid",
                 use_bias=True, kernel_initializer="glorot_uniform",
                 recurrent_initializer="orthogonal", bias_initializer="zeros",
                 unit_forget_bias=True, kernel_regularizer=None, recurrent_regularizer=None,
                 bias_regularizer=None, activity_regularizer=None, kernel_constraint=None,
                 recurrent_constraint=None, bias_constraint=None, dropout=0.0,
                 recurrent_dropout=0.0, seed=None, return_sequences=False, return_state=False,
                 go_backwards=False, stateful=False, **kwargs):
        kwargs.pop("unroll", None)
        kwargs.pop("zero_output_for_mask", None)
        cell = ConvLSTMCell(
            rank=self.rank, filters=filters, kernel_size=kernel_size, strides=strides,
            padding=padding, data_format=data_format, dilation_rate=dilation_rate,
            activation=activation, recurrent_activation=recurrent_activation,
            use_bias=use_bias, kernel_initializer=kernel_initializer,
            recurrent_initializer=recurrent_initializer, bias_initializer=bias_initializer,
            unit_forget_bias=unit_forget_bias, kernel_regularizer=kernel_regularizer,
            recurrent_regularizer=recurrent_regularizer, bias_regularizer=bias_regularizer,
            kernel_constraint=kernel_constraint, recurrent_constraint=recurrent_constraint,
            bias_constraint=bias_constraint, dropout=dropout,
            recurrent_dropout=recurrent_dropout, seed=seed, name="conv_lstm_cell",
            dtype=kwargs.get("dtype"))
        # RNN's arguments, without its (batch, time, features) checks: the cell is ours.
        Layer.__init__(self, activity_regularizer=activity_regularizer, **kwargs)
        self.cell = cell
        self._layers = [cell]
        self.return_sequences = bool(return_sequences)
        self.return_state = bool(return_state)
        self.go_backwards = bool(go_backwards)
        self.stateful = bool(stateful)
        self.unroll = False
        self.zero_output_for_mask = False
        self.states = None
        self.input_spec = InputSpec(ndim=self.rank + 3)

    filters = _cell_property("filters")
    kernel_size = _cell_property("kernel_size")
    strides = _cell_property("strides")
    padding = _cell_property("padding")
    data_format = _cell_property("data_format")
    dilation_rate = _cell_property("dilation_rate")
    activation = _cell_property("activation")
    recurrent_activation = _cell_property("recurrent_activation")
    use_bias = _cell_property("use_bias")
    unit_forget_bias = _cell_property("unit_forget_bias")
    dropout = _cell_property("dropout")
    recurrent_dropout = _cell_property("recurrent_dropout")
    kernel_initializer = _cell_property("kernel_initializer")
    recurrent_initializer = _cell_property("recurrent_initializer")
    bias_initializer = _cell_property("bias_initializer")
    kernel_regularizer = _cell_property("kernel_regularizer")
    recurrent_regularizer = _cell_property("recurrent_regularizer")
    bias_regularizer = _cell_property("bias_regularizer")
    kernel_constraint = _cell_property("kernel_constraint")
    recurrent_constraint = _cell_property("recurrent_constraint")
    bias_constraint = _cell_property("bias_constraint")

    # ------------------------------------------------------------------ shapes
    def _owner(self):
        return f"{type(self).__name__} {self.name!r}"

    def build(self, input_shape):
        shape = self._sequence_shape(input_shape)
        if len(shape) != self.rank + 3:
            raise ValueError(f"{self._owner()}: expected inputs of rank {self.rank + 3} "
                             f"(batch, time, {self.rank} spatial axes and channels); got shape "
                             f"{shape}")
        cell = self.cell
        if not cell.built:
            if cell.backend is None:
                cell.backend = self.backend
            cell._maybe_build((shape[0],) + shape[2:])
            for v in cell.weights:
                v.path = f"{self.name}/{cell.name}/{v.name}"
        self.built = True

    def compute_output_shape(self, input_shape):
        shape = self._sequence_shape(input_shape)
        state = tuple(self.cell.compute_output_shape((shape[0],) + shape[2:]))
        out = (shape[0], shape[1]) + state[1:] if self.return_sequences else state
        if self.return_state:
            return [out, state, state]
        return out

    def compute_mask(self, inputs, mask=None):
        if isinstance(mask, (list, tuple)):
            mask = mask[0] if mask else None
        out = mask if self.return_sequences else None
        if self.return_state:
            return [out, None, None]
        return out

    # ------------------------------------------------------------------ running
    def forward(self, inputs, training=False, mask=None):
        # call() runs on a tape of its own; forward is defined here because RNN's (the
        # built-in cells' path) would otherwise take precedence.
        return _traced.traced_forward(self, inputs, (), training=training, mask=mask)

    def reset_states(self, states=None):
        """Stateful layers: forget the kept states (or set them to ``states``)."""
        self.states = None if states is None else [self.backend.asarray(s) for s in states]

    reset_state = reset_states

    def call(self, sequences, mask=None, training=False):
        if isinstance(sequences, (list, tuple)):
            x, states = sequences[0], list(sequences[1:])
            if len(states) != 2:
                raise ValueError(f"{self._owner()}: initial_state needs 2 arrays (h and c); got "
                                 f"{len(states)}")
        else:
            x, states = sequences, None
        shape = tuple(ops.shape(x))
        if len(shape) != self.rank + 3:
            raise ValueError(f"{self._owner()}: expected inputs of rank {self.rank + 3}; got "
                             f"shape {shape}")
        batch, steps = shape[0], shape[1]
        cell = self.cell
        if states is None and self.stateful and self.states is not None:
            if tuple(self.states[0].shape)[0] != batch:
                raise ValueError(f"{self._owner()}: stateful layer kept states for batch size "
                                 f"{tuple(self.states[0].shape)[0]}; got a batch of {batch} "
                                 "(call reset_states() first)")
            states = list(self.states)
        if states is None:
            states = cell.get_initial_state(batch_size=batch)
        expected = tuple(cell.compute_output_shape((batch,) + shape[2:]))
        for s in states:
            if tuple(ops.shape(s)) != expected:
                raise ValueError(f"{self._owner()}: initial state of shape {tuple(ops.shape(s))}; "
                                 f"expected {expected}")
        if isinstance(mask, (list, tuple)):
            mask = mask[0] if mask else None
        order = range(steps - 1, -1, -1) if self.go_backwards else range(steps)
        cell.reset_dropout_mask()
        outputs = []
        h = None
        for t in order:
            xt = x[(slice(None), t, Ellipsis)]
            out, new_states = cell.call(xt, states, training=training)
            if mask is not None:
                xp = self.xp
                m = xp.reshape(xp.astype(mask[:, t], _value(x).dtype),
                               (batch,) + (1,) * (self.rank + 1))
                new_states = [ops.add(s, ops.multiply(ops.subtract(n, s), m))
                              for n, s in zip(new_states, states)]
                prev = h if h is not None else ops.zeros_like(out)
                out = ops.add(prev, ops.multiply(ops.subtract(out, prev), m))
            states = list(new_states)
            h = out
            if self.return_sequences:
                outputs.append(out)
        cell.reset_dropout_mask()
        y = ops.stack(outputs, axis=1) if self.return_sequences else h
        if self.stateful:
            self.states = [_value(s) for s in states]
        if self.return_state:
            return [y] + states
        return y

    # ------------------------------------------------------------------ config
    def get_config(self):
        config = Layer.get_config(self)
        config.update({"return_sequences": self.return_sequences,
                       "return_state": self.return_state,
                       "go_backwards": self.go_backwards,
                       "stateful": self.stateful,
                       "unroll": False,
                       "zero_output_for_mask": False})
        config.update(_cell_config(self.cell))
        config["activity_regularizer"] = _regularizers.serialize(self.activity_regularizer)
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def _value(x):
    return _tape.value_of(x)


_DOC = """{rank}D convolutional LSTM (Keras's ``ConvLSTM{rank}D``).

    Like ``LSTM`` with convolutions for the input and recurrent transformations.

    Args:
        filters: number of output channels.
        kernel_size: int or tuple of {rank} ints.
        strides: int or tuple of {rank} ints (of the input convolution; the recurrent one
            is stride 1, "same"). strides > 1 excludes dilation_rate > 1.
        padding: "valid" (default) or "same".
        data_format: "channels_last" (default) or "channels_first".
        dilation_rate: int or tuple of {rank} ints.
        activation: default "tanh". recurrent_activation: default "sigmoid".
        use_bias: default True.
        kernel_initializer ("glorot_uniform"), recurrent_initializer ("orthogonal"),
        bias_initializer ("zeros"), unit_forget_bias (True: the forget-gate bias starts at 1),
        *_regularizer, activity_regularizer, *_constraint.
        dropout / recurrent_dropout: fractions in [0, 1] of the input / state dropped
            (training only; four masks per sequence, one per gate, reused at every step).
        seed: int seed for dropout.
        return_sequences: return every step's output (batch, time, ...) (default False).
        return_state: also return the final states ``[output, h, c]``.
        go_backwards: process the sequence from the end (the output sequence is in that
            reversed order, as Keras).
        stateful: keep the final states of a batch as the initial states of the next call
            (same batch size; ``reset_states()`` forgets them).

    Input shape: (batch, time, {spatial}, channels) (channels_last) or
    (batch, time, channels, {spatial}) (channels_first); an initial state is given as
    ``layer(x, initial_state=[h, c])``.
    Output shape: (batch, {spatial_out}, filters), or with ``return_sequences``
    (batch, time, {spatial_out}, filters).

    Example:
        >>> layer = pn.layers.ConvLSTM{rank}D(8, {ks}, padding="same", return_sequences=True)
    """


class ConvLSTM1D(ConvLSTM):
    rank = 1
    __doc__ = _DOC.format(rank=1, spatial="steps", spatial_out="new_steps", ks=3)


class ConvLSTM2D(ConvLSTM):
    rank = 2
    __doc__ = _DOC.format(rank=2, spatial="rows, cols", spatial_out="new_rows, new_cols", ks=3)


class ConvLSTM3D(ConvLSTM):
    rank = 3
    __doc__ = _DOC.format(rank=3, spatial="d1, d2, d3", spatial_out="new_d1, new_d2, new_d3",
                          ks=3)
