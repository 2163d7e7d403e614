"""Weight initializers by their Keras names (keras/src/initializers).

An initializer is called as ``init(shape, dtype=None)`` and returns a **host** array drawn
from a seeded NumPy generator (``portanet.backend.init_rng()``, or the initializer's own
``seed``). The layer moves it to its device, so the same seed gives bit-identical initial
weights on every backend (docs/ARCHITECTURE.md, section 2). Host math goes through ``backend.host_xp()`` so
this module never imports an array library itself.
"""

import math

from . import backend as _backend
from .naming import NameRegistry
from . import config

_TRUNC = 0.87962566103423978  # stddev of a unit normal truncated at ±2, as Keras


def compute_fans(shape, input_axes=None, output_axes=None):
    """Keras's fan computation: conv kernels (k..., in, out) count the receptive field;
    with ``input_axes`` and ``output_axes`` the fans are the products of those axes."""
    shape = tuple(int(s) for s in shape)
    if input_axes is not None and output_axes is not None:
        fan_in = fan_out = 1
        for axis in input_axes:
            fan_in *= shape[axis]
        for axis in output_axes:
            fan_out *= shape[axis]
        return fan_in, fan_out
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    if len(shape) == 2:
        return shape[0], shape[1]
    receptive = 1
    for s in shape[:-2]:
        receptive *= s
    return shape[-2] * receptive, shape[-1] * receptive


class Initializer:
    """Base class: ``__call__(shape, dtype=None)`` returns a host array of that shape."""

    def __call__(self, shape, dtype=None):  # pragma: no cover - abstract
        raise NotImplementedError

    def get_config(self):
        return {}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def _dtype(self, dtype):
        return dtype or config.floatx()

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class _Seeded(Initializer):
    def __init__(self, seed=None):
        if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool) or seed < 0):
            raise ValueError(f"{type(self).__name__}: seed={seed!r}; expected None or a non-negative int")
        self.seed = seed
        self._calls = 0

    def _rng(self):
        if self.seed is None:
            return _backend.init_rng()
        # A seeded initializer gives a fresh, reproducible draw per call (Keras 3 behaviour
        # with an int seed), so two layers sharing one initializer do not get equal weights.
        rng = _backend.host_rng([self.seed, self._calls])
        self._calls += 1
        return rng

    def get_config(self):
        return {"seed": self.seed}


class Zeros(Initializer):
    def __call__(self, shape, dtype=None):
        return _backend.host_xp().zeros(tuple(shape), dtype=self._dtype(dtype))


class Ones(Initializer):
    def __call__(self, shape, dtype=None):
        return _backend.host_xp().ones(tuple(shape), dtype=self._dtype(dtype))


class Constant(Initializer):
    def __init__(self, value=0.0):
        self.value = value

    def __call__(self, shape, dtype=None):
        return _backend.host_xp().full(tuple(shape), self.value, dtype=self._dtype(dtype))

    def get_config(self):
        return {"value": self.value}


class RandomNormal(_Seeded):
    def __init__(self, mean=0.0, stddev=0.05, seed=None):
        super().__init__(seed)
        if stddev < 0:
            raise ValueError(f"RandomNormal: stddev={stddev!r}; expected >= 0")
        self.mean, self.stddev = mean, stddev

    def __call__(self, shape, dtype=None):
        return self._rng().normal(self.mean, self.stddev, size=tuple(shape)).astype(self._dtype(dtype))

    def get_config(self):
        return {"mean": self.mean, "stddev": self.stddev, "seed": self.seed}


class RandomUniform(_Seeded):
    def __init__(self, minval=-0.05, maxval=0.05, seed=None):
        super().__init__(seed)
        if maxval < minval:
            raise ValueError(f"RandomUniform: maxval={maxval!r} < minval={minval!r}")
        self.minval, self.maxval = minval, maxval

    def __call__(self, shape, dtype=None):
        return self._rng().uniform(self.minval, self.maxval, size=tuple(shape)).astype(self._dtype(dtype))

    def get_config(self):
        return {"minval": self.minval, "maxval": self.maxval, "seed": self.seed}


def _truncated_normal(rng, shape, stddev):
    """Normal(0, stddev) cut at ±2·stddev by redrawing the outliers."""
    out = rng.normal(0.0, 1.0, size=tuple(shape))
    bad = abs(out) > 2.0
    while bad.any():
        out[bad] = rng.normal(0.0, 1.0, size=int(bad.sum()))
        bad = abs(out) > 2.0
    return out * stddev


class TruncatedNormal(_Seeded):
    """Normal(mean, stddev) cut at ±2 stddev, with no variance correction (as Keras)."""

    def __init__(self, mean=0.0, stddev=0.05, seed=None):
        super().__init__(seed)
        self.mean, self.stddev = mean, stddev

    def __call__(self, shape, dtype=None):
        return (_truncated_normal(self._rng(), shape, self.stddev) + self.mean).astype(self._dtype(dtype))

    def get_config(self):
        return {"mean": self.mean, "stddev": self.stddev, "seed": self.seed}


class VarianceScaling(_Seeded):
    """scale / n with n = fan_in, fan_out or their mean; normal (truncated), untruncated or uniform."""

    _MODES = ("fan_in", "fan_out", "fan_avg")
    _DISTRIBUTIONS = ("truncated_normal", "untruncated_normal", "uniform", "normal")

    def __init__(self, scale=1.0, mode="fan_in", distribution="truncated_normal", seed=None,
                 input_axes=None, output_axes=None):
        super().__init__(seed)
        for arg, axes in (("input_axes", input_axes), ("output_axes", output_axes)):
            if axes is not None and (not isinstance(axes, (list, tuple)) or not all(
                    isinstance(a, int) and not isinstance(a, bool) for a in axes)):
                raise ValueError(f"{type(self).__name__}: {arg}={axes!r}; expected None or a list of ints")
        self.input_axes = None if input_axes is None else list(input_axes)
        self.output_axes = None if output_axes is None else list(output_axes)
        if not scale > 0:
            raise ValueError(f"VarianceScaling: scale={scale!r}; expected a positive float")
        if mode not in self._MODES:
            raise ValueError(f"VarianceScaling: mode={mode!r}; expected one of {self._MODES}")
        if distribution not in self._DISTRIBUTIONS:
            raise ValueError(f"VarianceScaling: distribution={distribution!r}; "
                             f"expected one of {self._DISTRIBUTIONS}")
        self.scale, self.mode, self.distribution = float(scale), mode, distribution

    def __call__(self, shape, dtype=None):
        fan_in, fan_out = compute_fans(shape, self.input_axes, self.output_axes)
        n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2.0}[self.mode]
        s = self.scale / max(1.0, n)
        rng = self._rng()
        if self.distribution in ("truncated_normal", "normal"):
            out = _truncated_normal(rng, shape, math.sqrt(s) / _TRUNC)
        elif self.distribution == "untruncated_normal":
            out = rng.normal(0.0, math.sqrt(s), size=tuple(shape))
        else:
            limit = math.sqrt(3.0 * s)
            out = rng.uniform(-limit, limit, size=tuple(shape))
        return out.astype(self._dtype(dtype))

    def get_config(self):
        return {"scale": self.scale, "mode": self.mode, "distribution": self.distribution,
                "seed": self.seed, "input_axes": self.input_axes, "output_axes": self.output_axes}


class GlorotUniform(VarianceScaling):
    def __init__(self, seed=None, input_axes=None, output_axes=None):
        super().__init__(1.0, "fan_avg", "uniform", seed, input_axes, output_axes)

    def get_config(self):
        return {"seed": self.seed, "input_axes": self.input_axes, "output_axes": self.output_axes}


class GlorotNormal(VarianceScaling):
    def __init__(self, seed=None, input_axes=None, output_axes=None):
        super().__init__(1.0, "fan_avg", "truncated_normal", seed, input_axes, output_axes)

    def get_config(self):
        return {"seed": self.seed, "input_axes": self.input_axes, "output_axes": self.output_axes}


class HeUniform(VarianceScaling):
    def __init__(self, seed=None, input_axes=None, output_axes=None):
        super().__init__(2.0, "fan_in", "uniform", seed, input_axes, output_axes)

    def get_config(self):
        return {"seed": self.seed, "input_axes": self.input_axes, "output_axes": self.output_axes}


class HeNormal(VarianceScaling):
    def __init__(self, seed=None, input_axes=None, output_axes=None):
        super().__init__(2.0, "fan_in", "truncated_normal", seed, input_axes, output_axes)

    def get_config(self):
        return {"seed": self.seed, "input_axes": self.input_axes, "output_axes": self.output_axes}


class LecunUniform(VarianceScaling):
    def __init__(self, seed=None, input_axes=None, output_axes=None):
        super().__init__(1.0, "fan_in", "uniform", seed, input_axes, output_axes)

    def get_config(self):
        return {"seed": self.seed, "input_axes": self.input_axes, "output_axes": self.output_axes}


class LecunNormal(VarianceScaling):
    def __init__(self, seed=None, input_axes=None, output_axes=None):
        super().__init__(1.0, "fan_in", "truncated_normal", seed, input_axes, output_axes)

    def get_config(self):
        return {"seed": self.seed, "input_axes": self.input_axes, "output_axes": self.output_axes}


class Orthogonal(_Seeded):
    """QR of a normal matrix, sign-corrected by diag(R), as Keras (rows = ∏shape[:-1])."""

    def __init__(self, gain=1.0, seed=None):
        super().__init__(seed)
        self.gain = gain

    def __call__(self, shape, dtype=None):
        shape = tuple(int(s) for s in shape)
        if len(shape) < 2:
            raise ValueError(f"Orthogonal: shape={shape}; expected at least 2 dimensions")
        rows = 1
        for s in shape[:-1]:
            rows *= s
        cols = shape[-1]
        hx = _backend.host_xp()
        a = self._rng().normal(0.0, 1.0, size=(max(rows, cols), min(rows, cols)))
        q, r = hx.linalg.qr(a)
        q = q * hx.sign(hx.linalg.diagonal(r))
        if rows < cols:
            q = q.T
        return (self.gain * hx.reshape(q, shape)).astype(self._dtype(dtype))

    def get_config(self):
        return {"gain": self.gain, "seed": self.seed}


class Identity(Initializer):
    def __init__(self, gain=1.0):
        self.gain = gain

    def __call__(self, shape, dtype=None):
        if len(shape) != 2:
            raise ValueError(f"Identity: shape={tuple(shape)}; expected a 2-D shape")
        return self.gain * _backend.host_xp().eye(shape[0], shape[1], dtype=self._dtype(dtype))

    def get_config(self):
        return {}      # Keras 3.15 writes no gain (keras/src/initializers/constant_initializers.py)


_WINDOWS = ("hann", "hamming", "blackman", "bartlett", "boxcar")


def _window(name, length, periodic):
    """scipy.signal.get_window(name, length, fftbins=periodic) for the common windows
    (hann, hamming, blackman, bartlett, boxcar), computed on the host."""
    hx = _backend.host_xp()
    if length == 1:
        return hx.ones((1,), dtype=hx.float64)
    m = length + 1 if periodic else length
    n = hx.arange(m, dtype=hx.float64)
    if name == "boxcar":
        w = hx.ones((m,), dtype=hx.float64)
    elif name == "bartlett":
        w = 1.0 - hx.abs(2.0 * n / (m - 1) - 1.0)
    else:
        a = {"hann": (0.5, 0.5, 0.0), "hamming": (0.54, 0.46, 0.0),
             "blackman": (0.42, 0.5, 0.08)}[name]
        x = 2.0 * math.pi * n / (m - 1)
        w = a[0] - a[1] * hx.cos(x) + a[2] * hx.cos(2.0 * x)
    return w[:length]


class STFT(Initializer):
    """Kernels of a convolution computing a short-time Fourier transform (Keras's
    ``keras.initializers.STFT``, alias ``STFTInitializer``), for ``STFTSpectrogram``.

    For a kernel of shape ``(T, 1, F//2 + 1)`` (T the frame length, F the FFT length) the
    value at (t, 0, f) is ``cos(-2π·t·f/F)`` (``side="real"``) or ``sin(-2π·t·f/F)``
    (``side="imag"``), times the window ``w[t]`` divided by ``sqrt(Σ w²)``
    (``scaling="density"``) or ``Σ|w|`` (``"spectrum"``).

    Args:
        side: "real" or "imag" (default "real").
        window: a window name ("hann", "hamming", "blackman", "bartlett", "boxcar"), a
            sequence of T window values, or None for no window. Default "hann".
        scaling: "density", "spectrum" or None. Default "density".
        periodic: whether the named window is periodic (scipy's ``fftbins``). Default False.
    """

    def __init__(self, side="real", window="hann", scaling="density", periodic=False):
        if side not in ("real", "imag"):
            raise ValueError(f"STFT: side={side!r}; expected 'real' or 'imag'")
        if isinstance(window, str) and window not in _WINDOWS:
            raise ValueError(f"STFT: window={window!r}; expected one of {list(_WINDOWS)}, a "
                             "sequence of window values or None")
        if scaling is not None and scaling not in ("density", "spectrum"):
            raise ValueError(f"STFT: scaling={scaling!r}; expected 'density', 'spectrum' or None")
        self.side = side
        self.window = window
        self.scaling = scaling
        self.periodic = bool(periodic)

    def __call__(self, shape, dtype=None):
        shape = tuple(int(s) for s in shape)
        if len(shape) != 3:
            raise ValueError(f"STFT: shape={shape}; expected (frame_length, input_channels, "
                             "fft_length // 2 + 1)")
        frame_length, _, bins = shape
        hx = _backend.host_xp()
        fft_length = (bins - 1) * 2
        freq = hx.reshape(hx.arange(bins, dtype=hx.float64), (1, 1, bins)) / fft_length
        time = hx.reshape(hx.arange(frame_length, dtype=hx.float64), (frame_length, 1, 1))
        args = (-2.0 * time) * freq * math.pi
        kernel = hx.cos(args) if self.side == "real" else hx.sin(args)
        if self.window is not None:
            if isinstance(self.window, str):
                win = _window(self.window, frame_length, self.periodic)
            else:
                win = hx.asarray(self.window, dtype=hx.float64)
            if win.ndim != 1 or win.shape[0] != frame_length:
                raise ValueError(f"STFT: the window has shape {tuple(win.shape)}; expected "
                                 f"({frame_length},) (the frame length)")
            win = hx.reshape(win, (frame_length, 1, 1))
            scale = 1.0
            if self.scaling == "density":
                scale = hx.sqrt(hx.sum(win * win))
            elif self.scaling == "spectrum":
                scale = hx.sum(hx.abs(win))
            kernel = kernel * win / scale
        kernel = hx.broadcast_to(kernel, shape) if shape[1] != 1 else kernel
        return hx.astype(kernel, hx.float64).astype(self._dtype(dtype))

    def get_config(self):
        window = self.window
        if window is not None and not isinstance(window, str):
            window = [float(v) for v in window]
        return {"side": self.side, "window": window, "periodic": self.periodic,
                "scaling": self.scaling}


_registry = NameRegistry("initializer", Initializer, "keras.initializers")
for _cls, _names in [
    (Zeros, ("zeros",)), (Ones, ("ones",)), (Constant, ("constant",)),
    (RandomNormal, ("random_normal", "normal")), (RandomUniform, ("random_uniform", "uniform")),
    (TruncatedNormal, ("truncated_normal",)), (VarianceScaling, ("variance_scaling",)),
    (GlorotUniform, ("glorot_uniform",)), (GlorotNormal, ("glorot_normal",)),
    (HeUniform, ("he_uniform",)), (HeNormal, ("he_normal",)),
    (LecunUniform, ("lecun_uniform",)), (LecunNormal, ("lecun_normal",)),
    (Orthogonal, ("orthogonal",)), (Identity, ("identity",)),
    (STFT, ("stft", "STFTInitializer")),
]:
    _registry.register(_cls, *_names)

# Keras's aliases: class names also resolve, and so do the old short names.
zeros, ones, constant = Zeros, Ones, Constant
# The other aliases keras.initializers exports (class aliases and lowercase names).
STFTInitializer = stft = STFT
IdentityInitializer = identity = Identity
OrthogonalInitializer = orthogonal = Orthogonal
glorot_normal, glorot_uniform = GlorotNormal, GlorotUniform
he_normal, he_uniform = HeNormal, HeUniform
lecun_normal, lecun_uniform = LecunNormal, LecunUniform
random_normal, random_uniform = RandomNormal, RandomUniform
truncated_normal, variance_scaling = TruncatedNormal, VarianceScaling


def get(identifier):
    """An Initializer from a name ("glorot_uniform"), a config dict or an instance/callable."""
    return _registry.get(identifier)


def serialize(initializer):
    return _registry.serialize(initializer)


def deserialize(config):
    return _registry.deserialize(config)
