"""``model.summary()``: Keras's table of layers, output shapes and parameter counts."""

import math
import re
import shutil

from ..config import floatx
from ..progbar import print_msg


def _fmt_shape(shape):
    """Keras's ``format_layer_shape``: ``(None, 8)``, ``(None)`` for one axis, and a list
    ``[(None, 3), (None, 2)]`` for several outputs."""
    if isinstance(shape, list):
        return "[" + ", ".join(_fmt_shape(s) for s in shape) + "]"
    return "(" + ", ".join("None" if s is None else str(s) for s in shape) + ")"


def _count(weights):
    return int(sum(math.prod(v.shape) for v in weights))


def _itemsize(dtype):
    name = str(dtype)
    return 8 if "64" in name else 2 if "16" in name else 1 if "8" in name or "bool" in name else 4


def _bytes(weights):
    """Bytes of the distinct weights (Keras's ``weight_memory_size``)."""
    unique = {id(v): v for v in weights}.values()
    return sum(math.prod(v.shape) * _itemsize(v.dtype) for v in unique)


def _human(nbytes):
    """Keras's readable_memory_size: "64.00 B", "1.50 KB", ..."""
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if nbytes / 1024 < 1 or unit == "TB":
            return f"{nbytes:.2f} {unit}"
        nbytes /= 1024.0


def layer_rows(model):
    """(name (Class), output shape, params, connected-to, trainable) for each layer of a
    built model; connected-to is None for Sequential-like models, trainable None for a
    layer without weights."""
    rows = []
    rows_fn = getattr(model, "_summary_rows", None)
    if rows_fn is not None:
        return rows_fn()
    if getattr(model, "_subclassed", lambda: False)():
        return _subclassed_rows(model)
    shape = model.input_shapes[0] if model.built else None
    for layer in model.layers:
        if shape is not None:
            shape = layer.compute_output_shape(shape)
        rows.append((f"{layer.name} ({type(layer).__name__})",
                     _fmt_shape(shape) if shape is not None else "?", _params(layer), None,
                     layer.trainable if layer.weights else None))
    return rows


def _params(layer):
    """The Param # cell's value: the count, or Keras's "0 (unbuilt)" for an unbuilt layer."""
    return layer.count_params() if getattr(layer, "built", True) else "0 (unbuilt)"


# Keras 3.15.1 layer classes that do not override build() (so Keras marks them built in
# __init__ and never records a build shape: a subclassed model's summary shows "?" for
# them), from ``keras.src.utils.is_default(cls.build)`` over ``keras.layers``; Reshape and
# InputLayer set ``built`` in __init__ themselves.
_KERAS_BUILT_AT_INIT = frozenset("""
Activation ActivityRegularization AdaptiveAveragePooling1D AdaptiveAveragePooling2D
AdaptiveAveragePooling3D AdaptiveMaxPooling1D AdaptiveMaxPooling2D AdaptiveMaxPooling3D
AlphaDropout AutoContrast AveragePooling1D AveragePooling2D AveragePooling3D CategoryEncoding
CenterCrop Cropping1D Cropping2D Cropping3D CutMix Discretization Dropout ELU Equalization
Flatten GaussianDropout GaussianNoise GlobalAveragePooling1D GlobalAveragePooling2D
GlobalAveragePooling3D GlobalMaxPooling1D GlobalMaxPooling2D GlobalMaxPooling3D HashedCrossing
Hashing Identity InputLayer IntegerLookup Lambda Layer LeakyReLU Masking MaxPooling1D
MaxPooling2D MaxPooling3D MelSpectrogram MixUp Permute Pipeline RandomBrightness
RandomColorDegeneration RandomContrast RandomCrop RandomElasticTransform RandomErasing
RandomFlip RandomGaussianBlur RandomGrayscale RandomHue RandomInvert RandomPerspective
RandomPosterization RandomRotation RandomSaturation RandomSharpness RandomShear
RandomTranslation RandomZoom ReLU RepeatVector Rescaling Reshape Resizing Softmax Solarization
SpatialDropout1D SpatialDropout2D SpatialDropout3D StringLookup UnitNormalization UpSampling1D
UpSampling2D UpSampling3D ZeroPadding1D ZeroPadding2D ZeroPadding3D""".split())


def _keras_built_at_init(layer):
    """Whether Keras would build ``layer`` in __init__: a user class defining ``build``
    is built later; otherwise the first portanet class in its MRO decides, by name."""
    for klass in type(layer).__mro__:
        if klass.__module__.startswith("portanet."):
            return klass.__name__ in _KERAS_BUILT_AT_INIT
        if "build" in vars(klass):
            return False
    return False


def _subclassed_rows(model):
    """A subclassed model's tracked layers, as Keras shows them: the output shape that the
    layer's recorded build input gives (batch size included), "?" when there is none (a
    layer Keras builds in __init__, or one not built yet)."""
    rows = []
    # build((None, ...)) runs call on a small batch: show None there, as Keras's symbolic build.
    built_as = getattr(model, "_build_input_shape", None)
    first = built_as[0] if isinstance(built_as, list) and built_as else built_as
    unknown_batch = isinstance(first, tuple) and len(first) > 0 and first[0] is None
    for layer in model.layers:
        shape = None
        if layer.built and layer._build_input_shape is not None and not _keras_built_at_init(layer):
            try:
                built = layer._build_input_shape
                if unknown_batch:
                    built = [(None,) + tuple(b[1:]) for b in built] if isinstance(built, list) \
                        else (None,) + tuple(built[1:])
                shape = layer.compute_output_shape(built)
            except Exception:  # noqa: BLE001 - a layer that cannot say shows "?"
                shape = None
        rows.append((f"{layer.name} ({type(layer).__name__})",
                     _fmt_shape(shape) if shape is not None else "?", _params(layer), None,
                     layer.trainable if layer.weights else None))
    return rows


def _terminal_columns():
    """``shutil.get_terminal_size().columns`` ($COLUMNS, else the terminal, else 80)."""
    return shutil.get_terminal_size().columns


def _column_widths(positions, line_length):
    """Keras's requested widths, then rich's fit of the table into ``line_length``: each
    column gets one blank on each side and the borders take ``len + 1`` characters, so
    the overflow is taken off the columns evenly (rich's ``ratio_reduce``)."""
    widths, current = [], 0
    for pos in positions:
        width = int(pos * line_length) - current
        if width < 4:
            raise ValueError("Insufficient console width to print summary.")
        widths.append(width)
        current += width
    widths = [w + 2 for w in widths]
    available = line_length - (len(widths) + 1)
    excess = sum(widths) - available
    if excess > 0:
        total_ratio, remaining, reduced = len(widths), excess, []
        for w in widths:
            cut = min(w, _round_half_even(remaining / total_ratio))
            reduced.append(w - cut)
            remaining -= cut
            total_ratio -= 1
        widths = reduced
    return widths


def _round_half_even(x):
    return round(x)  # Python's round: halves to even, as rich's ratio_reduce


def _wrap(text, width):
    """rich's word wrap of a cell (overflow "ellipsis"): words, each with its trailing
    blanks, fill a line while they fit; a word longer than the line gets a line of its own,
    cut to ``width`` with a final "…"."""
    lines = []
    for paragraph in text.split("\n"):
        line = ""
        for word in re.findall(r"\s*\S+\s*", paragraph) or [""]:
            if len(line) + len(word.rstrip()) <= width or not line:
                line += word
            else:
                lines.append(line)
                line = word
        lines.append(line)
    lines = [line.rstrip() for line in lines]
    return [line if len(line) <= width else line[:width - 1] + "…" for line in lines]


def _justify(text, width, how):
    if how == "right":
        return text.rjust(width)
    if how == "center":
        left = (width - len(text)) // 2
        return (" " * left + text).ljust(width)
    return text.ljust(width)


def print_summary(model, line_length=None, positions=None, print_fn=None, expand_nested=False,
                  show_trainable=False, layer_range=None):
    """Print Keras 3's table (keras/src/utils/summary_utils.py, drawn by rich): one row per
    layer (functional models add "Connected to", unless their graph is a plain chain), then
    the parameter counts (the optimizer's variables, once it is built, count in the total).

    The line length is Keras's: 88 (108 with "Connected to", 12 more with
    ``show_trainable``) or the terminal's width less 4 when that is smaller; ``positions``
    are the columns' right edges as fractions of it. ``expand_nested`` adds the layers of
    nested models below theirs ("   └ name (Class)"); ``layer_range`` (two regular
    expressions, matched against layer names) keeps the layers from the first match of the
    first to the last match of the second. As in Keras,
    ``print_fn`` receives the whole table as one string; without it the table goes to
    stdout, or to the ``portanet`` logger when interactive logging is off.
    """
    rows = layer_rows(model)
    sequential_like = not any(r[3] is not None for r in rows)
    layers = _row_layers(model, rows)
    lo, hi = _layer_range_bounds(layers, layer_range)
    shown = []
    for layer, row in zip(layers[lo:hi], rows[lo:hi]):
        shown.append(row)
        if expand_nested:
            shown += _nested_rows(layer, 1)
    rows = shown
    if sequential_like:
        default_line_length = 88
        positions = positions or [0.45, 0.80, 1.0]
        headers = ["Layer (type)", "Output Shape", "Param #"]
        alignment = ["left", "left", "right"]
    else:
        default_line_length = 108
        positions = positions or [0.3, 0.56, 0.74, 1.0]
        headers = ["Layer (type)", "Output Shape", "Param #", "Connected to"]
        alignment = ["left", "left", "right", "left"]
    if show_trainable:
        default_line_length += 12
        positions = [p * 0.90 for p in positions] + [1.0]
        headers.append("Trainable")
        alignment.append("center")
    default_line_length = min(default_line_length, _terminal_columns() - 4)
    line_length = line_length or default_line_length
    widths = _column_widths(positions, line_length)
    table = []
    for r in rows:
        cells = [str(r[0]), str(r[1]), r[2] if isinstance(r[2], str) else f"{r[2]:,}"]
        if not sequential_like:
            cells.append((r[3] or "-").replace(",\n", ", "))
        if show_trainable:
            layer_trainable = r[4] if len(r) > 4 else None
            cells.append("-" if layer_trainable is None else ("Y" if layer_trainable else "N"))
        table.append(cells)

    def render(cells, bar):
        wrapped = [_wrap(c, w - 2) for c, w in zip(cells, widths)]
        height = max(len(c) for c in wrapped)
        out = []
        for j in range(height):
            out.append(bar + bar.join(" " + _justify(c[j] if j < len(c) else "", w - 2, a) + " "
                                      for c, w, a in zip(wrapped, widths, alignment)) + bar)
        return out

    out = [f'Model: "{model.name}"', "┏" + "┳".join("━" * w for w in widths) + "┓"]
    out += render(headers, "┃")
    out.append("┡" + "╇".join("━" * w for w in widths) + "┩")
    for k, cells in enumerate(table):
        out += render(cells, "│")
        if k != len(table) - 1:
            out.append("├" + "┼".join("─" * w for w in widths) + "┤")
    out.append("└" + "┴".join("─" * w for w in widths) + "┘")
    trainable = model.trainable_weights
    non_trainable = model.non_trainable_weights
    trainable_count, trainable_size = _count(trainable), _bytes(trainable)
    non_trainable_count, non_trainable_size = _count(non_trainable), _bytes(non_trainable)
    opt = getattr(model, "optimizer", None)
    opt_count, opt_size = (_optimizer_params(opt, model) if opt is not None
                           and getattr(opt, "built", False) else (None, 0))
    total = trainable_count + non_trainable_count + (opt_count or 0)
    out.append(f" Total params: {total:,} "
               f"({_human(trainable_size + non_trainable_size + opt_size)})")
    out.append(f" Trainable params: {trainable_count:,} ({_human(trainable_size)})")
    out.append(f" Non-trainable params: {non_trainable_count:,} ({_human(non_trainable_size)})")
    if opt_count is not None:
        out.append(f" Optimizer params: {opt_count:,} ({_human(opt_size)})")
    text = "\n".join(out) + "\n"
    if print_fn is not None:
        print_fn(text)
    else:
        print_msg(text, line_break=False)


def _optimizer_params(opt, model):
    """(count, bytes) of Keras's ``optimizer.variables``: ``iterations`` (Keras's "int",
    int32 outside TensorFlow), the learning rate (a floatx variable unless it is a
    schedule) and every slot array."""
    count, size = 1, 4
    if not callable(getattr(opt, "_learning_rate", None)):
        count += 1
        size += 8 if floatx() == "float64" else 2 if floatx() in ("float16", "bfloat16") else 4
    for slots in opt._slots:
        for a in slots.values():
            n = math.prod(a.shape)
            count += n
            size += n * _itemsize(a.dtype)
    return count, size


def _row_layers(model, rows):
    """The layer of each row of ``layer_rows(model)`` (functional models list their
    InputLayers too)."""
    layers = list(getattr(model, "_layers", None) if getattr(model, "_summary_rows", None)
                  else model.layers)
    return layers if len(layers) == len(rows) else list(model.layers)[:len(rows)]


def _nested_rows(layer, level):
    """Rows of a nested model's layers, named "   └ name (Class)" per level, without
    connections (Keras shows "-": their nodes are not the outer model's)."""
    inner = getattr(layer, "layers", None)
    if not inner or not hasattr(layer, "weights"):
        return []
    try:
        rows = layer_rows(layer)
    except (ValueError, AttributeError):  # a nested model that cannot say: nothing to add
        return []
    out = []
    for sub, row in zip(_row_layers(layer, rows), rows):
        out.append(("   " * level + "└ " + row[0], row[1], row[2], "-", row[4] if len(row) > 4 else None))
        out += _nested_rows(sub, level + 1)
    return out


def _layer_range_bounds(layers, layer_range):
    """Keras's ``get_layer_index_bound_by_layer_name``: [first, last + 1]."""
    if layer_range is None:
        return 0, len(layers)
    if len(layer_range) != 2:
        raise ValueError("layer_range must be a list or tuple of length 2. Received: "
                         f"layer_range = {layer_range} of length {len(layer_range)}")
    if not isinstance(layer_range[0], str) or not isinstance(layer_range[1], str):
        raise ValueError(f"layer_range should contain string type only. Received: {layer_range}")
    lower = [i for i, layer in enumerate(layers) if re.match(layer_range[0], layer.name)]
    upper = [i for i, layer in enumerate(layers) if re.match(layer_range[1], layer.name)]
    if not lower or not upper:
        raise ValueError("Passed layer_names do not match the layer names in the model. "
                         f"Received: {layer_range}")
    if min(lower) > max(upper):
        return min(upper), max(lower) + 1
    return min(lower), max(upper) + 1
