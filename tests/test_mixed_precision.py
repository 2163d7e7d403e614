"""Mixed precision: dtype policies, autocasting layers and LossScaleOptimizer (issue 16).

Keras's numbers are stored in tests/keras_reference/mixed.npz by
tests/keras_reference/make_mixed_reference.py (which also defines the inputs used here).
float16 exists on numpy (and cupy), not on array_api_strict: there the mixed-policy tests
check the error that names the backend, and the LossScaleOptimizer tests run in float32
and float64 on every backend.
"""

import json
import pathlib
import sys

import numpy as np
import pytest

import portanet as pn
from portanet import dtype_policies as dp
from portanet.optimizers import LossScaleOptimizer

sys.path.insert(0, str(pathlib.Path(__file__).parent / "keras_reference"))
import make_mixed_reference as ref  # noqa: E402

KERAS = np.load(pathlib.Path(__file__).parent / "keras_reference" / "mixed.npz")


@pytest.fixture(autouse=True)
def _global_policy():
    """Every test starts and ends with no global policy set (it follows floatx)."""
    dp._GLOBAL_POLICY = None
    yield
    dp._GLOBAL_POLICY = None


def has_float16(backend):
    """True on backends with float16. On the others (array_api_strict), check instead that a
    mixed_float16 layer refuses to build with the error naming the backend."""
    if hasattr(backend.xp, "float16"):
        return True
    layer = pn.layers.Dense(2, dtype="mixed_float16")
    with pytest.raises(ValueError, match=rf"computes in float16, which backend '{backend.name}'"):
        layer(np.ones((2, 3), np.float32))
    return False


# ----------------------------------------------------------------------------- policies
def test_policy_names_and_dtypes():
    for name, compute, variable in (("float32", "float32", "float32"), ("float64", "float64", "float64"),
                                    ("mixed_float16", "float16", "float32"),
                                    ("mixed_bfloat16", "bfloat16", "float32"), ("int64", "int64", "int64")):
        p = pn.DTypePolicy(name)
        assert (p.name, p.compute_dtype, p.variable_dtype, p.quantization_mode) == (name, compute, variable, None)
    assert repr(pn.DTypePolicy("mixed_float16")) == '<DTypePolicy "mixed_float16">'
    assert repr(pn.dtype_policies.FloatDTypePolicy("float32")) == '<DTypePolicy "float32">'
    assert pn.DTypePolicy("float32") == pn.dtype_policies.FloatDTypePolicy("float32")
    assert pn.DTypePolicy("float32") != pn.DTypePolicy("mixed_float16")
    assert pn.DTypePolicy("float32").get_config() == {"name": "float32"}
    assert pn.DTypePolicy.from_config({"name": "mixed_float16"}) == pn.DTypePolicy("mixed_float16")


def test_policy_errors():
    with pytest.raises(ValueError, match="Cannot convert 'mixed_float8'"):
        pn.DTypePolicy("mixed_float8")
    with pytest.raises(TypeError, match="'name' must be a string"):
        pn.DTypePolicy(32)
    with pytest.raises(ValueError, match="Invalid `policy` argument"):
        pn.config.set_dtype_policy(3.5)
    with pytest.raises(ValueError, match="Cannot interpret `dtype` argument"):
        dp.get(object())
    with pytest.raises(ValueError, match=r"dtype='float17'.*expected a dtype name"):
        pn.layers.Dense(2, dtype="float17")


def test_global_policy_follows_floatx_until_set():
    assert pn.config.dtype_policy() == pn.DTypePolicy("float32")
    pn.config.set_floatx("float64")
    assert pn.config.dtype_policy().name == "float64"
    assert pn.layers.Dense(2).dtype == "float64"
    pn.config.set_floatx("float32")
    pn.mixed_precision.set_global_policy("mixed_float16")
    assert pn.mixed_precision.global_policy() is pn.config.dtype_policy()
    assert pn.mixed_precision.dtype_policy().name == "mixed_float16"
    layer = pn.layers.Dense(2)
    assert (layer.dtype_policy.name, layer.dtype, layer.compute_dtype, layer.variable_dtype) == \
        ("mixed_float16", "float32", "float16", "float32")
    # An explicit dtype wins over the global policy (Keras's advice for the last layer).
    assert pn.layers.Dense(2, dtype="float32").compute_dtype == "float32"
    pn.mixed_precision.set_dtype_policy(pn.mixed_precision.Policy("float32"))
    assert pn.layers.Dense(2).compute_dtype == "float32"
    assert pn.mixed_precision.LossScaleOptimizer is LossScaleOptimizer
    assert pn.optimizers.LossScaleOptimizer is LossScaleOptimizer


def test_serialize_matches_keras():
    # The dicts Keras 3.15.1 writes (keras.dtype_policies.serialize).
    assert dp.serialize(pn.DTypePolicy("mixed_float16")) == {
        "module": "keras", "class_name": "DTypePolicy", "config": {"name": "mixed_float16"},
        "registered_name": None}
    assert dp.serialize(dp.QuantizedDTypePolicy("int8", "float32")) == {
        "module": "keras.dtype_policies", "class_name": "QuantizedDTypePolicy",
        "config": {"mode": "int8", "source_name": "float32"}, "registered_name": None}
    assert dp.serialize(dp.QuantizedFloat8DTypePolicy("float8", "mixed_bfloat16")) == {
        "module": "keras.dtype_policies", "class_name": "QuantizedFloat8DTypePolicy",
        "config": {"mode": "float8", "source_name": "mixed_bfloat16", "amax_history_length": 1024},
        "registered_name": None}
    m = dp.DTypePolicyMap()
    m["a/b"] = "float16"
    assert dp.serialize(m) == {
        "module": "keras.dtype_policies", "class_name": "DTypePolicyMap",
        "config": {"default_policy": None, "policy_map": {"a/b": {
            "module": "keras", "class_name": "DTypePolicy", "config": {"name": None},
            "registered_name": None}}}, "registered_name": None}
    for policy in (pn.DTypePolicy("mixed_bfloat16"), dp.QuantizedDTypePolicy("int8", "float32"),
                   dp.Int4DTypePolicy("int4/128", "float32"), dp.GPTQDTypePolicy("gptq/4/64", "float32"),
                   dp.AWQDTypePolicy("awq/4/-1", "mixed_bfloat16")):
        assert dp.deserialize(dp.serialize(policy)) == policy
        assert dp.get(dp.serialize(policy)) == policy
    assert dp.get({"class_name": "DTypePolicy", "config": {"name": "float64"}}) == pn.DTypePolicy("float64")


def test_quantized_policies_parse_as_keras_and_layers_refuse_them():
    p = dp.get("int4/128_from_float32")
    assert type(p) is dp.Int4DTypePolicy and repr(p) == '<Int4DTypePolicy "int4/128_from_float32">'
    assert p.get_config() == {"mode": "int4/128", "source_name": "float32"} and p.block_size == 128
    g = dp.get("gptq/4/64_from_mixed_float16")
    assert (type(g), g.weight_bits, g.group_size, g.compute_dtype) == (dp.GPTQDTypePolicy, 4, 64, "float16")
    assert type(dp.get("float8_from_float32")) is dp.QuantizedFloat8DTypePolicy
    assert dp.get("int8_from_float32").quantization_mode == "int8"
    with pytest.raises(ValueError, match="Invalid quantization mode"):
        dp.QuantizedDTypePolicy("int3", "float32")
    with pytest.raises(ValueError, match="doesn't work well with compute_dtype='float16'"):
        dp.QuantizedDTypePolicy("int8", "mixed_float16")
    with pytest.raises(ValueError, match="AWQ only supports 4-bit"):
        dp.AWQDTypePolicy("awq/8/128", "float32")
    with pytest.raises(ValueError, match="Invalid mode for Int4DTypePolicy"):
        dp.Int4DTypePolicy("int4", "float32")
    with pytest.raises(TypeError, match="amax_history_length"):
        dp.QuantizedFloat8DTypePolicy("float8", "float32", amax_history_length=2.5)
    with pytest.raises(ValueError, match="portanet has no quantized kernels"):
        pn.layers.Dense(2, dtype="int8_from_float32")


def test_dtype_policy_map():
    m = dp.DTypePolicyMap(default_policy="float32")
    m["encoder/layer_0/dense"] = "bfloat16"
    m["encoder/.*"] = "float16"
    m["decoder"] = "bfloat16"
    assert m["encoder/layer_0/dense"].name == "bfloat16"
    assert m["encoder/attention/query"].name == "float16"
    assert m["decoder/attention"].name == "float32"
    assert (m.name, m.compute_dtype, len(m), "decoder" in m) == ("map_float32", "float32", 3, True)
    with pytest.raises(ValueError, match="already exist"):
        m["decoder"] = "float64"
    m["encoder/attention/.*"] = "bfloat16"
    with pytest.raises(ValueError, match="matches multiple dtype policy"):
        m["encoder/attention/query"]
    del m["encoder/attention/.*"]
    back = dp.deserialize(dp.serialize(m))
    assert back["encoder/x"].name == "float16" and back.default_policy.name == "float32"
    # A layer given a map takes the policy of its path (its name).
    layer = pn.layers.Dense(2, dtype=dp.DTypePolicyMap("float32", {"head": pn.DTypePolicy("float64")}),
                            name="head")
    assert layer.dtype == "float64"


# ----------------------------------------------------------------------------- layers
def test_missing_compute_dtype_names_the_backend(backend):
    x = np.ones((2, 3), np.float32)
    layer = pn.layers.Dense(2, dtype="mixed_bfloat16")
    with pytest.raises(ValueError, match=rf"computes in bfloat16, which backend '{backend.name}'"):
        layer(x)
    assert not layer.built and layer.weights == []
    has_float16(backend)


def test_default_policy_keeps_the_plain_path(backend):
    layer = pn.layers.Dense(2)
    assert "run" not in layer.__dict__ and layer._autocast_dtype is None
    mixed = pn.layers.Dense(2, dtype="mixed_float16")
    assert "run" in mixed.__dict__
    mixed.dtype_policy = "float32"  # setting the policy back removes the autocasting run
    assert "run" not in mixed.__dict__ and mixed.compute_dtype == "float32"
    model = pn.Sequential([pn.Input((3,)), pn.layers.Dense(2)])
    model.compile("sgd", "mse")
    assert type(model.optimizer) is pn.optimizers.SGD


def _networks():
    """name: (builder(dtype) -> model, input shape, float16 tolerance on the outputs)."""
    def mlp(dtype):
        return pn.Sequential([pn.Input((6,)), pn.layers.Dense(16, activation="relu", dtype=dtype),
                              pn.layers.BatchNormalization(dtype=dtype),
                              pn.layers.Dense(3, activation="softmax", dtype=dtype)])

    def conv(dtype):
        return pn.Sequential([pn.Input((8, 8, 2)), pn.layers.Conv2D(4, 3, activation="relu", dtype=dtype),
                              pn.layers.MaxPooling2D(dtype=dtype), pn.layers.Flatten(dtype=dtype),
                              pn.layers.Dense(3, activation="softmax", dtype=dtype)])

    def lstm(dtype):
        return pn.Sequential([pn.Input((5, 4)), pn.layers.LSTM(8, dtype=dtype),
                              pn.layers.Dense(3, activation="softmax", dtype=dtype)])
    return {"mlp": (mlp, (6,)), "conv": (conv, (8, 8, 2)), "lstm": (lstm, (5, 4))}


@pytest.mark.parametrize("net", ["mlp", "conv", "lstm"])
def test_mixed_model_matches_float32_and_trains(backend, net):
    if not has_float16(backend):
        return
    build, shape = _networks()[net]
    rng = np.random.default_rng(3)
    x = rng.normal(size=(32,) + shape).astype(np.float32)
    teacher = rng.normal(size=(int(np.prod(shape)), 3))
    y = np.eye(3, dtype=np.float32)[np.argmax(x.reshape(32, -1) @ teacher, axis=1)]
    full = build(None)
    pn.mixed_precision.set_global_policy("mixed_float16")  # the model's policy too (compile reads it)
    mixed = build(None)
    mixed.set_weights(full.get_weights())
    assert all(str(v.dtype) == "float32" for v in mixed.weights)
    for layer in mixed.layers:
        assert (layer.dtype, layer.compute_dtype) == ("float32", "float16")
    y32 = full.predict(x, verbose=0)
    y16 = mixed.predict(x, verbose=0)
    assert y16.dtype == np.float16 and y32.dtype == np.float32
    assert mixed.outputs[0].dtype == "float16"
    # float16 has an 11-bit significand: probabilities agree to a few units of 2**-11.
    np.testing.assert_allclose(y16.astype(np.float32), y32, atol=4e-3, rtol=1e-2)
    # Training: LossScaleOptimizer is put in by compile, weights stay float32, loss falls.
    mixed.compile(pn.optimizers.Adam(0.01), "categorical_crossentropy")
    assert isinstance(mixed.optimizer, LossScaleOptimizer)
    history = mixed.fit(x, y, epochs=10, batch_size=8, verbose=0, shuffle=False)
    losses = history.history["loss"]
    assert losses[-1] < 0.8 * losses[0], losses
    assert all(str(v.dtype) == "float32" for v in mixed.weights)
    assert all(np.isfinite(w).all() for w in mixed.get_weights())
    assert mixed.optimizer.iterations >= 36  # at most a few skipped steps (of 40)


def test_autocast_casts_inputs_weights_and_gradients(backend):
    if not has_float16(backend):
        return
    xp = backend.xp
    layer = pn.layers.Dense(3, dtype="mixed_float16")
    x = backend.asarray(np.linspace(-1, 1, 8, dtype=np.float32).reshape(2, 4))
    layer(x)
    y, back, _, _ = layer.run(x, training=True)
    assert y.dtype == xp.float16 and layer.kernel.value.dtype == xp.float32  # restored after the run
    dx = back(xp.ones((2, 3), dtype=xp.float32))
    assert dx.dtype == xp.float32  # the input's dtype
    assert layer.kernel.grad.dtype == xp.float32 and layer.bias.grad.dtype == xp.float32
    x16 = backend.to_numpy(x).astype(np.float16)
    k16 = layer.kernel.numpy().astype(np.float16)
    np.testing.assert_array_equal(backend.to_numpy(y),
                                  x16 @ k16 + layer.bias.numpy().astype(np.float16))
    np.testing.assert_allclose(layer.kernel.numpy().dtype == np.float32, True)
    # BatchNormalization keeps float32 statistics and outputs the compute dtype.
    bn = pn.layers.BatchNormalization(dtype="mixed_float16")
    z = backend.asarray(np.random.default_rng(0).normal(3, 2, size=(16, 4)).astype(np.float32))
    bn(z)
    out, _, _, _ = bn.run(z, training=True)
    assert out.dtype == xp.float16 and bn.moving_mean.value.dtype == xp.float32
    mean = backend.to_numpy(z).astype(np.float64).mean(0)
    np.testing.assert_allclose(bn.moving_mean.numpy(), 0.01 * mean, rtol=1e-5)


def test_mixed_keras_numbers(backend):
    """The Keras network under mixed_float16: outputs, three steps and the auto-wrapped
    optimizer, within float16 tolerance of Keras's (JAX's float16 arithmetic differs)."""
    if not has_float16(backend):
        return
    pn.mixed_precision.set_global_policy("mixed_float16")
    model = pn.Sequential([pn.Input((4,)), pn.layers.Dense(3, activation="relu"), pn.layers.Dense(1)])
    assert [[la.dtype_policy.name, la.dtype, la.compute_dtype] for la in model.layers] == \
        json.loads(str(KERAS["mixed16_layer_dtypes"]))
    model.set_weights([w.astype(np.float32) for w in ref.model_weights()])
    x, y = ref.model_data()
    x, y = x.astype(np.float32), y.astype(np.float32)
    p = model.predict(x, verbose=0)
    assert p.dtype == np.float16
    np.testing.assert_allclose(p.astype(np.float64), KERAS["mixed16_predict"], atol=2e-3)
    model.compile(pn.optimizers.SGD(0.1), "mse")
    config = model.optimizer.get_config()
    expected = json.loads(str(KERAS["mixed16_optimizer_config"]))
    assert (type(model.optimizer).__name__, config["name"], config["initial_scale"],
            config["dynamic_growth_steps"], config["inner_optimizer"]["class_name"],
            config["inner_optimizer"]["module"]) == \
        (expected["class_name"], expected["name"], expected["initial_scale"],
         expected["dynamic_growth_steps"], expected["inner_class_name"], expected["inner_module"])
    for step in range(3):
        loss = float(model.train_on_batch(x, y))
        np.testing.assert_allclose(loss, KERAS["mixed16_losses"][step], rtol=2e-3)
        got = np.concatenate([np.ravel(w) for w in model.get_weights()])
        np.testing.assert_allclose(got, KERAS["mixed16_weights"][step], atol=2e-3)
    assert model.optimizer.dynamic_scale == KERAS["mixed16_scale"][0]


# ----------------------------------------------------------------------------- LossScaleOptimizer
@pytest.mark.parametrize("inner", ["sgd", "adam"])
def test_loss_scale_apply_matches_keras(backend, inner):
    """initial_scale 8, growth every 2 steps; the third gradient holds an inf: that step is
    skipped (weights, slots and iterations unchanged) and the scale halves."""
    make = {"sgd": lambda: pn.optimizers.SGD(0.1), "adam": lambda: pn.optimizers.Adam(0.01)}[inner]
    opt = LossScaleOptimizer(make(), initial_scale=8.0, dynamic_growth_steps=2)
    w = pn.layers.base.Variable(backend.asarray(ref.apply_weight().astype(np.float32)), "w",
                                backend=backend)
    for step, g in enumerate(ref.apply_grads()):
        before = w.numpy()
        opt.apply([backend.asarray(g.astype(np.float32))], [w])
        np.testing.assert_allclose(w.numpy(), KERAS[f"apply_{inner}_w"][step], rtol=1e-6, atol=1e-6)
        assert opt.dynamic_scale == KERAS[f"apply_{inner}_scale"][step]
        assert opt.step_counter == KERAS[f"apply_{inner}_counter"][step]
        assert opt.iterations == KERAS[f"apply_{inner}_iterations"][step]
        if step == 2:
            np.testing.assert_array_equal(w.numpy(), before)


def test_loss_scale_step_skips_and_grows_in_fit_step(backend):
    """The built-in step with portanet's apply(variables): an inf in the data's gradient
    skips the step and halves the scale; finite steps double it every growth period."""
    model = pn.Sequential([pn.Input((2,)), pn.layers.Dense(1)])
    model.compile(LossScaleOptimizer(pn.optimizers.SGD(0.1), initial_scale=4.0, dynamic_growth_steps=3), "mse")
    x = np.array([[1.0, 2.0], [3.0, -1.0]], np.float32)
    y = np.array([[1.0], [0.0]], np.float32)
    # A kernel near float32's largest value: the output overflows to inf, so do the gradients.
    model.set_weights([np.full((2, 1), 3e38, np.float32), np.zeros(1, np.float32)])
    before = model.get_weights()
    with np.errstate(over="ignore", invalid="ignore"):  # the overflow is the point
        model.train_on_batch(x, y)
    assert model.optimizer.dynamic_scale == 2.0 and model.optimizer.iterations == 0
    for a, b in zip(model.get_weights(), before):
        np.testing.assert_array_equal(a, b)
    model.set_weights([np.ones((2, 1), np.float32), np.zeros(1, np.float32)])
    scales = []
    for _ in range(4):
        model.train_on_batch(x, y)
        scales.append(model.optimizer.dynamic_scale)
    assert scales == [2.0, 2.0, 4.0, 4.0] and model.optimizer.step_counter == 1
    assert model.optimizer.iterations == 4


def test_loss_scale_fit_matches_keras_float64(backend, float64):
    model = pn.Sequential([pn.Input((4,)), pn.layers.Dense(3, activation="relu"), pn.layers.Dense(1)])
    model.set_weights(ref.model_weights())
    model.compile(LossScaleOptimizer(pn.optimizers.SGD(0.125), initial_scale=2.0 ** 15, dynamic_growth_steps=2),
                  "mse")
    plain = pn.Sequential([pn.Input((4,)), pn.layers.Dense(3, activation="relu"), pn.layers.Dense(1)])
    plain.set_weights(ref.model_weights())
    plain.compile(pn.optimizers.SGD(0.125), "mse")
    # In Keras too the scaled steps equal the plain ones (the scale is a power of two).
    np.testing.assert_array_equal(KERAS["fit64_weights"], KERAS["fit64_plain_weights"])
    x, y = ref.model_data()
    for step in range(3):
        loss = float(model.train_on_batch(x, y))
        plain.train_on_batch(x, y)
        # Keras's float64 mean on JAX's CPU is ~2e-8 off the exact one (see the script).
        np.testing.assert_allclose(loss, KERAS["fit64_losses"][step], rtol=1e-7)
        got = np.concatenate([np.ravel(w) for w in model.get_weights()])
        np.testing.assert_allclose(got, KERAS["fit64_weights"][step], rtol=1e-7, atol=1e-9)
        np.testing.assert_array_equal(got, np.concatenate([np.ravel(w) for w in plain.get_weights()]))
        assert model.optimizer.dynamic_scale == KERAS["fit64_scale"][step]


def test_loss_scale_covers_every_term_of_the_objective(backend, float64):
    """Weight and activity regularizers and a call() layer's add_loss: a scaled step (a
    power-of-two scale, unscaled exactly) updates the weights as the unscaled one."""
    class AddsLoss(pn.layers.Layer):
        def call(self, x):
            self.add_loss(0.1 * pn.ops.sum(x * x))
            return x

    def build():
        pn.utils.set_random_seed(5)
        return pn.Sequential([pn.Input((3,)),
                              pn.layers.Dense(4, activation="relu", kernel_regularizer="l2",
                                              activity_regularizer="l1"),
                              AddsLoss(), pn.layers.Dense(1)])
    rng = np.random.default_rng(6)
    x, y = rng.normal(size=(8, 3)), rng.normal(size=(8, 1))
    plain, scaled = build(), build()
    scaled.set_weights(plain.get_weights())
    plain.compile(pn.optimizers.SGD(0.05), "mse")
    scaled.compile(LossScaleOptimizer(pn.optimizers.SGD(0.05), initial_scale=2.0 ** 10), "mse")
    for _ in range(3):
        a = float(plain.train_on_batch(x, y))
        b = float(scaled.train_on_batch(x, y))
        assert a == pytest.approx(b, rel=1e-12)
    for u, v in zip(plain.get_weights(), scaled.get_weights()):
        np.testing.assert_allclose(u, v, rtol=1e-12, atol=1e-14)
    # Keras's loss_scale_factor goes through the same hook.
    factored = build()
    factored.set_weights(plain.get_weights())
    ref_model = build()
    ref_model.set_weights(plain.get_weights())
    factored.compile(pn.optimizers.SGD(0.05, loss_scale_factor=8.0), "mse")
    ref_model.compile(pn.optimizers.SGD(0.05), "mse")
    factored.train_on_batch(x, y)
    ref_model.train_on_batch(x, y)
    for u, v in zip(ref_model.get_weights(), factored.get_weights()):
        np.testing.assert_allclose(u, v, rtol=1e-12, atol=1e-14)


def test_loss_scale_config_state_and_errors(backend, tmp_path):
    opt = LossScaleOptimizer(pn.optimizers.Adam(0.002), dynamic_growth_steps=10)
    config = opt.get_config()
    assert config["name"] == "loss_scale_optimizer" and config["initial_scale"] == 32768.0
    assert config["inner_optimizer"]["class_name"] == "Adam"
    # As Keras 3.15.1: float() of the float32 rate variable.
    assert config["inner_optimizer"]["config"]["learning_rate"] == 0.0020000000949949026
    back = pn.optimizers.deserialize(pn.optimizers.serialize(opt))
    assert isinstance(back, LossScaleOptimizer) and isinstance(back.inner_optimizer, pn.optimizers.Adam)
    assert back.dynamic_growth_steps == 10 and back.learning_rate == pytest.approx(0.002)
    assert opt.scale_loss(2.0) == 65536.0
    opt.learning_rate = 0.01
    assert opt.inner_optimizer.learning_rate == 0.01
    with pytest.raises(ValueError, match="does not support `clipnorm`"):
        LossScaleOptimizer(pn.optimizers.SGD(), clipnorm=1.0)
    with pytest.raises(ValueError, match="no longer supports `dynamic=False`"):
        LossScaleOptimizer(pn.optimizers.SGD(), dynamic=False)
    with pytest.raises(TypeError, match="inner_optimizer="):
        LossScaleOptimizer("adam")
    with pytest.raises(ValueError, match="initial_scale="):
        LossScaleOptimizer(pn.optimizers.SGD(), initial_scale=0)
    # The state (slots, iterations, scale, counter) is saved with the model and restored.
    model = pn.Sequential([pn.Input((2,)), pn.layers.Dense(1)])
    model.compile(LossScaleOptimizer(pn.optimizers.Adam(0.01), initial_scale=16.0, dynamic_growth_steps=2), "mse")
    x = np.array([[1.0, 2.0], [0.5, -1.0]], np.float32)
    y = np.array([[1.0], [0.0]], np.float32)
    for _ in range(3):
        model.train_on_batch(x, y)
    path = tmp_path / "m.portanet"
    model.save(path)
    loaded = pn.load_model(path)
    assert isinstance(loaded.optimizer, LossScaleOptimizer)
    assert (loaded.optimizer.dynamic_scale, loaded.optimizer.step_counter, loaded.optimizer.iterations) == \
        (32.0, 1, 3)
    model.train_on_batch(x, y)
    loaded.train_on_batch(x, y)
    for u, v in zip(model.get_weights(), loaded.get_weights()):
        np.testing.assert_allclose(u, v, rtol=1e-6)


def test_layer_dtype_from_keras_config_and_autocast_off(backend):
    keras_dtype = {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "mixed_float16"},
                   "registered_name": None}
    layer = pn.layers.Dense(2, dtype=keras_dtype)
    assert layer.dtype_policy == pn.DTypePolicy("mixed_float16") and layer.input_dtype == "float16"
    assert pn.layers.Dense(2, dtype=pn.DTypePolicy("float64")).dtype == "float64"
    if not has_float16(backend):
        return
    # autocast=False (Keras's argument): inputs and weights keep their dtypes.
    plain = pn.layers.Dense(2, dtype="mixed_float16", autocast=False)
    x = np.linspace(-1, 1, 6, dtype=np.float32).reshape(2, 3)
    y = plain(x)
    assert y.dtype == backend.xp.float32
    np.testing.assert_allclose(backend.to_numpy(y), x @ plain.kernel.numpy() + plain.bias.numpy(), rtol=1e-6)
