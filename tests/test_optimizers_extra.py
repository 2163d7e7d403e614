"""Lamb, Adafactor, Muon, ScheduleFreeAdamW, MultiOptimizer/OptimizerMap and the EMA of the
base optimizer against Keras 3.15.1's stored numbers (tests/keras_reference/
make_objects_reference.py): every weight and slot after three steps from fixed weights and
gradients, to 1e-6 in float64 on every backend; configs; training, saving and resuming."""

import json
import re
import pathlib
import sys

import numpy as np
import pytest

import portanet as pn
from harness import to_np
from portanet.layers.base import Variable

HERE = pathlib.Path(__file__).parent / "keras_reference"
sys.path.insert(0, str(HERE))
import make_objects_reference as ref  # noqa: E402

STORED = np.load(HERE / "objects.npz")
CONFIGS = json.loads((HERE / "objects.json").read_text())


def _make(name):
    cls, kwargs = ref.OPT_CASES[name]
    if cls == "MultiOptimizer":
        return pn.optimizers.MultiOptimizer(pn.optimizers.OptimizerMap(
            pn.optimizers.Adam(learning_rate=0.1), {"kernel": pn.optimizers.SGD(learning_rate=0.1, momentum=0.9)}))
    return getattr(pn.optimizers, cls)(**kwargs)


def _run(backend, name, keras_form=True):
    w0, grads = ref.optimizer_inputs(name)
    variables = [Variable(backend.asarray(w0[k], dtype="float64"), k, backend=backend) for k in ref.OPT_WEIGHTS]
    opt = _make(name)
    for g in grads:
        if keras_form:
            opt.apply([backend.asarray(g[k], dtype="float64") for k in ref.OPT_WEIGHTS], variables)
        else:
            for k, v in zip(ref.OPT_WEIGHTS, variables):
                v.grad = backend.asarray(g[k], dtype="float64")
            opt.apply(variables)
    return opt, variables


@pytest.mark.parametrize("name", sorted(ref.OPT_CASES))
def test_weights_and_slots_match_keras(backend, float64, name):
    opt, variables = _run(backend, name)
    cls = ref.OPT_CASES[name][0]
    for i, (k, v) in enumerate(zip(ref.OPT_WEIGHTS, variables)):
        np.testing.assert_allclose(to_np(backend, v.value), STORED[f"optimizer/{name}/{k}"], rtol=1e-6,
                                   atol=1e-6, err_msg=f"{name} {k}")
        slots = opt.get_state()["slots"][i]
        for s in ref.OPT_SLOTS[cls]:
            key = f"optimizer/{name}/{k}/{s}"
            if key in STORED.files:
                np.testing.assert_allclose(np.asarray(slots[s]), STORED[key], rtol=1e-6, atol=1e-6,
                                           err_msg=key)
            else:   # Keras has no such slot for this weight (Muon's velocity of Muon weights)
                assert s not in slots, key
    assert opt.iterations == 3


@pytest.mark.parametrize("name", ["lamb_wd", "adafactor", "muon", "schedule_free_adamw", "multi"])
def test_portanet_form_gives_the_same_step(backend, float64, name):
    a, va = _run(backend, name, keras_form=True)
    b, vb = _run(backend, name, keras_form=False)
    for x, y in zip(va, vb):
        np.testing.assert_array_equal(to_np(backend, x.value), to_np(backend, y.value))


def _plain(obj):
    return json.loads(json.dumps(obj, default=lambda o: list(o) if isinstance(o, tuple) else str(o)))


def _strip(config):
    # Keras's serialize adds module/registered_name and numbers default names ("adam_1").
    if isinstance(config, dict):
        out = {k: _strip(v) for k, v in config.items() if k not in ("module", "registered_name", "name")}
        return out
    return config


@pytest.mark.parametrize("name", sorted(ref.OPT_CASES))
def test_config_matches_keras(name, float64):
    # The configs were made under Keras's floatx float64 (make_objects_reference.py): the
    # learning-rate variable, and so its config value, is a float64 there.
    opt = _make(name)
    mine = _plain(pn.optimizers.serialize(opt))
    assert _strip(mine) == _strip(CONFIGS["optimizer"][name])
    # Default names as Keras's (which numbers a second instance: "lamb_1").
    keras_name = CONFIGS["optimizer"][name]["config"]["name"]
    assert mine["config"]["name"] == re.sub(r"_\d+$", "", keras_name)
    again = pn.optimizers.deserialize(mine)
    assert type(again) is type(opt) and _plain(pn.optimizers.serialize(again)) == mine


def test_muon_decides_as_keras(backend):
    opt = pn.optimizers.Muon(exclude_layers=["head"])
    v = lambda path, shape: Variable(backend.asarray(np.zeros(shape)), path.split("/")[-1],  # noqa: E731
                                     backend=backend)
    cases = {"dense/kernel": ((4, 3), False), "dense/bias": ((3,), True),
             "conv/kernel": ((3, 3, 2, 4), True), "embedding/embeddings": ((10, 4), True),
             "head/kernel": ((4, 2), True)}
    for path, (shape, adam) in cases.items():
        var = v(path, shape)
        var.path = path
        assert opt._should_use_adamw(var) is adam, path
    # Newton-Schulz makes the singular values of a 2-D update close to 1 (Keras's quintic
    # coefficients leave them in about [0.7, 1.2]).
    m = np.random.default_rng(0).standard_normal((6, 4))
    o = to_np(backend, opt.zeropower_via_newtonschulz5(backend.asarray(m), 5))
    s = np.linalg.svd(o, compute_uv=False)
    assert 0.6 < s.min() and s.max() < 1.25


def _model():
    pn.utils.set_random_seed(0)
    return pn.Sequential([pn.Input((4,)), pn.layers.Dense(8, activation="relu", name="hidden"),
                          pn.layers.Dense(1, name="out")])


@pytest.mark.parametrize("make", [
    lambda: pn.optimizers.Lamb(learning_rate=0.02),
    lambda: pn.optimizers.Adafactor(learning_rate=0.1),
    lambda: pn.optimizers.Muon(learning_rate=0.02),
    lambda: pn.optimizers.ScheduleFreeAdamW(learning_rate=0.02),
    lambda: pn.optimizers.MultiOptimizer(pn.optimizers.OptimizerMap(
        pn.optimizers.Adam(learning_rate=0.02), {"hidden/.*": pn.optimizers.Lamb(learning_rate=0.02)})),
], ids=["lamb", "adafactor", "muon", "schedule_free_adamw", "multi"])
def test_fit_save_and_resume(backend, tmp_path, make):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 4)).astype("float32")
    y = (x @ np.array([[0.5], [-1.0], [0.25], [0.1]])).astype("float32")
    model = _model()
    model.compile(optimizer=make(), loss="mse")
    hist = model.fit(x, y, epochs=6, batch_size=16, verbose=0, shuffle=False)
    assert hist.history["loss"][-1] < hist.history["loss"][0]
    path = tmp_path / "m.portanet"
    model.save(path)
    loaded = pn.saving.load_model(path)
    assert type(loaded.optimizer) is type(model.optimizer)
    assert loaded.optimizer.iterations == model.optimizer.iterations
    a, b = model.optimizer.get_state()["slots"], loaded.optimizer.get_state()["slots"]
    assert len(a) == len(b) and all(sorted(s) == sorted(t) for s, t in zip(a, b))
    for s, t in zip(a, b):
        for k in s:
            np.testing.assert_array_equal(np.asarray(s[k]), np.asarray(t[k]))
    # One more epoch from the same state gives the same weights.
    model.fit(x, y, epochs=1, batch_size=16, verbose=0, shuffle=False)
    loaded.fit(x, y, epochs=1, batch_size=16, verbose=0, shuffle=False)
    for w1, w2 in zip(model.get_weights(), loaded.get_weights()):
        np.testing.assert_allclose(w1, w2, rtol=1e-6, atol=1e-7)


def test_multi_optimizer_routes_by_path(backend):
    sgd, adam = pn.optimizers.SGD(learning_rate=0.5), pn.optimizers.Adam(learning_rate=0.1)
    omap = pn.optimizers.OptimizerMap(adam, {"dense/kernel": sgd})
    k = Variable(backend.asarray(np.ones((2, 2))), "kernel", backend=backend)
    k.path = "dense/kernel"
    b = Variable(backend.asarray(np.ones((2,))), "bias", backend=backend)
    b.path = "dense/bias"
    assert omap(k) is sgd and omap(b) is adam
    multi = pn.optimizers.MultiOptimizer(omap)
    multi.apply([backend.asarray(np.ones((2, 2))), backend.asarray(np.ones((2,)))], [k, b])
    np.testing.assert_allclose(to_np(backend, k.value), 0.5)              # SGD: 1 - 0.5·1
    np.testing.assert_allclose(to_np(backend, b.value), 0.9, rtol=1e-6)   # Adam's first step: lr
    assert multi.iterations == 1 and sgd.iterations == 1 and adam.iterations == 1
    with pytest.raises(AttributeError, match="individual"):
        multi.learning_rate  # noqa: B018
    with pytest.raises(ValueError, match="already exists"):
        omap["dense/kernel"] = adam
    with pytest.raises(ValueError, match="cannot be a MultiOptimizer"):
        omap["x"] = multi
    with pytest.raises(ValueError, match="multiple optimizers"):
        pn.optimizers.OptimizerMap(adam, {"dense/.*": sgd, ".*/kernel": pn.optimizers.SGD()})(k)


def test_bad_arguments_name_the_argument():
    with pytest.raises(ValueError, match="beta_1"):
        pn.optimizers.Lamb(beta_1=1.5)
    with pytest.raises(ValueError, match="clip_threshold"):
        pn.optimizers.Adafactor(clip_threshold=0)
    with pytest.raises(ValueError, match="ns_steps"):
        pn.optimizers.Muon(ns_steps=0)
    with pytest.raises(ValueError, match="exclude_layers"):
        pn.optimizers.Muon(exclude_layers="dense")
    with pytest.raises(ValueError, match="warmup_steps"):
        pn.optimizers.ScheduleFreeAdamW(warmup_steps=-1)
    with pytest.raises(TypeError, match="default_optimizer"):
        pn.optimizers.OptimizerMap("adam")
