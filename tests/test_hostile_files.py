"""Hostile Keras-format files: every rule of portanet.saving.safety and host_h5 refuses
its file with a clear error, and the payload never runs (each payload would create a
marker file if it were imported, called or executed; the tests check it does not exist).
"""

import base64
import io
import json
import marshal
import os
import pathlib
import sys
import zipfile

import numpy as np
import pytest

import portanet as pn
from portanet import layers as L

h5py = pytest.importorskip("h5py")  # a dependency of portanet; the import is for building files

FILES = pathlib.Path(__file__).parent / "keras_reference" / "files"


@pytest.fixture
def marker(tmp_path, monkeypatch):
    """A module 'pn_payload' on sys.path that creates MARKER when imported, and whose
    function 'run' creates it when called."""
    mark = tmp_path / "MARKER"
    pkg = tmp_path / "payload_path"
    pkg.mkdir()
    (pkg / "pn_payload.py").write_text(
        f"open({str(mark)!r}, 'w').write('imported')\n"
        f"def run(*a, **k):\n    open({str(mark)!r}, 'w').write('called')\n"
        "class Evil:\n    def __init__(self, *a, **k):\n"
        f"        open({str(mark)!r}, 'w').write('built')\n")
    monkeypatch.syspath_prepend(str(pkg))
    monkeypatch.delitem(sys.modules, "pn_payload", raising=False)
    yield mark
    assert "pn_payload" not in sys.modules, "the payload module was imported"
    assert not mark.exists(), f"the payload ran: {mark.read_text()}"


def _model():
    return pn.Sequential([pn.Input((4,)), L.Dense(3, activation="relu"), L.Dense(2)])


def _members(path):
    with zipfile.ZipFile(path) as zf:
        return {n: zf.read(n) for n in zf.namelist()}


def _write(path, members):
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def _with_config(tmp_path, name, edit):
    """A copy of a Keras-written .keras file whose config.json is edited by ``edit``."""
    members = _members(FILES / "dense.keras")
    config = json.loads(members["config.json"])
    edit(config)
    members["config.json"] = json.dumps(config).encode()
    return _write(tmp_path / name, members)


def _first_dense(config):
    return config["config"]["layers"][1]


# ---------------------------------------------------------------------- class resolution
@pytest.mark.parametrize("module,class_name", [("os", "system"), ("subprocess", "Popen"),
                                               ("builtins", "eval"), ("pn_payload", "Evil"),
                                               ("keras.src.saving", "enable_unsafe_deserialization")])
def test_class_from_a_foreign_module_is_refused(backend, tmp_path, marker, module, class_name):
    def edit(c):
        _first_dense(c).update(module=module, class_name=class_name, registered_name=None)
    path = _with_config(tmp_path, "m.keras", edit)
    with pytest.raises(ValueError, match=rf"class {class_name!r} of module {module!r}.*never imports"):
        pn.saving.load_model(path)


def test_function_from_a_foreign_module_is_refused(backend, tmp_path, marker):
    def edit(c):
        _first_dense(c)["config"]["activation"] = {"module": "pn_payload", "class_name": "function",
                                                   "config": "run", "registered_name": "function"}
    path = _with_config(tmp_path, "m.keras", edit)
    with pytest.raises(ValueError, match=r"function 'run' of module 'pn_payload'"):
        pn.saving.load_model(path)


def test_top_level_model_class_from_foreign_module_is_refused(backend, tmp_path, marker):
    path = _with_config(tmp_path, "m.keras", lambda c: c.update(module="pn_payload", class_name="Evil"))
    with pytest.raises(ValueError, match="class 'Evil' of module 'pn_payload'"):
        pn.saving.load_model(path)


# ---------------------------------------------------------------------- safe mode
def test_config_cannot_switch_safe_mode_off(backend, tmp_path, marker):
    path = _with_config(tmp_path, "a.keras", lambda c: c["config"].update(safe_mode=False))
    with pytest.raises(ValueError, match="cannot switch safe loading off"):
        pn.saving.load_model(path)

    def edit(c):   # CVE-2025-9906's route: a "function" that turns safe mode off when called
        _first_dense(c)["config"]["activation"] = {
            "module": "keras.config", "class_name": "function",
            "config": "enable_unsafe_deserialization", "registered_name": "function"}
    path = _with_config(tmp_path, "b.keras", edit)
    with pytest.raises(ValueError, match="cannot switch safe loading off"):
        pn.saving.load_model(path)


def test_safe_mode_false_is_refused_by_load_model(backend, tmp_path):
    with pytest.raises(ValueError, match="safe_mode=False; portanet loads only in safe mode"):
        pn.saving.load_model(FILES / "dense.keras", safe_mode=False)


def _lambda_config():
    code = base64.b64encode(marshal.dumps((lambda x: x).__code__)).decode()
    return {"module": "keras.layers", "class_name": "Lambda", "registered_name": None,
            "config": {"name": "lambda", "trainable": True, "dtype": "float32",
                       "function": {"class_name": "__lambda__",
                                    "config": {"code": code, "defaults": None, "closure": None}},
                       "arguments": {}}}


def test_lambda_with_bytecode_is_refused_with_reason(backend, tmp_path, marker):
    path = _with_config(tmp_path, "m.keras", lambda c: c["config"]["layers"].insert(2, _lambda_config()))
    with pytest.raises(ValueError, match=r"lambda saved as bytecode.*would run code"):
        pn.saving.load_model(path)


# ---------------------------------------------------------------------- legacy .h5
def _legacy_with_config(tmp_path, edit):
    src = h5py.File(FILES / "dense.h5", "r")
    path = tmp_path / "m.h5"
    with h5py.File(path, "w") as dst:
        for k in src.attrs:
            dst.attrs[k] = src.attrs[k]
        src.copy("model_weights", dst)
        config = json.loads(src.attrs["model_config"])
        edit(config)
        dst.attrs["model_config"] = json.dumps(config)
    src.close()
    return path


def test_legacy_h5_foreign_class_and_lambda_are_refused(backend, tmp_path, marker):
    path = _legacy_with_config(tmp_path, lambda c: _first_dense(c).update(module="os", class_name="system"))
    with pytest.raises(ValueError, match="class 'system' of module 'os'"):
        pn.saving.load_model(path)
    path = _legacy_with_config(tmp_path, lambda c: c["config"]["layers"].insert(2, _lambda_config()))
    with pytest.raises(ValueError, match="lambda saved as bytecode"):
        pn.saving.load_model(path)
    path = _legacy_with_config(tmp_path, lambda c: c["config"].update(safe_mode=False))
    with pytest.raises(ValueError, match="cannot switch safe loading off"):
        pn.saving.load_model(path)


# ---------------------------------------------------------------------- HDF5 outside the file
def _weights_file_with(tmp_path, action):
    path = tmp_path / "m.weights.h5"
    with open(FILES / "dense.weights.h5", "rb") as f:
        path.write_bytes(f.read())
    with h5py.File(path, "a") as f:
        action(f, tmp_path)
    return path


def _external_link(f, tmp_path):
    with h5py.File(tmp_path / "other.h5", "w") as o:
        o["secret"] = np.ones((4, 3), "float32")
    del f["layers/dense/vars/0"]
    f["layers/dense/vars/0"] = h5py.ExternalLink(str(tmp_path / "other.h5"), "/secret")


def _external_storage(f, tmp_path):
    (tmp_path / "raw.bin").write_bytes(np.ones((4, 3), "float32").tobytes())
    del f["layers/dense/vars/0"]
    f.create_dataset("layers/dense/vars/0", shape=(4, 3), dtype="float32",
                     external=[(str(tmp_path / "raw.bin"), 0, 48)])


def _virtual(f, tmp_path):
    with h5py.File(tmp_path / "src.h5", "w") as o:
        o["data"] = np.ones((4, 3), "float32")
    layout = h5py.VirtualLayout(shape=(4, 3), dtype="float32")
    layout[:] = h5py.VirtualSource(str(tmp_path / "src.h5"), "data", shape=(4, 3))
    del f["layers/dense/vars/0"]
    f.create_virtual_dataset("layers/dense/vars/0", layout)


def _soft_link(f, tmp_path):
    del f["layers/dense/vars/1"]
    f["layers/dense/vars/1"] = h5py.SoftLink("/layers/dense_1/vars/1")


def _string_dataset(f, tmp_path):
    f.create_dataset("layers/dense/vars/extra", data=np.array([b"import os"], dtype=object),
                     dtype=h5py.string_dtype())


@pytest.mark.parametrize("action,message", [
    (_external_link, "external link"), (_external_storage, "external file"),
    (_virtual, "virtual dataset"), (_soft_link, "soft link"), (_string_dataset, "only numeric")])
def test_hdf5_reaching_outside_the_file_is_refused(backend, tmp_path, action, message):
    path = _weights_file_with(tmp_path, action)
    model = _model()
    before = [np.asarray(w.numpy()).copy() for w in model.weights]
    with pytest.raises(ValueError, match=message):
        model.load_weights(path)
    for w, b in zip(model.weights, before):       # nothing assigned
        np.testing.assert_array_equal(np.asarray(w.numpy()), b)


# ---------------------------------------------------------------------- zip members
@pytest.mark.parametrize("name,message", [("/etc/evil", "absolute"), ("../evil", "climbs out"),
                                          ("assets/../../evil", "climbs out"), ("C:/evil", "absolute"),
                                          ("a\\..\\evil", "absolute or non-portable")])
def test_zip_member_paths_are_refused(backend, tmp_path, name, message):
    members = _members(FILES / "dense.keras")
    members[name] = b"payload"
    path = _write(tmp_path / "m.keras", members)
    with pytest.raises(ValueError, match=message):
        pn.saving.load_model(path)
    assert not (tmp_path / "evil").exists() and not (tmp_path.parent / "evil").exists()


def test_decompression_bomb_fails_fast(backend, tmp_path):
    members = _members(FILES / "dense.keras")
    path = tmp_path / "bomb.keras"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for n, data in members.items():
            zf.writestr(n, data)
        with zf.open("assets/bomb.bin", "w", force_zip64=True) as f:   # 64 MiB of zeros
            block = b"\0" * (1 << 20)
            for _ in range(64):
                f.write(block)
    assert path.stat().st_size < 1 << 20
    with pytest.raises(ValueError, match="decompression bomb; refused before inflating"):
        pn.saving.load_model(path)


def test_member_over_the_size_limit_is_refused_before_inflating(backend, tmp_path, monkeypatch):
    from portanet.saving import safety
    monkeypatch.setattr(safety, "MAX_MEMBER_BYTES", 1000)
    with pytest.raises(ValueError, match=r"claims \d+ bytes uncompressed \(limit 1000\); refused"):
        pn.saving.load_model(FILES / "dense.keras")


# ---------------------------------------------------------------------- shapes and dtypes
def test_wrong_shapes_are_refused_before_any_assignment(backend, tmp_path):
    def wrong(f, tmp_path):
        del f["layers/dense_1/vars/0"]
        f["layers/dense_1/vars/0"] = np.zeros((8, 4), "float32")
    path = _weights_file_with(tmp_path, wrong)
    model = pn.Sequential([pn.Input((4,)), L.Dense(8, activation="relu"), L.Dense(3)])
    before = [np.asarray(w.numpy()).copy() for w in model.weights]
    with pytest.raises(ValueError, match=r"variable 0 \('kernel'\) has shape \(8, 4\).*expects \(8, 3\)"):
        model.load_weights(path)
    for w, b in zip(model.weights, before):
        np.testing.assert_array_equal(np.asarray(w.numpy()), b)


def test_missing_and_extra_variables_are_refused(backend, tmp_path):
    path = _weights_file_with(tmp_path, lambda f, t: f.__delitem__("layers/dense/vars/1"))
    model = pn.Sequential([pn.Input((4,)), L.Dense(8, activation="relu"), L.Dense(3)])
    with pytest.raises(ValueError, match="holds 1 variables there; the layer has 2"):
        model.load_weights(path)


def test_wrong_optimizer_state_shape_is_refused(backend, tmp_path):
    members = _members(FILES / "dense_adam.keras")
    buf = io.BytesIO(members["model.weights.h5"])
    with h5py.File(buf, "a") as f:
        del f["optimizer/vars/2"]
        f["optimizer/vars/2"] = np.zeros((5, 8), "float32")
    members["model.weights.h5"] = buf.getvalue()
    path = _write(tmp_path / "m.keras", members)
    model = pn.Sequential([pn.Input((4,)), L.Dense(8, activation="relu"), L.Dense(3)])
    model.compile(optimizer=pn.optimizers.Adam(0.01), loss="mse")
    with pytest.raises(ValueError, match=r"optimizer variable 2 \(slot 'momentum'.*\(5, 8\)"):
        pn.saving.restore_training_state(model, path)
    assert model.optimizer.iterations == 0


def test_not_an_hdf5_file_is_refused(backend, tmp_path):
    path = tmp_path / "m.weights.h5"
    path.write_bytes(b"not hdf5 at all" * 10)
    with pytest.raises(ValueError, match="not a readable HDF5 file"):
        _model().load_weights(path)
    members = _members(FILES / "dense.keras")
    path = _write(tmp_path / "t.keras", dict(members, **{"model.weights.h5": members["model.weights.h5"][:500]}))
    model = pn.Sequential([pn.Input((4,)), L.Dense(8, activation="relu"), L.Dense(3)])
    with pytest.raises(ValueError, match="not a readable HDF5 file"):
        model.load_weights(path)


def test_truncated_keras_zip_is_refused(backend, tmp_path):
    data = (FILES / "dense.keras").read_bytes()
    path = tmp_path / "t.keras"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="not a valid zip archive"):
        pn.saving.load_model(path)
