"""pn.callbacks.TensorBoard: event files read back record by record (TFRecord + Event proto)."""

import builtins
import glob
import os
import struct

import numpy as np
import pytest

import portanet as pn

tbx = pytest.importorskip("tensorboardX")   # the optional 'tensorboard' extra
from tensorboardX.proto import event_pb2  # noqa: E402


def read_events(folder):
    """Every Event of the event files in ``folder`` (TFRecord framing: length, crc, data, crc)."""
    events = []
    for path in sorted(glob.glob(os.path.join(folder, "events.out.tfevents.*"))):
        with open(path, "rb") as f:
            data = f.read()
        pos = 0
        while pos < len(data):
            (length,) = struct.unpack("<Q", data[pos:pos + 8])
            pos += 12
            events.append(event_pb2.Event.FromString(data[pos:pos + length]))
            pos += length + 4
    return events


def scalars(folder):
    """{tag: [(step, value), ...]} of the scalar summaries in ``folder``."""
    out = {}
    for event in read_events(folder):
        for value in event.summary.value:
            if value.HasField("simple_value"):
                out.setdefault(value.tag, []).append((event.step, value.simple_value))
    return out


def _data(rng, n=64):
    x = rng.standard_normal((n, 3)).astype("float32")
    y = (x @ np.array([[1.0], [-2.0], [0.5]], dtype="float32") > 0).astype("float32")
    return x, y


def _model():
    model = pn.Sequential([pn.Input((3,)), pn.layers.Dense(4, activation="relu", name="hidden"),
                           pn.layers.Dense(1, activation="sigmoid", name="out")])
    model.compile(optimizer=pn.optimizers.SGD(learning_rate=0.1), loss="binary_crossentropy",
                  metrics=["accuracy"])
    return model


def test_epoch_scalars_equal_history(backend, tmp_path):
    rng = np.random.default_rng(0)
    x, y = _data(rng)
    model = _model()
    tb = pn.callbacks.TensorBoard(log_dir=tmp_path, histogram_freq=1)
    history = model.fit(x, y, batch_size=16, epochs=3, validation_data=_data(rng, 32), verbose=0,
                        callbacks=[tb])
    train = scalars(tmp_path / "train")
    val = scalars(tmp_path / "validation")
    for key in ("loss", "accuracy"):
        assert [s for s, _ in train[f"epoch_{key}"]] == [0, 1, 2]
        np.testing.assert_allclose([v for _, v in train[f"epoch_{key}"]], history.history[key], rtol=1e-6)
        np.testing.assert_allclose([v for _, v in val[f"epoch_{key}"]], history.history["val_" + key],
                                   rtol=1e-6)
    assert [v for _, v in train["epoch_learning_rate"]] == pytest.approx([0.1] * 3)
    assert not any(tag.startswith("epoch_val_") for tag in train)
    # Histograms of every weight each epoch; the last one summarizes the final weights.
    histos = {}
    for event in read_events(tmp_path / "train"):
        for value in event.summary.value:
            if value.HasField("histo"):
                histos.setdefault(value.tag, []).append((event.step, value.histo))
    assert set(histos) == {"hidden/kernel/histogram", "hidden/bias/histogram", "out/kernel/histogram",
                           "out/bias/histogram"}
    assert [s for s, _ in histos["out/bias/histogram"]] == [0, 1, 2]
    kernel = model.get_layer("hidden").get_weights()[0]
    step, last = histos["hidden/kernel/histogram"][-1]
    assert step == 2 and last.num == kernel.size
    assert last.sum == pytest.approx(float(kernel.sum()), rel=1e-5, abs=1e-6)
    assert last.min == pytest.approx(float(kernel.min())) and last.max == pytest.approx(float(kernel.max()))
    # write_graph: the architecture as text.
    texts = [v.tag for e in read_events(tmp_path / "train") for v in e.summary.value if v.tag.startswith("keras")]
    assert texts


def test_batch_scalars_every_update_freq(backend, tmp_path):
    rng = np.random.default_rng(1)
    x, y = _data(rng)
    seen = []
    record = pn.callbacks.LambdaCallback(on_train_batch_end=lambda b, logs: seen.append(float(logs["loss"])))
    model = _model()
    model.fit(x, y, batch_size=16, epochs=2, verbose=0, shuffle=False,
              callbacks=[record, pn.callbacks.TensorBoard(log_dir=str(tmp_path), update_freq=3,
                                                          write_graph=False)])
    batch = scalars(tmp_path / "train")["batch_loss"]
    # 4 batches an epoch, 8 in all: global batches 3 and 6.
    assert [s for s, _ in batch] == [3, 6]
    np.testing.assert_allclose([v for _, v in batch], [seen[2], seen[5]], rtol=1e-6)
    assert not (tmp_path / "validation").exists()


def test_update_freq_batch_writes_every_batch(backend, tmp_path):
    rng = np.random.default_rng(2)
    x, y = _data(rng, 32)
    model = _model()
    model.fit(x, y, batch_size=16, epochs=1, verbose=0,
              callbacks=[pn.callbacks.TensorBoard(log_dir=tmp_path, update_freq="batch")])
    assert [s for s, _ in scalars(tmp_path / "train")["batch_loss"]] == [1, 2]


@pytest.mark.parametrize("kwargs, match", [
    ({"log_dir": ""}, "log_dir"),
    ({"histogram_freq": -1}, "histogram_freq"),
    ({"update_freq": "often"}, "update_freq"),
    ({"update_freq": 0}, "update_freq"),
    ({"embeddings_freq": 1.5}, "embeddings_freq"),
    ({"profile_batch": -2}, "profile_batch"),
    ({"embeddings_metadata": 3}, "embeddings_metadata"),
])
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        pn.callbacks.TensorBoard(**kwargs)


def test_missing_extra_names_it(monkeypatch, tmp_path):
    real_import = builtins.__import__

    def no_tbx(name, *args, **kwargs):
        if name == "tensorboardX" or name.startswith("tensorboardX."):
            raise ImportError("No module named 'tensorboardX'")
        return real_import(name, *args, **kwargs)
    monkeypatch.setattr(builtins, "__import__", no_tbx)
    with pytest.raises(ImportError, match=r"'tensorboard' extra.*pip install"):
        pn.callbacks.TensorBoard(log_dir=tmp_path)


def test_images_and_embeddings(backend, tmp_path):
    rng = np.random.default_rng(3)
    x = rng.integers(0, 10, (32, 5))
    y = rng.integers(0, 2, (32, 1)).astype("float32")
    model = pn.Sequential([pn.Input((5,), dtype="int32"), pn.layers.Embedding(10, 3, name="emb"),
                           pn.layers.Flatten(name="flat"), pn.layers.Dense(1, activation="sigmoid", name="out")])
    model.compile(optimizer="sgd", loss="binary_crossentropy")
    labels = tmp_path / "labels.tsv"
    labels.write_text("".join(f"word{i}\n" for i in range(10)))
    tb = pn.callbacks.TensorBoard(log_dir=tmp_path / "logs", histogram_freq=1, write_images=True,
                                  embeddings_freq=1, embeddings_metadata={"emb": str(labels)})
    model.fit(x, y, epochs=1, batch_size=16, verbose=0, callbacks=[tb])
    images = {v.tag: v.image for e in read_events(tmp_path / "logs" / "train") for v in e.summary.value
              if v.HasField("image")}
    assert images["emb/embeddings/image"].height == 10 and images["emb/embeddings/image"].width == 3
    assert images["out/bias/image"].height == 1
    tsv = sorted((tmp_path / "logs" / "train").rglob("tensors.tsv"))
    assert len(tsv) == 1
    rows = [list(map(float, line.split("\t"))) for line in tsv[0].read_text().splitlines()]
    np.testing.assert_allclose(rows, model.get_layer("emb").get_weights()[0], rtol=1e-5, atol=1e-6)
    meta = sorted((tmp_path / "logs" / "train").rglob("metadata.tsv"))
    assert meta and meta[0].read_text().split() == [f"word{i}" for i in range(10)]


def test_fit_validation_writes_evaluation_vs_iterations(backend, tmp_path):
    # fit's validation runs the test hooks (Keras's fit calls evaluate), so TensorBoard's
    # on_test_end writes evaluation_<name>_vs_iterations at the optimizer's iteration count.
    rng = np.random.default_rng(1)
    x, y = _data(rng, 48)
    model = _model()
    tb = pn.callbacks.TensorBoard(log_dir=tmp_path)
    h = model.fit(x, y, batch_size=16, epochs=2, verbose=0, validation_data=(x[:16], y[:16]),
                  callbacks=[tb])
    got = scalars(str(tmp_path / "validation"))
    for name in ("loss", "accuracy"):
        steps = [s for s, _ in got[f"evaluation_{name}_vs_iterations"]]
        values = [v for _, v in got[f"evaluation_{name}_vs_iterations"]]
        assert steps == [3, 6]  # 3 batches an epoch
        np.testing.assert_allclose(values, h.history["val_" + name], rtol=1e-6)
