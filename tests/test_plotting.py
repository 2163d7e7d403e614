"""Training curves: the PNG exists, is a real PNG of the expected pixel size, and the
missing-matplotlib error names the extra to install."""

import struct
import sys

import numpy as np
import pytest

import portanet as pn
from portanet import cli

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_size(path):
    """(width, height) from the IHDR chunk, after checking the signature."""
    data = open(path, "rb").read(33)
    assert data[:8] == PNG_SIGNATURE
    length, kind = struct.unpack(">I4s", data[8:16])
    assert kind == b"IHDR" and length == 13
    return struct.unpack(">II", data[16:24])


def _fit(backend, epochs=3, validation_split=0.25, record_batch_loss=True):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 3)).astype("float32")
    y = (x[:, :1] > 0).astype("float32")
    pn.utils.set_random_seed(0)
    model = pn.Sequential([pn.Input((3,)), pn.layers.Dense(4, activation="relu"),
                           pn.layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    return model.fit(x, y, epochs=epochs, batch_size=16, verbose=0, validation_split=validation_split,
                     record_batch_loss=record_batch_loss)


def test_history_records_every_iteration(backend):
    history = _fit(backend, epochs=3)
    # 48 training rows in batches of 16: 3 iterations per epoch.
    assert len(history.batch_history["loss"]) == 9
    assert history.batch_epoch_ends == [3, 6, 9]
    # The epoch loss is the sample-weighted mean of that epoch's batch losses.
    np.testing.assert_allclose(np.mean(history.batch_history["loss"][-3:]), history.history["loss"][-1],
                               rtol=1e-5)


def test_plot_history_writes_png_of_expected_size(backend, tmp_path):
    history = _fit(backend)
    path = tmp_path / "curves.png"
    fig = pn.utils.plot_history(history, str(path))
    # Panels: loss per iteration (spanning the first row), loss and accuracy per epoch.
    assert png_size(path) == (1000, 700)
    titles = sorted(ax.get_title() for ax in fig.axes)
    assert titles == ["Accuracy per epoch", "Loss per epoch", "Loss per iteration"]
    loss_ax = [ax for ax in fig.axes if ax.get_title() == "Loss per epoch"][0]
    assert loss_ax.get_xlabel() == "epoch" and loss_ax.get_ylabel() == "loss"
    assert [t.get_text() for t in loss_ax.get_legend().get_texts()] == ["training", "validation"]
    np.testing.assert_allclose(loss_ax.lines[1].get_ydata(), history.history["val_loss"])
    it_ax = [ax for ax in fig.axes if ax.get_title() == "Loss per iteration"][0]
    assert it_ax.get_xlabel().startswith("iteration") and len(it_ax.lines[0].get_ydata()) == 9


def test_history_plot_method_and_dict(backend, tmp_path):
    history = _fit(backend, validation_split=0.0, record_batch_loss=False)
    history.plot(str(tmp_path / "a.png"))
    # loss and accuracy, no per-iteration record: two panels side by side.
    assert png_size(tmp_path / "a.png") == (1000, 350)
    pn.utils.plot_history({"loss": [1.0, 0.5, float("nan")]}, str(tmp_path / "b.png"), dpi=50)
    assert png_size(tmp_path / "b.png") == (250, 175)
    fig = history.plot()  # no path: just the figure
    assert len(fig.axes) == 2


def test_plot_errors(monkeypatch, tmp_path):
    with pytest.raises(ValueError, match="no epochs"):
        pn.utils.plot_history({}, str(tmp_path / "x.png"))
    with pytest.raises(TypeError, match="expected the History"):
        pn.utils.plot_history([1, 2], str(tmp_path / "x.png"))
    for name in ("matplotlib", "matplotlib.figure", "matplotlib.backends.backend_agg"):
        monkeypatch.setitem(sys.modules, name, None)
    with pytest.raises(ImportError, match=r"needs matplotlib.*portanet\[plot\]"):
        pn.utils.plot_history({"loss": [1.0]}, str(tmp_path / "x.png"))
    assert not (tmp_path / "x.png").exists()


def test_demo_plot_and_diagnostics_flags(tmp_path, capsys):
    path = tmp_path / "demo.png"
    assert cli.main(["demo", "--epochs", "2", "--verbose", "0", "--plot", str(path), "--diagnostics"]) == 0
    assert png_size(path) == (1000, 700)
    out = capsys.readouterr().out
    assert f"curves written to {path}" in out
    assert "TrainingDiagnostics: no problems found" in out
