"""bench/: the hot-loop harness runs on every backend and reports what it promises."""

import json
import pathlib
import sys
import types

import numpy as np
import pytest

import portanet as pn

# bench/ is a top-level folder of the checkout, not part of the installed package.
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
from bench import cli as bench_cli  # noqa: E402
from bench import runner, workloads  # noqa: E402


def _args(backend, tmp_path, *extra):
    parser = bench_cli.add_arguments(__import__("argparse").ArgumentParser())
    return parser.parse_args(["--backend", backend.name, "--workloads", "mlp-small", "--batch", "16",
                              "--steps", "3", "--warmup", "1", "--chunk", "1", "--fit-batches", "2",
                              "--json", str(tmp_path / "out.json"), "--md", str(tmp_path / "out.md"),
                              *extra])


def test_percentiles_and_summary():
    assert runner._percentile([4.0, 1.0, 3.0, 2.0, 5.0], 0.5) == 3.0
    assert runner._percentile([1.0, 2.0], 0.1) == pytest.approx(1.1)
    s = runner.summarize([0.001, 0.002, 0.003], batch=10)
    assert s["median_us"] == pytest.approx(2000.0)
    assert s["samples_per_s"] == pytest.approx(5000.0)
    assert s["p10_us"] == pytest.approx(1200.0) and s["p90_us"] == pytest.approx(2800.0)


def test_workload_models_have_the_anchor_shapes(backend):
    model = workloads.portanet_model("mlp-small", pn)
    model.build((None, 784))
    assert [tuple(v.shape) for v in model.weights] == [(784, 256), (256,), (256, 256), (256,), (256, 10), (10,)]
    model = workloads.portanet_model("mlp-large", pn)
    model.build((None, 784))
    assert model.count_params() == 784 * 1024 + 1024 + 1024 * 1024 + 1024 + 1024 * 10 + 10
    assert workloads.BATCHES["cpu"]["mlp-large"] == [1024]
    assert workloads.BATCHES["gpu"]["cnn"] == [128, 1024]
    x, y = workloads.make_data("cnn", 3)
    assert x.shape == (3, 28, 28, 1) and x.dtype == np.float32 and y.dtype == np.int64
    assert workloads.torch_layout("cnn", x).shape == (3, 1, 28, 28)


def test_mlp_small_custom_is_mlp_small_with_call_layers(backend):
    """Issue 13: the same network as mlp-small, its Dense layers written as a call() layer
    with pn.ops; from the same weights both compute the same probabilities."""
    assert "mlp-small-custom" in workloads.NAMES
    assert workloads.BATCHES["cpu"]["mlp-small-custom"] == workloads.BATCHES["cpu"]["mlp-small"]
    assert workloads.input_shape("mlp-small-custom") == (784,)
    builtin = workloads.portanet_model("mlp-small", pn)
    custom = workloads.portanet_model("mlp-small-custom", pn)
    builtin.build((None, 784))
    custom.build((None, 784))
    assert [tuple(v.shape) for v in custom.weights] == [tuple(v.shape) for v in builtin.weights]
    call_dense = workloads.call_dense_class(pn)
    assert all(type(layer) is call_dense for layer in custom.layers)
    assert [layer.activation for layer in custom.layers] == ["relu", "relu", "softmax"]
    custom.set_weights(builtin.get_weights())
    x, _ = workloads.make_data("mlp-small-custom", 4)
    p_custom, p_builtin = custom.predict(x, verbose=0), builtin.predict(x, verbose=0)
    np.testing.assert_allclose(p_custom, p_builtin, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(p_custom.sum(axis=-1), 1.0, rtol=1e-5)
    with pytest.raises(ValueError, match="activation='tanh'"):
        call_dense(3, activation="tanh")
    # Its PyTorch peer is the same MLP (recorded with a stand-in for torch.nn).
    nn = types.SimpleNamespace(Sequential=lambda *m: ("Sequential",) + m,
                               Linear=lambda i, o: ("Linear", i, o), ReLU=lambda: ("ReLU",))
    fake_torch = types.SimpleNamespace(nn=nn)
    peer = workloads.torch_model("mlp-small-custom", fake_torch)
    assert peer == workloads.torch_model("mlp-small", fake_torch)
    assert peer == ("Sequential", ("Linear", 784, 256), ("ReLU",), ("Linear", 256, 256), ("ReLU",),
                    ("Linear", 256, 10))


def test_bench_runs_mlp_small_custom_and_the_overhead_script(backend, tmp_path, capsys):
    from bench import custom_overhead
    parser = bench_cli.add_arguments(__import__("argparse").ArgumentParser())
    args = parser.parse_args(["--backend", backend.name, "--workloads", "mlp-small-custom",
                              "--batch", "8", "--steps", "2", "--warmup", "1", "--chunk", "1",
                              "--no-fit", "--no-torch"])
    (case,) = bench_cli.run(args)["cases"]
    assert case["workload"] == "mlp-small-custom" and case["status"] == "ok"
    assert case["portanet"]["timed_steps"] == 2 and case["portanet"]["median_us"] > 0
    result = custom_overhead.measure(pn, backend, batch=8, steps=2, warmup=1, runs=2)
    assert result["ratio"] == pytest.approx(result["mlp_small_custom_us"] / result["mlp_small_us"])
    assert result["mlp_small_us"] > 0 and result["runs"] == 2 and result["median_run_ratio"] > 0
    out = capsys.readouterr().out
    assert "mlp-small-custom B8: portanet" in out
    assert out.count("run ") == 2 and "best of 2: mlp-small " in out and "target <= 1.3" in out


def test_bench_runs_and_writes_json_and_markdown(backend, tmp_path, capsys):
    args = _args(backend, tmp_path, "--no-torch")
    result = bench_cli.run(args)
    bench_cli.write_outputs(result, args)
    out = capsys.readouterr().out
    assert "mlp-small B16: portanet" in out and "fit/steps" in out
    data = json.loads((tmp_path / "out.json").read_text())
    env = data["environment"]
    assert env["backend"] == backend.name and env["cpu_count"] >= 1 and env["versions"]["numpy"]
    assert env["date"][:4].isdigit()
    (case,) = data["cases"]
    assert case["status"] == "ok" and case["batch"] == 16
    p = case["portanet"]
    assert p["timed_steps"] == 3 and p["p10_us"] <= p["median_us"] <= p["p90_us"]
    assert p["samples_per_s"] == pytest.approx(16 / (p["median_us"] * 1e-6))
    assert p["peak_mem_mb"] > 0
    fit = case["fit"]
    assert fit["fit_batches"] == 2 and fit["fit_over_steps"] == pytest.approx(
        fit["fit_epoch_s"] / fit["steps_sum_s"])
    assert fit["fit_over_fixed_batch_steps"] == pytest.approx(
        fit["fit_epoch_s"] / fit["fixed_batch_steps_sum_s"])
    # A ratio of two timings: its value depends on the machine's load, so only its sign is checked.
    assert fit["fit_over_steps"] > 0 and fit["to_host_calls_per_fit"] >= 1
    md = (tmp_path / "out.md").read_text()
    assert md.startswith("# portanet hot-loop bench") and "| mlp-small | 16 |" in md


def test_bench_compares_with_pytorch_when_it_is_installed(backend, tmp_path):
    args = _args(backend, tmp_path, "--no-fit")
    result = bench_cli.run(args)
    (case,) = result["cases"]
    if runner.torch_available():
        assert case["torch_eager"]["median_us"] > 0
        assert case["ratio_vs_torch_eager"] == pytest.approx(
            case["portanet"]["median_us"] / case["torch_eager"]["median_us"])
    else:
        assert "torch_eager" not in case and "ratio_vs_torch_eager" not in case


def test_a_missing_layer_skips_its_workload_with_a_clear_line(backend, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(workloads.NEEDS, "lstm", ("LSTM", "NoSuchLayer"))
    parser = bench_cli.add_arguments(__import__("argparse").ArgumentParser())
    args = parser.parse_args(["--backend", backend.name, "--workloads", "lstm", "--no-torch"])
    result = bench_cli.run(args)
    assert result["cases"][0]["status"] == "skipped"
    assert "layer not available: NoSuchLayer" in result["cases"][0]["reason"]
    assert "lstm: skipped (layer not available: NoSuchLayer)" in capsys.readouterr().out


def test_bad_arguments_are_refused(capsys):
    parser = bench_cli.add_arguments(__import__("argparse").ArgumentParser())
    with pytest.raises(SystemExit):
        parser.parse_args(["--workloads", "mlp-small,resnet"])
    assert "unknown workload(s) ['resnet']" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        parser.parse_args(["--steps", "0"])


def test_portanet_bench_points_to_python_m_bench(tmp_path, capsys):
    """`portanet bench` was dropped for `python -m bench` (the harness is not part of the
    installed package): the command says so, runs nothing and writes nothing."""
    from portanet import cli
    code = cli.main(["bench", "--workloads", "mlp-small", "--json", str(tmp_path / "r.json")])
    assert code == 2
    assert "python -m bench" in capsys.readouterr().err
    assert not (tmp_path / "r.json").exists()
