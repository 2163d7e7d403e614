"""A pytest plugin that holds array_api_strict to CuPy's rule on host conversion.

CuPy refuses implicit conversion of a device array to NumPy (``np.asarray(x)``,
``np.testing.assert_allclose(x, ...)``); array_api_strict allows it. With this plugin the
strict backend refuses it too, except through ``Backend.to_numpy``, so a CPU-only run of
the suite finds what would break on a GPU:

    PYTHONPATH=bench PORTANET_BACKEND=array_api_strict python -m pytest -p cupy_rules
"""

import threading

import array_api_strict
import numpy as np

from portanet.backend import strict_backend

_Array = type(array_api_strict.asarray(0.0))
_original = _Array.__array__
_state = threading.local()


def _guarded(self, *args, **kwargs):
    if getattr(_state, "allowed", False):
        return _original(self, *args, **kwargs)
    raise TypeError("Implicit conversion to a NumPy array is not allowed (CuPy's rule); "
                    "use backend.to_numpy(x)")


def _to_numpy(self, x):
    self.to_host_calls += 1
    if isinstance(x, np.ndarray):
        return x
    _state.allowed = True
    try:
        return np.asarray(x)
    finally:
        _state.allowed = False


_Array.__array__ = _guarded
strict_backend.StrictBackend.to_numpy = _to_numpy
