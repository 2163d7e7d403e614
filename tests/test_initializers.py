import math

import numpy as np
import pytest

import portanet as pn

I = pn.initializers
TRUNC = 0.87962566103423978

# A big 2-D shape (fans 200, 300) and a conv kernel (3, 3, 16, 32): fan_in 144, fan_out 288.
SHAPES = {"dense": ((200, 300), 200, 300), "conv": ((3, 3, 16, 32), 144, 288)}


def test_compute_fans():
    assert I.compute_fans(()) == (1, 1)
    assert I.compute_fans((7,)) == (7, 7)
    assert I.compute_fans((4, 5)) == (4, 5)
    assert I.compute_fans((3, 16, 32)) == (48, 96)
    assert I.compute_fans((3, 3, 16, 32)) == (144, 288)
    assert I.compute_fans((2, 3, 3, 8, 4)) == (144, 72)


def _check_uniform(w, limit):
    assert np.all(np.abs(w) <= limit)
    assert np.abs(w).max() > 0.98 * limit
    # Var of U(±L) = L²/3; relative standard error of the variance ~ 0.9/sqrt(n).
    np.testing.assert_allclose(w.var(), limit ** 2 / 3, rtol=4 * 0.9 / math.sqrt(w.size))
    assert abs(w.mean()) < 4 * limit / math.sqrt(3 * w.size)


def _check_truncated(w, sigma):
    """Normal(0, sigma) cut at ±2·sigma: bounds, and the truncated stddev 0.8796·sigma."""
    assert np.all(np.abs(w) <= 2 * sigma)
    assert np.abs(w).max() > 1.9 * sigma
    np.testing.assert_allclose(w.std(), TRUNC * sigma, rtol=4 * 0.6 / math.sqrt(w.size))
    assert abs(w.mean()) < 4 * sigma / math.sqrt(w.size)


@pytest.mark.parametrize("where", ["dense", "conv"])
def test_variance_scaling_family_statistics(where):
    shape, fi, fo = SHAPES[where]
    cases = [
        (I.GlorotUniform(seed=1), "uniform", math.sqrt(6 / (fi + fo))),
        (I.HeUniform(seed=2), "uniform", math.sqrt(6 / fi)),
        (I.LecunUniform(seed=3), "uniform", math.sqrt(3 / fi)),
        (I.GlorotNormal(seed=4), "trunc", math.sqrt(2 / (fi + fo)) / TRUNC),
        (I.HeNormal(seed=5), "trunc", math.sqrt(2 / fi) / TRUNC),
        (I.LecunNormal(seed=6), "trunc", math.sqrt(1 / fi) / TRUNC),
        (I.VarianceScaling(2.5, "fan_out", "uniform", seed=7), "uniform", math.sqrt(3 * 2.5 / fo)),
        (I.VarianceScaling(0.5, "fan_avg", "truncated_normal", seed=8), "trunc",
         math.sqrt(0.5 / ((fi + fo) / 2)) / TRUNC),
        (I.VarianceScaling(1.5, "fan_in", "normal", seed=9), "trunc", math.sqrt(1.5 / fi) / TRUNC),
        (I.VarianceScaling(3.0, "fan_out", "untruncated_normal", seed=10), "normal", math.sqrt(3.0 / fo)),
    ]
    for init, kind, param in cases:
        w = init(shape, dtype="float64")
        assert w.shape == shape and w.dtype == np.float64
        if kind == "uniform":
            _check_uniform(w, param)
        elif kind == "trunc":
            _check_truncated(w, param)
        else:
            np.testing.assert_allclose(w.std(), param, rtol=4 * 0.71 / math.sqrt(w.size))
            assert np.abs(w).max() > 3 * param   # not truncated


def test_random_initializers_statistics():
    shape = (300, 200)
    w = I.RandomNormal(seed=1)(shape, dtype="float64")
    np.testing.assert_allclose(w.std(), 0.05, rtol=0.02)
    assert abs(w.mean()) < 0.002
    w = I.RandomNormal(mean=1.0, stddev=0.2, seed=1)(shape, dtype="float64")
    np.testing.assert_allclose([w.mean(), w.std()], [1.0, 0.2], rtol=0.02)
    w = I.RandomUniform(seed=2)(shape, dtype="float64")
    _check_uniform(w, 0.05)
    w = I.RandomUniform(minval=1.0, maxval=3.0, seed=2)(shape, dtype="float64")
    assert w.min() >= 1.0 and w.max() <= 3.0 and abs(w.mean() - 2.0) < 0.01
    # TruncatedNormal: cut at ±2·stddev, no variance correction.
    w = I.TruncatedNormal(seed=3)(shape, dtype="float64")
    _check_truncated(w, 0.05)
    w = I.TruncatedNormal(mean=0.5, stddev=0.1, seed=3)(shape, dtype="float64")
    assert np.all(np.abs(w - 0.5) <= 0.2)


def test_constant_initializers():
    np.testing.assert_array_equal(I.Zeros()((2, 3)), np.zeros((2, 3)))
    np.testing.assert_array_equal(I.Ones()((4,)), np.ones(4))
    np.testing.assert_array_equal(I.Constant(2.5)((2, 2)), np.full((2, 2), 2.5))
    assert I.Constant()((3,)).dtype == np.float32
    np.testing.assert_array_equal(I.Identity(gain=2.0)((3, 4)), 2.0 * np.eye(3, 4))


@pytest.mark.parametrize("shape", [(6, 6), (8, 5), (5, 8), (3, 3, 4, 6)])
def test_orthogonal(shape):
    w = I.Orthogonal(seed=4)(shape, dtype="float64")
    assert w.shape == shape
    m = w.reshape(-1, shape[-1])
    rows, cols = m.shape
    if rows >= cols:
        np.testing.assert_allclose(m.T @ m, np.eye(cols), atol=1e-12)
    else:
        np.testing.assert_allclose(m @ m.T, np.eye(rows), atol=1e-12)
    g = I.Orthogonal(gain=3.0, seed=4)(shape, dtype="float64")
    np.testing.assert_allclose(g, 3.0 * w, rtol=1e-12)


def test_seeding_is_reproducible_and_per_call():
    a = I.GlorotUniform(seed=11)
    first, second = a((4, 5)), a((4, 5))
    assert not np.array_equal(first, second)   # two layers sharing one initializer differ
    np.testing.assert_array_equal(I.GlorotUniform(seed=11)((4, 5)), first)
    pn.utils.set_random_seed(5)
    x1 = I.HeNormal()((3, 3))
    pn.utils.set_random_seed(5)
    np.testing.assert_array_equal(I.HeNormal()((3, 3)), x1)


@pytest.mark.parametrize("initializer", [
    lambda: "glorot_uniform", lambda: I.GlorotUniform(seed=3), lambda: I.Orthogonal(seed=1),
    lambda: I.TruncatedNormal(seed=2), lambda: I.VarianceScaling(2.0, "fan_avg", "uniform", seed=4),
    lambda: "he_normal"])
def test_seeded_weights_bit_identical_across_backends(initializer):
    weights = {}
    for name in ("numpy", "array_api_strict"):
        with pn.use_backend(name):
            pn.utils.set_random_seed(42)
            layer = pn.layers.Dense(7, kernel_initializer=initializer(), bias_initializer=I.RandomNormal(seed=9))
            layer.build((None, 5))
            weights[name] = layer.get_weights()
    for a, b in zip(weights["numpy"], weights["array_api_strict"]):
        assert a.dtype == b.dtype == np.float32
        np.testing.assert_array_equal(a, b)


def test_layers_use_keras_default_initializers(backend):
    pn.utils.set_random_seed(0)
    layer = pn.layers.Dense(300)
    layer.build((None, 200))
    kernel, bias = layer.get_weights()
    _check_uniform(kernel.astype(np.float64), math.sqrt(6 / 500))
    np.testing.assert_array_equal(bias, np.zeros(300))


def test_get_serialize_and_aliases():
    table = {"zeros": I.Zeros, "ones": I.Ones, "constant": I.Constant, "random_normal": I.RandomNormal,
             "normal": I.RandomNormal, "random_uniform": I.RandomUniform, "uniform": I.RandomUniform,
             "truncated_normal": I.TruncatedNormal, "variance_scaling": I.VarianceScaling,
             "glorot_uniform": I.GlorotUniform, "glorot_normal": I.GlorotNormal, "he_uniform": I.HeUniform,
             "he_normal": I.HeNormal, "lecun_uniform": I.LecunUniform, "lecun_normal": I.LecunNormal,
             "orthogonal": I.Orthogonal, "identity": I.Identity, "GlorotUniform": I.GlorotUniform,
             "Zeros": I.Zeros}
    for name, cls in table.items():
        assert type(I.get(name)) is cls, name
    for init in (I.Constant(0.3), I.RandomNormal(0.1, 0.2, seed=3), I.RandomUniform(-1, 2, seed=1),
                 I.TruncatedNormal(stddev=0.3), I.VarianceScaling(2.0, "fan_out", "uniform", seed=5),
                 I.GlorotNormal(seed=1), I.HeUniform(), I.Orthogonal(gain=2.0, seed=7), I.Identity(gain=0.5)):
        again = I.deserialize(I.serialize(init))
        assert type(again) is type(init) and again.get_config() == init.get_config()
        if getattr(init, "seed", None) is not None:
            np.testing.assert_array_equal(again((3, 4)), type(init).from_config(init.get_config())((3, 4)))


def test_bad_arguments():
    cases = [(lambda: I.VarianceScaling(scale=0), ValueError, "scale=0"),
             (lambda: I.VarianceScaling(mode="fan_sum"), ValueError, "mode='fan_sum'"),
             (lambda: I.VarianceScaling(distribution="cauchy"), ValueError, "distribution='cauchy'"),
             (lambda: I.GlorotUniform(seed=-1), ValueError, "seed=-1"),
             (lambda: I.HeNormal(seed=1.5), ValueError, "seed=1.5"),
             (lambda: I.RandomNormal(stddev=-0.1), ValueError, "stddev=-0.1"),
             (lambda: I.RandomUniform(minval=1, maxval=0), ValueError, "maxval=0"),
             (lambda: I.Orthogonal()((5,)), ValueError, "at least 2 dimensions"),
             (lambda: I.Identity()((2, 2, 2)), ValueError, "2-D"),
             (lambda: I.get("glorot"), ValueError, "unknown initializer name 'glorot'.*glorot_uniform")]
    for make, exc, msg in cases:
        with pytest.raises(exc, match=msg):
            make()
