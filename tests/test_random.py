"""portanet.random: Keras 3's keras.random names, seeding semantics, distributions, errors."""

import math

import numpy as np
import pytest

import portanet as pn
from portanet import random as prandom

N = 100_000


def host(backend, x):
    return np.asarray(backend.to_numpy(x))


# ----------------------------------------------------------------- shapes, dtypes, placement
@pytest.mark.parametrize("make, dtype", [
    (lambda **k: prandom.normal((3, 4), **k), "float32"),
    (lambda **k: prandom.uniform((3, 4), **k), "float32"),
    (lambda **k: prandom.truncated_normal((3, 4), **k), "float32"),
    (lambda **k: prandom.randint((3, 4), 0, 5, **k), "int32"),
    (lambda **k: prandom.gamma((3, 4), 2.0, **k), "float32"),
    (lambda **k: prandom.binomial((3, 4), 5, 0.5, **k), "float32"),
    (lambda **k: prandom.beta((3, 4), 2.0, 3.0, **k), "float32"),
])
def test_shape_dtype_and_backend(backend, make, dtype):
    x = make(seed=1)
    assert backend.is_array(x)
    assert tuple(x.shape) == (3, 4)
    assert x.dtype == backend.dtype(dtype)


def test_default_dtype_follows_floatx(backend, float64):
    assert prandom.normal((2,), seed=0).dtype == backend.dtype("float64")
    assert prandom.uniform((2,), seed=0, dtype="float32").dtype == backend.dtype("float32")
    assert prandom.randint((2,), 0, 3, dtype="int64", seed=0).dtype == backend.dtype("int64")


def test_an_int_shape_is_one_dimensional_and_zero_size_works(backend):
    assert tuple(prandom.normal(5, seed=0).shape) == (5,)
    assert tuple(prandom.uniform((0, 3), seed=0).shape) == (0, 3)


def test_values_are_the_host_numpy_draws_so_every_backend_agrees(backend):
    """The same seed gives bit-identical values on every backend: the draw is NumPy's
    PCG64 seeded with (seed, counter), cast on the host."""
    expected = np.random.default_rng([7, 0]).normal(0.5, 2.0, (3, 4)).astype("float32")
    np.testing.assert_array_equal(host(backend, prandom.normal((3, 4), 0.5, 2.0, seed=7)),
                                  expected)
    gen = prandom.SeedGenerator(7)
    prandom.normal((1,), seed=gen)
    expected = np.random.default_rng([7, 1]).integers(-3, 9, (5,)).astype("int32")
    np.testing.assert_array_equal(host(backend, prandom.randint((5,), -3, 9, seed=gen)),
                                  expected)


# ----------------------------------------------------------------- seeding semantics
def test_int_seed_repeats_and_different_ints_differ(backend):
    a = host(backend, prandom.normal((50,), seed=42))
    np.testing.assert_array_equal(a, host(backend, prandom.normal((50,), seed=42)))
    assert not np.array_equal(a, host(backend, prandom.normal((50,), seed=43)))


def test_seed_generator_advances_and_replays(backend):
    gen = prandom.SeedGenerator(5)
    assert gen.state == (5, 0)
    a = host(backend, prandom.uniform((20,), seed=gen))
    assert gen.state == (5, 1)
    b = host(backend, prandom.uniform((20,), seed=gen))
    assert gen.state == (5, 2)
    assert not np.array_equal(a, b)
    # A fresh generator with the same seed replays the sequence; its first draw is seed=5's.
    again = prandom.SeedGenerator(5)
    np.testing.assert_array_equal(a, host(backend, prandom.uniform((20,), seed=again)))
    np.testing.assert_array_equal(b, host(backend, prandom.uniform((20,), seed=again)))
    np.testing.assert_array_equal(a, host(backend, prandom.uniform((20,), seed=5)))


def test_seed_generator_next_config_and_state(backend):
    gen = prandom.SeedGenerator(3, name="noise")
    assert gen.next() == (3, 0) and gen.next() == (3, 1)
    assert gen.next(ordered=False) == (3, 2)
    assert gen.state == (4 * 5387 % 933199, 3 * 5387 % 933199)
    assert gen.get_config() == {"seed": 3, "name": "noise"}
    clone = prandom.SeedGenerator.from_config(gen.get_config())
    assert clone.state == (3, 0)
    clone.state = (3, 1)
    np.testing.assert_array_equal(host(backend, prandom.normal((4,), seed=clone)),
                                  np.random.default_rng([3, 1]).normal(size=4).astype("float32"))


def test_global_stream_is_reproducible_after_set_random_seed(backend):
    pn.utils.set_random_seed(11)
    a = host(backend, prandom.normal((30,)))
    b = host(backend, prandom.normal((30,)))
    gen_state = prandom.SeedGenerator().state
    assert not np.array_equal(a, b)
    pn.utils.set_random_seed(11)
    np.testing.assert_array_equal(a, host(backend, prandom.normal((30,))))
    np.testing.assert_array_equal(b, host(backend, prandom.normal((30,))))
    assert prandom.SeedGenerator().state == gen_state
    pn.utils.set_random_seed(12)
    assert not np.array_equal(a, host(backend, prandom.normal((30,))))


# ----------------------------------------------------------------- statistics (fixed seeds)
def test_normal_moments(backend):
    x = host(backend, prandom.normal((N,), mean=2.0, stddev=3.0, dtype="float64", seed=0))
    assert abs(x.mean() - 2.0) < 4 * 3.0 / math.sqrt(N)
    assert abs(x.std() - 3.0) < 0.03


def test_uniform_range_and_moments(backend):
    x = host(backend, prandom.uniform((N,), minval=-1.0, maxval=3.0, seed=1))
    assert x.min() >= -1.0 and x.max() < 3.0
    assert abs(x.mean() - 1.0) < 4 * (4 / math.sqrt(12)) / math.sqrt(N)
    assert abs(x.var() - 16 / 12) < 0.02


def test_uniform_never_reaches_maxval_after_rounding(backend):
    # In float16, every draw above 1 - 2**-12 rounds to 1.0 unless it is pulled back below.
    x = host(backend, prandom.uniform((N,), 0.0, 1.0, dtype="float32", seed=2))
    assert x.max() < 1.0
    if backend.name != "array_api_strict":   # no float16 in array-api-strict
        y = host(backend, prandom.uniform((N,), 0.0, 1.0, dtype="float16", seed=2))
        assert y.max() < 1.0 and (y == np.float16(1) - np.float16(2**-11)).any()


def test_truncated_normal_stays_within_two_stddev(backend):
    x = host(backend, prandom.truncated_normal((N,), mean=1.0, stddev=0.5, dtype="float64",
                                               seed=3))
    assert np.abs(x - 1.0).max() <= 2 * 0.5
    assert np.abs(x - 1.0).max() > 0.99          # the tails up to the cut are sampled
    assert abs(x.mean() - 1.0) < 0.005
    # The standard normal truncated to [-2, 2] has stddev 0.8796.
    assert abs(x.std() - 0.5 * 0.87962566) < 0.003


def test_randint_range_and_frequencies(backend):
    x = host(backend, prandom.randint((N,), minval=-2, maxval=3, seed=4))
    assert x.min() == -2 and x.max() == 2
    freq = np.bincount(x + 2) / N
    np.testing.assert_allclose(freq, 0.2, atol=0.006)


def test_categorical_frequencies(backend):
    p = np.array([[0.2, 0.3, 0.5], [0.9, 0.0, 0.1]])
    with np.errstate(divide="ignore"):
        logits = backend.from_numpy(np.log(p) + 7.0)      # unnormalized, -inf for 0
    s = prandom.categorical(logits, N, seed=5)
    assert tuple(s.shape) == (2, N) and s.dtype == backend.dtype("int32")
    s = host(backend, s)
    for row in range(2):
        np.testing.assert_allclose(np.bincount(s[row], minlength=3) / N, p[row], atol=0.006)
    assert not (s[1] == 1).any()


def test_gamma_binomial_beta_moments(backend):
    g = host(backend, prandom.gamma((N,), alpha=2.0, dtype="float64", seed=6))
    assert abs(g.mean() - 2.0) < 0.02 and abs(g.var() - 2.0) < 0.06 and g.min() > 0
    b = host(backend, prandom.binomial((N,), counts=10, probabilities=0.3, seed=7))
    assert b.dtype == np.float32 and set(np.unique(b)) <= set(range(11))
    assert abs(b.mean() - 3.0) < 0.02 and abs(b.var() - 2.1) < 0.05
    t = host(backend, prandom.beta((N,), alpha=2.0, beta=3.0, dtype="float64", seed=8))
    assert 0 < t.min() and t.max() < 1
    assert abs(t.mean() - 0.4) < 0.003 and abs(t.var() - 0.04) < 0.001


def test_distribution_parameters_may_be_arrays(backend):
    alpha = backend.from_numpy(np.array([1.0, 50.0]))
    g = host(backend, prandom.gamma((N, 2), alpha=alpha, dtype="float64", seed=9))
    np.testing.assert_allclose(g.mean(axis=0), [1.0, 50.0], rtol=0.01)


# ----------------------------------------------------------------- dropout and shuffle
def test_dropout_rate_and_scaling(backend):
    x = backend.from_numpy(np.full((N,), 2.0, dtype="float32"))
    y = host(backend, prandom.dropout(x, rate=0.3, seed=10))
    kept = y != 0
    assert abs(1 - kept.mean() - 0.3) < 0.006
    np.testing.assert_allclose(y[kept], 2.0 / 0.7, rtol=1e-6)
    assert abs(y.mean() - 2.0) < 0.02
    np.testing.assert_array_equal(host(backend, prandom.dropout(x, 0.0, seed=1)), host(backend, x))
    # Lists of numbers become floatx arrays of the active backend.
    z = prandom.dropout([[1, 2], [3, 4]], 0.5, seed=3)
    assert backend.is_array(z) and z.dtype == backend.floatx()
    assert set(host(backend, z).ravel()) <= {0.0, 2.0, 4.0, 6.0, 8.0}


def test_dropout_noise_shape_broadcasts_one_draw(backend):
    x = backend.from_numpy(np.arange(1.0, 2001.0, dtype="float32").reshape(1000, 2))
    y = host(backend, prandom.dropout(x, 0.5, noise_shape=(None, 1), seed=11))
    rows_dropped = (y == 0).all(axis=1)
    rows_kept = y == host(backend, x) * 2
    assert (rows_dropped | rows_kept.all(axis=1)).all()
    assert 400 < rows_dropped.sum() < 600


def test_dropout_uses_array_operators(backend):
    """inputs * mask / (1 - rate) through the operators, so a traced tensor is differentiated."""
    calls = []

    class Traced:
        shape = (2, 3)
        dtype = backend.floatx()

        def __mul__(self, other):
            calls.append(("mul", tuple(other.shape)))
            return self

        def __truediv__(self, other):
            calls.append(("div", other))
            return self

    prandom.dropout(Traced(), 0.25, noise_shape=(1, 3), seed=0)
    assert calls == [("mul", (1, 3)), ("div", 0.75)]


def test_shuffle_permutes_whole_slices(backend):
    x = backend.from_numpy(np.arange(20.0, dtype="float32").reshape(10, 2))
    y = host(backend, prandom.shuffle(x, seed=12))
    perm = np.random.default_rng([12, 0]).permutation(10)
    np.testing.assert_array_equal(y, host(backend, x)[perm])
    z = host(backend, prandom.shuffle(x, axis=-1, seed=12))
    perm = np.random.default_rng([12, 0]).permutation(2)
    np.testing.assert_array_equal(z, host(backend, x)[:, perm])


# ----------------------------------------------------------------- errors
@pytest.mark.parametrize("call, match", [
    (lambda: prandom.normal((2,), stddev=-1.0), r"normal: stddev=-1\.0"),
    (lambda: prandom.truncated_normal((2,), stddev=-0.5), r"truncated_normal: stddev=-0\.5"),
    (lambda: prandom.normal((2,), mean=float("nan")), r"normal: mean=nan; expected a finite"),
    (lambda: prandom.normal((2, -1)), r"normal: shape=\(2, -1\)"),
    (lambda: prandom.normal("ab"), r"normal: shape='ab'"),
    (lambda: prandom.normal((2.5,)), r"normal: shape=\(2\.5,\)"),
    (lambda: prandom.normal((2,), dtype="int32"), r"normal: dtype='int32'.*floating"),
    (lambda: prandom.uniform((2,), 1.0, 1.0), r"uniform: minval=1\.0 and maxval=1\.0"),
    (lambda: prandom.uniform((2,), dtype="int32"), r"uniform: dtype='int32'"),
    (lambda: prandom.randint((2,), 3, 2), r"randint: minval=3 and maxval=2"),
    (lambda: prandom.randint((2,), 0, 1.5), r"randint: maxval=1\.5"),
    (lambda: prandom.randint((2,), 0, 5, dtype="float32"), r"randint: dtype='float32'.*integer"),
    (lambda: prandom.randint((2,), 0, 300, dtype="int8"), r"randint: the range \[0, 300\)"),
    (lambda: prandom.dropout([1.0, 2.0], 1.0), r"dropout: rate=1\.0"),
    (lambda: prandom.dropout(np.array([1, 2]), 0.5), r"dropout: inputs have dtype int64"),
    (lambda: prandom.dropout([1.0, 2.0], -0.1), r"dropout: rate=-0\.1"),
    (lambda: prandom.dropout([[1.0, 2.0]], 0.5, noise_shape=(1, 3)), r"dropout: noise_shape=\(1, 3\)"),
    (lambda: prandom.shuffle([1.0, 2.0], axis=1), r"shuffle: axis=1"),
    (lambda: prandom.categorical([1.0, 2.0], 3), r"categorical: `logits` should be a 2-D"),
    (lambda: prandom.categorical([[1.0, 2.0]], -1), r"categorical: num_samples=-1"),
    (lambda: prandom.categorical([[1.0, float("nan")]], 2), r"categorical: every row"),
    (lambda: prandom.gamma((2,), 0.0), r"gamma: alpha=0\.0"),
    (lambda: prandom.binomial((2,), 5, 1.5), r"binomial: probabilities=1\.5"),
    (lambda: prandom.binomial((2,), -1, 0.5), r"binomial: counts=-1\.0"),
    (lambda: prandom.beta((2,), 1.0, -2.0), r"beta: beta=-2\.0"),
    (lambda: prandom.normal((2,), seed=-3), r"normal: seed=-3"),
    (lambda: prandom.normal((2,), seed="a"), r"normal: seed='a'.*SeedGenerator"),
    (lambda: prandom.normal((2,), seed=1.5), r"normal: seed=1\.5"),
    (lambda: prandom.SeedGenerator(seed=2.0), r"SeedGenerator: seed=2\.0"),
])
def test_bad_arguments_raise_naming_function_and_value(backend, call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_errors_leave_the_seed_generator_unchanged(backend):
    gen = prandom.SeedGenerator(1)
    with pytest.raises(ValueError):
        prandom.uniform((2,), 2.0, 1.0, seed=gen)
    with pytest.raises(ValueError):
        prandom.dropout([1.0], 2.0, seed=gen)
    assert gen.state == (1, 0)
