"""``model.summary()`` beside Keras 3.15.1's own output (tests/keras_reference/transcripts/,
made by tests/keras_reference/make_transcripts.py, which also holds the model builders):
the same text line by line, box glyphs, column widths at an 80- and a 200-column terminal,
wrapped cells, "Connected to", totals and the optimizer's parameters."""

import pathlib
import sys

import pytest

import portanet as pn

sys.path.insert(0, str(pathlib.Path(__file__).parent / "keras_reference"))
import make_transcripts as mt  # noqa: E402  (the builders and the normalisation, no Keras)


def _keras(name):
    return (mt.OUT / name).read_text(encoding="utf-8")


def _lines(model, **kwargs):
    out = []
    model.summary(print_fn=out.append, **kwargs)
    assert len(out) == 1  # as Keras: print_fn gets the whole table as one string
    return out[0].split("\n")


@pytest.fixture(autouse=True)
def _restore_columns(monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")  # restored after each test (summary_text sets it)


@pytest.fixture
def columns(monkeypatch):
    def set_columns(n):
        monkeypatch.setenv("COLUMNS", str(n))
    return set_columns


@pytest.mark.parametrize("name", sorted(mt.SUMMARIES))
@pytest.mark.parametrize("width", [80, 200])
def test_summary_matches_keras_transcript(backend, name, width):
    got = mt.normalise(mt.summary_text(pn, mt.SUMMARIES[name], width))
    assert got.split("\n") == _keras(f"summary_{name}_{width}.txt").split("\n")


def test_fitted_summary_counts_optimizer_params_as_keras(backend, float64):
    # Adam on 195 float64 weights: 2 slots each + iterations (int32) + learning rate = 392
    # variables, 390 * 8 + 4 + 8 = 3,132 bytes; the total counts them (587, 4.58 KB).
    got = mt.normalise(mt.summary_text(pn, mt.fitted, 200))
    assert got.split("\n") == _keras("summary_fitted_200.txt").split("\n")
    assert " Optimizer params: 392 (3.06 KB)" in got


def test_print_fn_default_goes_to_stdout(backend, columns, capsys):
    columns(80)
    pn.utils.clear_session()
    mt.mlp(pn).summary()
    assert capsys.readouterr().out == _keras("summary_mlp_80.txt")


@pytest.mark.parametrize("name", sorted(mt.SUMMARY_OPTIONS))
def test_summary_options_match_keras_transcript(backend, name):
    # long_names_60: line_length=60, a 40-letter name cut with "…", a name wrapped at its
    # blank; trainable: show_trainable's centred Y/N/- column under a header cut to
    # "Traina…"; shared: a layer called twice lists both inputs in "Connected to".
    build, kwargs = mt.SUMMARY_OPTIONS[name]
    got = mt.normalise(mt.summary_text(pn, build, 200, **kwargs))
    assert got.split("\n") == _keras(f"summary_{name}.txt").split("\n")


def test_column_widths_follow_keras_and_rich():
    # 88 columns at [0.45, 0.8, 1.0]: 39, 31, 18, plus a blank each side = 94; the borders
    # leave 84, so rich takes 10 off evenly (3, 4, 3): 38, 29, 17.
    from portanet.models.summary import _column_widths, _wrap
    assert _column_widths([0.45, 0.80, 1.0], 88) == [38, 29, 17]
    assert _column_widths([0.3, 0.56, 0.74, 1.0], 76) == [21, 19, 12, 19]
    assert _wrap("dense[0][0], dense_1[0][0]", 17) == ["dense[0][0],", "dense_1[0][0]"]
    assert _wrap("abcdefgh (X)", 5) == ["abcd…", "(X)"]
    with pytest.raises(ValueError, match="Insufficient console width"):
        _column_widths([0.45, 0.80, 1.0], 8)


def test_summary_goes_to_logger_without_interactive_logging(backend, columns, capsys, caplog):
    columns(80)
    pn.utils.clear_session()
    pn.utils.disable_interactive_logging()
    try:
        with caplog.at_level("INFO", logger="portanet"):
            mt.mlp(pn).summary()
    finally:
        pn.utils.enable_interactive_logging()
    assert capsys.readouterr().out == ""
    assert caplog.records[-1].getMessage() == _keras("summary_mlp_80.txt")
