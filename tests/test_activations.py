import functools
import math

import numpy as np
import pytest

import portanet as pn
from harness import run_layer_test, to_np

A = pn.activations
_erf = np.vectorize(math.erf)
SELU_ALPHA, SELU_SCALE = 1.67326324235437728481704299167171, 1.05070098735548049341933498529460



def _central_differences(ref, x, r, eps=1e-6):
    """d/dx of sum(ref(x)·r) by float64 central differences, element by element."""
    num = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        a, b = x.copy(), x.copy()
        a[idx] += eps
        b[idx] -= eps
        num[idx] = (np.sum(ref(a) * r) - np.sum(ref(b) * r)) / (2 * eps)
    return num

def _sig(x):
    return 1 / (1 + np.exp(-x))


def _softplus(x):
    return np.log1p(np.exp(x))


def _keras_relu(x, negative_slope=0.0, max_value=None, threshold=0.0):
    pos = np.where(x > threshold, x, 0.0)
    if max_value is not None:
        pos = np.clip(pos, 0.0, max_value)
    return pos + np.where(x > threshold, 0.0, negative_slope * (x - threshold))


# (name or callable, kwargs, numpy reference)
CASES = [
    ("relu", {}, lambda x: np.maximum(x, 0)),
    ("relu", {"negative_slope": 0.1}, lambda x: np.where(x > 0, x, 0.1 * x)),
    ("relu", {"max_value": 1.0}, lambda x: np.clip(x, 0, 1.0)),
    ("relu", {"threshold": 0.5}, lambda x: np.where(x > 0.5, x, 0.0)),
    ("relu", {"negative_slope": 0.2, "max_value": 1.5, "threshold": -0.5},
     lambda x: _keras_relu(x, 0.2, 1.5, -0.5)),
    ("relu6", {}, lambda x: np.clip(x, 0, 6)),
    ("leaky_relu", {}, lambda x: np.where(x >= 0, x, 0.2 * x)),
    ("leaky_relu", {"negative_slope": 0.05}, lambda x: np.where(x >= 0, x, 0.05 * x)),
    ("elu", {}, lambda x: np.where(x > 0, x, np.exp(x) - 1)),
    ("elu", {"alpha": 0.5}, lambda x: np.where(x > 0, x, 0.5 * (np.exp(x) - 1))),
    ("selu", {}, lambda x: SELU_SCALE * np.where(x > 0, x, SELU_ALPHA * (np.exp(x) - 1))),
    ("celu", {"alpha": 2.0}, lambda x: np.maximum(x, 0) + 2.0 * (np.exp(np.minimum(x, 0) / 2.0) - 1)),
    # keras.activations.gelu is exact by default (keras.ops.gelu is approximate by default).
    ("gelu", {}, lambda x: 0.5 * x * (1 + _erf(x / math.sqrt(2)))),
    ("gelu", {"approximate": True}, lambda x: 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))),
    ("silu", {}, lambda x: x * _sig(x)),
    ("swish", {}, lambda x: x * _sig(x)),
    ("mish", {}, lambda x: x * np.tanh(_softplus(x))),
    ("hard_sigmoid", {}, lambda x: np.clip(x + 3, 0, 6) / 6),
    ("hard_silu", {}, lambda x: x * np.clip(x + 3, 0, 6) / 6),
    ("hard_swish", {}, lambda x: x * np.clip(x + 3, 0, 6) / 6),
    ("hard_tanh", {}, lambda x: np.clip(x, -1, 1)),
    ("softsign", {}, lambda x: x / (np.abs(x) + 1)),
    ("softplus", {}, _softplus),
    ("sigmoid", {}, _sig),
    ("log_sigmoid", {}, lambda x: np.log(_sig(x))),
    ("tanh", {}, np.tanh),
    ("tanh_shrink", {}, lambda x: x - np.tanh(x)),
    ("squareplus", {"b": 2}, lambda x: (x + np.sqrt(x * x + 2)) / 2),
    ("sparse_plus", {}, lambda x: np.where(x <= -1, 0, np.where(x < 1, (x + 1) ** 2 / 4, x))),
    ("soft_shrink", {"threshold": 0.3}, lambda x: np.where(x > 0.3, x - 0.3, np.where(x < -0.3, x + 0.3, 0))),
    ("hard_shrink", {}, lambda x: np.where(np.abs(x) > 0.5, x, 0)),
    ("exponential", {}, np.exp),
    ("linear", {}, lambda x: x),
    ("softmax", {}, lambda x: np.exp(x) / np.exp(x).sum(-1, keepdims=True)),
    ("softmax", {"axis": 0}, lambda x: np.exp(x) / np.exp(x).sum(0, keepdims=True)),
    ("log_softmax", {}, lambda x: x - np.log(np.exp(x).sum(-1, keepdims=True))),
]


def _x(seed=0):
    # Values spread over the interesting ranges (beyond ±3 and ±6 too), away from the kinks.
    rng = np.random.default_rng(seed)
    x = rng.uniform(-7.5, 7.5, (6, 5))
    return x


@pytest.mark.parametrize("name,kwargs,ref", CASES, ids=[f"{c[0]}{c[1]}" for c in CASES])
def test_activation_values_and_gradients(backend, name, kwargs, ref):
    fn = A.get(name)
    x = _x()
    y = to_np(backend, fn(backend.asarray(x), **kwargs))
    np.testing.assert_allclose(y, ref(x), rtol=1e-12, atol=1e-14)
    # Analytic gradient of sum(f(x)·r) vs float64 central differences.
    r = np.random.default_rng(1).standard_normal(x.shape)
    xb = backend.asarray(x)
    yb = fn(xb, **kwargs)
    dx = to_np(backend, fn.grad(xb, yb, backend.asarray(r), **kwargs))
    num = _central_differences(ref, x, r)
    np.testing.assert_allclose(dx, num, rtol=1e-6, atol=1e-7)
    # float32 in, float32 out.
    y32 = fn(backend.asarray(x.astype("float32")), **kwargs)
    assert y32.dtype == backend.xp.float32


@pytest.mark.parametrize("name,kwargs,ref", CASES, ids=[f"{c[0]}{c[1]}" for c in CASES])
def test_activation_on_a_traced_tensor_is_differentiable(backend, name, kwargs, ref):
    # Keras code calls keras.activations.relu(x) on the tensors of a layer's call() or a
    # GradientTape block (the subclassing guide's MLPBlock): the value is the activation's
    # and the gradient reaches the input (float64 central differences of the reference).
    fn = A.get(name)
    x = _x(2)
    r = np.random.default_rng(3).standard_normal(x.shape)
    with pn.GradientTape() as tape:
        xt = tape.watch(backend.asarray(x))
        y = fn(xt, **kwargs)
        total = pn.ops.sum(pn.ops.multiply(y, backend.asarray(r)))
    np.testing.assert_allclose(to_np(backend, pn.ops.tape.value_of(y)), ref(x), rtol=1e-12, atol=1e-14)
    g = to_np(backend, tape.gradient(total, xt))
    num = _central_differences(ref, x, r)
    np.testing.assert_allclose(g, num, rtol=1e-6, atol=1e-7)


def test_activation_in_a_call_layer_trains_like_the_dense_activation(backend, float64):
    class ReluDense(pn.layers.Layer):
        def build(self, input_shape):
            self.w = self.add_weight(shape=(input_shape[-1], 3), initializer="ones")

        def call(self, inputs):
            return pn.activations.relu(pn.ops.matmul(inputs, self.w))

    x = backend.asarray(np.array([[1.0, -2.0], [0.5, 1.0]]))
    layer = ReluDense()
    with pn.GradientTape() as tape:
        loss = pn.ops.sum(layer(x))
    (g,) = tape.gradient(loss, layer.trainable_weights)
    # x @ ones = [-1, 1.5] per column: only the second row passes relu, so dL/dw = x[1].
    np.testing.assert_allclose(to_np(backend, g), [[0.5, 0.5, 0.5], [1.0, 1.0, 1.0]])


def test_erf_precision(backend):
    x = np.linspace(-7.0, 7.0, 20001)
    ref = _erf(x)
    got = to_np(backend, A.erf(backend.asarray(x)))
    assert np.max(np.abs(got - ref)) <= 3e-16
    x32 = x.astype("float32")
    got32 = to_np(backend, A.erf(backend.asarray(x32)))
    assert got32.dtype == np.float32
    assert np.max(np.abs(got32.astype(np.float64) - _erf(x32.astype(np.float64)))) <= 1.2e-7
    # Odd, bounded, exact at 0 and saturated far out.
    np.testing.assert_array_equal(to_np(backend, A.erf(backend.asarray(np.array([0.0, 30.0, -30.0])))),
                                  [0.0, 1.0, -1.0])


def test_hand_values(backend):
    a = backend.asarray
    np.testing.assert_allclose(to_np(backend, A.hard_sigmoid(a(np.array([-4.0, 0.0, 1.5, 3.0])))),
                               [0.0, 0.5, 0.75, 1.0])
    np.testing.assert_allclose(to_np(backend, A.relu6(a(np.array([-1.0, 3.0, 7.0])))), [0.0, 3.0, 6.0])
    np.testing.assert_allclose(to_np(backend, A.leaky_relu(a(np.array([-1.0, 2.0])))), [-0.2, 2.0])
    np.testing.assert_allclose(to_np(backend, A.gelu(a(np.array([1.0])), approximate=False)),
                               [0.8413447460685429], rtol=1e-15)
    np.testing.assert_allclose(to_np(backend, A.selu(a(np.array([1.0, -1.0])))),
                               [1.0507009873554805, -1.1113307378125625], rtol=1e-15)
    np.testing.assert_allclose(to_np(backend, A.softsign(a(np.array([3.0])))), [0.75])
    # No overflow at extreme inputs.
    big = a(np.array([-1000.0, 1000.0]))
    for fn in (A.sigmoid, A.softplus, A.elu, A.selu, A.silu, A.mish, A.log_sigmoid, A.gelu):
        assert np.all(np.isfinite(to_np(backend, fn(big)))), fn.__name__


def test_get_serialize_deserialize():
    for name in ["relu", "relu6", "leaky_relu", "elu", "selu", "gelu", "silu", "mish", "hard_sigmoid",
                 "softsign", "softplus", "sigmoid", "tanh", "softmax", "log_softmax", "exponential", "linear",
                 "hard_silu", "celu", "log_sigmoid"]:
        fn = A.get(name)
        assert A.get(A.serialize(fn)) is fn
    assert A.get("swish") is A.silu and A.swish is A.silu
    assert A.get("hard_swish") is A.hard_silu
    assert A.get(None) is A.linear
    bound = functools.partial(A.relu, max_value=6.0)
    config = A.serialize(bound)
    assert config == {"class_name": "function", "config": {"name": "relu", "max_value": 6.0}}
    again = A.get(config)
    assert again.func is A.relu and again.keywords == {"max_value": 6.0}
    with pytest.raises(ValueError, match="unknown activation name 'gelo'.*gelu"):
        A.get("gelo")
    with pytest.raises(TypeError, match="activation=3"):
        A.get(3)


def test_custom_activation_and_apply(backend):
    def cube(x):
        return x * x * x
    A.register(cube, grad=lambda x, y, dy: 3 * x * x * dy, name="cube_test")
    y, back = A.apply(A.get("cube_test"), backend.asarray(np.array([2.0])))
    np.testing.assert_allclose(to_np(backend, y), [8.0])
    np.testing.assert_allclose(to_np(backend, back(backend.asarray(np.array([1.0])))), [12.0])
    # Without a registered gradient (Keras allows any function of ops) the tape
    # differentiates it: d(x**3)/dx = 3x^2, and a constant function has gradient 0.
    y, back = A.apply(lambda x: x ** 3, backend.asarray(np.array([2.0, -1.0])))
    np.testing.assert_allclose(to_np(backend, y), [8.0, -1.0])
    np.testing.assert_allclose(to_np(backend, back(backend.asarray(np.array([1.0, 2.0])))),
                               [12.0, 6.0])
    y, back = A.apply(lambda x: backend.asarray(np.array([5.0])), backend.asarray(np.array([1.0])))
    np.testing.assert_allclose(to_np(backend, back(backend.asarray(np.array([1.0])))), [0.0])


@pytest.mark.parametrize("activation", ["relu6", "elu", "selu", "gelu", "silu", "mish", "hard_sigmoid",
                                        "softsign", "leaky_relu", "log_softmax"])
def test_dense_with_new_activations(backend, activation):
    run_layer_test(lambda: pn.layers.Dense(4, activation=activation), (5, 3), backend,
                   expected_output_shape=(5, 4))


# ----------------------------------------------------------------- layers
def test_relu_layer(backend):
    x = np.array([[-2.0, -0.5, 0.25, 0.75, 3.0, 8.0]])
    cases = [({}, [0, 0, 0.25, 0.75, 3, 8]),
             ({"max_value": 6.0}, [0, 0, 0.25, 0.75, 3, 6]),
             ({"negative_slope": 0.1}, [-0.2, -0.05, 0.25, 0.75, 3, 8]),
             ({"threshold": 0.5}, [0, 0, 0, 0.75, 3, 8]),
             ({"negative_slope": 0.5, "threshold": 1.0, "max_value": 4.0}, [-1.5, -0.75, -0.375, -0.125, 3, 4])]
    for kwargs, expected in cases:
        y = to_np(backend, pn.layers.ReLU(**kwargs)(x.astype("float32")))
        np.testing.assert_allclose(y[0], expected, rtol=1e-6)
        run_layer_test(lambda: pn.layers.ReLU(**kwargs), (4, 5), backend, expected_output_shape=(4, 5),
                       input_data=np.random.default_rng(2).uniform(-6, 6, (4, 5)))


def test_leaky_relu_elu_softmax_layers(backend):
    x = np.array([[-2.0, 0.0, 3.0]], "float32")
    np.testing.assert_allclose(to_np(backend, pn.layers.LeakyReLU()(x))[0], [-0.6, 0.0, 3.0], rtol=1e-6)
    np.testing.assert_allclose(to_np(backend, pn.layers.LeakyReLU(alpha=0.1)(x))[0], [-0.2, 0.0, 3.0], rtol=1e-6)
    np.testing.assert_allclose(to_np(backend, pn.layers.ELU(alpha=2.0)(x))[0],
                               [2 * (math.exp(-2) - 1), 0.0, 3.0], rtol=1e-6)
    run_layer_test(lambda: pn.layers.LeakyReLU(negative_slope=0.2), (3, 4), backend)
    run_layer_test(lambda: pn.layers.ELU(alpha=0.7), (3, 4), backend)
    run_layer_test(lambda: pn.layers.Softmax(), (3, 4), backend)
    run_layer_test(lambda: pn.layers.Softmax(axis=1), (2, 3, 4), backend, expected_output_shape=(2, 3, 4))
    run_layer_test(lambda: pn.layers.Softmax(axis=(1, 2)), (2, 3, 4), backend)
    y = to_np(backend, pn.layers.Softmax(axis=(1, 2))(np.zeros((2, 3, 4), "float32")))
    np.testing.assert_allclose(y, np.full((2, 3, 4), 1 / 12), rtol=1e-6)


def test_softmax_mask(backend):
    layer = pn.layers.Softmax()
    x = backend.asarray(np.array([[1.0, 2.0, 3.0]], "float32"))
    mask = backend.asarray(np.array([[True, False, True]]))
    layer._maybe_build((1, 3))
    y, _, out_mask, _ = layer.run(x, mask=mask)
    e = np.exp([1.0, 3.0])
    np.testing.assert_allclose(to_np(backend, y)[0], [e[0] / e.sum(), 0.0, e[1] / e.sum()], rtol=1e-6, atol=1e-30)
    assert out_mask is mask
    # A per-timestep mask (rank one lower) leaves the values as they are.
    x3 = backend.asarray(np.zeros((1, 2, 4), "float32"))
    y3, _, _, _ = layer.run(x3, mask=backend.asarray(np.array([[True, False]])))
    np.testing.assert_allclose(to_np(backend, y3), np.full((1, 2, 4), 0.25))


def test_prelu_layer(backend):
    layer = pn.layers.PReLU()
    x = np.array([[-2.0, 1.0], [3.0, -4.0]], "float32")
    np.testing.assert_allclose(to_np(backend, layer(x)), [[0.0, 1.0], [3.0, 0.0]])
    assert layer.alpha.shape == (2,)
    layer.set_weights([np.array([0.5, 0.25], "float32")])
    np.testing.assert_allclose(to_np(backend, layer(x)), [[-1.0, 1.0], [3.0, -1.0]])
    # Random slopes so the gradient check sees both branches; shared axes give one slope per channel.
    init = pn.initializers.RandomUniform(0.1, 0.5, seed=3)
    run_layer_test(lambda: pn.layers.PReLU(alpha_initializer=init), (3, 4), backend, expected_num_weights=1)
    built = run_layer_test(lambda: pn.layers.PReLU(alpha_initializer=init, shared_axes=[1, 2]), (2, 3, 4, 5),
                           backend, expected_num_weights=1)
    assert built.alpha.shape == (1, 1, 5)
    built = run_layer_test(lambda: pn.layers.PReLU(alpha_initializer=init, shared_axes=1,
                                                   alpha_regularizer="l2", alpha_constraint="non_neg"), (2, 3, 4), backend)
    assert built.alpha.shape == (1, 4)


def test_activation_layers_resolve_and_bad_arguments():
    for name in ["ReLU", "LeakyReLU", "PReLU", "ELU", "Softmax"]:
        assert pn.layers.get(name) is not None
        assert name in pn.layers.activation.__all__
    with pytest.raises(ValueError, match="max_value=-1"):
        pn.layers.ReLU(max_value=-1)
    with pytest.raises(ValueError, match="negative_slope=-0.1"):
        pn.layers.ReLU(negative_slope=-0.1)
    with pytest.raises(ValueError, match="threshold=-1"):
        pn.layers.ReLU(threshold=-1)
    with pytest.raises(ValueError, match="negative_slope=-1"):
        pn.layers.LeakyReLU(negative_slope=-1)
    with pytest.raises(ValueError, match="shared_axes"):
        pn.layers.PReLU(shared_axes=[0])
    with pytest.raises(TypeError, match="alpha='big'"):
        pn.layers.ELU(alpha="big")
    with pytest.raises(TypeError, match="axis=1.5"):
        pn.layers.Softmax(axis=1.5)
    layer = pn.layers.PReLU(shared_axes=[3])
    with pytest.raises(ValueError, match="shared axis 3"):
        layer.build((None, 4, 5))


def test_activation_layers_in_a_trained_model(backend):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 4)).astype("float32")
    y = (np.abs(x).sum(1, keepdims=True) > 3).astype("float32")
    model = pn.Sequential([pn.Input((4,)), pn.layers.Dense(8), pn.layers.PReLU(),
                           pn.layers.Dense(8), pn.layers.LeakyReLU(), pn.layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer=pn.optimizers.SGD(learning_rate=0.1), loss="binary_crossentropy")
    h = model.fit(x, y, epochs=10, batch_size=16, verbose=0)
    assert h.history["loss"][-1] < h.history["loss"][0]
    again = pn.Sequential.from_config(model.get_config())
    again.set_weights(model.get_weights())
    np.testing.assert_allclose(again.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6)


def test_sigmoid_keeps_relative_accuracy_in_the_tails(backend):
    """Tiny outputs stay accurate in relative terms (not just absolutely), in both dtypes,
    and far-out inputs neither overflow nor warn."""
    x = np.array([-700.0, -100.0, -40.0, -20.0, -5.0, 0.0, 5.0, 20.0, 40.0])
    ref = np.array([1.0 / (1.0 + math.exp(-v)) for v in x])
    got = to_np(backend, A.sigmoid(backend.asarray(x)))
    np.testing.assert_allclose(got, ref, rtol=1e-14, atol=0)
    x32 = np.array([-80.0, -40.0, -20.0, -5.0, 0.0, 5.0, 20.0], "float32")
    ref32 = np.array([1.0 / (1.0 + math.exp(-float(v))) for v in x32])
    got32 = to_np(backend, A.sigmoid(backend.asarray(x32)))
    assert got32.dtype == np.float32
    np.testing.assert_allclose(got32, ref32, rtol=1e-6, atol=0)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        far = to_np(backend, A.sigmoid(backend.asarray(np.array([-1e4, 1e4], "float32"))))
    np.testing.assert_array_equal(far > 0, [True, True])
    assert far[1] == 1.0 and far[0] < 2e-38


def test_activations_called_on_traced_tensors_are_differentiated(backend):
    # Keras's activations are ops: a call() layer may apply keras.activations.get("softmax")
    # to its traced output (the intro-for-engineers guide's MyDense). Gradients by hand.
    x = np.array([[0.5, -1.0, 2.0]])
    w = np.array([[1.0, 2.0, 3.0]])
    with pn.GradientTape() as tape:
        t = tape.watch(backend.from_numpy(x))
        s = A.get("softmax")(t)
        loss = pn.ops.sum(s * backend.from_numpy(w))
    p = np.exp(x) / np.exp(x).sum()
    np.testing.assert_allclose(to_np(backend, s.value if hasattr(s, "value") else s), p,
                               rtol=1e-6)
    # d/dx sum(w * softmax(x)) = p * (w - sum(w * p))
    np.testing.assert_allclose(to_np(backend, tape.gradient(loss, t)),
                               p * (w - (w * p).sum()), rtol=1e-6)
    with pn.GradientTape() as tape:
        t = tape.watch(backend.from_numpy(x))
        loss = pn.ops.sum(A.relu(t, negative_slope=0.1))
    np.testing.assert_allclose(to_np(backend, tape.gradient(loss, t)), [[1.0, 0.1, 1.0]])
