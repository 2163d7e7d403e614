"""Writes keras_names.json: Keras 3's public names in the namespaces portanet mirrors
(tests/test_keras_names.py fails on any that portanet lacks, bridges to other frameworks aside).

    KERAS_BACKEND=jax python tests/keras_reference/make_keras_names.py
"""

import json
import os
import pathlib

os.environ.setdefault("KERAS_BACKEND", "jax")
import keras  # noqa: E402

NAMESPACES = ["layers", "losses", "metrics", "optimizers", "optimizers.schedules", "callbacks", "activations",
              "initializers", "regularizers", "constraints", "utils", "ops", "random", "saving", "models",
              "mixed_precision", "config"]


def public(module):
    return sorted(n for n in dir(module) if not n.startswith("_"))


def main():
    names = {}
    for ns in NAMESPACES:
        module = keras
        for part in ns.split("."):
            module = getattr(module, part)
        names[ns] = public(module)
    path = pathlib.Path(__file__).parent / "keras_names.json"
    path.write_text(json.dumps({"keras_version": keras.__version__, "names": names}, indent=1))
    print(f"wrote {sum(len(v) for v in names.values())} names of Keras {keras.__version__}")


if __name__ == "__main__":
    main()
