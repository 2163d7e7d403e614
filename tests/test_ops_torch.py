"""The same expressions in portanet.ops and in torch: values and gradients compared in
float64 (skipped where torch is not installed)."""

import numpy as np
import pytest

import portanet as pn
from portanet import ops

torch = pytest.importorskip("torch")

EXPRESSIONS = [
    ("mlp", lambda m, x, w: m.sum(m.tanh(x @ w) ** 2)),
    ("softmax_ce", lambda m, x, w: -m.sum(m.log_softmax(x @ w, -1)[:, 0])),
    ("exp_log", lambda m, x, w: m.sum(m.log1p(m.exp(x)) * m.sigmoid(x))),
    ("reductions", lambda m, x, w: m.sum(m.max(x, 1) + m.mean(x, 0).sum() + m.std(x, 1))),
    ("elementwise", lambda m, x, w: m.sum(m.sqrt(x * x + 1.0) / (1.0 + m.abs(x)) - m.sin(x) * m.cos(x))),
    ("concat_index", lambda m, x, w: m.sum(m.cat([x, x[:, :2] * 3.0], 1) ** 2)),
    ("gelu_silu", lambda m, x, w: m.sum(m.gelu(x) + m.silu(x) + m.softplus(x))),
]


class _Ops:
    tanh, exp, log1p, sigmoid, sqrt, abs, sin, cos = (ops.tanh, ops.exp, ops.log1p, ops.sigmoid,
                                                      ops.sqrt, ops.abs, ops.sin, ops.cos)
    gelu = staticmethod(lambda x: ops.gelu(x, approximate=False))
    silu, softplus = ops.silu, ops.softplus
    sum = staticmethod(lambda x: ops.sum(x))
    log_softmax = staticmethod(lambda x, a: ops.log_softmax(x, axis=a))
    max = staticmethod(lambda x, a: ops.max(x, axis=a))
    mean = staticmethod(lambda x, a: _Summable(ops.mean(x, axis=a)))
    std = staticmethod(lambda x, a: ops.std(x, axis=a))
    cat = staticmethod(lambda xs, a: ops.concatenate(xs, axis=a))


class _Summable:
    def __init__(self, t):
        self.t = t

    def sum(self):
        return ops.sum(self.t)


class _Torch:
    tanh, exp, log1p, sigmoid, sqrt, abs, sin, cos = (torch.tanh, torch.exp, torch.log1p,
                                                      torch.sigmoid, torch.sqrt, torch.abs,
                                                      torch.sin, torch.cos)
    gelu = staticmethod(torch.nn.functional.gelu)
    silu, softplus = staticmethod(torch.nn.functional.silu), staticmethod(torch.nn.functional.softplus)
    sum = staticmethod(torch.sum)
    log_softmax = staticmethod(lambda x, a: torch.log_softmax(x, a))
    max = staticmethod(lambda x, a: torch.max(x, a).values)
    mean = staticmethod(lambda x, a: torch.mean(x, a))
    std = staticmethod(lambda x, a: torch.std(x, a, unbiased=False))
    cat = staticmethod(lambda xs, a: torch.cat(xs, a))


@pytest.mark.parametrize("name,expr", EXPRESSIONS, ids=[e[0] for e in EXPRESSIONS])
def test_value_and_gradient_match_torch_autograd(backend, float64, name, expr):
    rng = np.random.default_rng(0)
    x, w = rng.normal(size=(4, 3)), rng.normal(size=(3, 3))
    with pn.GradientTape() as tape:
        xt, wt = tape.watch(backend.from_numpy(x)), tape.watch(backend.from_numpy(w))
        value = expr(_Ops, xt, wt)
    gx, gw = tape.gradient(value, [xt, wt])
    tx = torch.tensor(x, requires_grad=True)
    tw = torch.tensor(w, requires_grad=True)
    tv = expr(_Torch, tx, tw)
    tv.backward()
    np.testing.assert_allclose(float(value), tv.item(), rtol=1e-12)
    np.testing.assert_allclose(backend.to_numpy(gx), tx.grad.numpy(), rtol=1e-10, atol=1e-12)
    if tw.grad is not None:
        np.testing.assert_allclose(backend.to_numpy(gw), tw.grad.numpy(), rtol=1e-10, atol=1e-12)
