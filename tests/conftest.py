"""Every test runs on every available backend through the ``backend`` fixture:
numpy and array_api_strict always, cupy where a GPU is visible.
``PORTANET_BACKEND=<name> pytest`` runs the whole suite on that one backend."""

import os

import numpy as np
import pytest

import portanet as pn


def _gpu_visible():
    try:
        import cupy
        return cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:
        return False


def available_backends():
    forced = os.environ.get("PORTANET_BACKEND")
    if forced:
        return [forced]
    names = ["numpy", "array_api_strict"]
    if _gpu_visible():
        names.append("cupy")
    return names


BACKENDS = available_backends()


@pytest.fixture(params=BACKENDS)
def backend(request):
    """The active Backend for this test (set and restored around it), seeded with 0."""
    with pn.use_backend(request.param) as b:
        pn.utils.set_random_seed(0)
        yield b


@pytest.fixture
def float64():
    """Run the test with floatx = float64 (for finite-difference gradient checks)."""
    old = pn.config.floatx()
    pn.config.set_floatx("float64")
    yield
    pn.config.set_floatx(old)


@pytest.fixture(autouse=True)
def _reset_state():
    old = pn.config.floatx()
    pn.utils.clear_session()
    yield
    pn.config.set_floatx(old)


@pytest.fixture
def rng():
    return np.random.default_rng(1234)
