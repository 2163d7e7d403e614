"""The shared layer test harness (docs/ARCHITECTURE.md, section 7), as Keras's ``run_layer_test``.

``run_layer_test(make_layer, input_shape, backend)`` checks, for one layer configuration:
output shape against ``compute_output_shape`` (and an expected shape), weight count,
float64 finite-difference gradients of the input and every weight, that one SGD step on
the layer lowers a loss, the config round trip (same output with the same weights), and
the same output on the numpy backend as on the one under test.
"""

import numpy as np

import portanet as pn


def to_np(backend, a):
    return backend.to_numpy(a) if not isinstance(a, np.ndarray) else a


def layer_forward(layer, backend, x, training=False, mask=None, with_extra=False):
    """Build (if needed) and run ``layer.run``; returns (y, backward) (and the activity penalty)."""
    xs = [backend.asarray(a) for a in x] if isinstance(x, list) else backend.asarray(x)
    shape = [tuple(a.shape) for a in xs] if isinstance(xs, list) else tuple(xs.shape)
    layer._maybe_build(shape)
    y, back, _, extra = layer.run(xs, training=training, mask=mask)
    if with_extra:
        return y, back, (0.0 if extra is None else float(to_np(backend, extra)))
    return y, back


def numeric_grad(f, arr, indices, eps=1e-6):
    """Central differences of scalar f() w.r.t. arr (host float64 array) at indices."""
    out = []
    for idx in indices:
        old = arr[idx]
        arr[idx] = old + eps
        fp = f()
        arr[idx] = old - eps
        fm = f()
        arr[idx] = old
        out.append((fp - fm) / (2 * eps))
    return np.array(out)


def _pick(shape, k, rng):
    n = int(np.prod(shape)) if shape else 1
    flat = rng.choice(n, size=min(k, n), replace=False)
    return [np.unravel_index(i, shape) for i in flat]


def check_gradients(make_layer, x, backend, rtol=1e-4, atol=1e-6, samples=12, training=False,
                    check_input=True, seed=0):
    """Finite-difference check (float64) of d(sum(y·r))/dx and /dw for every weight."""
    rng = np.random.default_rng(seed)
    layer = make_layer()
    multi = isinstance(x, list)
    xs = [np.array(a, dtype=np.float64) if np.asarray(a).dtype.kind == "f" else np.asarray(a) for a in (x if multi else [x])]

    def fwd():
        inp = [backend.asarray(a) for a in xs]
        pn.utils.set_random_seed(seed)
        y, back = layer_forward(layer, backend, inp if multi else inp[0], training=training)
        return y, back

    y, back = fwd()
    ys = y if isinstance(y, list) else [y]
    r = [rng.standard_normal(tuple(o.shape)) for o in ys]

    def loss():
        # The backward pass includes the activity-regularization penalty, so the numeric loss does too.
        inp = [backend.asarray(a) for a in xs]
        pn.utils.set_random_seed(seed)
        yy, _, extra = layer_forward(layer, backend, inp if multi else inp[0], training=training,
                                     with_extra=True)
        yy = yy if isinstance(yy, list) else [yy]
        return float(sum(np.sum(to_np(backend, o) * ri) for o, ri in zip(yy, r))) + extra

    for v in layer.weights:
        v.grad = None
    y, back = fwd()
    dr = [backend.asarray(ri) for ri in r]
    dx = back(dr if isinstance(y, list) else dr[0])
    dxs = dx if multi else [dx]
    if check_input:
        for i, a in enumerate(xs):
            if a.dtype.kind != "f":
                continue
            idx = _pick(a.shape, samples, rng)
            num = numeric_grad(loss, a, idx)
            ana = to_np(backend, dxs[i])[tuple(np.array(idx).T)]
            np.testing.assert_allclose(ana, num, rtol=rtol, atol=atol,
                                       err_msg=f"input gradient of {layer.name}")
    grads = {id(v): (None if v.grad is None else to_np(backend, v.grad).copy()) for v in layer.weights}
    for v in layer.weights:
        if not v.trainable:
            continue
        host = to_np(backend, v.value).astype(np.float64).copy()
        idx = _pick(host.shape, samples, rng)

        def loss_w(v=v, host=host):
            v.value = backend.asarray(host.copy())
            return loss()
        num = numeric_grad(loss_w, host, idx)
        v.value = backend.asarray(host.copy())
        g = grads[id(v)]
        assert g is not None, f"no gradient accumulated for {v.path}"
        ana = g[tuple(np.array(idx).T)]
        np.testing.assert_allclose(ana, num, rtol=rtol, atol=atol, err_msg=f"gradient of {v.path}")
    return layer


def run_layer_test(make_layer, input_shape, backend, expected_output_shape=None,
                   expected_num_weights=None, input_data=None, rtol=1e-4, atol=1e-6,
                   training_step=True, check_input_grad=True, training=False, seed=0):
    """The whole harness for one configuration; returns the built layer (float64)."""
    old = pn.config.floatx()
    pn.config.set_floatx("float64")
    try:
        rng = np.random.default_rng(seed)
        if input_data is None:
            if isinstance(input_shape, list):
                x = [rng.standard_normal(s) for s in input_shape]
            else:
                x = rng.standard_normal(input_shape)
        else:
            x = input_data
        # 1. output shape
        layer = make_layer()
        y, _ = layer_forward(layer, backend, x, training=training)
        ys = y if isinstance(y, list) else [y]
        in_shape = [tuple(np.shape(a)) for a in x] if isinstance(x, list) else tuple(np.shape(x))
        declared = layer.compute_output_shape(in_shape)
        declared = declared if isinstance(declared, list) else [declared]
        for o, d in zip(ys, declared):
            assert tuple(o.shape) == tuple(d), f"{layer.name}: output {tuple(o.shape)} vs compute_output_shape {d}"
        if expected_output_shape is not None:
            exp = expected_output_shape if isinstance(expected_output_shape, list) else [expected_output_shape]
            assert [tuple(o.shape) for o in ys] == [tuple(e) for e in exp]
        if expected_num_weights is not None:
            assert len(layer.weights) == expected_num_weights, [v.path for v in layer.weights]
        # 2. gradients
        check_gradients(make_layer, x, backend, rtol=rtol, atol=atol, training=training,
                        check_input=check_input_grad, seed=seed)
        # 3. config round trip: same output with the same weights
        layer2 = type(layer).from_config(layer.get_config())
        y2, _ = layer_forward(layer2, backend, x, training=False)
        layer2.set_weights(layer.get_weights())
        y1, _ = layer_forward(layer, backend, x, training=False)
        y2, _ = layer_forward(layer2, backend, x, training=False)
        for a, b in zip(y1 if isinstance(y1, list) else [y1], y2 if isinstance(y2, list) else [y2]):
            np.testing.assert_allclose(to_np(backend, a), to_np(backend, b), rtol=1e-12, atol=1e-12)
        # 4. one SGD step on L = mean(y^2) lowers L
        if training_step and layer.trainable_weights:
            def objective():
                out, back = layer_forward(layer, backend, x, training=False)
                outs = out if isinstance(out, list) else [out]
                return sum(float(np.mean(to_np(backend, o) ** 2)) for o in outs), outs, back
            before, outs, back = objective()
            for v in layer.weights:
                v.grad = None
            d = [backend.asarray(2 * to_np(backend, o) / o.size) for o in outs]
            back(d if isinstance(y, list) else d[0])
            opt = pn.optimizers.SGD(learning_rate=1e-2)
            opt.apply(layer.trainable_weights)
            after, _, _ = objective()
            assert after < before, f"{layer.name}: one SGD step did not lower the loss ({before} -> {after})"
        # 5. same output on numpy
        if backend.name != "numpy":
            y1, _ = layer_forward(layer, backend, x, training=False)
            with pn.use_backend("numpy") as nb:
                layer3 = type(layer).from_config(layer.get_config())
                layer_forward(layer3, nb, x)
                layer3.set_weights(layer.get_weights())
                y3, _ = layer_forward(layer3, nb, x)
            for a, b in zip(y1 if isinstance(y1, list) else [y1], y3 if isinstance(y3, list) else [y3]):
                np.testing.assert_allclose(to_np(backend, a), b, rtol=1e-10, atol=1e-10)
        return layer
    finally:
        pn.config.set_floatx(old)
