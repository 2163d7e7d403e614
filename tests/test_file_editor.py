"""pn.saving.KerasFileEditor (keras.saving.KerasFileEditor): reads Keras-written and
portanet-written files, compares them with a model, edits and resaves weights that load."""

import pathlib

import numpy as np
import pytest

import portanet as pn

FILES = pathlib.Path(__file__).parent / "keras_reference" / "files"


def _model(units=(5, 3)):
    pn.utils.set_random_seed(0)
    layers = [pn.Input((4,))] + [pn.layers.Dense(u, activation="relu") for u in units[:-1]] + \
        [pn.layers.Dense(units[-1])]
    return pn.Sequential(layers)


def test_reads_a_file_keras_wrote(backend, capsys):
    editor = pn.saving.KerasFileEditor(str(FILES / "dense.keras"))
    out = capsys.readouterr().out
    assert "Keras model file" in out and "Saved with Keras 3.15.1" in out
    assert editor.config["class_name"] in ("Sequential", "Functional")
    layers = editor.weights_dict["layers"]
    kernels = [w["0"] for w in layers.values()]
    ref = pn.saving.load_model(str(FILES / "dense.keras"))
    np.testing.assert_array_equal(np.concatenate([k.ravel() for k in kernels]),
                                  np.concatenate([w.ravel() for w in ref.get_weights()[::2]]))
    editor.summary()
    summary = capsys.readouterr().out
    assert summary.startswith("Weights structure") and "shape=" in summary
    assert editor.compare(ref) == {"status": "success", "error_count": 0,
                                   "match_count": len(ref.get_weights())}


def test_compare_edit_and_resave(backend, tmp_path, capsys):
    old = _model((5, 3))
    path = tmp_path / "old.weights.h5"
    old.save_weights(path)
    editor = pn.saving.KerasFileEditor(str(path))
    new = _model((5, 2))            # the last layer changed shape
    result = editor.compare(new)
    assert result["status"] == "error" and result["error_count"] == 2 and result["match_count"] == 2
    assert "Weight shape mismatch for /layers/dense_1/0" in capsys.readouterr().out
    kernel = np.full((5, 2), 0.25, dtype="float32")
    editor.delete_weight("dense_1", "0")
    editor.delete_weight("layers/dense_1", "1")
    editor.add_weights("dense_1", {"0": kernel, "1": np.zeros(2, dtype="float32")})
    assert editor.compare(new)["status"] == "success"
    edited = tmp_path / "edited.weights.h5"
    editor.resave_weights(str(edited))
    new.load_weights(edited)
    np.testing.assert_array_equal(new.get_weights()[0], old.get_weights()[0])
    np.testing.assert_array_equal(new.get_weights()[2], kernel)
    # rename / delete / add objects
    editor.rename_object("dense_1", "head")
    assert "head" in editor.weights_dict["layers"] and "dense_1" not in editor.weights_dict["layers"]
    editor.delete_object("layers/head")
    editor.add_object("layers/dense_1", {"0": kernel, "1": np.ones(2, dtype="float32")})
    editor.save(str(edited))
    new.load_weights(edited)
    np.testing.assert_array_equal(new.get_weights()[3], np.ones(2, dtype="float32"))


def test_bad_input(backend, tmp_path):
    with pytest.raises(ValueError, match="expected a `.keras` `.weights.h5` extension"):
        pn.saving.KerasFileEditor(str(tmp_path / "x.h5"))
    model = _model()
    model.save_weights(tmp_path / "w.weights.h5")
    editor = pn.saving.KerasFileEditor(str(tmp_path / "w.weights.h5"))
    with pytest.raises(ValueError, match="does not appear in the model"):
        editor.delete_object("nope")
    with pytest.raises(ValueError, match="Path 'layers/nope' not found"):
        editor.delete_object("layers/nope")
    with pytest.raises(ValueError, match="Weight 7 not found in object dense"):
        editor.delete_weight("dense", "7")
    with pytest.raises(ValueError, match="should be a dict"):
        editor.add_weights("dense", [1, 2])
    with pytest.raises(ValueError, match="expected a `.weights.h5` extension"):
        editor.save(str(tmp_path / "out.keras"))
