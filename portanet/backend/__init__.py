"""Backend selection: ``set_backend``, ``use_backend``, ``current`` and ``PORTANET_BACKEND``.

This package is the only one that imports an array library by name. Everything else asks
``current()`` (or the backend bound to a built layer) for ``xp`` and the services.
"""

import contextlib
import os

import numpy as np

from .base import Backend

BACKENDS = ("numpy", "array_api_strict", "cupy")
_ALIASES = {"np": "numpy", "strict": "array_api_strict", "array-api-strict": "array_api_strict",
            "cp": "cupy"}

_instances = {}
_current = None
_seed = None
_init_rng = np.random.default_rng()


def _normalize(name):
    if not isinstance(name, str):
        raise TypeError(f"set_backend: name must be a string, got {type(name).__name__}; "
                        f"expected one of {BACKENDS}")
    key = _ALIASES.get(name.strip().lower(), name.strip().lower())
    if key not in BACKENDS:
        raise ValueError(f"unknown backend name={name!r}; expected one of {BACKENDS}")
    return key


def get(name, device=None):
    """The (cached) Backend instance for a name and device; starts it on first use."""
    name = _normalize(name)
    if name == "cupy":
        # One instance per GPU: device=None, 0 and cupy.cuda.Device(0) are the same backend.
        device = 0 if device is None else getattr(device, "id", device)
    key = (name, device)
    if key not in _instances:
        if key[0] == "numpy":
            from .numpy_backend import NumpyBackend as cls
        elif key[0] == "array_api_strict":
            from .strict_backend import StrictBackend as cls
        else:
            from .cupy_backend import CupyBackend as cls
        backend = cls(device=device)
        backend.reseed(_seed)
        _instances[key] = backend
    return _instances[key]


def set_backend(name, device=None):
    """Make ``name`` ("numpy", "array_api_strict", "cupy") the active backend.

    Models built afterwards live on it. Fails with one clear error when the backend
    cannot start (library not installed, no GPU), leaving the active backend unchanged.
    """
    global _current
    backend = get(name, device)
    backend.activate()
    _current = backend
    return backend


def current():
    """The active Backend (from set_backend, use_backend or $PORTANET_BACKEND; else numpy)."""
    global _current
    if _current is None:
        _current = get(os.environ.get("PORTANET_BACKEND", "numpy") or "numpy")
    return _current


@contextlib.contextmanager
def use_backend(name, device=None):
    """Context manager: ``with pn.use_backend("array_api_strict"): ...``."""
    global _current
    previous = _current
    backend = set_backend(name, device)
    try:
        yield backend
    finally:
        _current = previous
        if previous is not None:
            previous.activate()


def set_random_seed(seed):
    """Seed every random stream: initial weights (host) and each backend's training stream."""
    global _seed, _init_rng
    if seed is not None and (not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0):
        raise ValueError(f"set_random_seed: seed={seed!r}; expected a non-negative integer")
    _seed = None if seed is None else int(seed)
    _init_rng = np.random.default_rng(_seed)
    for backend in _instances.values():
        backend.reseed(_seed)


def init_rng():
    """The host NumPy generator initial weights are drawn from (same values on every backend)."""
    return _init_rng


def make_seed():
    """A fresh integer seed drawn from the global stream (for per-initializer seeding)."""
    return int(_init_rng.integers(0, 2**31 - 1))


__all__ = ["Backend", "BACKENDS", "get", "set_backend", "current", "use_backend",
           "set_random_seed", "init_rng"]


def host_xp():
    """The Array API namespace of host NumPy arrays (for host-side math such as initializers)."""
    import array_api_compat.numpy as hxp
    return hxp


def host_rng(seed):
    """A fresh host NumPy generator for an explicit seed (int or sequence of ints)."""
    return np.random.default_rng(seed)
