"""glu, sparse_sigmoid, sparsemax and threshold (pn.activations and pn.ops) and the ops
soft_shrink, hard_shrink, tanh_shrink, squareplus, sparse_plus, hard_tanh against Keras
3.15.1's stored values and vector-Jacobian products (tests/keras_reference/
make_objects_reference.py), to 1e-6 in float64 on every backend; gradients also against
float64 central differences; use in a layer."""

import pathlib
import sys

import numpy as np
import pytest

import portanet as pn
from harness import to_np

HERE = pathlib.Path(__file__).parent / "keras_reference"
sys.path.insert(0, str(HERE))
import make_objects_reference as ref  # noqa: E402

STORED = np.load(HERE / "objects.npz")


def _value_and_vjp(backend, module, fn_name, kwargs, x, ct):
    fn = getattr(getattr(pn, module), fn_name)
    xb, ctb = backend.asarray(x, dtype="float64"), backend.asarray(ct, dtype="float64")
    if module == "activations":
        y = fn(xb, **kwargs)
        return to_np(backend, y), to_np(backend, fn.grad(xb, y, ctb, **kwargs))
    with pn.GradientTape() as tape:
        xt = tape.watch(xb)
        y = fn(xt, **kwargs)
        total = pn.ops.sum(pn.ops.multiply(y, ctb))
    return to_np(backend, pn.ops.tape.value_of(y)), to_np(backend, tape.gradient(total, xt))


@pytest.mark.parametrize("name", sorted(ref.ACTIVATION_CASES))
def test_matches_keras(backend, float64, name):
    module, fn_name, kwargs, _ = ref.ACTIVATION_CASES[name]
    x, ct = ref.activation_inputs(name)
    y, g = _value_and_vjp(backend, module, fn_name, kwargs, x, ct)
    np.testing.assert_allclose(y, STORED[f"activation/{name}/value"], rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(g, STORED[f"activation/{name}/grad"], rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("name", sorted(ref.ACTIVATION_CASES))
def test_gradient_matches_finite_differences(backend, float64, name):
    module, fn_name, kwargs, _ = ref.ACTIVATION_CASES[name]
    x, ct = ref.activation_inputs(name)
    _, g = _value_and_vjp(backend, module, fn_name, kwargs, x, ct)
    fn = getattr(getattr(pn, module), fn_name)

    def total(v):
        return float(np.sum(to_np(backend, pn.ops.tape.value_of(fn(backend.asarray(v), **kwargs))) * ct))
    eps = 1e-6
    flat = x.reshape(-1)
    for i in range(0, flat.size, 2):
        hi, lo = flat.copy(), flat.copy()
        hi[i] += eps
        lo[i] -= eps
        fd = (total(hi.reshape(x.shape)) - total(lo.reshape(x.shape))) / (2 * eps)
        np.testing.assert_allclose(g.reshape(-1)[i], fd, rtol=1e-5, atol=1e-7)


def test_by_hand(backend):
    x = backend.asarray(np.array([-1.0, 0.0, 1.0, 1.0]))
    np.testing.assert_allclose(to_np(backend, pn.activations.glu(x)), [-0.7310585786300049, 0.0])
    np.testing.assert_allclose(to_np(backend, pn.ops.glu(x)), [-0.7310585786300049, 0.0])
    np.testing.assert_allclose(to_np(backend, pn.activations.sparse_sigmoid(backend.asarray(
        np.array([-2.0, -0.5, 0.5, 3.0])))), [0.0, 0.25, 0.75, 1.0])
    np.testing.assert_allclose(to_np(backend, pn.activations.threshold(x, 0.5, -3.0)), [-3, -3, 1, 1])
    # Keras 3.15.1's sparsemax: tau = (sum of the cumulative sums over the support - 1)/k,
    # so sparsemax([1, 0.5, 0]) is [0.25, 0, 0] (support k = 2, tau = (1 + 1.5 - 1)/2).
    np.testing.assert_allclose(to_np(backend, pn.activations.sparsemax(backend.asarray(
        np.array([[1.0, 0.5, 0.0]])))), [[0.25, 0.0, 0.0]])
    # With a support of one entry it is the usual sparsemax: [1, 0, 0] for a clear winner.
    np.testing.assert_allclose(to_np(backend, pn.ops.sparsemax(backend.asarray(
        np.array([[3.0, 0.5, 0.0]])))), [[1.0, 0.0, 0.0]])


def test_names_resolve_and_layers_use_them(backend):
    for n in ("glu", "sparse_sigmoid", "sparsemax"):
        assert pn.activations.get(n) is getattr(pn.activations, n)
        assert pn.activations.serialize(getattr(pn.activations, n)) == n
    model = pn.Sequential([pn.Input((4,)), pn.layers.Dense(6, activation="sparse_sigmoid"),
                           pn.layers.Dense(3, activation="sparsemax")])
    model.compile(optimizer=pn.optimizers.SGD(learning_rate=0.1), loss="mse")
    x = np.random.default_rng(0).standard_normal((16, 4)).astype("float32")
    model.fit(x, np.zeros((16, 3), dtype="float32"), epochs=1, verbose=0)
    assert model.predict(x, verbose=0).shape == (16, 3)


def test_glu_odd_axis_is_an_error(backend):
    with pytest.raises(ValueError, match="divisible by 2"):
        pn.activations.glu(backend.asarray(np.zeros((2, 3))))
    with pytest.raises(ValueError, match="divisible by 2"):
        pn.ops.glu(backend.asarray(np.zeros((2, 3))))
