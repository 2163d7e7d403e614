"""pn.utils.plot_model / model_to_dot: the DOT text, the layout, and the image files."""

import builtins
import re
import struct

import pytest

import portanet as pn
from portanet.utils import model_visualization as mv


def _sequential():
    return pn.Sequential([pn.Input((4,)), pn.layers.Dense(5, activation="relu", name="h"),
                          pn.layers.Dense(2, name="out")], name="seq")


def _two_branch():
    a = pn.Input((4,), name="a")
    left = pn.layers.Dense(3, activation="tanh", name="left")(a)
    right = pn.layers.Dense(3, name="right")(a)
    merged = pn.layers.Concatenate(name="cat")([left, right])
    return pn.Model(a, pn.layers.Dense(2, name="out")(merged), name="two")


def _nested():
    inner = pn.Sequential([pn.Input((2,)), pn.layers.Dense(3, name="i1"), pn.layers.Dense(2, name="i2")],
                          name="inner")
    x = pn.Input((4,), name="x")
    y = inner(pn.layers.Dense(2, name="h")(x))
    return pn.Model(x, pn.layers.Dense(1, name="z")(y), name="outer")


def nodes_and_edges(dot):
    nodes = dict(re.findall(r'^\s*"([^"]+)" \[label=(<.*>), fontname', dot, flags=re.M))
    edges = re.findall(r'^\s*"([^"]+)" -> "([^"]+)"', dot, flags=re.M)
    return nodes, edges


def test_dot_of_sequential(backend):
    dot = pn.utils.model_to_dot(_sequential(), show_shapes=True)
    assert dot.startswith('digraph "seq" {') and dot.rstrip().endswith("}")
    assert "rankdir=TB" in dot and "dpi=200" in dot
    nodes, edges = nodes_and_edges(dot)
    assert list(nodes) == ["h", "out"]          # Keras draws no input box for Sequential
    assert edges == [("h", "out")]
    assert "<b>h</b> (Dense)" in nodes["h"]
    assert "Input shape: <b>(None, 4)</b>" in nodes["h"] and "Output shape: <b>(None, 5)</b>" in nodes["h"]
    assert "Input shape: <b>(None, 5)</b>" in nodes["out"] and "Output shape: <b>(None, 2)</b>" in nodes["out"]


def test_dot_of_two_branch_functional(backend):
    dot = pn.utils.model_to_dot(_two_branch(), show_shapes=True, show_layer_names=False, rankdir="LR",
                                show_layer_activations=True, show_dtype=True)
    nodes, edges = nodes_and_edges(dot)
    assert set(nodes) == {"a", "left", "right", "cat", "out"}
    assert sorted(edges) == sorted([("a", "left"), ("a", "right"), ("left", "cat"), ("right", "cat"),
                                    ("cat", "out")])
    assert "rankdir=LR" in dot
    assert "<b>Concatenate</b>" in nodes["cat"] and "cat" not in nodes["cat"].replace("Concatenate", "")
    assert "Input shape: <b>[(None, 3), (None, 3)]</b>" in nodes["cat"]
    assert "Output shape: <b>(None, 6)</b>" in nodes["cat"]
    assert "Input shape" not in nodes["a"] and "Output shape: <b>(None, 4)</b>" in nodes["a"]
    assert "Activation: <b>tanh</b>" in nodes["left"]
    assert "Output dtype: <b>float32</b>" in nodes["out"]
    # Without show_shapes no shapes at all.
    plain, _ = nodes_and_edges(pn.utils.model_to_dot(_two_branch()))
    assert not any("shape" in label for label in plain.values())


def test_trainable_marks(backend):
    model = _sequential()
    model.get_layer("h").trainable = False
    nodes, _ = nodes_and_edges(pn.utils.model_to_dot(model, show_trainable=True))
    assert "Non-trainable" in nodes["h"] and "firebrick" in nodes["h"]
    assert ">Trainable<" in nodes["out"] and "forestgreen" in nodes["out"]


def test_nested_model_one_box_or_expanded(backend):
    model = _nested()
    nodes, edges = nodes_and_edges(pn.utils.model_to_dot(model))
    assert set(nodes) == {"x", "h", "inner", "z"}
    assert sorted(edges) == sorted([("x", "h"), ("h", "inner"), ("inner", "z")])
    dot = pn.utils.model_to_dot(model, expand_nested=True)
    nodes, edges = nodes_and_edges(dot)
    assert set(nodes) == {"x", "h", "inner/i1", "inner/i2", "z"}
    assert sorted(edges) == sorted([("x", "h"), ("h", "inner/i1"), ("inner/i1", "inner/i2"), ("inner/i2", "z")])
    assert 'subgraph "cluster_inner"' in dot and 'label="inner"; style=dashed' in dot


def _png_size(path):
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def test_png_is_written_and_rankdir_changes_layout(backend, tmp_path):
    pytest.importorskip("matplotlib")
    model = _sequential()
    tb, lr = tmp_path / "tb.png", tmp_path / "lr.png"
    assert pn.utils.plot_model(model, to_file=tb, show_shapes=True, dpi=50) is None
    pn.utils.plot_model(model, to_file=str(lr), show_shapes=True, rankdir="LR", dpi=50)
    (w_tb, h_tb), (w_lr, h_lr) = _png_size(tb), _png_size(lr)
    assert tb.stat().st_size > 1000 and w_tb > 0 and h_tb > 0
    assert h_tb > w_tb and w_lr > h_lr            # a chain: tall top-to-bottom, wide left-to-right
    # dpi scales the image.
    big = tmp_path / "big.png"
    pn.utils.plot_model(model, to_file=big, show_shapes=True, dpi=100)
    assert _png_size(big)[0] == pytest.approx(2 * w_tb, abs=2)


def test_layout_ranks_by_depth(backend):
    graph, _ = mv._build_graph(_two_branch(), False)
    assert mv.ranks(graph) == {"a": 0, "left": 1, "right": 1, "cat": 2, "out": 3}
    sizes = {k: (1.0, 0.5) for k in graph.boxes}
    tb = mv.layout(graph, sizes, "TB")
    lr = mv.layout(graph, sizes, "LR")
    # TB: ranks go down, one rank shares a y; LR: ranks go right, one rank shares an x.
    assert tb["a"][1] > tb["left"][1] == tb["right"][1] > tb["cat"][1] > tb["out"][1]
    assert tb["left"][0] < tb["right"][0] and tb["a"][0] == tb["cat"][0] == 0
    assert lr["a"][0] < lr["left"][0] == lr["right"][0] < lr["cat"][0] < lr["out"][0]
    assert lr["left"][1] != lr["right"][1]


def test_svg_pdf_and_dot_files(backend, tmp_path):
    pytest.importorskip("matplotlib")
    model = _two_branch()
    pn.utils.plot_model(model, to_file=tmp_path / "m.svg", show_layer_names=True, expand_nested=True)
    pn.utils.plot_model(model, to_file=tmp_path / "m.pdf")
    svg = (tmp_path / "m.svg").read_text()
    assert "<svg" in svg
    assert (tmp_path / "m.pdf").read_bytes()[:5] == b"%PDF-"
    pn.utils.plot_model(model, to_file=tmp_path / "m.dot", show_shapes=True)
    assert (tmp_path / "m.dot").read_text() == pn.utils.model_to_dot(model, show_shapes=True,
                                                                     show_layer_names=False)


def test_bad_arguments(backend, tmp_path):
    model = _sequential()
    with pytest.raises(ValueError, match=r"'\.jpg'.*supported: \.png, \.svg, \.pdf, \.dot"):
        pn.utils.plot_model(model, to_file=tmp_path / "m.jpg")
    assert not (tmp_path / "m.jpg").exists()
    with pytest.raises(ValueError, match="rankdir='XY'"):
        pn.utils.plot_model(model, to_file=tmp_path / "m.png", rankdir="XY")
    with pytest.raises(ValueError, match="dpi=0"):
        pn.utils.model_to_dot(model, dpi=0)
    with pytest.raises(TypeError, match="show_shapes='yes'"):
        pn.utils.model_to_dot(model, show_shapes="yes")
    with pytest.raises(ValueError, match="layer_range"):
        pn.utils.plot_model(model, to_file=tmp_path / "m.png", layer_range=["h", "out"])
    with pytest.raises(ValueError, match="not been built"):
        pn.utils.model_to_dot(pn.Sequential([pn.layers.Dense(2)]))
    with pytest.raises(TypeError, match="expected a portanet model"):
        pn.utils.model_to_dot("model")


def test_missing_matplotlib_names_the_extra(backend, tmp_path, monkeypatch):
    real_import = builtins.__import__

    def no_mpl(name, *args, **kwargs):
        if name == "matplotlib" or name.startswith("matplotlib."):
            raise ImportError("No module named 'matplotlib'")
        return real_import(name, *args, **kwargs)
    monkeypatch.setattr(builtins, "__import__", no_mpl)
    with pytest.raises(ImportError, match=r"plot_model.*plot\s+extra"):
        pn.utils.plot_model(_sequential(), to_file=tmp_path / "m.png")
    # DOT text needs no matplotlib.
    pn.utils.plot_model(_sequential(), to_file=tmp_path / "m.dot")
    assert (tmp_path / "m.dot").read_text().startswith("digraph")


def test_shared_layer_self_loop(backend, tmp_path):
    pytest.importorskip("matplotlib")
    shared = pn.layers.Dense(2, name="shared")
    x = pn.Input((2,), name="x")
    model = pn.Model(x, pn.layers.Dense(1, name="o")(shared(shared(x))))
    _, edges = nodes_and_edges(pn.utils.model_to_dot(model))
    assert sorted(edges) == sorted([("x", "shared"), ("shared", "shared"), ("shared", "o")])
    graph, _ = mv._build_graph(model, False)
    assert mv.ranks(graph) == {"x": 0, "shared": 1, "o": 2}
    pn.utils.plot_model(model, to_file=tmp_path / "shared.png", dpi=40)
    assert _png_size(tmp_path / "shared.png")[1] > 0
