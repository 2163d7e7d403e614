"""The attention layers against Keras 3.15.1's own outputs and gradients, stored in
tests/keras_reference/attention.npz by tests/keras_reference/make_attention_reference.py
(Keras on JAX, float64): same weights, same inputs, outputs and the gradients of
sum(output * r) for every weight and input."""

import pathlib
import sys

import numpy as np
import pytest

import portanet as pn
from harness import to_np

HERE = pathlib.Path(__file__).parent / "keras_reference"
sys.path.insert(0, str(HERE))
from make_attention_reference import CASES  # noqa: E402

STORED = np.load(HERE / "attention.npz")

# XLA's CPU tanh and JAX's fused dot_product_attention (Keras's path when no scores are
# returned) are accurate to ~1e-7 in float64; the other cases agree to rounding.
LOOSE = {"einsum_abc_cde", "attention_concat", "additive", "mha_output_shape"}


def _portanet_layer(cls_name, kwargs, call_kwargs):
    cls = getattr(pn.layers, cls_name)
    if cls_name == "EinsumDense":
        return cls(**kwargs)
    return cls(**kwargs, **call_kwargs)


@pytest.mark.parametrize("name", sorted(CASES))
def test_matches_stored_keras(backend, name):
    old = pn.config.floatx()
    pn.config.set_floatx("float64")
    try:
        cls_name, kwargs, shapes, call_kwargs = CASES[name]
        tol = 1e-6 if name in LOOSE else 1e-10
        get = lambda key: STORED[f"{name}/{key}"]  # noqa: E731
        inputs = {key: get(f"in_{key}") for key in shapes}
        layer = _portanet_layer(cls_name, kwargs, call_kwargs)
        mask = None
        if cls_name == "EinsumDense":
            xs, names = backend.asarray(inputs["x"]), ["x"]
        elif cls_name in ("Attention", "AdditiveAttention"):
            names = ["q", "v"] + (["k"] if "k" in inputs else [])
            xs = [backend.asarray(inputs[k]) for k in names]
            mask = [None if inputs.get(m) is None else backend.asarray(inputs[m]) for m in ("qm", "vm")]
        else:
            names = ["q", "v", "k"] if "k" in inputs else ["q", "v", "v"]
            xs = [backend.asarray(inputs[k]) for k in names]
            if "am" in inputs:
                xs.append(backend.asarray(inputs["am"]))
            else:
                xs = xs[:2] if "k" not in inputs else xs
        layer._maybe_build([tuple(a.shape) for a in xs] if isinstance(xs, list) else tuple(xs.shape))
        n_w = len(layer.weights)
        layer.set_weights([get(f"w{i}") for i in range(n_w)])
        y, back, _, _ = layer.run(xs, training=False, mask=mask)
        ys = y if isinstance(y, list) else [y]
        n_out = sum(1 for k in STORED.files if k.startswith(f"{name}/y"))
        assert len(ys) == n_out
        for i, o in enumerate(ys):
            np.testing.assert_allclose(to_np(backend, o), get(f"y{i}"), rtol=tol, atol=tol,
                                       err_msg=f"{name} output {i}")
        rs = [backend.asarray(get(f"r{i}")) for i in range(n_out)]
        dx = back(rs if isinstance(y, list) else rs[0])
        for i, v in enumerate(layer.weights):
            np.testing.assert_allclose(to_np(backend, v.grad), get(f"gw{i}"), rtol=tol * 10, atol=tol * 10,
                                       err_msg=f"{name} gradient of {v.path}")
        dxs = dx if isinstance(dx, list) else [dx]
        by_name = {}
        for key, g in zip(names, dxs):
            g = to_np(backend, g)
            by_name[key] = g if key not in by_name else by_name[key] + g
        for key, g in by_name.items():
            np.testing.assert_allclose(g, get(f"gx_{key}"), rtol=tol * 10, atol=tol * 10,
                                       err_msg=f"{name} gradient of input {key}")
    finally:
        pn.config.set_floatx(old)
