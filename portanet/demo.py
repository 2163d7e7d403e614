"""``portanet demo``: a small network trained on the bundled 8x8 digits.

The models and data of the demo live here, inside the package, so that the command works
from an installed wheel and imports nothing outside portanet (the benchmark harness is
the repository's ``bench/``, run with ``python -m bench``).
"""

import time

from . import __version__, layers, optimizers
from . import backend as _backend
from .datasets import digits
from .models import Sequential
from .utils import plot_history

MODELS = ("mlp", "cnn")


def build_model(kind="mlp"):
    """The demo's network: "mlp" (Flatten, Dense 128 relu, Dropout, softmax) or "cnn"
    (two Conv2D + MaxPooling2D blocks, Dense 64, softmax).

    Args:
        kind: "mlp" (inputs of shape (8, 8)) or "cnn" (inputs of shape (8, 8, 1)).
    """
    if kind == "mlp":
        return Sequential([
            layers.Input((8, 8)),
            layers.Flatten(),
            layers.Dense(128, activation="relu"),
            layers.Dropout(0.1),
            layers.Dense(10, activation="softmax"),
        ])
    if kind == "cnn":
        return Sequential([
            layers.Input((8, 8, 1)),
            layers.Conv2D(32, 3, activation="relu", padding="same"),
            layers.MaxPooling2D(2),
            layers.Conv2D(64, 3, activation="relu", padding="same"),
            layers.MaxPooling2D(2),
            layers.Flatten(),
            layers.Dense(64, activation="relu"),
            layers.Dense(10, activation="softmax"),
        ])
    raise ValueError(f"demo: model={kind!r}; expected one of {MODELS}")


def load_data(kind="mlp"):
    """The digits as ``((x_train, y_train), (x_test, y_test))``, shaped for ``kind``
    (the CNN gets a trailing channel axis)."""
    (x_train, y_train), (x_test, y_test) = digits.load_data()
    if kind == "cnn":
        x_train, x_test = x_train[..., None], x_test[..., None]
    return (x_train, y_train), (x_test, y_test)


def run(model="mlp", backend=None, epochs=20, batch_size=32, learning_rate=1e-3, seed=0,
        verbose=2, plot=None, diagnostics=False, print_fn=print):
    """Train the demo network and print its test accuracy (the last line printed).

    Args:
        model: "mlp" or "cnn".
        backend: a backend name, or None for the active one.
        epochs, batch_size, learning_rate, seed, verbose: as ``fit``/``Adam``.
        plot: a PNG path for the training curves (needs matplotlib), or None.
        diagnostics: run fit's per-epoch training diagnostics.
        print_fn: where the report lines go.

    Returns:
        ``(test_loss, test_accuracy)``.
    """
    if backend:
        _backend.set_backend(backend)
    active = _backend.current()
    _backend.set_random_seed(seed)
    (x_train, y_train), (x_test, y_test) = load_data(model)
    print_fn(f"portanet {__version__} demo: {model} on the bundled 8x8 digits "
             f"({len(x_train)} train / {len(x_test)} test images), backend {active.name}")
    net = build_model(model)
    net.compile(optimizer=optimizers.Adam(learning_rate=learning_rate),
                loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    start = time.perf_counter()
    history = net.fit(x_train, y_train, batch_size=batch_size, epochs=epochs,
                      validation_split=0.1, verbose=verbose, diagnostics=diagnostics)
    elapsed = time.perf_counter() - start
    if plot:
        plot_history(history, plot)
        print_fn(f"curves written to {plot}")
    loss, acc = net.evaluate(x_test, y_test, verbose=0)
    print_fn(f"trained {epochs} epochs in {elapsed:.1f}s; test loss: {loss:.4f}")
    print_fn(f"test accuracy: {acc:.3f}")
    return loss, acc
