"""keras.utils / keras.saving / keras.models names of Keras 3.15.1 that real scripts use:
Config, the object registry (CustomObjectScope, get_registered_name/object), the symbolic
helpers, standardize_dtype, interactive logging, timeseries_dataset_from_array (the values
of Keras's documented examples), split_dataset (Keras's split sizes and its shuffle order),
get_file (file:// URLs: cache, md5/sha256, tar/zip extraction that refuses escaping members).
"""

import hashlib
import io
import os
import random
import tarfile
import zipfile

import numpy as np
import pytest

import portanet as pn
from portanet import utils as U


# ------------------------------------------------------------------ names where Keras has them
def test_names_are_exported_where_keras_has_them(backend):
    for name in ("Config", "CustomObjectScope", "custom_object_scope", "get_registered_name",
                 "get_registered_object", "get_source_inputs", "is_keras_tensor",
                 "standardize_dtype", "enable_interactive_logging", "disable_interactive_logging",
                 "is_interactive_logging_enabled", "serialize_keras_object",
                 "deserialize_keras_object", "register_keras_serializable", "get_custom_objects",
                 "timeseries_dataset_from_array", "split_dataset", "get_file"):
        assert callable(getattr(U, name)) and name in U.__all__, name
    for name in ("CustomObjectScope", "get_registered_name", "get_registered_object"):
        assert getattr(pn.saving, name) is getattr(U, name) and name in pn.saving.__all__
    assert U.custom_object_scope is U.CustomObjectScope  # as keras.utils
    assert pn.models.save_model is pn.saving.save_model and "save_model" in pn.models.__all__
    assert U.serialize_keras_object is pn.saving.serialize_keras_object


def test_save_model_round_trip(backend, tmp_path):
    model = pn.Sequential([pn.Input((3,)), pn.layers.Dense(2)])
    path = str(tmp_path / "m.portanet")
    pn.models.save_model(model, path)
    x = np.arange(6, dtype="float32").reshape(2, 3)
    np.testing.assert_allclose(pn.models.load_model(path).predict(x, verbose=0),
                               model.predict(x, verbose=0), rtol=0, atol=0)


# ------------------------------------------------------------------ Config
def test_config_attribute_and_item_access_freeze_and_json(backend):
    config = U.Config(learning_rate=0.1, momentum=0.9)
    config.use_ema = True
    config["seed"] = 123
    assert config.seed == 123 and config["learning_rate"] == 0.1
    assert list(config) == ["learning_rate", "momentum", "seed", "use_ema"]  # sorted, as Keras
    assert config.as_dict() == {"learning_rate": 0.1, "momentum": 0.9, "use_ema": True, "seed": 123}
    assert config.to_json() == '{"learning_rate": 0.1, "momentum": 0.9, "use_ema": true, "seed": 123}'
    assert len(config) == 4 and "seed" in config and config.get("nope", 5) == 5
    with pytest.raises(AttributeError, match="Unknown attribute: 'sed'. Did you mean 'seed'?"):
        config.sed
    config.freeze()
    assert config.frozen
    for change in (lambda: setattr(config, "foo", 1), lambda: config.__setitem__("a", 1),
                   lambda: config.pop("seed"), lambda: config.update(a=1),
                   lambda: config.__delitem__("seed")):
        with pytest.raises(ValueError, match="frozen"):
            change()
    assert config.seed == 123  # nothing changed
    config.unfreeze()
    del config["seed"]
    assert "seed" not in config


# ------------------------------------------------------------------ object registry
def test_registered_names_and_objects(backend):
    @U.register_keras_serializable(package="surface_test", name="Twice")
    def twice(x):
        return 2 * x

    class Plain:
        pass

    assert U.get_registered_name(twice) == "surface_test>Twice"
    assert U.get_registered_name(Plain) == "Plain"  # not registered: its __name__
    assert U.get_registered_object("surface_test>Twice") is twice
    assert U.get_registered_object("nothing_here") is None
    assert U.get_registered_object("p", custom_objects={"p": Plain}) is Plain
    assert U.get_registered_object("p", module_objects={"p": Plain}) is Plain
    with U.CustomObjectScope({"p": int}) as scope:
        assert scope.custom_objects == {"p": int}
        assert U.get_registered_object("p", custom_objects={"p": Plain}) is int  # scope first
        with pn.saving.CustomObjectScope({"p": float}):
            assert U.get_registered_object("p") is float  # innermost first
        assert U.get_registered_object("p") is int
    assert U.get_registered_object("p") is None
    with U.CustomObjectScope(None):
        assert U.get_registered_object("p") is None
    U.get_custom_objects().pop("surface_test>Twice")
    U.get_custom_objects().pop("Twice")
    U.get_custom_objects().pop("twice", None)


def test_custom_object_scope_lets_a_config_name_a_custom_activation(backend):
    def my_act(x):
        return x * 3.0

    layer = pn.layers.Dense(2, activation=my_act, name="d")
    config = layer.get_config()
    with U.custom_object_scope({"my_act": my_act}):
        rebuilt = pn.layers.Dense.from_config(config)
    assert rebuilt.activation is my_act


# ------------------------------------------------------------------ symbolic helpers, dtypes
def test_is_keras_tensor_and_get_source_inputs(backend):
    a, b = pn.Input((3,), name="a"), pn.Input((2,), name="b")
    h = pn.layers.Dense(4)(a)
    merged = pn.layers.Concatenate()([h, b, h])
    out = pn.layers.Dense(1)(merged)
    assert U.is_keras_tensor(out) and not U.is_keras_tensor(np.zeros(3))
    src = U.get_source_inputs(out)
    assert len(src) == 2 and src[0] is a and src[1] is b  # each once, first seen first
    assert U.get_source_inputs(a) == [a]
    value = np.zeros(2)
    assert U.get_source_inputs(value) is value


def test_standardize_dtype(backend):
    xp = backend.xp
    assert U.standardize_dtype(None) == pn.config.floatx()
    assert U.standardize_dtype(int) == "int32" and U.standardize_dtype("int") == "int32"
    assert U.standardize_dtype(float) == "float32" and U.standardize_dtype(bool) == "bool"
    assert U.standardize_dtype("float64") == "float64"
    assert U.standardize_dtype(np.dtype("int16")) == "int16" and U.standardize_dtype(np.uint8) == "uint8"
    assert U.standardize_dtype(xp.float64) == "float64"  # the backend's own dtype object
    assert U.standardize_dtype(xp.asarray([1.0], dtype=xp.float32).dtype) == "float32"
    with pytest.raises(ValueError, match="Invalid dtype: float128x"):
        U.standardize_dtype("float128x")


def test_interactive_logging_switch(backend, capsys, caplog):
    assert U.is_interactive_logging_enabled()
    U.disable_interactive_logging()
    try:
        with caplog.at_level("INFO", logger="portanet"):
            bar = U.Progbar(2, verbose=2)
            bar.update(2, [("loss", 0.5)])
    finally:
        U.enable_interactive_logging()
    assert capsys.readouterr().out == ""
    assert caplog.records[-1].getMessage().endswith(" - loss: 0.5000\n")
    assert U.is_interactive_logging_enabled()


# ------------------------------------------------------------------ timeseries_dataset_from_array
def test_timeseries_keras_docstring_example_with_rate_and_stride(backend):
    # Keras's docstring: indices 0..98, sequence_length=10, sampling_rate=2,
    # sequence_stride=3: [0 2 ... 18], [3 5 ... 21], [6 8 ... 24], ..., last [78 80 ... 96].
    data = np.arange(100)
    ds = U.timeseries_dataset_from_array(data[:-1], None, sequence_length=10, sampling_rate=2,
                                         sequence_stride=3, batch_size=8)
    windows = np.concatenate([batch for batch in ds])
    assert windows.shape == (27, 10)  # starts 0, 3, ..., 78: (99 - 18 - 1) // 3 + 1
    np.testing.assert_array_equal(windows[0], np.arange(0, 20, 2))
    np.testing.assert_array_equal(windows[1], np.arange(3, 23, 2))
    np.testing.assert_array_equal(windows[2], np.arange(6, 26, 2))
    np.testing.assert_array_equal(windows[-1], np.arange(78, 98, 2))
    assert len(ds) == 4 and [len(b) for b in ds] == [8, 8, 8, 3]


def test_timeseries_targets_offsets_and_fit(backend):
    # Keras's docstring: targets = data[10:] for windows of data[:-10] -> target of the
    # window starting at i is data[i + 10].
    data = np.arange(100, dtype="float64")
    ds = U.timeseries_dataset_from_array(data[:-10], data[10:], sequence_length=10, batch_size=32)
    x0, y0 = ds[0]
    np.testing.assert_array_equal(x0[0], data[:10])
    assert y0[0] == data[10] and x0.shape == (32, 10) and y0.shape == (32,)
    assert sum(len(y) for _, y in ds) == 81
    # start_index / end_index and a 2-D series: windows stay inside rows [5, 30).
    series = np.arange(80, dtype="float64").reshape(40, 2)
    ds = U.timeseries_dataset_from_array(series, np.arange(40), sequence_length=4, batch_size=None,
                                         start_index=5, end_index=30)
    windows = [w for w, _ in ds]
    assert len(windows) == 22 and windows[0].shape == (4, 2)  # 30 - 5 - 3
    np.testing.assert_array_equal(windows[0], series[5:9])
    np.testing.assert_array_equal(windows[-1], series[26:30])
    assert [t for _, t in ds][:2] == [5, 6]
    # shuffle: the same windows in an order fixed by the seed
    a = U.timeseries_dataset_from_array(data, None, sequence_length=5, batch_size=None, shuffle=True, seed=3)
    b = U.timeseries_dataset_from_array(data, None, sequence_length=5, batch_size=None, shuffle=True, seed=3)
    starts = [int(w[0]) for w in a]
    assert starts == [int(w[0]) for w in b] and sorted(starts) == list(range(96))
    assert starts != list(range(96))
    # fit accepts it
    x = np.sin(np.arange(60) / 5.0)
    train = U.timeseries_dataset_from_array(x[:-3], x[3:], sequence_length=3, batch_size=16)
    model = pn.Sequential([pn.Input((3,)), pn.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    history = model.fit(train, epochs=2, verbose=0)
    assert len(history.history["loss"]) == 2 and np.isfinite(history.history["loss"]).all()


@pytest.mark.parametrize("kwargs,match", [
    (dict(sampling_rate=0), "`sampling_rate` must be higher than 0. Received: sampling_rate=0"),
    (dict(sequence_stride=0), "`sequence_stride` must be higher than 0"),
    (dict(start_index=-1), "`start_index` must be 0 or greater. Received: start_index=-1"),
    (dict(start_index=10, end_index=5), "`end_index` must be higher than `start_index`"),
    (dict(end_index=50), "`end_index` must be lower than the length of the data"),
    (dict(format="csv"), '`format` should be either "tf" or "grain". Received: format=csv'),
    (dict(batch_size=0), "batch_size=0"),
])
def test_timeseries_bad_arguments(backend, kwargs, match):
    with pytest.raises(ValueError, match=match):
        U.timeseries_dataset_from_array(np.arange(20), None, sequence_length=3, **kwargs)


# ------------------------------------------------------------------ split_dataset
def test_split_dataset_sizes_and_rows(backend):
    x = np.arange(40, dtype="float64").reshape(20, 2)
    y = np.arange(20)
    left, right = U.split_dataset((x, y), left_size=0.8)
    assert (left.num_samples, right.num_samples) == (16, 4)
    np.testing.assert_array_equal(left.arrays[0], x[:16])
    np.testing.assert_array_equal(right.arrays[1], y[16:])
    left, right = U.split_dataset(x, left_size=5, right_size=3)  # rows 5..16 are left out
    np.testing.assert_array_equal(left.arrays, x[:5])
    np.testing.assert_array_equal(right.arrays, x[17:])
    left, right = U.split_dataset([x, y], right_size=0.25)  # a list keeps being a list
    assert isinstance(left.arrays, list) and right.num_samples == 5


def test_split_dataset_shuffle_is_keras_order(backend):
    # Keras shuffles the list of rows with Python's random seeded with `seed`.
    y = np.arange(30)
    left, right = U.split_dataset(y, left_size=20, shuffle=True, seed=42)
    order = list(range(30))
    random.seed(42)
    random.shuffle(order)
    np.testing.assert_array_equal(left.arrays, y[order[:20]])
    np.testing.assert_array_equal(right.arrays, y[order[20:]])


def test_split_dataset_parts_train_with_fit(backend):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(50, 3))
    y = x @ np.array([[1.0], [-1.0], [0.5]])
    train, val = U.split_dataset((x, y), left_size=0.8)
    assert len(train) == 2 and len(train.batch(8)) == 5  # batches of 32 for fit by default
    xb, yb = train.batch(8)[4]
    np.testing.assert_array_equal(xb, x[32:40])
    model = pn.Sequential([pn.Input((3,)), pn.layers.Dense(1)])
    model.compile(optimizer=pn.optimizers.SGD(0.1), loss="mse")
    history = model.fit(train.batch(8), validation_data=val, epochs=3, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert len(history.history["val_loss"]) == 3


@pytest.mark.parametrize("kwargs,error,match", [
    (dict(), ValueError, "At least one of the `left_size` or `right_size` must be specified"),
    (dict(left_size="a"), TypeError, "Invalid `left_size` Type"),
    (dict(left_size=0, right_size=0), ValueError, "Both `left_size` and `right_size` are zero"),
    (dict(left_size=10), ValueError, "`left_size` should be either a positive integer smaller than 10"),
    (dict(right_size=1.5), ValueError, "`right_size` should be either a positive integer"),
    (dict(left_size=0.6, right_size=0.6), ValueError, "greater than 1"),
    (dict(left_size=6, right_size=6), ValueError, "should be smaller than the 10"),
    (dict(left_size=0.01), ValueError, "Resulting left side dataset split will be empty"),
])
def test_split_dataset_bad_sizes(backend, kwargs, error, match):
    with pytest.raises(error, match=match):
        U.split_dataset(np.arange(10), **kwargs)


def test_split_dataset_arrays_of_different_lengths(backend):
    with pytest.raises(ValueError, match=r"different numbers of rows: \[10, 9\]"):
        U.split_dataset((np.arange(10), np.arange(9)), left_size=0.5)


# ------------------------------------------------------------------ get_file
def _url(path):
    return "file://" + str(path)


def test_get_file_downloads_once_and_checks_hashes(backend, tmp_path, capsys):
    src = tmp_path / "src" / "data.txt"
    src.parent.mkdir()
    src.write_bytes(b"hello portanet\n")
    sha = hashlib.sha256(b"hello portanet\n").hexdigest()
    md5 = hashlib.md5(b"hello portanet\n").hexdigest()
    cache = tmp_path / "cache"
    path = U.get_file(origin=_url(src), file_hash=sha, cache_dir=str(cache))
    assert path == str(cache / "datasets" / "data.txt")
    assert open(path, "rb").read() == b"hello portanet\n"
    assert f"Downloading data from {_url(src)}" in capsys.readouterr().out
    src.write_bytes(b"changed\n")  # cached: not read again
    assert U.get_file("data.txt", _url(src), md5_hash=md5, cache_dir=str(cache)) == path
    assert "Downloading" not in capsys.readouterr().out and open(path, "rb").read() == b"hello portanet\n"
    # a cached file whose hash differs is downloaded again; a download that differs is refused
    new_md5 = hashlib.md5(b"changed\n").hexdigest()
    assert U.get_file("data.txt", _url(src), md5_hash=new_md5, cache_dir=str(cache)) == path
    assert "does not match the original value" in capsys.readouterr().out
    assert open(path, "rb").read() == b"changed\n"
    with pytest.raises(ValueError, match="Incomplete or corrupted file detected. The auto file hash"):
        U.get_file("data.txt", _url(src), file_hash=sha, cache_dir=str(cache))
    assert not os.path.exists(path)
    path = U.get_file("data.txt", _url(src), cache_dir=str(cache), cache_subdir="other",
                      force_download=True)
    assert open(path, "rb").read() == b"changed\n" and path.endswith(os.path.join("other", "data.txt"))
    with pytest.raises(ValueError, match="Paths are no longer accepted"):
        U.get_file(os.path.join("a", "b.txt"), _url(src), cache_dir=str(cache))
    with pytest.raises(ValueError, match='specify the "origin"'):
        U.get_file("x.txt", cache_dir=str(cache))
    with pytest.raises(Exception, match="URL fetch failure"):
        U.get_file("none.txt", _url(tmp_path / "missing.txt"), cache_dir=str(cache))


def _tar(path, members):
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def test_get_file_extracts_tar_and_zip(backend, tmp_path):
    _tar(tmp_path / "pack.tar.gz", {"pack/a.txt": b"A", "pack/sub/b.txt": b"B"})
    with zipfile.ZipFile(tmp_path / "z.zip", "w") as z:
        z.writestr("inner/c.txt", "C")
    cache = str(tmp_path / "cache")
    folder = U.get_file("pack.tar.gz", _url(tmp_path / "pack.tar.gz"), extract=True, cache_dir=cache)
    assert folder == os.path.join(cache, "datasets", "pack_extracted")
    assert open(os.path.join(folder, "pack", "sub", "b.txt")).read() == "B"
    folder = U.get_file(origin=_url(tmp_path / "z.zip"), extract=True, cache_dir=cache)
    assert folder == os.path.join(cache, "datasets", "z.zip")  # no fname: "<name>", "<name>_archive"
    assert open(os.path.join(folder, "inner", "c.txt")).read() == "C"
    assert os.path.exists(os.path.join(cache, "datasets", "z.zip_archive"))
    folder = U.get_file("old.tar.gz", _url(tmp_path / "pack.tar.gz"), untar=True, cache_dir=cache)
    assert open(os.path.join(folder, "pack", "a.txt")).read() == "A"


@pytest.mark.parametrize("bad", ["../escape.txt", "/abs/escape.txt", "ok/../../escape.txt"])
def test_get_file_refuses_archive_members_outside_the_folder(backend, tmp_path, bad):
    _tar(tmp_path / "evil.tar", {"fine.txt": b"x", bad: b"evil"})
    cache = tmp_path / "cache"
    with pytest.raises(ValueError, match="archive member .* would be written outside"):
        U.get_file("evil.tar", _url(tmp_path / "evil.tar"), extract=True, cache_dir=str(cache))
    extracted = cache / "datasets" / "evil_extracted"
    assert not (extracted / "fine.txt").exists()  # nothing written
    assert not (cache / "escape.txt").exists() and not (cache / "datasets" / "escape.txt").exists()


def test_get_file_refuses_links_and_zip_escapes(backend, tmp_path):
    with tarfile.open(tmp_path / "link.tar", "w") as tar:
        info = tarfile.TarInfo("link")
        info.type, info.linkname = tarfile.SYMTYPE, "../../outside"
        tar.addfile(info)
    cache = str(tmp_path / "cache")
    with pytest.raises(ValueError, match="links to '../../outside'"):
        U.get_file("link.tar", _url(tmp_path / "link.tar"), extract=True, cache_dir=cache)
    with zipfile.ZipFile(tmp_path / "evil.zip", "w") as z:
        z.writestr("../evil.txt", "x")
    with pytest.raises(ValueError, match="'../evil.txt' would be written outside"):
        U.get_file("evil.zip", _url(tmp_path / "evil.zip"), extract=True, cache_dir=cache)
