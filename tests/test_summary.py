import portanet as pn


def _lines(model, **kwargs):
    out = []
    model.summary(print_fn=out.append, **kwargs)
    return out


def test_sequential_summary_table():
    model = pn.Sequential([pn.Input((4,)), pn.layers.Dense(8, activation="relu"),
                           pn.layers.Dense(3)], name="seq")
    lines = _lines(model)
    assert lines[0] == 'Model: "seq"'
    assert lines[1].startswith("┏") and "┳" in lines[1]
    header = lines[2]
    assert "Layer (type)" in header and "Output Shape" in header and "Param #" in header
    assert "Connected to" not in header
    body = "\n".join(lines)
    assert "│ dense (Dense)" in body and "(None, 8)" in body and "(None, 3)" in body
    row = next(l for l in lines if "dense_1 (Dense)" in l)
    assert row.split("│")[3].strip() == "27"
    assert lines[-3:] == [" Total params: 67 (268.00 B)", " Trainable params: 67 (268.00 B)",
                          " Non-trainable params: 0 (0.00 B)"]
    # every table line has the same width
    table = [l for l in lines if l[:1] in "┏┃┡│├└"]
    assert len({len(l) for l in table}) == 1


def test_functional_summary_has_connected_to():
    a, b = pn.Input((4,), name="a"), pn.Input((2,), name="b")
    da = pn.layers.Dense(3, name="da")(a)
    merged = pn.layers.Concatenate(name="cat")([da, b])
    out = pn.layers.Dense(1, name="out")(merged)
    model = pn.Model([a, b], out, name="two_in")
    lines = _lines(model)
    assert "Connected to" in lines[2]
    body = "\n".join(lines)
    assert "│ a (InputLayer)" in body and "(None, 4)" in body
    cat_rows = [l for l in lines if "cat (Concatenate)" in l]
    assert cat_rows and cat_rows[0].rstrip("│").rstrip().endswith("da[0][0],")
    following = lines[lines.index(cat_rows[0]) + 1]
    assert following.rstrip("│").rstrip().endswith("b[0][0]")          # second input, next line
    in_row = next(l for l in lines if "a (InputLayer)" in l)
    assert in_row.rstrip("│").rstrip().endswith("-")
    assert " Total params: 21 (84.00 B)" in lines


def test_chain_functional_is_sequential_like():
    x = pn.Input((3,))
    model = pn.Model(x, pn.layers.Dense(2)(pn.layers.Dense(4)(x)))
    lines = _lines(model)
    assert "Connected to" not in lines[2]
    assert any("(InputLayer)" in l for l in lines)


def test_shared_layer_makes_connected_to_appear_and_counts_once():
    x = pn.Input((3,), name="x")
    shared = pn.layers.Dense(3, name="shared")
    model = pn.Model(x, shared(shared(x)))
    lines = _lines(model)
    assert "Connected to" in lines[2]
    shared_rows = [l for l in lines if "shared (Dense)" in l]
    assert len(shared_rows) == 1 and "x[0][0]," in shared_rows[0]
    assert "shared[0][0]" in lines[lines.index(shared_rows[0]) + 1]
    assert " Total params: 12 (48.00 B)" in lines


def test_non_trainable_counts():
    model = pn.Sequential([pn.Input((5,)), pn.layers.Dense(4), pn.layers.Dense(2)])
    model.layers[0].trainable = False
    lines = _lines(model, show_trainable=True)
    assert " Total params: 34 (136.00 B)" in lines
    assert " Trainable params: 10 (40.00 B)" in lines
    assert " Non-trainable params: 24 (96.00 B)" in lines
    frozen = next(l for l in lines if "(Dense)" in l)
    assert frozen.rstrip("│").rstrip().endswith("N")


def test_nested_model_row_and_byte_units():
    inner = pn.Sequential([pn.Input((300,)), pn.layers.Dense(300)], name="inner")
    x = pn.Input((300,))
    model = pn.Model(x, pn.layers.Dense(1)(inner(x)))
    lines = _lines(model)
    assert any("inner (Sequential)" in l and "90,300" in l for l in lines)
    assert " Total params: 90,601 (353.91 KB)" in lines
