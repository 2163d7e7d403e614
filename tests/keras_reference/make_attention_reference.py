"""Generate tests/keras_reference/attention.npz: Keras 3's outputs and gradients for the
attention layers (EinsumDense, MultiHeadAttention, Attention, AdditiveAttention,
GroupQueryAttention), in float64, with weights and inputs drawn here.

Run with Keras 3 and JAX installed (not portanet's test dependencies):
    KERAS_BACKEND=jax python tests/keras_reference/make_attention_reference.py
tests/test_attention_keras.py compares portanet with the stored arrays (and with Keras live
where it is installed, through the CASES below).
"""

import os
import pathlib

import numpy as np

HERE = pathlib.Path(__file__).parent

# name: (Keras class, constructor kwargs, input shapes, call kwargs, mask inputs)
# Inputs listed as "q", "v", "k" are float; "am" an attention mask (B, T, S); "qm"/"vm" masks.
CASES = {
    "einsum_abc_cde": ("EinsumDense", dict(equation="abc,cde->abde", output_shape=(None, 4, 3),
                                           bias_axes="de", activation="tanh"), {"x": (2, 3, 5)}, {}),
    "einsum_abcd_cde": ("EinsumDense", dict(equation="abcd,cde->abe", output_shape=(None, 6),
                                            bias_axes="e"), {"x": (2, 3, 4, 5)}, {}),
    "einsum_left_elided": ("EinsumDense", dict(equation="...b,bc->...c", output_shape=4,
                                               bias_axes="c"), {"x": (2, 3, 5)}, {}),
    "einsum_right_elided": ("EinsumDense", dict(equation="abc...,cd->abd...", output_shape=(3, 6),
                                                bias_axes="d"), {"x": (2, 3, 4, 5)}, {}),
    "mha_masks": ("MultiHeadAttention", dict(num_heads=3, key_dim=2, value_dim=4),
                  {"q": (2, 4, 5), "v": (2, 6, 3), "k": (2, 6, 7), "am": (2, 4, 6)},
                  dict(use_causal_mask=True, return_attention_scores=True)),
    "mha_axes": ("MultiHeadAttention", dict(num_heads=2, key_dim=3, attention_axes=(1, 2)),
                 {"q": (2, 3, 2, 4), "v": (2, 3, 2, 4)}, dict(return_attention_scores=True)),
    "mha_output_shape": ("MultiHeadAttention", dict(num_heads=2, key_dim=3, output_shape=(4,),
                                                    use_bias=False),
                         {"q": (2, 4, 5), "v": (2, 3, 5)}, {}),
    "mha_gate_window": ("MultiHeadAttention", dict(num_heads=2, key_dim=3, use_gate=True,
                                                   sliding_window=2),
                        {"q": (2, 5, 4), "v": (2, 5, 4)},
                        dict(use_causal_mask=True, return_attention_scores=True)),
    "attention_dot": ("Attention", dict(use_scale=True), {"q": (2, 3, 4), "v": (2, 5, 4), "k": (2, 5, 4),
                                                          "qm": (2, 3), "vm": (2, 5)},
                      dict(use_causal_mask=True, return_attention_scores=True)),
    "attention_concat": ("Attention", dict(use_scale=True, score_mode="concat"),
                         {"q": (2, 3, 4), "v": (2, 5, 4), "vm": (2, 5)}, {}),
    "additive": ("AdditiveAttention", dict(), {"q": (2, 3, 4), "v": (2, 5, 4), "vm": (2, 5)},
                 dict(return_attention_scores=True)),
    "gqa": ("GroupQueryAttention", dict(head_dim=3, num_query_heads=4, num_key_value_heads=2),
            {"q": (2, 4, 6), "v": (2, 5, 6), "am": (2, 4, 5)},
            dict(use_causal_mask=True, return_attention_scores=True)),
    "gqa_gate_window": ("GroupQueryAttention", dict(head_dim=2, num_query_heads=4, num_key_value_heads=1,
                                                    use_gate=True, sliding_window=3),
                        {"q": (2, 5, 6), "v": (2, 5, 6), "k": (2, 5, 6)}, dict(return_attention_scores=True)),
}


def case_inputs(name):
    """The case's inputs, drawn from a seed fixed per case (same here and in the test)."""
    _, _, shapes, _ = CASES[name]
    rng = np.random.default_rng(sorted(CASES).index(name) + 100)
    out = {}
    for key, shape in shapes.items():
        if key in ("am", "qm", "vm"):
            m = rng.random(shape) > 0.3
            m[..., 0] = True
            out[key] = m
        else:
            out[key] = rng.standard_normal(shape)
    return out


def main():
    os.environ.setdefault("KERAS_BACKEND", "jax")
    import jax
    jax.config.update("jax_enable_x64", True)
    import keras
    keras.config.set_floatx("float64")
    arrays = {}
    for name, (cls_name, kwargs, _, call_kwargs) in CASES.items():
        inputs = case_inputs(name)
        layer = getattr(keras.layers, cls_name)(dtype="float64", **kwargs)
        floats = [k for k in ("x", "q", "v", "k") if k in inputs]

        def call(tv, xs, layer=layer, inputs=inputs, call_kwargs=call_kwargs):
            d = dict(inputs, **dict(zip(floats, xs)))
            if cls_name == "EinsumDense":
                args, kw = (d["x"],), {}
            elif cls_name in ("Attention", "AdditiveAttention"):
                args = ([d["q"], d["v"]] + ([d["k"]] if "k" in d else []),)
                kw = dict(call_kwargs)
                if "vm" in d:
                    kw["mask"] = [d.get("qm"), d["vm"]]
            else:
                args = (d["q"], d["v"])
                kw = dict(call_kwargs, key=d.get("k"), attention_mask=d.get("am"))
            out, _ = layer.stateless_call(tv, [], *args, **kw)
            return list(out) if isinstance(out, (tuple, list)) else [out]

        # build (Keras's jax path without scores fails for value_dim != key_dim: ask for them)
        d = inputs
        if cls_name == "EinsumDense":
            layer(d["x"])
        elif cls_name in ("Attention", "AdditiveAttention"):
            layer([d["q"], d["v"]] + ([d["k"]] if "k" in d else []))
        else:
            layer(d["q"], d["v"], key=d.get("k"), return_attention_scores=True)
        rng = np.random.default_rng(sorted(CASES).index(name))
        weights = [rng.standard_normal(tuple(w.shape)) * 0.5 for w in layer.get_weights()]
        layer.set_weights(weights)
        tv = [v.value for v in layer.trainable_variables]
        xs = [inputs[k] for k in floats]
        outs = call(tv, xs)
        rs = [rng.standard_normal(tuple(o.shape)) for o in outs]

        def objective(tv, xs):
            return sum(jax.numpy.sum(o * r) for o, r in zip(call(tv, xs), rs))
        g_tv, g_xs = jax.grad(objective, argnums=(0, 1))(tv, xs)
        for key, value in inputs.items():
            arrays[f"{name}/in_{key}"] = value
        for i, w in enumerate(weights):
            arrays[f"{name}/w{i}"] = w
        for i, (o, r) in enumerate(zip(outs, rs)):
            arrays[f"{name}/y{i}"] = np.asarray(o)
            arrays[f"{name}/r{i}"] = r
        for i, g in enumerate(g_tv):
            arrays[f"{name}/gw{i}"] = np.asarray(g)
        for key, g in zip(floats, g_xs):
            arrays[f"{name}/gx_{key}"] = np.asarray(g)
        print(name, [w.shape for w in weights], [o.shape for o in outs])
    np.savez_compressed(HERE / "attention.npz", **arrays)


if __name__ == "__main__":
    main()
