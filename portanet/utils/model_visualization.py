"""``plot_model`` and ``model_to_dot`` (keras/src/utils/model_visualization.py).

Keras needs pydot and the graphviz binary; portanet draws the layer graph itself with
matplotlib alone (the ``plot`` extra) to PNG, SVG or PDF, and writes Graphviz's DOT text
(the same HTML-like labels Keras builds) for ``.dot`` files or ``model_to_dot``.

The graph is Keras's: one box per layer (a Sequential model's input is not drawn), an
arrow per connection along the functional graph's nodes (a Sequential model is a chain),
nested models one box each, or their own layers inside a dashed cluster with
``expand_nested=True``. The layout is layered: a box's rank is the length of the longest
path from an input to it; ``rankdir="TB"`` stacks the ranks top to bottom, ``"LR"`` left
to right.
"""

import html
import os

from ..layers.core import InputLayer
from ..models import Functional, Sequential
from ..plotting import _matplotlib

_RANKDIRS = ("TB", "LR", "BT", "RL")
_IMAGE_FORMATS = ("png", "svg", "pdf")
SUPPORTED_EXTENSIONS = (".png", ".svg", ".pdf", ".dot")


# ----------------------------------------------------------------------------- the graph
class _Graph:
    """Boxes (``{key: info}`` in drawing order), edges and clusters of one model."""

    def __init__(self):
        self.boxes = {}        # key -> {"layer", "cluster"}
        self.edges = []        # (source key, destination key), each once
        self.clusters = {}     # cluster key -> (label, parent cluster key or None)

    def add_edge(self, src, dst):
        if (src, dst) not in self.edges:
            self.edges.append((src, dst))


def _is_model(layer):
    return isinstance(layer, (Functional, Sequential))


def _shapes(model):
    """{id(layer): (input shape, output shape, output dtype)} from the model's graph."""
    found = {}
    if isinstance(model, Sequential):
        shape = model.input_shapes[0] if model._input_layer is not None else None
        for layer in model.layers:
            out = layer.compute_output_shape(shape) if shape is not None else None
            found[id(layer)] = (shape, out, layer.dtype)
            shape = out
        return found
    for node in model._nodes:
        outs = [tuple(t.shape) for t in node.outputs]
        out = outs[0] if len(outs) == 1 else outs
        ins = None if node.is_input else [tuple(t.shape) for t in node.input_tensors]
        if ins is not None and not node.multi_input:
            ins = ins[0]
        dtypes = [t.dtype for t in node.outputs]
        found.setdefault(id(node.layer), (ins, out, dtypes[0] if len(dtypes) == 1 else dtypes))
    return found


def _first_box(layer, prefix):
    """The key of the box an arrow into an expanded model ``layer`` points to."""
    while _is_model(layer):
        prefix = f"{prefix}{layer.name}/"
        layer = layer.layers[0] if isinstance(layer, Sequential) else layer.inputs[0].node.layer
    return prefix + layer.name


def _source_box(layer, index, prefix):
    """The key of the box that produces output ``index`` of an expanded model ``layer``."""
    while _is_model(layer):
        prefix = f"{prefix}{layer.name}/"
        if isinstance(layer, Sequential):
            layer, index = layer.layers[-1], 0
        else:
            t = layer.outputs[index]
            layer, index = t.node.layer, t.index
    return prefix + layer.name


def _collect(model, graph, expand_nested, prefix="", cluster=None, shapes=None):
    """Add ``model``'s boxes and edges to ``graph``; keys are layer names qualified by the
    names of the expanded models around them ("inner/dense")."""
    layer_shapes = _shapes(model)
    if shapes is not None:
        shapes.update(layer_shapes)
    layers = model.layers
    for layer in layers:
        if expand_nested and _is_model(layer):
            key = f"{prefix}{layer.name}/"
            graph.clusters[key] = (layer.name, cluster)
            _collect(layer, graph, expand_nested, key, key, shapes)
        else:
            graph.boxes[prefix + layer.name] = {"layer": layer, "cluster": cluster}

    def target(layer, input_index):
        if expand_nested and isinstance(layer, Functional):
            return _first_box_of_input(layer, input_index, prefix)
        return _first_box(layer, prefix) if expand_nested else prefix + layer.name

    def source(layer, index):
        return _source_box(layer, index, prefix) if expand_nested else prefix + layer.name

    if isinstance(model, Sequential):
        for a, b in zip(layers, layers[1:]):
            graph.add_edge(source(a, 0), target(b, 0))
        return
    for layer in layers:
        for node in model._model_nodes(layer):
            if node.is_input:
                continue
            for input_index, t in enumerate(node.input_tensors):
                graph.add_edge(source(t.node.layer, t.index), target(layer, input_index))


def _first_box_of_input(model, input_index, prefix):
    inputs = model.inputs
    layer = inputs[min(input_index, len(inputs) - 1)].node.layer
    return _first_box(layer, f"{prefix}{model.name}/")


def _build_graph(model, expand_nested):
    graph = _Graph()
    shapes = {}
    if _is_model(model):
        _collect(model, graph, expand_nested, shapes=shapes)
    else:   # a subclassed model: one box, as Keras
        graph.boxes[model.name] = {"layer": model, "cluster": None}
    return graph, shapes


# ----------------------------------------------------------------------------- labels
def _fmt_shape(shape):
    if shape is None:
        return "?"
    if isinstance(shape, list):
        return "[" + ", ".join(_fmt_shape(s) for s in shape) + "]"
    return str(tuple(shape))


def _activation_name(layer):
    act = getattr(layer, "activation", None)
    if act is None:
        return None
    return getattr(act, "name", None) or getattr(act, "__name__", None) or str(act)


def _label_parts(layer, shapes, show_shapes, show_dtype, show_layer_names, show_layer_activations,
                 show_trainable):
    """(title, activation or None, [cells]) of a layer's box; a cell is (text, colour)."""
    class_name = type(layer).__name__
    title = f"{layer.name} ({class_name})" if show_layer_names else class_name
    activation = _activation_name(layer) if show_layer_activations else None
    ins, out, dtype = shapes.get(id(layer), (None, None, None))
    cells = []
    if show_shapes:
        if not isinstance(layer, InputLayer):
            cells.append((f"Input shape: {_fmt_shape(ins)}", "white"))
        cells.append((f"Output shape: {_fmt_shape(out)}", "white"))
    if show_dtype:
        cells.append((f"Output dtype: {dtype or '?'}", "white"))
    if show_trainable and layer.weights:
        cells.append(("Trainable", "forestgreen") if layer.trainable else ("Non-trainable", "firebrick"))
    return title, activation, cells


def _html_label(title, activation, cells, layer):
    """Keras's HTML-like Graphviz label."""
    esc = html.escape
    colspan = max(1, len(cells))
    if " (" in title:
        name, rest = title.split(" (", 1)
        head = f"<b>{esc(name)}</b> ({esc(rest)}"
    else:
        head = f"<b>{esc(title)}</b>"
    table = ('<<table border="0" cellborder="1" bgcolor="black" cellpadding="10">'
             f'<tr><td colspan="{colspan}" bgcolor="black"><font point-size="16" color="white">'
             f"{head}</font></td></tr>")
    if activation is not None:
        table += (f'<tr><td bgcolor="white" colspan="{colspan}"><font point-size="14">'
                  f"Activation: <b>{esc(activation)}</b></font></td></tr>")
    if cells:
        row = []
        for text, colour in cells:
            if colour == "white":
                key, value = text.split(": ", 1)
                row.append(f'<td bgcolor="white"><font point-size="14">{esc(key)}: <b>{esc(value)}</b>'
                           "</font></td>")
            else:
                row.append(f'<td bgcolor="{colour}"><font point-size="14" color="white"><b>{esc(text)}</b>'
                           "</font></td>")
        table += "<tr>" + "".join(row) + "</tr>"
    return table + "</table>>"


def _check(model, rankdir, dpi, flags):
    if not hasattr(model, "layers") or not hasattr(model, "built"):
        raise TypeError(f"model={type(model).__name__}; expected a portanet model")
    if not model.built:
        raise ValueError(f"model {model.name!r} has not been built yet; build it first by calling build() "
                         "or calling the model on a batch of data")
    if rankdir not in _RANKDIRS:
        raise ValueError(f"rankdir={rankdir!r}; expected one of {', '.join(_RANKDIRS)}")
    if isinstance(dpi, bool) or not isinstance(dpi, (int, float)) or not dpi > 0:
        raise ValueError(f"dpi={dpi!r}; expected a positive number")
    for name, value in flags.items():
        if not isinstance(value, bool):
            raise TypeError(f"{name}={value!r}; expected True or False")


def _quote(text):
    return '"' + str(text).replace("\\", "\\\\").replace('"', '\\"') + '"'


def model_to_dot(model, show_shapes=False, show_dtype=False, show_layer_names=True, rankdir="TB",
                 expand_nested=False, dpi=200, subgraph=False, show_layer_activations=False,
                 show_trainable=False, splines="ortho", **kwargs):
    """The model's layer graph as Graphviz DOT text.

    Keras returns a ``pydot.Dot`` object; portanet returns the DOT text itself (a ``str``,
    which ``pydot.graph_from_dot_data`` or ``dot -Tpng`` read), so no pydot is needed. Node
    ids are the layer names (qualified by the nested models' names with ``expand_nested``);
    labels are Keras's HTML-like tables.

    Args:
        model: a built portanet model.
        show_shapes: add each layer's input and output shapes.
        show_dtype: add each layer's output dtype.
        show_layer_names: title the boxes "name (Class)" instead of "Class".
        rankdir: "TB" (top to bottom) or "LR" (left to right); "BT", "RL" reverse them.
        expand_nested: draw nested models' layers inside a dashed cluster.
        dpi: the resolution recorded in the graph.
        subgraph: return a ``subgraph cluster_...`` block instead of a whole ``digraph``.
        show_layer_activations: add "Activation: ..." for layers with an activation.
        show_trainable: add "Trainable"/"Non-trainable" for layers with weights.
        splines: Graphviz's edge style ("ortho", "line", "polyline", "curved", "spline").

    Returns:
        The DOT text (str).
    """
    if kwargs:
        raise ValueError(f"model_to_dot: unrecognized keyword arguments: {sorted(kwargs)}")
    flags = dict(show_shapes=show_shapes, show_dtype=show_dtype, show_layer_names=show_layer_names,
                 expand_nested=expand_nested, show_layer_activations=show_layer_activations,
                 show_trainable=show_trainable, subgraph=subgraph)
    _check(model, rankdir, dpi, flags)
    if splines not in ("ortho", "line", "polyline", "curved", "spline", "true", "false", "none"):
        raise ValueError(f"splines={splines!r}; expected 'ortho', 'line', 'polyline', 'curved' or 'spline'")
    graph, shapes = _build_graph(model, expand_nested)
    label_opts = dict(show_shapes=show_shapes, show_dtype=show_dtype, show_layer_names=show_layer_names,
                      show_layer_activations=show_layer_activations, show_trainable=show_trainable)
    if subgraph:
        lines = [f"subgraph {_quote('cluster_' + model.name)} {{",
                 f"  label={_quote(model.name)}; style=dashed; labeljust=l;"]
    else:
        lines = [f"digraph {_quote(model.name)} {{",
                 f"  graph [rankdir={rankdir}, concentrate=true, dpi={dpi}, splines={splines}];",
                 "  node [shape=record];"]
    # Nested clusters, innermost written inside their parents.
    children = {}
    for key, (_, parent) in graph.clusters.items():
        children.setdefault(parent, []).append(key)
    boxes_in = {}
    for key, box in graph.boxes.items():
        boxes_in.setdefault(box["cluster"], []).append(key)

    def emit(cluster, indent):
        pad = "  " * indent
        for key in boxes_in.get(cluster, []):
            layer = graph.boxes[key]["layer"]
            label = _html_label(*_label_parts(layer, shapes, **label_opts), layer)
            lines.append(f'{pad}{_quote(key)} [label={label}, fontname="Helvetica", border=0, margin=0];')
        for child in children.get(cluster, []):
            lines.append(f"{pad}subgraph {_quote('cluster_' + child.rstrip('/'))} {{")
            lines.append(f"{pad}  label={_quote(graph.clusters[child][0])}; style=dashed; labeljust=l;")
            emit(child, indent + 1)
            lines.append(f"{pad}}}")
    emit(None, 1)
    for src, dst in graph.edges:
        lines.append(f"  {_quote(src)} -> {_quote(dst)} [penwidth=2];")
    lines.append("}")
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------- layout
def ranks(graph):
    """{box key: rank}: the longest path (in edges) from a box without inputs. An edge that
    closes a cycle (a shared layer called on its own output) does not count."""
    succs = {key: [] for key in graph.boxes}
    for src, dst in graph.edges:
        succs[src].append(dst)
    # Iterative depth-first search: post-order, ignoring edges back into the current path.
    state, post = {}, []
    for root in graph.boxes:
        if root in state:
            continue
        state[root] = "open"
        stack = [(root, iter(succs[root]))]
        while stack:
            key, children = stack[-1]
            child = next(children, None)
            if child is None:
                state[key] = "done"
                post.append(key)
                stack.pop()
            elif child not in state:
                state[child] = "open"
                stack.append((child, iter(succs[child])))
    order = post[::-1]                     # a topological order of the forward edges
    position = {key: i for i, key in enumerate(order)}
    rank = {key: 0 for key in graph.boxes}
    for key in order:
        for child in succs[key]:
            if position[child] > position[key]:
                rank[child] = max(rank[child], rank[key] + 1)
    return rank


def layout(graph, sizes, rankdir):
    """{box key: (x, y) centre} in inches, y up: ranks along the rank direction, boxes of one
    rank side by side across it, centred."""
    rank = ranks(graph)
    by_rank = {}
    for key in graph.boxes:
        by_rank.setdefault(rank[key], []).append(key)
    vertical = rankdir in ("TB", "BT")
    gap_along, gap_across = 0.55, 0.35
    centres = {}
    along = 0.0
    for r in sorted(by_rank):
        keys = by_rank[r]
        depth = max(sizes[k][1] if vertical else sizes[k][0] for k in keys)
        extents = [sizes[k][0] if vertical else sizes[k][1] for k in keys]
        total = sum(extents) + gap_across * (len(keys) - 1)
        pos = -total / 2
        for key, extent in zip(keys, extents):
            across = pos + extent / 2
            centre_along = along + depth / 2
            centres[key] = (across, -centre_along) if vertical else (centre_along, -across)
            pos += extent + gap_across
        along += depth + gap_along
    if rankdir == "BT":
        centres = {k: (x, -y) for k, (x, y) in centres.items()}
    elif rankdir == "RL":
        centres = {k: (-x, y) for k, (x, y) in centres.items()}
    return centres


# ----------------------------------------------------------------------------- drawing
_CHAR_W, _LINE_H, _PAD = 0.075, 0.24, 0.12   # inches, at font size 9


def _box_lines(layer, shapes, opts):
    title, activation, cells = _label_parts(layer, shapes, **opts)
    lines = [(title, "black")]
    if activation is not None:
        lines.append((f"Activation: {activation}", "white"))
    lines += cells
    return lines


def _draw(graph, shapes, rankdir, opts, to_file, fmt, dpi):
    Figure, FigureCanvasAgg = _matplotlib("pn.utils.plot_model")
    from matplotlib.patches import FancyArrowPatch, Rectangle   # optional extra (plot), as above

    lines = {key: _box_lines(box["layer"], shapes, opts) for key, box in graph.boxes.items()}
    sizes = {key: (max(len(t) for t, _ in ls) * _CHAR_W + 2 * _PAD, len(ls) * _LINE_H + _PAD)
             for key, ls in lines.items()}
    centres = layout(graph, sizes, rankdir)
    xs = [c[0] + s * sizes[k][0] / 2 for k, c in centres.items() for s in (-1, 1)]
    ys = [c[1] + s * sizes[k][1] / 2 for k, c in centres.items() for s in (-1, 1)]
    margin = 0.3 + 0.25 * len({c for c in graph.clusters})
    x0, x1, y0, y1 = min(xs) - margin, max(xs) + margin, min(ys) - margin, max(ys) + margin
    fig = Figure(figsize=(x1 - x0, y1 - y0))
    FigureCanvasAgg(fig)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.axis("off")
    # Clusters: a dashed frame around every box of an expanded model (and its sub-clusters).
    for ckey, (label, _) in graph.clusters.items():
        members = [k for k in graph.boxes if k.startswith(ckey)]
        if not members:
            continue
        depth = ckey.count("/")
        pad = 0.12 + 0.1 * (3 - min(depth, 3))
        left = min(centres[k][0] - sizes[k][0] / 2 for k in members) - pad
        right = max(centres[k][0] + sizes[k][0] / 2 for k in members) + pad
        bottom = min(centres[k][1] - sizes[k][1] / 2 for k in members) - pad
        top = max(centres[k][1] + sizes[k][1] / 2 for k in members) + pad + 0.2
        ax.add_patch(Rectangle((left, bottom), right - left, top - bottom, fill=False, linestyle="--",
                               edgecolor="grey", linewidth=1))
        ax.text(left + 0.05, top - 0.05, label, ha="left", va="top", fontsize=8, color="dimgrey")
    for key, (cx, cy) in centres.items():
        w, h = sizes[key]
        top = cy + h / 2
        ax.add_patch(Rectangle((cx - w / 2, cy - h / 2), w, h, facecolor="white", edgecolor="black",
                               linewidth=1.2, zorder=2))
        for i, (text, colour) in enumerate(lines[key]):
            y = top - (i + 0.5) * _LINE_H
            if colour != "white":
                ax.add_patch(Rectangle((cx - w / 2, y - _LINE_H / 2), w, _LINE_H, facecolor=colour,
                                       edgecolor="none", zorder=3))
            ax.text(cx, y, text, ha="center", va="center", fontsize=9, zorder=4,
                    color="black" if colour == "white" else "white",
                    fontweight="bold" if i == 0 else "normal")
    vertical = rankdir in ("TB", "BT")
    for src, dst in graph.edges:
        (sx, sy), (dx, dy) = centres[src], centres[dst]
        if src == dst:     # a shared layer called on its own output: a loop on the box's side
            w, h = sizes[src]
            ax.add_patch(FancyArrowPatch((sx + w / 2, sy + h / 4), (sx + w / 2, sy - h / 4),
                                         connectionstyle="arc3,rad=-1.2", arrowstyle="-|>",
                                         mutation_scale=12, linewidth=1.5, color="black", zorder=1))
            continue
        if vertical:
            sign = 1 if dy < sy else -1
            start = (sx, sy - sign * sizes[src][1] / 2)
            end = (dx, dy + sign * sizes[dst][1] / 2)
        else:
            sign = 1 if dx > sx else -1
            start = (sx + sign * sizes[src][0] / 2, sy)
            end = (dx - sign * sizes[dst][0] / 2, dy)
        ax.add_patch(FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=12, linewidth=1.5,
                                     color="black", zorder=1, shrinkA=0, shrinkB=1))
    fig.savefig(to_file, format=fmt, dpi=dpi)
    return centres


def plot_model(model, to_file="model.png", show_shapes=False, show_dtype=False, show_layer_names=False,
               rankdir="TB", expand_nested=False, dpi=200, show_layer_activations=False,
               show_trainable=False, splines="ortho", **kwargs):
    """Draw the model's layer graph to an image with matplotlib (no pydot, no graphviz).

    Args:
        model: a built portanet model.
        to_file: the file; its extension picks the format: ``.png`` (default when there is
            none), ``.svg``, ``.pdf``, or ``.dot`` for ``model_to_dot``'s text.
        show_shapes: add each layer's input and output shapes.
        show_dtype: add each layer's output dtype.
        show_layer_names: title the boxes "name (Class)" instead of "Class" (Keras 3's
            default is False here, True in ``model_to_dot``).
        rankdir: "TB" (top to bottom) or "LR" (left to right); "BT", "RL" reverse them.
        expand_nested: draw nested models' layers inside a dashed frame.
        dpi: image resolution (dots per inch).
        show_layer_activations: add "Activation: ..." for layers with an activation.
        show_trainable: add "Trainable"/"Non-trainable" for layers with weights.
        splines: Graphviz's edge style, written into ``.dot`` files; images use straight arrows.

    Returns:
        None (Keras returns an IPython Image in notebooks).

    Raises:
        ImportError: matplotlib is missing (install the ``plot`` extra), for image formats.
        ValueError: an unsupported extension (the message names the supported ones), an
            unbuilt model, a bad ``rankdir`` or ``dpi``.
    """
    if kwargs:
        raise ValueError(f"plot_model: unrecognized keyword arguments: {sorted(kwargs)}")
    to_file = os.fspath(to_file) if isinstance(to_file, os.PathLike) else to_file
    if not isinstance(to_file, str) or not to_file:
        raise ValueError(f"plot_model: to_file={to_file!r}; expected a file name")
    ext = os.path.splitext(to_file)[1].lower() or ".png"
    if ext not in SUPPORTED_EXTENSIONS:
        raise ValueError(f"plot_model: to_file={to_file!r} has the extension {ext!r}; supported: "
                         f"{', '.join(SUPPORTED_EXTENSIONS)}")
    opts = dict(show_shapes=show_shapes, show_dtype=show_dtype, show_layer_names=show_layer_names,
                show_layer_activations=show_layer_activations, show_trainable=show_trainable)
    text = model_to_dot(model, rankdir=rankdir, expand_nested=expand_nested, dpi=dpi, splines=splines, **opts)
    if ext == ".dot":
        with open(to_file, "w", encoding="utf-8") as f:
            f.write(text)
        return None
    graph, shapes = _build_graph(model, expand_nested)
    _draw(graph, shapes, rankdir, opts, to_file, ext[1:], dpi)
    return None
