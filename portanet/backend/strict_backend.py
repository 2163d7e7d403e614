"""array-api-strict backend: the conformance check. Pure standard, nothing else.

It runs on the CPU and forbids what the standard leaves undefined, so code that passes
here runs on any conforming library. It overrides nothing: the portable services of
``Backend`` are what it tests.
"""

from .base import Backend


class StrictBackend(Backend):
    name = "array_api_strict"

    def _make_namespace(self):
        try:
            import array_api_strict as xp
        except ImportError:  # pragma: no cover - environment
            raise RuntimeError(
                "backend 'array_api_strict' needs the array-api-strict package: "
                "pip install array-api-strict (or pip install -e \".[test]\")") from None
        if self.device is None:
            self.device = xp.Device()
        return xp
