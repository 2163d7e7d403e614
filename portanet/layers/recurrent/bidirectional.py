"""Bidirectional (Keras 3's ``keras/src/layers/rnn/bidirectional.py``): runs a recurrent
layer forwards and a copy backwards, and merges their outputs."""

from ..base import Layer
from ._helpers import first_mask, run_inner, serialize_layer
from .rnn import RNN
from ..serialization import deserialize

__all__ = ["Bidirectional"]


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
        if not isinstance(layer, RNN):
            raise ValueError(f"Bidirectional: layer={layer!r}; expected a recurrent layer "
                             "instance (an RNN: SimpleRNN, LSTM, GRU, RNN(cell))")
        if backward_layer is not None and not isinstance(backward_layer, RNN):
            raise ValueError(f"Bidirectional: backward_layer={backward_layer!r}; expected a "
                             "recurrent layer instance (SimpleRNN, LSTM or GRU) or None")
        if merge_mode not in self._MODES:
            raise ValueError(f"Bidirectional: merge_mode={merge_mode!r}; expected one of "
                             "'concat', 'sum', 'mul', 'ave' or None")
        super().__init__(**kwargs)
        config = serialize_layer(layer)
        config.pop("build_config", None)        # the copies are built when this layer is
        config["config"]["name"] = "forward_" + _remove_prefix(layer.name, "forward_")
        self.forward_layer = _copy_layer(config)
        if backward_layer is None:
            config = serialize_layer(layer)
            config.pop("build_config", None)
            config["config"]["go_backwards"] = not layer.go_backwards
            config["config"]["name"] = "backward_" + _remove_prefix(layer.name, "backward_")
            self.backward_layer = _copy_layer(config)
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
        self.input_spec = layer.input_spec

    def _spec_inputs(self, inputs):
        return inputs[0] if isinstance(inputs, (list, tuple)) and inputs else inputs

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
        mask = first_mask(mask)
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
        mask = first_mask(mask)
        y_f, back_f = run_inner(self.forward_layer, fwd_in, training, mask)
        y_b, back_b = run_inner(self.backward_layer, bwd_in, training, mask)
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
        config = super().get_config()
        config.update({
            "merge_mode": self.merge_mode,
            "layer": serialize_layer(self.forward_layer),
            "backward_layer": serialize_layer(self.backward_layer),
        })
        return config

    @classmethod
    def from_config(cls, config):
        # The layer registry lives in portanet.layers, which imports this module.
        config = dict(config)
        config["layer"] = deserialize(config["layer"])
        if config.get("backward_layer") is not None:
            config["backward_layer"] = deserialize(config["backward_layer"])
        return cls(**config)


def _copy_layer(config):
    # The layer registry lives in portanet.layers, which imports this module.
    return deserialize(config)


def _remove_prefix(text, prefix):
    return text[len(prefix):] if text.startswith(prefix) else text
