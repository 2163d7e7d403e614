"""RNN(cell): the built-in cells inside the generic RNN give what LSTM/GRU/SimpleRNN give
(the same code path, trained to the same weights), the one-step cell contract reproduces
the whole-sequence path, a user-written cell trains inside RNN (finite differences),
StackedRNNCells equals stacked RNN layers, and configs round trip."""

import numpy as np
import pytest

import portanet as pn
from harness import check_gradients, layer_forward, run_layer_test, to_np

L = pn.layers
B, T, D, U = 3, 5, 4, 3

CELLS = {"simple": (L.SimpleRNNCell, L.SimpleRNN), "lstm": (L.LSTMCell, L.LSTM),
         "gru": (L.GRUCell, L.GRU)}


class MinimalRNNCell(L.Layer):
    """A user's cell: h' = tanh(x @ kernel + h @ recurrent_kernel), written per contract C6."""

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.state_size = units

    def build(self, input_shape):
        self.kernel = self.add_weight("kernel", (input_shape[-1], self.units), "glorot_uniform")
        self.recurrent_kernel = self.add_weight("recurrent_kernel", (self.units, self.units),
                                                "orthogonal")

    def forward(self, inputs, states, training=False):
        xp = self.xp
        h_prev = states[0]
        h = xp.tanh(inputs @ self.kernel.value + h_prev @ self.recurrent_kernel.value)

        def backward(d_output, d_states):
            dh = d_states[0] if d_states and d_states[0] is not None else xp.zeros_like(h)
            if d_output is not None:
                dh = dh + d_output
            dz = dh * (1.0 - h * h)
            self.kernel.add_grad(xp.matrix_transpose(inputs) @ dz)
            self.recurrent_kernel.add_grad(xp.matrix_transpose(h_prev) @ dz)
            return (dz @ xp.matrix_transpose(self.kernel.value),
                    [dz @ xp.matrix_transpose(self.recurrent_kernel.value)])
        return (h, [h]), backward

    def get_config(self):
        config = super().get_config()
        config["units"] = self.units
        return config


def _run(layer, backend, x, dy_seed=1, mask=None, training=False):
    """Outputs, input gradients and weight gradients of one forward/backward (host arrays)."""
    for v in layer.weights:
        v.grad = None
    y, back = layer_forward(layer, backend, x, mask=mask, training=training)
    ys = list(y) if isinstance(y, list) else [y]
    r = np.random.default_rng(dy_seed)
    dys = [backend.asarray(r.standard_normal(tuple(a.shape))) for a in ys]
    d = back(dys if isinstance(y, list) else dys[0])
    d = d if isinstance(d, list) else [d]
    return ([to_np(backend, a) for a in ys], [to_np(backend, a) for a in d],
            [to_np(backend, v.grad) for v in layer.weights])


def _assert_same(first, second, rtol=1e-12, atol=1e-12):
    for group_a, group_b in zip(first, second):
        assert len(group_a) == len(group_b)
        for a, b in zip(group_a, group_b):
            np.testing.assert_allclose(a, b, rtol=rtol, atol=atol)


# ---------------------------------------------------------------------------- built-in cells
@pytest.mark.parametrize("kind", sorted(CELLS))
def test_rnn_of_a_cell_trains_to_the_same_weights_as_the_layer(backend, float64, rng, kind):
    """Adam on a small model, three epochs: RNN(XCell(u)) and X(u) end at the same weights."""
    cell_cls, layer_cls = CELLS[kind]
    x = rng.standard_normal((16, T, D))
    y = rng.standard_normal((16, 2))
    start = None
    finals = []
    for make in (lambda: layer_cls(U, return_sequences=True),
                 lambda: L.RNN(cell_cls(U), return_sequences=True)):
        model = pn.Sequential([pn.Input((T, D)), make(), L.GlobalAveragePooling1D(), L.Dense(2)])
        if start is None:
            start = [w + 0.2 * rng.standard_normal(w.shape) for w in model.get_weights()]
        model.set_weights(start)
        model.compile(optimizer=pn.optimizers.Adam(0.05), loss="mse")
        model.fit(x, y, epochs=3, batch_size=4, shuffle=False, verbose=0)
        finals.append(model.get_weights())
    assert len(finals[0]) == len(finals[1]) == 5
    moved = max(float(np.abs(a - b).max()) for a, b in zip(finals[0], start))
    assert moved > 1e-2  # training really changed the weights
    for a, b in zip(*finals):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("kind", sorted(CELLS))
@pytest.mark.parametrize("options", [
    {"return_sequences": True},
    {"return_state": True, "go_backwards": True},
    {"return_sequences": True, "masked": True},
    {"return_sequences": True, "masked": True, "zero_output_for_mask": True},
    {"return_sequences": True, "initial_state": True},
    {"return_sequences": True, "dropout": 0.3, "recurrent_dropout": 0.4},
], ids=lambda o: ",".join(o))
def test_one_step_cell_contract_matches_the_sequence_path(backend, float64, rng, kind, options):
    """The generic loop over the built-in cell's one-step forward (what StackedRNNCells and
    user code see) gives the whole-sequence path's outputs and gradients."""
    options = dict(options)
    masked = options.pop("masked", False)
    with_init = options.pop("initial_state", False)
    rates = {k: options.pop(k) for k in ("dropout", "recurrent_dropout") if k in options}
    training = bool(rates)
    cell_cls, _ = CELLS[kind]
    layer = L.RNN(cell_cls(U, **rates), **options)
    x = rng.standard_normal((B, T, D))
    n_states = 2 if kind == "lstm" else 1
    inputs = [x] + [rng.standard_normal((B, U)) for _ in range(n_states)] if with_init else x
    mask = None
    if masked:
        keep = np.ones((B, T), dtype=bool)
        keep[0, 3:] = False
        keep[1, 1] = False
        mask = backend.asarray(keep)
    layer_forward(layer, backend, inputs)
    layer.set_weights([w + 0.3 * rng.standard_normal(w.shape) for w in layer.get_weights()])
    pn.utils.set_random_seed(7)
    fast = _run(layer, backend, inputs, mask=mask, training=training)
    sequence_forward = layer.cell._sequence_forward
    layer.cell._sequence_forward = None  # an instance attribute hides the fast path
    try:
        pn.utils.set_random_seed(7)
        loop = _run(layer, backend, inputs, mask=mask, training=training)
    finally:
        del layer.cell._sequence_forward
    assert layer.cell._sequence_forward == sequence_forward
    _assert_same(fast, loop)


def test_lstm_cell_takes_the_fast_path_inside_rnn(backend):
    """RNN(LSTMCell(u)) runs the LSTM's one-tanh whole-sequence path, as LSTM(u) does."""
    calls = []
    layer = L.RNN(L.LSTMCell(U))
    original = pn.layers.recurrent.lstm._fast_sequence

    def spy(*args):
        calls.append(1)
        return original(*args)
    pn.layers.recurrent.lstm._fast_sequence = spy
    try:
        layer(np.ones((B, T, D), "float32"))
        L.LSTM(U)(np.ones((B, T, D), "float32"))
    finally:
        pn.layers.recurrent.lstm._fast_sequence = original
    assert len(calls) == 2


# ---------------------------------------------------------------------------- a user's cell
def test_user_cell_matches_simple_rnn_without_bias(backend, float64, rng):
    """h' = tanh(x W + h U) written as a cell gives SimpleRNN(use_bias=False)'s values and
    gradients (same weights), with masks, initial state and go_backwards."""
    x = rng.standard_normal((B, T, D))
    h0 = rng.standard_normal((B, U))
    keep = np.ones((B, T), dtype=bool)
    keep[2, 2:] = False
    mask = backend.asarray(keep)
    ref = L.SimpleRNN(U, use_bias=False, return_sequences=True, return_state=True,
                      go_backwards=True)
    mine = L.RNN(MinimalRNNCell(U), return_sequences=True, return_state=True, go_backwards=True)
    layer_forward(ref, backend, [x, h0])
    layer_forward(mine, backend, [x, h0])
    mine.set_weights(ref.get_weights())
    _assert_same(_run(ref, backend, [x, h0], mask=mask), _run(mine, backend, [x, h0], mask=mask))


@pytest.mark.parametrize("options", [{}, {"return_sequences": True, "go_backwards": True},
                                     {"return_state": True}])
def test_user_cell_harness(backend, options):
    """Shapes, float64 finite-difference gradients of inputs and weights, a training step that
    lowers the loss, and the config round trip of RNN(user cell)."""
    with pn.saving.custom_object_scope({"MinimalRNNCell": MinimalRNNCell}):
        run_layer_test(lambda: L.RNN(MinimalRNNCell(U), **options), (B, T, D), backend,
                       expected_num_weights=2)


def test_user_cell_gradients_with_a_mask(backend, rng):
    keep = np.ones((B, T), dtype=bool)
    keep[0, 2:] = False
    keep[1, 0] = False
    x = rng.standard_normal((B, T, D))

    class Masked(L.RNN):
        def forward(self, inputs, training=False, mask=None):
            return super().forward(inputs, training=training, mask=self.backend.asarray(keep))
    old = pn.config.floatx()
    pn.config.set_floatx("float64")
    try:
        check_gradients(lambda: Masked(MinimalRNNCell(U), return_sequences=True), x, backend,
                        rtol=1e-5, atol=1e-7)
    finally:
        pn.config.set_floatx(old)


# ---------------------------------------------------------------------------- stacked cells
def test_stacked_cells_match_stacked_layers(backend, float64, rng):
    """RNN(StackedRNNCells([LSTMCell(4), GRUCell(3)]), return_state=True) equals
    LSTM(4, return_sequences=True) then GRU(3): the output and the flat final states."""
    x = rng.standard_normal((B, T, D))
    stacked = L.RNN(L.StackedRNNCells([L.LSTMCell(4), L.GRUCell(3)]), return_state=True)
    first = L.LSTM(4, return_sequences=True, return_state=True)
    second = L.GRU(3, return_state=True)
    layer_forward(stacked, backend, x)
    weights = [w + 0.3 * rng.standard_normal(w.shape) for w in stacked.get_weights()]
    stacked.set_weights(weights)
    assert stacked.cell.state_size == [4, 4, 3]
    assert stacked.compute_output_shape((B, T, D)) == [(B, 3), (B, 4), (B, 4), (B, 3)]
    assert stacked.weights[0].path == f"{stacked.name}/{stacked.cell.cells[0].name}/kernel"
    y_stack, _ = layer_forward(stacked, backend, x)
    layer_forward(first, backend, x)
    first.set_weights(weights[:3])
    seq, h1, c1 = layer_forward(first, backend, x)[0]
    layer_forward(second, backend, seq)
    second.set_weights(weights[3:])
    y2, h2 = layer_forward(second, backend, seq)[0]
    assert len(y_stack) == 4
    for a, b in zip(y_stack, [y2, h1, c1, h2]):
        np.testing.assert_allclose(to_np(backend, a), to_np(backend, b), rtol=1e-12, atol=1e-12)


def test_stacked_cells_gradients_match_stacked_layers(backend, float64, rng):
    x = rng.standard_normal((B, T, D))
    stacked = L.RNN([L.SimpleRNNCell(4), L.LSTMCell(3)], return_sequences=True)
    assert isinstance(stacked.cell, L.StackedRNNCells)
    model = pn.Sequential([pn.Input((T, D)), L.SimpleRNN(4, return_sequences=True),
                           L.LSTM(3, return_sequences=True)])
    layer_forward(stacked, backend, x)
    weights = [w + 0.3 * rng.standard_normal(w.shape) for w in stacked.get_weights()]
    stacked.set_weights(weights)
    model.set_weights(weights)
    y_s, d_s, g_s = _run(stacked, backend, x)
    first, second = model.layers
    for v in model.weights:
        v.grad = None
    y1, back1 = layer_forward(first, backend, x)
    y2, back2 = layer_forward(second, backend, y1)
    dy = backend.asarray(np.random.default_rng(1).standard_normal(tuple(y2.shape)))
    dx = back1(back2(dy))
    _assert_same((y_s, d_s, g_s), ([to_np(backend, y2)], [to_np(backend, dx)],
                                   [to_np(backend, v.grad) for v in model.weights]))


def test_stacked_cells_harness(backend):
    run_layer_test(lambda: L.RNN(L.StackedRNNCells([L.GRUCell(3), L.SimpleRNNCell(2)]),
                                 return_state=True), (B, T, D), backend,
                   expected_output_shape=[(B, 2), (B, 3), (B, 2)], expected_num_weights=6)


# ---------------------------------------------------------------------------- config, errors
def test_rnn_config_nests_the_cell_config(backend):
    layer = L.RNN(L.LSTMCell(5, recurrent_activation="hard_sigmoid", unit_forget_bias=False,
                             dropout=0.1, name="c"),
                  return_sequences=True, go_backwards=True, name="r")
    config = layer.get_config()
    assert config["cell"]["class_name"] == "LSTMCell"
    assert config["cell"]["config"]["units"] == 5
    assert config["cell"]["config"]["unit_forget_bias"] is False
    assert config["return_sequences"] is True and config["go_backwards"] is True
    again = L.deserialize(L.serialize(layer))
    assert type(again) is L.RNN and type(again.cell) is L.LSTMCell
    assert again.get_config() == config
    stacked = L.RNN([L.GRUCell(2, reset_after=False), L.SimpleRNNCell(3)], name="s")
    config = stacked.get_config()
    assert config["cell"]["class_name"] == "StackedRNNCells"
    assert [c["class_name"] for c in config["cell"]["config"]["cells"]] == ["GRUCell",
                                                                             "SimpleRNNCell"]
    again = L.deserialize(L.serialize(stacked))
    assert again.get_config() == config
    assert again.cell.cells[0].reset_after is False
    # The layers keep Keras's flat config (no "cell" key).
    assert "cell" not in L.LSTM(3).get_config()


def test_rnn_cell_model_save_and_load(backend, tmp_path, rng):
    x = rng.standard_normal((4, T, D)).astype("float32")
    model = pn.Sequential([pn.Input((T, D)), L.RNN(L.GRUCell(U), return_sequences=True),
                           L.Bidirectional(L.RNN(L.LSTMCell(2))), L.Dense(1)])
    before = model.predict(x, verbose=0)
    path = str(tmp_path / "m.portanet")
    model.save(path)
    again = pn.load_model(path)
    np.testing.assert_allclose(again.predict(x, verbose=0), before, rtol=1e-6, atol=1e-6)
    assert type(again.layers[1].forward_layer.cell) is L.LSTMCell


def test_cell_attributes_and_bad_arguments():
    cell = L.LSTMCell(4)
    assert cell.state_size == [4, 4] and cell.output_size == 4
    assert L.GRUCell(4).state_size == 4 and L.SimpleRNNCell(2).state_size == 2
    lstm = L.LSTM(4, dropout=0.2)
    assert isinstance(lstm, L.RNN) and isinstance(lstm.cell, L.LSTMCell)
    assert lstm.units == 4 and lstm.dropout == 0.2
    with pytest.raises(TypeError, match="cell='lstm'"):
        L.RNN("lstm")
    with pytest.raises(ValueError, match="non-empty list"):
        L.StackedRNNCells([])
    with pytest.raises(ValueError, match="not a cell"):
        L.StackedRNNCells([L.Dense(3)])
    assert L.RNN(L.GRUCell(3), stateful=True).stateful is True   # supported (test_recurrent)
    with pytest.raises(ValueError, match="units=0"):
        L.LSTMCell(0)
    with pytest.raises(ValueError, match="dropout=1.0"):
        L.GRUCell(3, dropout=1.0)


def test_get_initial_state_gives_zero_states(backend):
    lstm = L.LSTMCell(4)
    lstm.build((None, 3))
    states = lstm.get_initial_state(batch_size=2)
    assert [tuple(s.shape) for s in states] == [(2, 4), (2, 4)]
    assert all(float(np.abs(to_np(backend, s)).max()) == 0.0 for s in states)
    stacked = L.StackedRNNCells([L.GRUCell(2), MinimalRNNCell(5)])
    stacked.backend = backend
    stacked.build((None, 3))
    assert [tuple(s.shape) for s in stacked.get_initial_state(batch_size=3)] == [(3, 2), (3, 5)]
