"""``model.summary()``: Keras's table of layers, output shapes and parameter counts."""


def _fmt_shape(shape):
    if isinstance(shape, list):
        return ", ".join(_fmt_shape(s) for s in shape)
    return "(" + ", ".join("None" if s is None else str(s) for s in shape) + (",)" if len(shape) == 1 else ")")


def _count(weights):
    total = 0
    for v in weights:
        n = 1
        for s in v.shape:
            n *= s
        total += n
    return total


def _bytes(weights):
    total = 0
    for v in weights:
        n = 1
        for s in v.shape:
            n *= s
        total += n * (8 if "64" in str(v.dtype) else 2 if "16" in str(v.dtype) else 4)
    return total


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
                     _fmt_shape(shape) if shape is not None else "?", layer.count_params(), None,
                     layer.trainable if layer.weights else None))
    return rows


def _subclassed_rows(model):
    """A subclassed model's tracked layers; a layer's output shape is the one its
    recorded build input gives ("?" when unknown, as Keras)."""
    rows = []
    for layer in model.layers:
        shape = None
        if layer.built and layer._build_input_shape is not None:
            try:
                built = layer._build_input_shape
                built = [(None,) + tuple(b[1:]) for b in built] if isinstance(built, list) \
                    else (None,) + tuple(built[1:])
                shape = layer.compute_output_shape(built)
            except Exception:  # noqa: BLE001 - a layer that cannot say shows "?"
                shape = None
        rows.append((f"{layer.name} ({type(layer).__name__})",
                     _fmt_shape(shape) if shape is not None else "?", layer.count_params(), None,
                     layer.trainable if layer.weights else None))
    return rows


def print_summary(model, line_length=None, print_fn=None, show_trainable=False):
    """Print Keras 3's table: one row per layer (functional models add "Connected to",
    unless their graph is a plain chain), then the parameter counts.

    A cell may hold several lines (a merge layer's inputs, one per line)."""
    print_fn = print_fn or print
    rows = layer_rows(model)
    connected = any(r[3] is not None for r in rows)
    headers = ["Layer (type)", "Output Shape", "Param #"] + (["Connected to"] if connected else [])
    if show_trainable:
        headers.append("Traina…")
    table = []
    for r in rows:
        cells = [str(r[0]), str(r[1]), f"{r[2]:,}"] + ([r[3] or "-"] if connected else [])
        if show_trainable:
            layer_trainable = r[4] if len(r) > 4 else None
            cells.append("-" if layer_trainable is None else ("Y" if layer_trainable else "N"))
        table.append([c.split("\n") for c in cells])
    widths = [max([len(h)] + [len(line) for row in table for line in row[i]]) + 2
              for i, h in enumerate(headers)]
    right = {2}

    def line(cells):
        return "│" + "│".join((" " + c).rjust(w - 1) + " " if i in right else (" " + c).ljust(w)
                              for i, (c, w) in enumerate(zip(cells, widths))) + "│"
    print_fn(f'Model: "{model.name}"')
    print_fn("┏" + "┳".join("━" * w for w in widths) + "┓")
    print_fn(line(headers).replace("│", "┃"))
    print_fn("┡" + "╇".join("━" * w for w in widths) + "┩")
    for k, row in enumerate(table):
        height = max(len(cell) for cell in row)
        for j in range(height):
            print_fn(line([cell[j] if j < len(cell) else "" for cell in row]))
        if k != len(table) - 1:
            print_fn("├" + "┼".join("─" * w for w in widths) + "┤")
    print_fn("└" + "┴".join("─" * w for w in widths) + "┘")
    weights = model.weights
    trainable = model.trainable_weights
    non_trainable = model.non_trainable_weights
    print_fn(f" Total params: {_count(weights):,} ({_human(_bytes(weights))})")
    print_fn(f" Trainable params: {_count(trainable):,} ({_human(_bytes(trainable))})")
    print_fn(f" Non-trainable params: {_count(non_trainable):,} ({_human(_bytes(non_trainable))})")
    opt = getattr(model, "optimizer", None)
    if opt is not None and opt.variables:
        slots = sum(_count_arrays(s) for s in opt._slots)
        print_fn(f" Optimizer params: {slots:,}")


def _count_arrays(slots):
    total = 0
    for a in slots.values():
        n = 1
        for s in a.shape:
            n *= s
        total += n
    return total
