import numpy as np
import pytest

import portanet as pn
from harness import run_layer_test, to_np


def _run(layer, backend, xs):
    return to_np(backend, layer([np.asarray(x, "float32") for x in xs]))


@pytest.mark.parametrize("cls,shapes,expected", [
    ("Add", [(3, 4), (3, 4), (3, 4)], (3, 4)),
    ("Add", [(2, 3, 4), (2, 4)], (2, 3, 4)),          # lower rank expanded at axis 1
    ("Add", [(2, 3, 4), (2, 1, 4)], (2, 3, 4)),       # broadcast over a size-1 axis
    ("Subtract", [(3, 4), (3, 4)], (3, 4)),
    ("Subtract", [(2, 3, 1), (2, 3, 5)], (2, 3, 5)),
    ("Multiply", [(3, 4), (3, 4), (3, 4)], (3, 4)),
    ("Multiply", [(2, 3, 4), (2, 4)], (2, 3, 4)),
    ("Average", [(3, 4), (3, 4)], (3, 4)),
    ("Average", [(2, 1, 4), (2, 3, 4), (2, 3, 1)], (2, 3, 4)),
    ("Maximum", [(3, 4), (3, 4), (3, 4)], (3, 4)),
    ("Minimum", [(3, 4), (3, 4)], (3, 4)),
    ("Maximum", [(2, 3, 4), (2, 1, 4)], (2, 3, 4)),
])
def test_elementwise_harness(backend, cls, shapes, expected):
    run_layer_test(lambda: getattr(pn.layers, cls)(), list(shapes), backend,
                   expected_output_shape=expected, expected_num_weights=0)


@pytest.mark.parametrize("axis,shapes,expected", [
    (-1, [(2, 3), (2, 5)], (2, 8)),
    (1, [(2, 3, 4), (2, 1, 4), (2, 2, 4)], (2, 6, 4)),
    (-2, [(2, 3, 4), (2, 2, 4)], (2, 5, 4)),
    (2, [(2, 3, 4), (2, 3, 1)], (2, 3, 5)),
])
def test_concatenate_harness(backend, axis, shapes, expected):
    run_layer_test(lambda: pn.layers.Concatenate(axis=axis), list(shapes), backend,
                   expected_output_shape=expected, expected_num_weights=0)


@pytest.mark.parametrize("axes,shapes,expected", [
    (1, [(3, 4), (3, 4)], (3, 1)),
    (-1, [(3, 4), (3, 4)], (3, 1)),
    ((2, 1), [(2, 3, 4), (2, 4, 5)], (2, 3, 5)),
    (2, [(2, 3, 4), (2, 5, 4)], (2, 3, 5)),
    ((1, 1), [(2, 3, 4), (2, 3, 5)], (2, 4, 5)),
    ((1, 2), [(2, 4), (2, 3, 4)], (2, 3)),
])
@pytest.mark.parametrize("normalize", [False, True])
def test_dot_harness(backend, axes, shapes, expected, normalize):
    run_layer_test(lambda: pn.layers.Dot(axes=axes, normalize=normalize), list(shapes), backend,
                   expected_output_shape=expected, expected_num_weights=0)


def test_known_values(backend):
    a = np.array([[1., -2., 3.], [0.5, 4., -1.]])
    b = np.array([[2., 2., -3.], [1.5, -4., 0.]])
    c = np.array([[0., 5., 1.], [1., 1., 1.]])
    np.testing.assert_allclose(_run(pn.layers.Add(), backend, [a, b, c]), a + b + c)
    np.testing.assert_allclose(_run(pn.layers.Subtract(), backend, [a, b]), a - b)
    np.testing.assert_allclose(_run(pn.layers.Multiply(), backend, [a, b, c]), a * b * c)
    np.testing.assert_allclose(_run(pn.layers.Average(), backend, [a, b, c]), (a + b + c) / 3, rtol=1e-6)
    np.testing.assert_allclose(_run(pn.layers.Maximum(), backend, [a, b, c]), np.maximum(np.maximum(a, b), c))
    np.testing.assert_allclose(_run(pn.layers.Minimum(), backend, [a, b, c]), np.minimum(np.minimum(a, b), c))
    np.testing.assert_allclose(_run(pn.layers.Concatenate(), backend, [a, b]), np.concatenate([a, b], -1))
    # Dot along axis 1: per-sample inner products; normalize: cosine similarity.
    np.testing.assert_allclose(_run(pn.layers.Dot(axes=1), backend, [a, b]), [[2 - 4 - 9], [0.75 - 16]])
    cos = np.sum(a * b, 1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
    np.testing.assert_allclose(_run(pn.layers.Dot(axes=1, normalize=True), backend, [a, b])[:, 0], cos, rtol=1e-6)
    # Rank-2 with rank-3: expanded at axis 1, as Keras.
    x3 = np.arange(12, dtype="float32").reshape(1, 3, 4)
    x2 = np.array([[1., 2., 3., 4.]])
    np.testing.assert_allclose(_run(pn.layers.Add(), backend, [x3, x2]), x3 + x2[:, None, :])


def test_dot_matches_einsum(backend):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 4)).astype("float32")
    y = rng.standard_normal((2, 5, 4)).astype("float32")
    np.testing.assert_allclose(_run(pn.layers.Dot(axes=(2, 2)), backend, [x, y]),
                               np.einsum("bik,bjk->bij", x, y), rtol=1e-5, atol=1e-6)
    z = rng.standard_normal((2, 3, 6)).astype("float32")
    np.testing.assert_allclose(_run(pn.layers.Dot(axes=1), backend, [x, z]),
                               np.einsum("bki,bkj->bij", x, z), rtol=1e-5, atol=1e-6)


def test_maximum_gradient_goes_to_the_largest_and_first_on_ties(backend):
    layer = pn.layers.Maximum()
    a = backend.asarray(np.array([[1., 5., 2.]], "float32"))
    b = backend.asarray(np.array([[3., 5., 0.]], "float32"))
    layer._maybe_build([(1, 3), (1, 3)])
    _, back, _, _ = layer.run([a, b])
    da, db = back(backend.asarray(np.array([[10., 20., 30.]], "float32")))
    np.testing.assert_array_equal(to_np(backend, da), [[0., 20., 30.]])
    np.testing.assert_array_equal(to_np(backend, db), [[10., 0., 0.]])


def test_broadcast_gradient_is_summed(backend):
    layer = pn.layers.Multiply()
    a = backend.asarray(np.ones((2, 3, 4), "float32"))
    b = backend.asarray(np.full((2, 4), 2.0, "float32"))
    layer._maybe_build([(2, 3, 4), (2, 4)])
    _, back, _, _ = layer.run([a, b])
    da, db = back(backend.asarray(np.ones((2, 3, 4), "float32")))
    np.testing.assert_allclose(to_np(backend, da), np.full((2, 3, 4), 2.0))
    np.testing.assert_allclose(to_np(backend, db), np.full((2, 4), 3.0))  # summed over the 3 rows


def test_functional_forms_and_symbolic_shapes():
    a, b = pn.Input((3,)), pn.Input((3,))
    assert pn.layers.add([a, b]).shape == (None, 3)
    assert pn.layers.subtract([a, b]).shape == (None, 3)
    assert pn.layers.multiply([a, b]).shape == (None, 3)
    assert pn.layers.average([a, b]).shape == (None, 3)
    assert pn.layers.maximum([a, b]).shape == (None, 3)
    assert pn.layers.minimum([a, b]).shape == (None, 3)
    assert pn.layers.concatenate([a, b]).shape == (None, 6)
    assert pn.layers.dot([a, b], axes=1).shape == (None, 1)
    c = pn.Input((5, 3))
    assert pn.layers.Add()([a, c]).shape == (None, 5, 3)
    for name in ("Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate", "Dot"):
        assert name in pn.layers.merging.__all__ and pn.layers._registry.lookup(name) is getattr(pn.layers, name)


def test_bad_arguments():
    a, b, c = pn.Input((3,)), pn.Input((4,)), pn.Input((3,))
    with pytest.raises(ValueError, match="incompatible shapes"):
        pn.layers.Add()([a, b])
    with pytest.raises(ValueError, match="exactly 2 inputs; got 3"):
        pn.layers.Subtract()([a, c, a])
    with pytest.raises(ValueError, match="list of inputs"):
        pn.layers.Add()(a)
    with pytest.raises(ValueError, match="must match except along axis"):
        pn.layers.Concatenate(axis=1)([pn.Input((2, 3)), pn.Input((2, 4))])
    with pytest.raises(ValueError, match="axis=0 is not a valid non-batch axis"):
        pn.layers.Concatenate(axis=0)([a, c])
    with pytest.raises(TypeError, match="axis="):
        pn.layers.Concatenate(axis="last")
    with pytest.raises(ValueError, match=r"dimension 1 of the first \(3\) must equal"):
        pn.layers.Dot(axes=1)([a, b])
    with pytest.raises(ValueError, match="axes=\\(1, 2, 3\\)"):
        pn.layers.Dot(axes=(1, 2, 3))
    with pytest.raises(ValueError, match="exactly 2 inputs"):
        pn.layers.Dot(axes=1)([a, c, a])


def test_masks_are_combined(backend):
    x = backend.asarray(np.ones((2, 3, 4), "float32"))
    m1 = backend.asarray(np.array([[True, True, False], [True, False, False]]))
    m2 = backend.asarray(np.array([[True, False, False], [True, True, True]]))
    add = pn.layers.Add()
    add._maybe_build([(2, 3, 4), (2, 3, 4)])
    _, _, mask, _ = add.run([x, x], mask=[m1, m2])
    np.testing.assert_array_equal(to_np(backend, mask), [[True, False, False], [True, False, False]])
    cat = pn.layers.Concatenate()
    cat._maybe_build([(2, 3, 4), (2, 3, 4)])
    _, _, mask, _ = cat.run([x, x], mask=[m1, None])
    np.testing.assert_array_equal(to_np(backend, mask), np.ones((2, 3), bool))
    _, _, mask, _ = cat.run([x, x], mask=None)
    assert mask is None
