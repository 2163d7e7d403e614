import json

import numpy as np
import pytest

import portanet as pn
from harness import numeric_grad, to_np


def _data(rng, n=8, d=4, classes=3):
    x = rng.standard_normal((n, d))
    y = np.eye(classes)[rng.integers(0, classes, n)]
    return x, y


def test_functional_matches_sequential(backend, float64, rng):
    x, y = _data(rng)
    seq = pn.Sequential([pn.Input((4,)), pn.layers.Dense(5, activation="tanh"),
                         pn.layers.Dense(3, activation="softmax")])
    inp = pn.Input((4,))
    h = pn.layers.Dense(5, activation="tanh")(inp)
    fun = pn.Model(inp, pn.layers.Dense(3, activation="softmax")(h))
    assert isinstance(fun, pn.models.Functional) and isinstance(fun, pn.Model)
    fun.set_weights(seq.get_weights())
    np.testing.assert_allclose(fun.predict(x), seq.predict(x), rtol=1e-12)
    for m in (seq, fun):
        m.compile(optimizer=pn.optimizers.SGD(0.1), loss="categorical_crossentropy")
    l_seq = seq.train_on_batch(x, y)
    l_fun = fun.train_on_batch(x, y)
    assert l_fun == pytest.approx(l_seq, rel=1e-12)
    for a, b in zip(fun.get_weights(), seq.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
    assert [w.shape for w in fun.get_weights()] == [(4, 5), (5,), (5, 3), (3,)]


def _model_grads(model, backend, xs, r):
    """Analytic d(sum(out·r))/d(weights) and /d(inputs) through _forward_graph."""
    for v in model.weights:
        v.grad = None
    outs, backward, _ = model._forward_graph([backend.asarray(a) for a in xs])
    dx = backward([backend.asarray(ri) for ri in r])
    return [to_np(backend, v.grad).copy() for v in model.weights], [to_np(backend, d) for d in dx]


def _check_model_fd(model, backend, xs, seed=0, samples=6):
    rng = np.random.default_rng(seed)
    outs, _, _ = model._forward_graph([backend.asarray(a) for a in xs])
    r = [rng.standard_normal(tuple(o.shape)) for o in outs]

    def loss():
        o, _, _ = model._forward_graph([backend.asarray(a) for a in xs])
        return float(sum(np.sum(to_np(backend, a) * b) for a, b in zip(o, r)))
    wgrads, xgrads = _model_grads(model, backend, xs, r)
    for v, g in zip(model.weights, wgrads):
        host = to_np(backend, v.value).astype(np.float64).copy()
        idx = [np.unravel_index(i, host.shape) for i in rng.choice(host.size, min(samples, host.size), replace=False)]

        def loss_w(v=v, host=host):
            v.value = backend.asarray(host.copy())
            return loss()
        num = numeric_grad(loss_w, host, idx)
        v.value = backend.asarray(host.copy())
        np.testing.assert_allclose(g[tuple(np.array(idx).T)], num, rtol=1e-5, atol=1e-7, err_msg=v.path)
    for a, g in zip(xs, xgrads):
        idx = [np.unravel_index(i, a.shape) for i in rng.choice(a.size, min(samples, a.size), replace=False)]
        num = numeric_grad(loss, a, idx)
        np.testing.assert_allclose(g[tuple(np.array(idx).T)], num, rtol=1e-5, atol=1e-7)
    return wgrads


def test_shared_layer_gradients_finite_differences(backend, float64, rng):
    a, b = pn.Input((4,), name="a"), pn.Input((4,), name="b")
    shared = pn.layers.Dense(4, activation="tanh", name="shared")
    h1 = shared(a)
    h2 = shared(shared(b))          # the same layer at three nodes
    merged = pn.layers.Concatenate()([h1, h2, pn.layers.Multiply()([h1, h2])])
    out = pn.layers.Dense(2, name="head")(merged)
    model = pn.Model([a, b], out)
    assert [l.name for l in model.layers].count("shared") == 1
    assert len(model.weights) == 4 and model.count_params() == 20 + 26
    xs = [rng.standard_normal((3, 4)), rng.standard_normal((3, 4))]
    _check_model_fd(model, backend, xs)


def test_fan_out_gradients_are_summed(backend, float64, rng):
    inp = pn.Input((3,))
    h = pn.layers.Dense(3, activation="sigmoid")(inp)
    out1 = pn.layers.Dense(2, name="o1")(h)
    out2 = pn.layers.Add(name="o2")([h, h, inp])
    model = pn.Model(inp, [out1, out2])
    _check_model_fd(model, backend, [rng.standard_normal((4, 3))])


def test_multi_output_training_with_loss_weights(backend, rng):
    inp = pn.Input((4,))
    h = pn.layers.Dense(6, activation="relu")(inp)
    reg = pn.layers.Dense(2, name="reg")(h)
    cls = pn.layers.Dense(3, activation="softmax", name="cls")(h)
    model = pn.Model(inp, [reg, cls])
    assert model.output_names == ["reg", "cls"]
    model.compile(optimizer=pn.optimizers.SGD(0.05), loss=["mse", "categorical_crossentropy"],
                  loss_weights=[0.3, 2.0], metrics={"cls": ["accuracy"], "reg": ["mae"]})
    x = rng.standard_normal((10, 4)).astype("float32")
    y_reg = rng.standard_normal((10, 2)).astype("float32")
    y_cls = np.eye(3, dtype="float32")[rng.integers(0, 3, 10)]
    p_reg, p_cls = model.predict(x)
    mse = np.mean((p_reg - y_reg) ** 2)
    p = np.clip(p_cls / p_cls.sum(-1, keepdims=True), 1e-7, 1 - 1e-7)
    cce = np.mean(-np.sum(y_cls * np.log(p), -1))
    mae = np.mean(np.abs(p_reg - y_reg))
    acc = np.mean(np.argmax(p_cls, -1) == np.argmax(y_cls, -1))
    logs = model.test_on_batch(x, [y_reg, y_cls], return_dict=True)
    assert logs["loss"] == pytest.approx(0.3 * mse + 2.0 * cce, rel=1e-5)
    assert logs["reg_loss"] == pytest.approx(mse, rel=1e-5)
    assert logs["cls_loss"] == pytest.approx(cce, rel=1e-5)
    # y as a dict gives the same numbers.
    logs_dict = model.test_on_batch(x, {"cls": y_cls, "reg": y_reg}, return_dict=True)
    assert logs_dict == pytest.approx(logs)
    history = model.fit(x, {"reg": y_reg, "cls": y_cls}, batch_size=10, epochs=2, shuffle=False, verbose=0)
    assert set(history.history) == {"loss", "reg_loss", "cls_loss", "reg_mae", "cls_accuracy"}
    # The first epoch's loss is computed before the (only) update of that epoch.
    assert history.history["loss"][0] == pytest.approx(0.3 * mse + 2.0 * cce, rel=1e-5)
    assert history.history["reg_mae"][0] == pytest.approx(mae, rel=1e-5)
    assert history.history["cls_accuracy"][0] == pytest.approx(acc)
    assert history.history["loss"][1] < history.history["loss"][0]


def test_loss_weights_scale_the_gradients(backend, float64, rng):
    """One SGD step with loss_weights w equals the step of w·loss on each output."""
    def build():
        pn.utils.set_random_seed(3)
        inp = pn.Input((3,))
        h = pn.layers.Dense(4, activation="tanh")(inp)
        return pn.Model(inp, [pn.layers.Dense(1, name="a")(h), pn.layers.Dense(2, name="b")(h)])
    x = rng.standard_normal((6, 3))
    ya, yb = rng.standard_normal((6, 1)), rng.standard_normal((6, 2))
    m1 = build()
    m1.compile(optimizer=pn.optimizers.SGD(0.1), loss={"a": "mse", "b": "mae"}, loss_weights={"a": 0.5, "b": 3.0})
    w0 = m1.get_weights()
    m1.train_on_batch(x, [ya, yb])
    # Reference: the gradient of 0.5·mse_a + 3·mae_b by finite differences of the whole objective.
    m2 = build()
    m2.set_weights(w0)

    def objective():
        pa, pb = m2.predict(x)
        return 0.5 * np.mean((pa - ya) ** 2) + 3.0 * np.mean(np.abs(pb - yb))
    for v, before, after in zip(m2.weights, w0, m1.get_weights()):
        host = before.copy()
        idx = [np.unravel_index(i, host.shape) for i in range(min(host.size, 4))]

        def f(v=v, host=host):
            v.assign(host)
            return objective()
        num = numeric_grad(f, host, idx)
        v.assign(before)
        step = (before - after)[tuple(np.array(idx).T)] / 0.1
        np.testing.assert_allclose(step, num, rtol=1e-5, atol=1e-7)


def test_dict_inputs_and_outputs(backend, rng):
    a, b = pn.Input((2,), name="left"), pn.Input((3,), name="right")
    h = pn.layers.Concatenate()([a, b])
    model = pn.Model({"x1": a, "x2": b}, {"score": pn.layers.Dense(1)(h), "probs": pn.layers.Dense(2, activation="softmax")(h)})
    assert model.input_names == ["x1", "x2"] and model.output_names == ["score", "probs"]
    xa, xb = rng.standard_normal((5, 2)), rng.standard_normal((5, 3))
    out_dict = model.predict({"x2": xb, "x1": xa})
    out_list = model.predict([xa, xb])
    assert list(out_dict) == ["score", "probs"] and out_dict["probs"].shape == (5, 2)   # dict outputs, as Keras
    for key in out_dict:
        np.testing.assert_array_equal(out_dict[key], out_list[key])
    np.testing.assert_array_equal(model.predict_on_batch([xa, xb])["score"], out_dict["score"])
    # A dict-input model called on a dict takes the tensors by key, not by the dict's order.
    ta, tb = pn.Input((2,)), pn.Input((3,))
    outer = pn.Model([ta, tb], model({"x2": tb, "x1": ta})[0])
    np.testing.assert_allclose(outer.predict([xa, xb]), out_dict["score"], rtol=1e-6)
    model.compile(optimizer="sgd", loss={"score": "mse", "probs": "categorical_crossentropy"})
    hist = model.fit({"x1": xa, "x2": xb}, {"score": np.zeros((5, 1)), "probs": np.eye(2)[[0, 1, 0, 1, 1]]},
                     epochs=1, verbose=0)
    assert set(hist.history) == {"loss", "score_loss", "probs_loss"}
    with pytest.raises(ValueError, match="missing input"):
        model.predict({"x1": xa})


def test_nested_models(backend, float64, rng):
    inner_seq = pn.Sequential([pn.Input((3,)), pn.layers.Dense(4, activation="tanh")], name="inner_seq")
    i2 = pn.Input((4,))
    inner_fun = pn.Model(i2, pn.layers.Dense(2, activation="sigmoid")(i2), name="inner_fun")
    x = pn.Input((3,), name="x")
    y = inner_fun(inner_seq(x))
    z = pn.layers.Dense(1)(pn.layers.Concatenate()([y, inner_seq(x)]))   # inner_seq shared
    model = pn.Model(x, z)
    assert [type(l).__name__ for l in model.layers] == ["InputLayer", "Sequential", "Functional",
                                                         "Concatenate", "Dense"]
    assert model.get_layer("inner_fun") is inner_fun
    assert len(model.weights) == 6
    data = rng.standard_normal((5, 3))
    expected_y = inner_fun.predict(inner_seq.predict(data))
    head = model.layers[-1]
    expected = np.concatenate([expected_y, inner_seq.predict(data)], -1) @ head.get_weights()[0] + head.get_weights()[1]
    np.testing.assert_allclose(model.predict(data), expected, rtol=1e-10)
    _check_model_fd(model, backend, [data])
    # Training the outer model trains the inner layers.
    before = inner_seq.get_weights()[0].copy()
    model.compile(optimizer="sgd", loss="mse")
    model.fit(data, np.ones((5, 1)), epochs=1, verbose=0)
    assert not np.allclose(before, inner_seq.get_weights()[0])


def test_frozen_nested_model_is_not_trained(backend, rng):
    inner = pn.Sequential([pn.Input((3,)), pn.layers.Dense(3)], name="frozen")
    inner.trainable = False
    x = pn.Input((3,))
    model = pn.Model(x, pn.layers.Dense(1, name="head")(inner(x)))
    assert len(model.trainable_weights) == 2 and len(model.non_trainable_weights) == 2
    model.compile(optimizer="sgd", loss="mse")
    before = inner.get_weights()
    head_before = model.get_layer("head").get_weights()[0].copy()
    model.fit(rng.standard_normal((8, 3)), rng.standard_normal((8, 1)), epochs=1, verbose=0)
    for a, b in zip(before, inner.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(head_before, model.get_layer("head").get_weights()[0])
    rebuilt = pn.models.Functional.from_config(dict(model.get_config(), trainable=False))
    assert rebuilt.trainable_weights == [] and len(rebuilt.non_trainable_weights) == 4


def test_nested_activity_regularizer_is_in_the_loss(backend, rng):
    inner = pn.Sequential([pn.Input((3,)), pn.layers.Dense(2, activity_regularizer=pn.regularizers.L2(0.1))])
    x = pn.Input((3,))
    model = pn.Model(x, pn.layers.Dense(1, name="out")(inner(x)))
    model.compile(optimizer="sgd", loss="mse")
    data = rng.standard_normal((4, 3)).astype("float32")
    target = np.zeros((4, 1), "float32")
    hidden = inner.predict(data)
    pred = model.predict(data)
    expected = np.mean(pred ** 2) + 0.1 * np.sum(hidden.astype(np.float64) ** 2) / 4
    assert model.test_on_batch(data, target) == pytest.approx(expected, rel=1e-5)


def test_layers_get_layer_and_errors():
    a = pn.Input((3,), name="in_a")
    d1 = pn.layers.Dense(2, name="d1")
    out = d1(a)
    model = pn.Model(inputs=a, outputs=out, name="tiny")
    assert [l.name for l in model.layers] == ["in_a", "d1"]
    assert model.get_layer("d1") is d1 and model.get_layer(index=0).name == "in_a"
    assert model.inputs == [a] and model.outputs == [out] and model.input_shapes == [(None, 3)]
    with pytest.raises(ValueError, match="no layer named 'nope'"):
        model.get_layer("nope")
    b = pn.Input((3,), name="in_b")
    with pytest.raises(ValueError, match="Graph disconnected.*in_b"):
        pn.Model(a, pn.layers.Add()([d1(a), pn.layers.Dense(2)(b)]))
    # An intermediate tensor as input is allowed (test_intermediate_tensor_as_input), but
    # the graph must not need anything before it.
    with pytest.raises(ValueError, match="Graph disconnected.*in_a"):
        pn.Model(out, pn.layers.Add()([out, d1(a)]))
    with pytest.raises(TypeError, match="symbolic tensor"):
        pn.Model(a, np.zeros(3))
    c = pn.Input((3,))
    with pytest.raises(ValueError, match="layer names must be unique.*'twin'"):
        pn.Model(c, pn.layers.Dense(2, name="twin")(pn.layers.Dense(3, name="twin")(c)))
    with pytest.raises(ValueError, match="takes 1 input"):
        model.predict([np.zeros((2, 3)), np.zeros((2, 3))])


def test_config_round_trip_keeps_the_graph(backend, rng):
    a, b = pn.Input((4,), name="a"), pn.Input((4,), name="b")
    shared = pn.layers.Dense(3, name="shared")
    sa, sb = shared(a), shared(b)
    out = pn.layers.Dot(axes=1, normalize=True, name="cos")([sa, sb])
    extra = pn.layers.Subtract(name="diff")([sa, sb])
    model = pn.Model([a, b], [out, extra], name="siamese")
    config = model.get_config()
    text = json.dumps(config)
    shared_entry = next(l for l in config["layers"] if l["name"] == "shared")
    assert len(shared_entry["inbound_nodes"]) == 2
    cos_entry = next(l for l in config["layers"] if l["name"] == "cos")
    histories = [t["config"]["keras_history"] for t in cos_entry["inbound_nodes"][0]["args"][0]]
    assert histories == [["shared", 0, 0], ["shared", 1, 0]]
    assert config["input_layers"] == [["a", 0, 0], ["b", 0, 0]]
    assert config["output_layers"] == [["cos", 0, 0], ["diff", 0, 0]]
    clone = pn.models.Functional.from_config(json.loads(text))
    assert clone.name == "siamese" and [l.name for l in clone.layers] == [l.name for l in model.layers]
    clone.set_weights(model.get_weights())
    xs = [rng.standard_normal((3, 4)), rng.standard_normal((3, 4))]
    for p, q in zip(model.predict(xs), clone.predict(xs)):
        np.testing.assert_allclose(p, q, rtol=1e-6)
    assert type(pn.Model.from_config(config)) is pn.models.Functional
    # Keras 2's inbound_nodes layout is read too.
    old = {"name": "k2", "layers": [
        {"class_name": "InputLayer", "name": "x", "config": {"batch_shape": [None, 2], "name": "x"}, "inbound_nodes": []},
        {"class_name": "Dense", "name": "d", "config": {"units": 1, "name": "d"}, "inbound_nodes": [[["x", 0, 0, {}]]]}],
        "input_layers": [["x", 0, 0]], "output_layers": [["d", 0, 0]]}
    assert pn.models.Functional.from_config(old).compute_output_shape((None, 2)) == (None, 1)


def test_clone_model(backend, rng):
    inp = pn.Input((3,))
    shared = pn.layers.Dense(3, activation="relu")
    out = pn.layers.Dense(1)(shared(shared(inp)))
    model = pn.Model(inp, out)
    clone = pn.models.clone_model(model)
    assert clone is not model and [l.name for l in clone.layers] == [l.name for l in model.layers]
    assert all(c is not o for c, o in zip(clone.layers[1:], model.layers[1:]))
    assert len(clone.weights) == 4          # the shared layer stays shared
    assert not np.allclose(clone.get_weights()[0], model.get_weights()[0])   # fresh weights
    clone.set_weights(model.get_weights())
    x = rng.standard_normal((4, 3))
    np.testing.assert_allclose(clone.predict(x), model.predict(x), rtol=1e-6)
    seq = pn.Sequential([pn.Input((3,)), pn.layers.Dense(2), pn.layers.Dropout(0.5)])
    seq_clone = pn.models.clone_model(seq)
    assert isinstance(seq_clone, pn.Sequential) and seq_clone.input_shapes == [(None, 3)]
    assert [type(l) for l in seq_clone.layers] == [pn.layers.Dense, pn.layers.Dropout]
    assert seq_clone.layers[1].rate == 0.5
    same = pn.models.clone_model(model, clone_function=lambda layer: layer)
    assert same.layers[1] is model.layers[1]
    with pytest.raises(TypeError, match="clone_function"):
        pn.models.clone_model(model, clone_function=3)


def test_mask_flows_through_the_graph(backend):
    inp = pn.Input((3, 2))
    masked = pn.layers.Masking(0.0)(inp)
    out = pn.layers.Add()([masked, masked])
    model = pn.Model(inp, out)
    x = np.array([[[1., 1.], [0., 0.], [2., 2.]]], "float32")
    outs, _, _ = model._forward_graph([backend.asarray(x)])
    np.testing.assert_array_equal(to_np(backend, model._last_masks[0]), [[True, False, True]])
    np.testing.assert_allclose(to_np(backend, outs[0]), 2 * x)


# ---------------------------------------------------------------- Keras's clone_graph_nodes
def test_intermediate_tensor_as_input(backend, tmp_path):
    """Keras 3.15.1: Model(h, out) with h the output of a layer gets a new Input named
    "<tensor name>CLONE" (batch shape and dtype of h), and only the layers after h; the
    model it was cut from keeps its graph."""
    a = pn.Input((3,), name="a")
    d1, d2 = pn.layers.Dense(4, name="d1"), pn.layers.Dense(2, name="d2")
    h = d1(a)
    out = d2(h)
    full = pn.Model(a, out, name="full")
    head = pn.Model(h, out, name="head")
    assert [l.name for l in head.layers] == ["d1CLONE", "d2"]
    assert type(head.layers[0]).__name__ == "InputLayer"
    assert head.inputs[0] is not h and head.inputs[0].shape == (None, 4)
    assert head.input_shapes == [(None, 4)] and len(head.weights) == 2
    assert [l.name for l in full.layers] == ["a", "d1", "d2"]     # untouched
    d2.set_weights([np.array([[1., 0.], [0., 1.], [1., 1.], [2., -1.]], "float32"),
                    np.array([0.5, -0.5], "float32")])
    x = np.array([[1., 2., 3., 4.], [0., -1., 0., 1.]], "float32")
    # x @ kernel + bias by hand: [1+3+8, 2+3-4] + [.5, -.5]; [0+0+2, -1+0-1] + [.5, -.5]
    want = np.array([[12.5, 0.5], [2.5, -2.5]], "float32")
    np.testing.assert_allclose(head.predict(x, verbose=0), want, rtol=1e-6)
    np.testing.assert_allclose(to_np(backend, head(backend.asarray(x))), want, rtol=1e-6)
    assert full.predict(np.ones((2, 3), "float32"), verbose=0).shape == (2, 2)
    config = head.get_config()
    assert config["input_layers"] == ["d1CLONE", 0, 0]
    assert config["layers"][0]["class_name"] == "InputLayer"
    assert config["layers"][0]["config"]["batch_shape"] == [None, 4]
    assert config["layers"][1]["inbound_nodes"][0]["args"][0]["config"]["keras_history"] == \
        ["d1CLONE", 0, 0]
    head.save(tmp_path / "head.keras")
    again = pn.saving.load_model(tmp_path / "head.keras")
    assert [l.name for l in again.layers] == ["d1CLONE", "d2"]
    np.testing.assert_allclose(again.predict(x, verbose=0), want, rtol=1e-6)
    # An Input listed with an intermediate tensor: the walk stops at each input (as Keras,
    # the layer producing the intermediate one is left out).
    b = pn.Input((3,), name="b")
    e1, e2 = pn.layers.Dense(4, name="e1"), pn.layers.Dense(4, name="e2")
    h2 = e1(b)
    o2 = pn.layers.Dense(1, name="e3")(pn.layers.Concatenate(name="cat")([h2, e2(b)]))
    both = pn.Model([h2, b], o2)
    assert [l.name for l in both.layers] == ["b", "e1CLONE", "e2", "cat", "e3"]
    with pytest.raises(ValueError, match="Graph disconnected.*'b'"):
        pn.Model(h2, o2)


def test_intermediate_input_trains(backend, rng):
    """FeatureSpace's pattern: train a model whose input is an encoded (intermediate)
    tensor; the full model sees the trained layer."""
    a = pn.Input((2,), name="raw")
    scaled = pn.layers.Rescaling(2.0, name="scale")(a)
    out = pn.layers.Dense(1, name="head")(scaled)
    train = pn.Model(scaled, out)
    full = pn.Model(a, out)
    train.layers[1].set_weights([np.zeros((2, 1), "float32"), np.zeros(1, "float32")])
    train.compile(optimizer=pn.optimizers.SGD(0.1), loss="mse")
    x = np.array([[1., 0.], [0., 1.]], "float32")
    train.fit(x, np.array([[1.], [1.]], "float32"), batch_size=2, epochs=1, verbose=0, shuffle=False)
    # One SGD step from zero weights: d(mse)/dw = -2/N * x^T (y - 0) = [-1, -1]; b: -2.
    kernel, bias = train.layers[1].get_weights()
    np.testing.assert_allclose(kernel, [[0.1], [0.1]], rtol=1e-6)
    np.testing.assert_allclose(bias, [0.2], rtol=1e-6)
    # The full model runs the same Dense after the rescaling: 2 * 0.1 + 0.2.
    np.testing.assert_allclose(full.predict(np.array([[1., 0.]], "float32"), verbose=0), [[0.4]],
                               rtol=1e-6)


# ---------------------------------------------------------------- Keras's _adjust_input_rank
@pytest.mark.filterwarnings("ignore:fit. the inputs are far from standardized")
@pytest.mark.parametrize("kind", ["functional", "sequential"])
@pytest.mark.parametrize("shape,x_shape,want", [
    # Keras 3.15.1's outputs of Flatten -> Dense(1, kernel ones) on arange inputs.
    ((1,), (3,), [0., 1., 2.]),            # a column (N,) for Input((1,)): expanded
    ((3,), (2, 3, 1), [3., 12.]),          # a trailing axis of 1: squeezed
    ((2, 1), (2, 2), [1., 5.]),
    ((1,), (3, 1, 1), [0., 1., 2.]),
])
def test_input_rank_is_adjusted_as_keras(backend, kind, shape, x_shape, want):
    def make():
        layers = [pn.layers.Flatten(), pn.layers.Dense(1, kernel_initializer="ones")]
        if kind == "sequential":
            return pn.Sequential([pn.Input(shape)] + layers)
        i = pn.Input(shape)
        return pn.Model(i, layers[1](layers[0](i)))
    model = make()
    x = np.arange(np.prod(x_shape), dtype="float32").reshape(x_shape)
    np.testing.assert_allclose(model.predict(x, verbose=0).ravel(), want)
    np.testing.assert_allclose(to_np(backend, model(backend.asarray(x))).ravel(), want)
    assert model(pn.Input(x_shape[1:])).shape == (None, 1)
    model.compile(optimizer=pn.optimizers.SGD(0.5), loss="mse")
    # mse gradient of the kernel (ones) for targets 0: 2/N * sum_n x_n * out_n
    flat = x.reshape(x_shape[0], -1)
    grad = 2.0 / x_shape[0] * flat.T @ np.asarray(want)[:, None]
    model.fit(x, np.zeros((x_shape[0], 1), "float32"), batch_size=x_shape[0], epochs=1,
              verbose=0, shuffle=False)
    np.testing.assert_allclose(model.layers[-1].get_weights()[0], 1.0 - 0.5 * grad, rtol=1e-5)


def test_input_rank_gradient_has_the_input_shape(backend):
    """Inside a bigger model the rank-adjusted input's gradient comes back in the shape the
    input had (N,), not the model's (N, 1)."""
    inner = pn.Sequential([pn.Input((1,)), pn.layers.Dense(1, kernel_initializer="ones",
                                                           bias_initializer="zeros")])
    x = backend.asarray(np.array([1., 2., 3.], "float32"))
    y, back, _, _ = inner.run(x)
    assert tuple(y.shape) == (3, 1)
    dx = back(backend.asarray(np.array([[1.], [2.], [3.]], "float32")))
    assert tuple(dx.shape) == (3,)
    np.testing.assert_allclose(to_np(backend, dx), [1., 2., 3.])


@pytest.mark.parametrize("shape,x_shape", [((4,), (3,)), ((1,), (3, 1, 1, 1)), ((3,), (2, 3, 2))])
def test_input_rank_mismatch_errors(backend, shape, x_shape):
    i = pn.Input(shape, name="feat")
    model = pn.Model(i, pn.layers.Dense(1)(pn.layers.Flatten()(i)), name="m")
    x = np.zeros(x_shape, "float32")
    with pytest.raises(ValueError, match=rf"Invalid input shape for input 0 \('feat'\) of model 'm': "
                                         rf"expected shape \(None, {shape[0]}\), but the input has "
                                         rf"incompatible shape \({x_shape[0]},"):
        model(backend.asarray(x))
    with pytest.raises(ValueError, match=rf"x: input of shape .* does not match the model's input "
                                         rf"shape .*: rank {len(x_shape)}, expected rank 2"):
        model.predict(x, verbose=0)
