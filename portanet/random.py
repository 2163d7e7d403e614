"""Random number generation with Keras 3's ``keras.random`` names, arguments and seeding.

    import portanet as pn
    x = pn.random.normal((2, 3), seed=42)              # same values on every call
    gen = pn.random.SeedGenerator(1337)
    a = pn.random.uniform((4,), seed=gen)              # gen advances: b differs from a
    b = pn.random.uniform((4,), seed=gen)
    y = pn.random.dropout(x, rate=0.5, seed=gen)

Seeding (as Keras):

- ``seed=None``: the numbers come from portanet's global stream, the host generator that
  ``pn.utils.set_random_seed(s)`` reseeds (the one initial weights are drawn from), so a
  program that sets the seed once is reproducible.
- ``seed=<int>``: stateless. The same integer gives the same numbers on every call; it is the
  first draw of ``SeedGenerator(<int>)``.
- ``seed=<SeedGenerator>``: the generator's state ``(seed, counter)`` seeds the draw and its
  counter advances by one, so repeated calls give new numbers, reproducibly.

Why the numbers are drawn on the host: every function draws from a NumPy ``Generator``
(PCG64 seeded by the ``(seed, counter)`` pair) in float64, casts on the host to the requested
dtype and moves the result to the active backend's device, exactly as initial weights are.
That is the only way the same seed gives bit-identical values on NumPy, array-api-strict and
CuPy: the standard has no random module, and CuPy's device generators (XORWOW, Philox) do not
produce NumPy's streams. The price is one host-to-device copy per call, which these functions
(used for data, noise and custom layers) can afford; the training hot loop keeps using the
backend's own device streams (``random_normal``, ``dropout_mask``, ``permutation``).
Arrays that are passed in (``dropout``'s inputs, ``shuffle``'s ``x``) stay on the device; only
the mask or the permutation crosses. ``categorical`` reads its logits on the host.

Results are arrays of the active backend, in ``pn.config.floatx()`` unless ``dtype`` says
otherwise. ``dropout`` applies its mask with the arithmetic operators (``inputs * mask /
(1 - rate)``), so a traced tensor passed in is differentiated through it.
"""

import math
import operator

from . import backend as _backend
from . import config

__all__ = ["SeedGenerator", "normal", "uniform", "truncated_normal", "randint", "dropout",
           "shuffle", "categorical", "gamma", "binomial", "beta"]


class SeedGenerator:
    """A seed whose state advances at each draw: repeated calls give new, reproducible numbers.

    The state is the pair ``(seed, counter)``; ``next()`` returns it and advances the counter,
    exactly as Keras's ``SeedGenerator`` (whose state is the 2-vector ``[seed, counter]``).

    Args:
        seed: non-negative integer, or None to draw one from the global stream (reproducible
            after ``pn.utils.set_random_seed``).
        name: optional name (kept for ``get_config``).

    Example:
        >>> gen = pn.random.SeedGenerator(seed=42)
        >>> a = pn.random.normal((2, 3), seed=gen)
        >>> b = pn.random.normal((2, 3), seed=gen)   # differs from a
    """

    def __init__(self, seed=None, name=None):
        self._initial_seed = seed
        if seed is None:
            seed = _backend.make_seed()
        self._seed = _check_int_seed(seed, "SeedGenerator")
        self._counter = 0
        self.name = "seed_generator" if name is None else str(name)

    @property
    def state(self):
        """The current ``(seed, counter)`` pair; assign a pair to restore a saved state."""
        return (self._seed, self._counter)

    @state.setter
    def state(self, value):
        try:
            seed, counter = value
            seed, counter = operator.index(seed), operator.index(counter)
        except (TypeError, ValueError):
            raise ValueError(f"SeedGenerator.state: got {value!r}; expected a pair of "
                             f"non-negative integers (seed, counter)") from None
        if seed < 0 or counter < 0:
            raise ValueError(f"SeedGenerator.state: got {value!r}; expected a pair of "
                             f"non-negative integers (seed, counter)")
        self._seed, self._counter = seed, counter

    def next(self, ordered=True):
        """Return the current state and advance it.

        Args:
            ordered: True (default) adds one to the counter; False scrambles both entries
                with Keras's ``(state + 1) * 5387 % 933199`` (near-unique values below 1M).
        """
        current = (self._seed, self._counter)
        if ordered:
            self._counter += 1
        else:
            self._seed = (self._seed + 1) * 5387 % 933199
            self._counter = (self._counter + 1) * 5387 % 933199
        return current

    def get_config(self):
        return {"seed": self._initial_seed, "name": self.name}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return f"<SeedGenerator name={self.name!r} state={self.state}>"


# --------------------------------------------------------------------------- helpers
def _check_int_seed(seed, owner):
    if isinstance(seed, bool):
        raise ValueError(f"{owner}: seed={seed!r}; expected a non-negative integer")
    try:
        seed = operator.index(seed)
    except TypeError:
        raise ValueError(f"{owner}: seed={seed!r} (of type {type(seed).__name__}); expected a "
                         f"non-negative integer") from None
    if seed < 0:
        raise ValueError(f"{owner}: seed={seed}; expected a non-negative integer")
    return seed


def _generator(seed, owner):
    """The host NumPy Generator a draw uses (see the module docstring for the semantics)."""
    if seed is None:
        return _backend.init_rng()
    if isinstance(seed, SeedGenerator):
        return _backend.host_rng(list(seed.next()))
    if isinstance(seed, bool) or not hasattr(seed, "__index__"):
        raise ValueError(f"{owner}: seed={seed!r} (of type {type(seed).__name__}); expected "
                         f"None, an integer or a portanet.random.SeedGenerator")
    return _backend.host_rng([_check_int_seed(seed, owner), 0])


def _check_shape(shape, owner):
    """A tuple of non-negative ints (a single int is a 1-D shape, as NumPy's ``size``)."""
    message = f"{owner}: shape={shape!r}; expected a tuple of non-negative integers"
    if hasattr(shape, "__index__") and not isinstance(shape, bool):
        shape = (shape,)
    try:
        dims = tuple(shape)
    except TypeError:
        raise ValueError(message) from None
    if not all(hasattr(d, "__index__") and not isinstance(d, bool) for d in dims):
        raise ValueError(message)
    dims = tuple(operator.index(d) for d in dims)
    if any(d < 0 for d in dims):
        raise ValueError(message)
    return dims


def _dtype_name(dtype):
    if isinstance(dtype, str):
        return dtype
    text = str(dtype)
    for part in ("float64", "float32", "float16", "uint64", "uint32", "uint16", "uint8",
                 "int64", "int32", "int16", "int8", "bool"):
        if part in text:
            return part
    return text


def _resolve_dtype(dtype, kind, owner):
    """The backend dtype for ``dtype`` (floatx when None), checked to be of ``kind``."""
    b = _backend.current()
    if dtype is None:
        dtype = config.floatx()
    try:
        dt = b.dtype(_dtype_name(dtype))
        ok = b.xp.isdtype(dt, kind)
    except (ValueError, TypeError, AttributeError):
        ok = False
    if not ok:
        what = "a floating point" if kind == "real floating" else "an integer"
        raise ValueError(f"{owner}: dtype={dtype!r}; expected {what} dtype of backend "
                         f"{b.name!r}")
    return dt


def _check_number(value, name, owner):
    if isinstance(value, bool):
        raise ValueError(f"{owner}: {name}={value!r}; expected a number")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{owner}: {name}={value!r}; expected a number") from None
    if not math.isfinite(number):
        raise ValueError(f"{owner}: {name}={value!r}; expected a finite number")
    return number


def _host_param(value, name, owner):
    """A distribution parameter as a float or a host float64 array (device arrays are read)."""
    b = _backend.current()
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if b.is_array(value):
        value = b.to_numpy(value)
    try:
        arr = _backend.host_xp().asarray(value, dtype=_backend.host_xp().float64)
    except (TypeError, ValueError):
        raise ValueError(f"{owner}: {name}={value!r}; expected a number or an array of "
                         f"numbers") from None
    return float(arr) if arr.ndim == 0 else arr


def _all(value, test):
    return bool(test(value)) if isinstance(value, float) else bool(test(value).all())


def _finish(host, dtype):
    """A host float64/int64 draw -> the active backend's array of ``dtype``."""
    return _backend.current().from_numpy(host, _dtype_name(dtype))


# --------------------------------------------------------------------------- distributions
def normal(shape, mean=0.0, stddev=1.0, dtype=None, seed=None):
    """Samples from a normal (Gaussian) distribution.

    Args:
        shape: tuple of non-negative ints, the output shape.
        mean: float, the mean (0.0).
        stddev: non-negative float, the standard deviation (1.0).
        dtype: floating dtype of the result (None: ``pn.config.floatx()``).
        seed: None, an int or a SeedGenerator (see the module docstring).

    Returns:
        An array of the active backend.
    """
    owner = "portanet.random.normal"
    shape = _check_shape(shape, owner)
    mean = _check_number(mean, "mean", owner)
    stddev = _check_number(stddev, "stddev", owner)
    if not stddev >= 0:
        raise ValueError(f"{owner}: stddev={stddev!r}; expected a non-negative number")
    dt = _resolve_dtype(dtype, "real floating", owner)
    rng = _generator(seed, owner)
    return _finish(rng.normal(mean, stddev, size=shape), dt)


def uniform(shape, minval=0.0, maxval=1.0, dtype=None, seed=None):
    """Samples from a uniform distribution on ``[minval, maxval)``.

    Args:
        shape: tuple of non-negative ints, the output shape.
        minval: float, the lower bound (inclusive, 0.0).
        maxval: float, the upper bound (exclusive, 1.0); must exceed ``minval``.
        dtype: floating dtype of the result (None: ``pn.config.floatx()``); Keras raises for
            integer dtypes here too (use ``randint``).
        seed: None, an int or a SeedGenerator.
    """
    owner = "portanet.random.uniform"
    shape = _check_shape(shape, owner)
    minval = _check_number(minval, "minval", owner)
    maxval = _check_number(maxval, "maxval", owner)
    if not minval < maxval:
        raise ValueError(f"{owner}: minval={minval!r} and maxval={maxval!r}; expected "
                         f"minval < maxval")
    dt = _resolve_dtype(dtype, "real floating", owner)
    rng = _generator(seed, owner)
    hxp = _backend.host_xp()
    a = rng.uniform(minval, maxval, size=shape).astype(_dtype_name(dt))
    # Rounding to float32/float16 can land a draw just below maxval on maxval itself: keep
    # the interval half-open, as Keras documents.
    top = hxp.asarray(maxval, dtype=a.dtype)
    below = hxp.nextafter(top, hxp.asarray(minval, dtype=a.dtype))
    return _finish(hxp.where(a >= top, below, a), dt)


def truncated_normal(shape, mean=0.0, stddev=1.0, dtype=None, seed=None):
    """Samples from a normal distribution, redrawing any more than 2 stddev from the mean.

    Args:
        shape: tuple of non-negative ints, the output shape.
        mean: float, the mean before truncation (0.0).
        stddev: non-negative float, the standard deviation before truncation (1.0).
        dtype: floating dtype of the result (None: ``pn.config.floatx()``).
        seed: None, an int or a SeedGenerator.
    """
    owner = "portanet.random.truncated_normal"
    shape = _check_shape(shape, owner)
    mean = _check_number(mean, "mean", owner)
    stddev = _check_number(stddev, "stddev", owner)
    if not stddev >= 0:
        raise ValueError(f"{owner}: stddev={stddev!r}; expected a non-negative number")
    dt = _resolve_dtype(dtype, "real floating", owner)
    rng = _generator(seed, owner)
    z = rng.standard_normal(size=shape)
    outside = abs(z) > 2.0
    while outside.any():
        z[outside] = rng.standard_normal(size=int(outside.sum()))
        outside = abs(z) > 2.0
    return _finish(z * stddev + mean, dt)


def randint(shape, minval, maxval, dtype="int32", seed=None):
    """Random integers from ``[minval, maxval)``.

    Args:
        shape: tuple of non-negative ints, the output shape.
        minval: int, the lower bound (inclusive).
        maxval: int, the upper bound (exclusive); must exceed ``minval``.
        dtype: integer dtype of the result ("int32"); the range must fit in it.
        seed: None, an int or a SeedGenerator.
    """
    owner = "portanet.random.randint"
    shape = _check_shape(shape, owner)
    for name, value in (("minval", minval), ("maxval", maxval)):
        if isinstance(value, bool) or not hasattr(value, "__index__"):
            raise ValueError(f"{owner}: {name}={value!r}; expected an integer")
    minval, maxval = operator.index(minval), operator.index(maxval)
    if not minval < maxval:
        raise ValueError(f"{owner}: minval={minval} and maxval={maxval}; expected "
                         f"minval < maxval")
    dt = _resolve_dtype(dtype, "integral", owner)
    info = _backend.current().xp.iinfo(dt)
    if minval < info.min or maxval - 1 > info.max:
        raise ValueError(f"{owner}: the range [{minval}, {maxval}) does not fit dtype="
                         f"{_dtype_name(dt)!r} ([{info.min}, {info.max}])")
    rng = _generator(seed, owner)
    return _finish(rng.integers(minval, maxval, size=shape), dt)


def dropout(inputs, rate, noise_shape=None, seed=None):
    """Randomly zeroes entries with probability ``rate`` and scales the rest by 1/(1 - rate).

    Computes ``inputs * mask / (1 - rate)`` with the array operators, ``mask`` being 0 or 1
    in the dtype of ``inputs`` with shape ``noise_shape`` (broadcast over ``inputs``), so the
    result is differentiable where ``inputs`` is a traced tensor.

    Args:
        inputs: floating array (of the active backend, or host data that is moved there).
        rate: float in [0, 1), the probability of dropping an entry.
        noise_shape: None (one draw per entry) or a tuple of the rank of ``inputs`` whose
            entries are None (that input dimension), the input dimension, or 1 (the same
            draw along that axis).
        seed: None, an int or a SeedGenerator.
    """
    owner = "portanet.random.dropout"
    rate = _check_number(rate, "rate", owner)
    if not 0.0 <= rate < 1.0:
        raise ValueError(f"{owner}: rate={rate!r}; expected a number in [0, 1)")
    b = _backend.current()
    if isinstance(inputs, (list, tuple, int, float)):
        inputs = b.asarray(inputs)
        if not b.is_float(inputs):
            inputs = b.asarray(inputs, config.floatx())
    elif type(inputs).__module__ == "numpy":
        inputs = b.asarray(inputs)   # host data moves to the device
    shape = tuple(inputs.shape)
    if b.is_array(inputs) and not b.is_float(inputs):
        raise ValueError(f"{owner}: inputs have dtype {_dtype_name(inputs.dtype)}; expected a "
                         f"floating dtype")
    if noise_shape is None:
        noise = shape
    else:
        try:
            noise = tuple(noise_shape)
        except TypeError:
            noise = None
        if noise is None or len(noise) != len(shape) or not all(
                n is None or (hasattr(n, "__index__") and not isinstance(n, bool)
                              and operator.index(n) in (1, d)) for n, d in zip(noise, shape)):
            raise ValueError(f"{owner}: noise_shape={noise_shape!r} does not fit inputs of "
                             f"shape {shape}; expected one entry per input axis, each None, "
                             f"1 or that axis's size")
        noise = tuple(d if n is None else operator.index(n) for n, d in zip(noise, shape))
    rng = _generator(seed, owner)
    keep = rng.random(size=noise) >= rate
    mask = b.from_numpy(keep, _dtype_name(inputs.dtype))
    return inputs * mask / (1.0 - rate)


def shuffle(x, axis=0, seed=None):
    """``x`` with its slices along ``axis`` in a random order (one permutation for all).

    This is TensorFlow's and JAX's behaviour (Keras's NumPy backend instead permutes each
    1-D lane on its own): rows of a data set stay whole.

    Args:
        x: array of the active backend (host data is moved there).
        axis: int, the axis to permute (0).
        seed: None, an int or a SeedGenerator.
    """
    owner = "portanet.random.shuffle"
    b = _backend.current()
    if not b.is_array(x):
        x = b.asarray(x)
    ndim = len(x.shape)
    if isinstance(axis, bool) or not hasattr(axis, "__index__") or not -ndim <= axis < ndim:
        raise ValueError(f"{owner}: axis={axis!r}; expected an integer in [{-ndim}, {ndim}) "
                         f"for an input of shape {tuple(x.shape)}")
    axis = operator.index(axis) % ndim
    rng = _generator(seed, owner)
    order = b.from_numpy(rng.permutation(x.shape[axis]), "int64")
    return b.xp.take(x, order, axis=axis)


def categorical(logits, num_samples, dtype="int32", seed=None):
    """Class indices drawn from the categorical distributions of the rows of ``logits``.

    Args:
        logits: 2-D array ``(batch_size, num_classes)`` of unnormalized log-probabilities
            (``-inf`` gives a class probability 0). Read on the host.
        num_samples: non-negative int, independent draws per row.
        dtype: integer dtype of the result ("int32").
        seed: None, an int or a SeedGenerator.

    Returns:
        An integer array ``(batch_size, num_samples)`` of the active backend.
    """
    owner = "portanet.random.categorical"
    b = _backend.current()
    hxp = _backend.host_xp()
    host = b.to_numpy(logits) if b.is_array(logits) else logits
    try:
        host = hxp.asarray(host, dtype=hxp.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{owner}: logits={logits!r}; expected a 2-D array of "
                         f"numbers") from None
    if host.ndim != 2:
        raise ValueError(f"{owner}: `logits` should be a 2-D tensor with shape [batch_size, "
                         f"num_classes]. Received: logits of shape {tuple(host.shape)}")
    if isinstance(num_samples, bool) or not hasattr(num_samples, "__index__") \
            or operator.index(num_samples) < 0:
        raise ValueError(f"{owner}: num_samples={num_samples!r}; expected a non-negative integer")
    num_samples = operator.index(num_samples)
    dt = _resolve_dtype(dtype, "integral", owner)
    if host.shape[1] == 0 or hxp.any(hxp.isnan(host)) or hxp.any(host == hxp.inf) \
            or hxp.any(hxp.all(host == -hxp.inf, axis=1)):
        raise ValueError(f"{owner}: every row of logits must hold finite values or -inf "
                         f"with at least one finite value; got {logits!r}")
    rng = _generator(seed, owner)
    probs = hxp.exp(host - hxp.max(host, axis=1, keepdims=True))
    cdf = hxp.cumulative_sum(probs / hxp.sum(probs, axis=1, keepdims=True), axis=1)
    u = rng.random(size=(host.shape[0], num_samples))
    last = host.shape[1] - 1
    rows = [hxp.clip(hxp.searchsorted(cdf[i], u[i], side="right"), max=last)
            for i in range(host.shape[0])]
    out = hxp.stack(rows) if rows else hxp.zeros((0, num_samples), dtype=hxp.int64)
    return _finish(out, dt)


def gamma(shape, alpha, dtype=None, seed=None):
    """Samples from the Gamma distribution with shape ``alpha`` and scale 1.

    Args:
        shape: tuple of non-negative ints, the output shape.
        alpha: positive float (or an array broadcastable to ``shape``).
        dtype: floating dtype of the result (None: ``pn.config.floatx()``).
        seed: None, an int or a SeedGenerator.
    """
    owner = "portanet.random.gamma"
    shape = _check_shape(shape, owner)
    alpha = _host_param(alpha, "alpha", owner)
    if not _all(alpha, lambda a: a > 0):
        raise ValueError(f"{owner}: alpha={alpha!r}; expected positive values")
    dt = _resolve_dtype(dtype, "real floating", owner)
    rng = _generator(seed, owner)
    return _finish(_draw(rng.standard_gamma, (alpha,), shape, owner), dt)


def binomial(shape, counts, probabilities, dtype=None, seed=None):
    """Samples from the Binomial distribution: successes in ``counts`` trials.

    Args:
        shape: tuple of non-negative ints, the output shape.
        counts: non-negative number of trials (or an array broadcastable to ``shape``).
        probabilities: success probability in [0, 1] (or such an array).
        dtype: floating dtype of the result (None: ``pn.config.floatx()``), as Keras.
        seed: None, an int or a SeedGenerator.
    """
    owner = "portanet.random.binomial"
    shape = _check_shape(shape, owner)
    counts = _host_param(counts, "counts", owner)
    probabilities = _host_param(probabilities, "probabilities", owner)
    if not _all(counts, lambda n: (n >= 0) & (n == n // 1)):
        raise ValueError(f"{owner}: counts={counts!r}; expected non-negative whole numbers")
    if not _all(probabilities, lambda p: (p >= 0) & (p <= 1)):
        raise ValueError(f"{owner}: probabilities={probabilities!r}; expected values in [0, 1]")
    dt = _resolve_dtype(dtype, "real floating", owner)
    rng = _generator(seed, owner)
    if not isinstance(counts, float):
        counts = counts.astype("int64")
    else:
        counts = int(counts)
    return _finish(_draw(rng.binomial, (counts, probabilities), shape, owner), dt)


def beta(shape, alpha, beta, dtype=None, seed=None):
    """Samples from the Beta distribution with parameters ``alpha`` and ``beta``.

    Args:
        shape: tuple of non-negative ints, the output shape.
        alpha: positive float (or an array broadcastable to ``shape``).
        beta: positive float (or an array broadcastable to ``shape``).
        dtype: floating dtype of the result (None: ``pn.config.floatx()``).
        seed: None, an int or a SeedGenerator.
    """
    owner = "portanet.random.beta"
    shape = _check_shape(shape, owner)
    alpha = _host_param(alpha, "alpha", owner)
    beta_ = _host_param(beta, "beta", owner)
    for name, value in (("alpha", alpha), ("beta", beta_)):
        if not _all(value, lambda a: a > 0):
            raise ValueError(f"{owner}: {name}={value!r}; expected positive values")
    dt = _resolve_dtype(dtype, "real floating", owner)
    rng = _generator(seed, owner)
    return _finish(_draw(rng.beta, (alpha, beta_), shape, owner), dt)


def _draw(method, params, shape, owner):
    try:
        return method(*params, size=shape)
    except ValueError as error:
        raise ValueError(f"{owner}: parameters of shapes "
                         f"{[getattr(p, 'shape', ()) for p in params]} do not broadcast to "
                         f"shape={shape}") from error
