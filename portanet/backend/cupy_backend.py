"""CuPy backend (NVIDIA GPUs). CuPy is imported only when this backend is selected."""

import numpy as np

from .base import Backend


class CupyBackend(Backend):
    name = "cupy"

    def _make_namespace(self):
        try:
            import cupy
        except ImportError as exc:
            raise RuntimeError(
                "backend 'cupy' needs CuPy, which is not installed ("
                f"{exc}); install it with pip install -e \".[cuda12]\" or \".[cuda13]\" "
                "to match your CUDA driver") from None
        try:
            count = cupy.cuda.runtime.getDeviceCount()
        except Exception as exc:  # CUDA driver missing or broken
            raise RuntimeError(f"backend 'cupy' found no usable NVIDIA GPU: {exc}") from None
        index = 0 if self.device is None else int(getattr(self.device, "id", self.device))
        if count == 0 or not 0 <= index < count:
            raise RuntimeError(f"backend 'cupy': device={index!r} is not available; "
                               f"this machine has {count} GPU(s)")
        self._cupy = cupy
        self.device = cupy.cuda.Device(index)
        self.device.use()
        import array_api_compat.cupy as xp
        self._gen = cupy.random.default_rng()
        return xp

    def reseed(self, seed):
        super().reseed(seed)
        self._gen = self._cupy.random.default_rng(None if seed is None else int(seed) + 1)

    def is_array(self, x):
        return isinstance(x, self._cupy.ndarray)

    def from_numpy(self, a, dtype=None):
        a = np.asarray(a)
        if dtype is not None:
            a = a.astype(np.dtype(dtype), copy=False)
        with self.device:
            return self._cupy.asarray(a)

    def to_numpy(self, x):
        self.to_host_calls += 1
        if isinstance(x, np.ndarray):
            return x
        return self._cupy.asnumpy(x)

    def synchronize(self):
        self.device.synchronize()

    # Training-time randomness is drawn on the device: no host traffic inside a step.
    def random_normal(self, shape, mean=0.0, stddev=1.0, dtype=None):
        dt = np.dtype(dtype or self.floatx())
        return (self._gen.standard_normal(tuple(shape), dtype=dt) * stddev + mean).astype(dt, copy=False)

    def random_uniform(self, shape, minval=0.0, maxval=1.0, dtype=None):
        dt = np.dtype(dtype or self.floatx())
        return (self._gen.random(tuple(shape), dtype=dt) * (maxval - minval) + minval).astype(dt, copy=False)

    def dropout_mask(self, shape, rate, dtype=None):
        dt = np.dtype(dtype or self.floatx())
        scale = 0.0 if rate >= 1.0 else 1.0 / (1.0 - rate)
        return (self._gen.random(tuple(shape), dtype=np.float32) >= rate).astype(dt) * dt.type(scale)

    def permutation(self, n):
        return self._gen.permutation(int(n)).astype(self._cupy.int64)

    def scatter_add(self, target, indices, values):
        import cupyx
        out = target.copy()
        cupyx.scatter_add(out, indices.reshape(-1), values.reshape((-1,) + target.shape[1:]))
        return out
