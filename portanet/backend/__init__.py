"""Backend selection: ``set_backend``, ``use_backend``, ``current`` and ``PORTANET_BACKEND``.

This package is the only one that imports an array library by name. Everything else asks
``current()`` (or the backend bound to a built layer) for ``xp`` and the services.

As in thinc/backends/__init__.py, the backend chosen by ``use_backend`` lives in a
``contextvars.ContextVar``: a ``with use_backend(...)`` block changes the backend of its
own thread (or asyncio task) only. ``set_backend`` sets the process-wide default that
every context without a ``use_backend`` block sees (threads start without one).
"""

import contextlib
import contextvars
import os

import numpy as np

from ..validation import check_non_negative_int
from .base import Backend

BACKENDS = ("numpy", "array_api_strict", "cupy")
_ALIASES = {"np": "numpy", "strict": "array_api_strict", "array-api-strict": "array_api_strict",
            "cp": "cupy"}

_instances = {}
# The process default (set_backend; else $PORTANET_BACKEND, else numpy on first use).
_default = None
# This context's override (use_backend); None means "the process default".
_context_backend = contextvars.ContextVar("portanet_backend", default=None)
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
    if key not in _instances and device is not None and name != "cupy":
        # A backend started without a device reports its default one (backend.device):
        # asking for that device by name is the same backend, not a second instance.
        for (other, _), instance in _instances.items():
            if other == name and instance.device == device:
                return instance
    if key not in _instances:
        # Each backend module loads on first use: array_api_strict and cupy are optional
        # packages (the test extra, the cuda extras), so they are imported only when asked for.
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
    """Make ``name`` ("numpy", "array_api_strict", "cupy") the process-wide default backend.

    Models built afterwards live on it. Inside a ``use_backend`` block it also replaces
    that block's backend until the block ends. Fails with one clear error when the
    backend cannot start (library not installed, no GPU), leaving the active backend
    unchanged.
    """
    global _default
    backend = get(name, device)
    backend.activate()
    _default = backend
    if _context_backend.get() is not None:
        _context_backend.set(backend)
    return backend


def current():
    """The active Backend: this context's ``use_backend`` one, else the process default
    (set_backend, else $PORTANET_BACKEND, else numpy)."""
    global _default
    backend = _context_backend.get()
    if backend is not None:
        return backend
    if _default is None:
        _default = get(os.environ.get("PORTANET_BACKEND", "numpy") or "numpy")
    return _default


@contextlib.contextmanager
def use_backend(name, device=None):
    """Context manager: ``with pn.use_backend("array_api_strict"): ...``.

    Only the current thread (context) sees the change; other threads keep theirs.
    """
    backend = get(name, device)
    backend.activate()
    token = _context_backend.set(backend)
    try:
        yield backend
    finally:
        _context_backend.reset(token)
        current().activate()


def set_random_seed(seed):
    """Seed every random stream: initial weights (host) and each backend's training stream."""
    global _seed, _init_rng
    _seed = check_non_negative_int(seed, "seed", "set_random_seed", allow_none=True)
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


# keras.config.backend() / set_backend() read and switch the active backend through these.
from .. import config as _config  # noqa: E402

_config._register_backend_hooks(lambda: current().name, set_backend)
