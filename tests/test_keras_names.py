"""Every public name of Keras 3 in the namespaces portanet mirrors exists in portanet (the
names stored by tests/keras_reference/make_keras_names.py; with Keras installed, also the
installed Keras's). Left out on purpose, each with its reason: bridges to other frameworks and
file formats of other frameworks, and Keras's own legacy modules."""

import importlib
import json
import pathlib

import pytest

import portanet as pn  # noqa: F401

STORED = json.loads((pathlib.Path(__file__).parent / "keras_reference" / "keras_names.json").read_text())

LEFT_OUT = {
    # Wrappers of other frameworks' models and checkpoints: portanet runs no TF/JAX/Flax/torch.
    ("layers", "TFSMLayer"), ("layers", "JaxLayer"), ("layers", "FlaxLayer"), ("layers", "TorchModuleWrapper"),
    ("callbacks", "OrbaxCheckpoint"),
    # keras.utils.legacy / keras.optimizers.legacy: Keras 2 shims Keras 3 itself deprecates.
    ("utils", "legacy"), ("optimizers", "legacy"),
    # keras.config.is_nnx_enabled: Flax NNX integration.
    ("config", "is_nnx_enabled"),
}


def _missing(names):
    missing = []
    for ns, listed in names.items():
        try:
            module = importlib.import_module("portanet." + ns)
        except ImportError:
            missing.append(f"{ns} (the whole module)")
            continue
        for name in listed:
            if (ns, name) not in LEFT_OUT and not hasattr(module, name):
                missing.append(f"{ns}.{name}")
    return missing


def test_every_stored_keras_name_exists():
    missing = _missing(STORED["names"])
    assert not missing, f"{len(missing)} Keras {STORED['keras_version']} names missing: {missing}"


def test_every_installed_keras_name_exists():
    keras = pytest.importorskip("keras")
    names = {}
    for ns in STORED["names"]:
        module = keras
        for part in ns.split("."):
            module = getattr(module, part)
        names[ns] = sorted(n for n in dir(module) if not n.startswith("_"))
    missing = _missing(names)
    assert not missing, f"{len(missing)} Keras {keras.__version__} names missing: {missing}"
