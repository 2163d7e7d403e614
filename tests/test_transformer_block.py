"""The README's "A transformer encoder block" snippet runs as written (a couple of fit steps),
and bench's ``transformer`` workload (issue 16: 2 encoder blocks, d_model 128, 4 heads,
sequence 64, Adam) is the network its PyTorch peer is: same weights count, and training
steps lower the loss on every backend."""

import pathlib
import re
import sys
import types

import numpy as np

import portanet as pn

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench import workloads  # noqa: E402


def readme_snippet():
    text = (ROOT / "README.md").read_text()
    section = text.split("### A transformer encoder block", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_readme_encoder_block_runs(backend):
    code = readme_snippet()
    # A couple of steps instead of the snippet's 2 epochs x 8 batches: same code otherwise.
    code = code.replace("tokens = np.random.randint(0, 1000, (256, 20))",
                        "tokens = np.random.default_rng(0).integers(0, 1000, (64, 20))")
    code = code.replace("epochs=2, batch_size=32", "epochs=1, batch_size=32, verbose=0")
    assert "epochs=1" in code and "(64, 20)" in code, "the README snippet changed: update this test"
    namespace = {}
    exec(compile(code, "README.md", "exec"), namespace)
    model = namespace["model"]
    assert np.isfinite(model.history.history["loss"][-1])
    assert model.predict(namespace["tokens"][:4], verbose=0).shape == (4, 2)


def test_transformer_workload_matches_its_peer_and_trains(backend):
    model = workloads.portanet_model("transformer", pn)
    # Per block: MHA 4·(128·128 + 128), two LayerNorms 2·256, FFN 128·256 + 256 + 256·128 + 128;
    # head 128·10 + 10.
    block = 4 * (128 * 128 + 128) + 2 * 256 + (128 * 256 + 256 + 256 * 128 + 128)
    assert model.count_params() == 2 * block + 1290 == 266250
    x, y = workloads.make_data("transformer", 4)
    assert x.shape == (4, 64, 128)
    first = model.train_on_batch(x, y)
    for _ in range(2):
        last = model.train_on_batch(x, y)
    assert last < first


def test_transformer_torch_peer_structure():
    # The PyTorch peer without PyTorch: a stand-in records what the network is built from.
    made = []

    def module(kind):
        def make(*args, **kwargs):
            made.append((kind, args, kwargs))
            return types.SimpleNamespace()
        return make

    class Module:
        def __init__(self):
            pass

        def __setattr__(self, key, value):
            object.__setattr__(self, key, value)

    fake_nn = types.SimpleNamespace(Module=Module, MultiheadAttention=module("mha"),
                                    LayerNorm=module("ln"), Linear=module("linear"),
                                    Sequential=module("seq"))
    fake_torch = types.SimpleNamespace(nn=fake_nn, relu=None)
    workloads.torch_model("transformer", fake_torch)
    assert [m for m in made if m[0] == "mha"] == [("mha", (128, 4), {"batch_first": True})] * 2
    assert [m[1] for m in made if m[0] == "ln"] == [(128,)] * 4
    assert all(m[2] == {"eps": 1e-3} for m in made if m[0] == "ln")
    assert [m[1] for m in made if m[0] == "linear"] == [(128, 256), (256, 128)] * 2 + [(128, 10)]
