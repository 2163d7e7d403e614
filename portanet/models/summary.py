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
    for unit in ("B", "KB", "MB", "GB"):
        if nbytes < 1024 or unit == "GB":
            return f"{nbytes:.2f} {unit}" if unit != "B" else f"{nbytes} B"
        nbytes /= 1024.0


def layer_rows(model):
    """(name (Class), output shape, params, connected-to) for each layer of a built model."""
    rows = []
    rows_fn = getattr(model, "_summary_rows", None)
    if rows_fn is not None:
        return rows_fn()
    shape = model.input_shapes[0] if model.built else None
    for layer in model.layers:
        if shape is not None:
            shape = layer.compute_output_shape(shape)
        rows.append((f"{layer.name} ({type(layer).__name__})",
                     _fmt_shape(shape) if shape is not None else "?", layer.count_params(), None))
    return rows


def print_summary(model, line_length=None, print_fn=None, show_trainable=False):
    print_fn = print_fn or print
    rows = layer_rows(model)
    connected = any(r[3] is not None for r in rows)
    headers = ["Layer (type)", "Output Shape", "Param #"] + (["Connected to"] if connected else [])
    cols = [list(map(str, col)) for col in zip(*[(r[0], r[1], f"{r[2]:,}") + ((r[3] or "-",) if connected else ())
                                                   for r in rows])] if rows else [[] for _ in headers]
    widths = [max([len(h)] + [len(c) for c in col]) + 2 for h, col in zip(headers, cols)]
    total_width = line_length or sum(widths)
    print_fn(f'Model: "{model.name}"')
    print_fn("┏" + "┳".join("━" * w for w in widths) + "┓")
    print_fn("┃" + "┃".join(h.ljust(w) if i != 2 else h.rjust(w) for i, (h, w) in enumerate(zip(headers, widths))) + "┃")
    print_fn("┡" + "╇".join("━" * w for w in widths) + "┩")
    for k, r in enumerate(rows):
        cells = [r[0], r[1], f"{r[2]:,}"] + ([r[3] or "-"] if connected else [])
        print_fn("│" + "│".join(c.ljust(w) if i != 2 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths))) + "│")
        if k != len(rows) - 1:
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
    _ = total_width


def _count_arrays(slots):
    total = 0
    for a in slots.values():
        n = 1
        for s in a.shape:
            n *= s
        total += n
    return total
