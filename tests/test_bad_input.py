"""Issue 2's bad-input list: one clear error naming what was given and what was expected,
raised before any state changes (weights, optimizer iterations)."""

import numpy as np
import pytest

import portanet as pn


def _model(out=3, act="softmax"):
    return pn.Sequential([pn.Input((4,)), pn.layers.Dense(5, activation="relu"),
                          pn.layers.Dense(out, activation=act)])


def _data(n=20):
    rng = np.random.default_rng(0)
    return rng.normal(size=(n, 4)).astype("float32"), rng.integers(0, 3, size=n)


def _unchanged(model, before, iterations=0):
    for a, b in zip(model.get_weights(), before):
        np.testing.assert_array_equal(a, b)
    if model.optimizer is not None:
        assert model.optimizer.iterations == iterations


def test_fit_before_compile(backend):
    x, y = _data()
    model = _model()
    with pytest.raises(RuntimeError, match="compile"):
        model.fit(x, y, verbose=0)
    with pytest.raises(RuntimeError, match="compile"):
        model.evaluate(x, y, verbose=0)


@pytest.mark.parametrize("case", [
    "lengths", "features", "label_range", "label_negative", "label_float", "onehot_width",
    "batch_zero", "batch_negative", "epochs_zero", "nan_x", "inf_y", "validation_split",
])
def test_bad_fit_arguments_change_nothing(backend, case):
    x, y = _data()
    model = _model()
    loss = "categorical_crossentropy" if case == "onehot_width" else "sparse_categorical_crossentropy"
    model.compile(optimizer="adam", loss=loss)
    before = model.get_weights()
    kwargs = {"verbose": 0}
    if case == "lengths":
        args, match = (x, y[:15]), r"same number of samples: x has 20, y has 15"
    elif case == "features":
        args, match = (x[:, :3], y), r"input of shape \(20, 3\) does not match the model's input shape \(None, 4\)"
    elif case == "label_range":
        args, match = (x, y + 1), r"class ids in \[0, 2\].*got values from 1 to 3"
    elif case == "label_negative":
        args, match = (x, y - 1), r"class ids in \[0, 2\].*from -1"
    elif case == "label_float":
        args, match = (x, y + 0.5), r"whole numbers"
    elif case == "onehot_width":
        args, match = (x, np.eye(4)[y % 4]), r"one-hot labels have width 4 but the model outputs 3"
    elif case == "batch_zero":
        args, match = (x, y), r"batch_size=0; expected a positive integer"
        kwargs["batch_size"] = 0
    elif case == "batch_negative":
        args, match = (x, y), r"batch_size=-3; expected a positive integer"
        kwargs["batch_size"] = -3
    elif case == "epochs_zero":
        args, match = (x, y), r"epochs=0; expected a positive integer"
        kwargs["epochs"] = 0
    elif case == "nan_x":
        bad = x.copy()
        bad[3, 1] = np.nan
        args, match = (bad, y), r"x contains 1 non-finite value"
    elif case == "inf_y":
        args, match = (x, np.where(np.arange(20) == 2, np.inf, y)), r"y contains .*non-finite"
    elif case == "validation_split":
        args, match = (x, y), r"validation_split=1.5"
        kwargs["validation_split"] = 1.5
    with pytest.raises(ValueError, match=match):
        model.fit(*args, **kwargs)
    _unchanged(model, before)


@pytest.mark.parametrize("kind,kwargs,match", [
    ("optimizer", {"optimizer": "adamm", "loss": "mse"}, r"unknown optimizer name 'adamm'.*adam.*sgd"),
    ("loss", {"optimizer": "sgd", "loss": "msee"}, r"unknown loss name 'msee'.*mse"),
    ("metric", {"optimizer": "sgd", "loss": "mse", "metrics": ["accuarcy"]}, r"unknown metric name 'accuarcy'"),
])
def test_unknown_names_list_valid_ones(kind, kwargs, match):
    model = _model()
    with pytest.raises(ValueError, match=match):
        model.compile(**kwargs)
    assert not model.compiled


def test_unknown_activation_initializer_backend():
    with pytest.raises(ValueError, match=r"unknown activation name 'relux'; expected one of: .*relu.*sigmoid"):
        pn.layers.Dense(2, activation="relux")
    with pytest.raises(ValueError, match=r"unknown initializer name 'he'; expected one of: .*he_normal"):
        pn.layers.Dense(2, kernel_initializer="he")
    before = pn.backend.current()
    with pytest.raises(ValueError, match=r"unknown backend name='torch'; expected one of \('numpy', 'array_api_strict', 'cupy'\)"):
        pn.set_backend("torch")
    assert pn.backend.current() is before


def test_predict_with_wrong_features(backend):
    model = _model()
    with pytest.raises(ValueError, match=r"built for 4 features per sample; got 7"):
        model.predict(np.zeros((2, 7), "float32"))


def test_cupy_without_gpu_is_one_clear_sentence():
    try:
        import cupy  # noqa: F401
        has_cupy = True
    except ImportError:
        has_cupy = False
    if has_cupy:
        # CuPy present: it either starts on a GPU or says in one sentence that none is usable.
        try:
            assert pn.backend.get("cupy").name == "cupy"
        except RuntimeError as exc:
            assert "GPU" in str(exc)
        return
    with pytest.raises(RuntimeError, match=r"backend 'cupy' needs CuPy, which is not installed.*pip install"):
        pn.set_backend("cupy")
