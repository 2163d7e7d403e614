"""Writes ops_extra.npz / ops_extra.json: keras.ops outputs for the ops added in
portanet/ops/numpy_extra.py, linalg_extra.py, signal.py and core_extra.py.

Run with Keras 3 (any backend; made with 3.15.1 on JAX, float64):
    KERAS_BACKEND=jax JAX_ENABLE_X64=1 python tests/keras_reference/make_ops_extra_reference.py
tests/test_ops_extra.py reads the stored inputs, calls portanet.ops.<name> with the same
arguments and compares with Keras's outputs.
"""

import json
import os
import pathlib

import numpy as np

os.environ.setdefault("KERAS_BACKEND", "jax")
import keras  # noqa: E402
from keras import ops  # noqa: E402

keras.config.set_floatx("float64")
rng = np.random.default_rng(20261202)
HERE = pathlib.Path(__file__).parent


def r(*shape):
    return rng.normal(size=shape)


spd = r(4, 4)
spd = spd @ spd.T + 4 * np.eye(4)
sym = r(4, 4)
sym = sym + sym.T
CASES = [
    # (case id, op name, positional args, keyword args, first argument is a (real, imag) pair)
    ("erf", "erf", [np.linspace(-4, 4, 17)], {}, False),
    ("erfc", "erfc", [np.linspace(-4, 4, 17)], {}, False),
    ("erfinv", "erfinv", [np.linspace(-0.99, 0.99, 13)], {}, False),
    ("i0", "i0", [np.linspace(-5, 5, 11)], {}, False),
    ("cbrt", "cbrt", [np.linspace(-8, 8, 9)], {}, False),
    ("sinc", "sinc", [np.linspace(-2, 2, 9)], {}, False),
    ("deg2rad", "deg2rad", [r(5)], {}, False),
    ("rad2deg", "rad2deg", [r(5)], {}, False),
    ("fabs", "fabs", [r(5)], {}, False),
    ("nan_to_num", "nan_to_num", [np.array([1.0, np.nan, np.inf, -np.inf])], {"nan": 2.0, "posinf": 9.0}, False),
    ("divide_no_nan", "divide_no_nan", [r(6), np.array([1.0, 0.0, 2.0, 0.0, -1.0, 3.0])], {}, False),
    ("fmax", "fmax", [np.array([1.0, np.nan, 3.0]), np.array([2.0, 5.0, np.nan])], {}, False),
    ("fmin", "fmin", [np.array([1.0, np.nan, 3.0]), np.array([2.0, 5.0, np.nan])], {}, False),
    ("fmod", "fmod", [np.array([5.5, -5.5, 7.0, -7.0]), np.array([2.0, 2.0, -3.0, -3.0])], {}, False),
    ("heaviside", "heaviside", [np.array([-1.0, 0.0, 2.0]), np.array([0.5, 0.5, 0.5])], {}, False),
    ("logaddexp2", "logaddexp2", [r(5), r(5)], {}, False),
    ("ldexp", "ldexp", [r(4), np.array([1, 2, -1, 0])], {}, False),
    ("gcd", "gcd", [np.array([12, 18, 7, 0]), np.array([8, 27, 3, 5])], {}, False),
    ("lcm", "lcm", [np.array([4, 6, 7, 0]), np.array([6, 4, 3, 5])], {}, False),
    ("bitwise_and", "bitwise_and", [np.array([12, 10]), np.array([10, 6])], {}, False),
    ("bitwise_xor", "bitwise_xor", [np.array([12, 10]), np.array([10, 6])], {}, False),
    ("left_shift", "left_shift", [np.array([1, 3]), np.array([2, 1])], {}, False),
    ("append", "append", [r(2, 2), r(3)], {}, False),
    ("array_split", "array_split", [np.arange(7.0)], {"indices_or_sections": 3}, False),
    ("dstack", "dstack", [[r(2, 3), r(2, 3)]], {}, False),
    ("rot90", "rot90", [r(2, 3)], {"k": 1}, False),
    ("rot90_3", "rot90", [r(2, 3)], {"k": 3}, False),
    ("diag_1d", "diag", [r(3)], {"k": 1}, False),
    ("diag_2d", "diag", [r(3, 4)], {"k": -1}, False),
    ("diagonal", "diagonal", [r(2, 3, 4)], {"offset": 1, "axis1": 1, "axis2": 2}, False),
    ("diagflat", "diagflat", [r(2, 2)], {}, False),
    ("diff", "diff", [r(3, 5)], {"n": 2, "axis": 1}, False),
    ("kron", "kron", [r(2, 2), r(2, 3)], {}, False),
    ("cross", "cross", [r(4, 3), r(4, 3)], {}, False),
    ("vander", "vander", [r(4)], {"N": 3}, False),
    ("ptp", "ptp", [r(3, 4)], {"axis": 1}, False),
    ("median", "median", [r(3, 5)], {"axis": 1}, False),
    ("quantile", "quantile", [r(3, 5), np.array([0.1, 0.5, 0.9])], {"axis": 1}, False),
    ("percentile", "percentile", [r(11)], {"q": 30.0}, False),
    ("quantile_nearest", "quantile", [r(9), 0.3], {"method": "nearest"}, False),
    ("nanmean", "nanmean", [np.array([[1.0, np.nan, 3.0], [4.0, 5.0, np.nan]])], {"axis": 1}, False),
    ("nansum", "nansum", [np.array([[1.0, np.nan, 3.0], [4.0, 5.0, np.nan]])], {}, False),
    ("nanmax", "nanmax", [np.array([[1.0, np.nan, 3.0], [4.0, 5.0, np.nan]])], {"axis": 0}, False),
    ("nanstd", "nanstd", [np.array([[1.0, np.nan, 3.0], [4.0, 5.0, np.nan]])], {"axis": 1}, False),
    ("nanmedian", "nanmedian", [np.array([[1.0, np.nan, 3.0, 7.0], [4.0, 5.0, np.nan, 1.0]])], {"axis": 1}, False),
    ("nancumsum", "nancumsum", [np.array([1.0, np.nan, 3.0])], {}, False),
    ("trapezoid", "trapezoid", [r(3, 6)], {"dx": 0.5}, False),
    ("corrcoef", "corrcoef", [r(3, 6)], {}, False),
    ("correlate_valid", "correlate", [r(6), r(3)], {"mode": "valid"}, False),
    ("correlate_full", "correlate", [r(6), r(3)], {"mode": "full"}, False),
    ("correlate_same", "correlate", [r(6), r(3)], {"mode": "same"}, False),
    ("cdist", "cdist", [r(4, 3), r(5, 3)], {}, False),
    ("searchsorted", "searchsorted", [np.array([1.0, 2.0, 4.0, 8.0]), np.array([0.5, 2.0, 5.0, 9.0])],
     {"side": "right"}, False),
    ("digitize", "digitize", [np.array([0.2, 6.4, 3.0, 1.6]), np.array([0.0, 1.0, 2.5, 4.0, 10.0])], {}, False),
    ("isin", "isin", [np.array([1, 2, 3, 4]), np.array([2, 4])], {}, False),
    ("unique", "unique", [np.array([3, 1, 2, 3, 1])], {"return_counts": True, "return_inverse": True}, False),
    ("bincount", "bincount", [np.array([0, 1, 1, 3])], {"minlength": 5}, False),
    ("histogram", "histogram", [r(20)], {"bins": 4}, False),
    ("logspace", "logspace", [0.0, 2.0], {"num": 5}, False),
    ("geomspace", "geomspace", [1.0, 1000.0], {"num": 4}, False),
    ("hamming", "hamming", [7], {}, False),
    ("hanning", "hanning", [7], {}, False),
    ("blackman", "blackman", [7], {}, False),
    ("bartlett", "bartlett", [7], {}, False),
    ("kaiser", "kaiser", [7, 5.0], {}, False),
    ("inv", "inv", [spd], {}, False),
    ("det", "det", [r(2, 3, 3)], {}, False),
    ("slogdet", "slogdet", [r(3, 3)], {}, False),
    ("logdet", "logdet", [spd], {}, False),
    ("solve", "solve", [spd, r(4, 2)], {}, False),
    ("solve_triangular", "solve_triangular", [np.tril(spd), r(4, 2)], {"lower": True}, False),
    ("cholesky", "cholesky", [spd], {}, False),
    ("cholesky_inverse", "cholesky_inverse", [np.linalg.cholesky(spd)], {}, False),
    ("eigh_values", "eigh", [sym], {}, False),
    ("svd_values", "svd", [r(4, 3)], {"compute_uv": False}, False),
    ("pinv", "pinv", [r(4, 3)], {}, False),
    ("matrix_rank", "matrix_rank", [np.outer(r(4), r(4))], {}, False),
    ("lstsq", "lstsq", [r(5, 3), r(5)], {}, False),
    ("fft", "fft", [r(2, 8), r(2, 8)], {}, True),
    ("fft2", "fft2", [r(4, 4), r(4, 4)], {}, True),
    ("ifft2", "ifft2", [r(4, 4), r(4, 4)], {}, True),
    ("rfft", "rfft", [r(2, 8)], {}, False),
    ("rfft_len", "rfft", [r(2, 8)], {"fft_length": 6}, False),
    ("irfft", "irfft", [r(2, 5), r(2, 5)], {}, True),
    ("irfft_len", "irfft", [r(2, 5), r(2, 5)], {"fft_length": 7}, True),
    ("stft", "stft", [r(2, 40)], {"sequence_length": 8, "sequence_stride": 4, "fft_length": 16}, False),
    ("stft_nocenter", "stft", [r(40)], {"sequence_length": 8, "sequence_stride": 3, "fft_length": 8,
                                          "window": "hamming", "center": False}, False),
    ("istft", "istft", [r(2, 11, 9), r(2, 11, 9)], {"sequence_length": 16, "sequence_stride": 4,
                                                   "fft_length": 16}, True),
    ("istft_nowin", "istft", [r(11, 9), r(11, 9)], {"sequence_length": 16, "sequence_stride": 8,
                                                   "fft_length": 16, "window": None, "center": False}, True),
    ("extract_sequences", "extract_sequences", [r(2, 10)], {"sequence_length": 4, "sequence_stride": 3}, False),
    ("segment_sum", "segment_sum", [r(5, 2), np.array([0, 0, 1, 2, 2])], {"num_segments": 3}, False),
    ("segment_max", "segment_max", [r(5, 2), np.array([0, 0, 1, 2, 2])], {"num_segments": 3}, False),
    ("layer_normalization", "layer_normalization", [r(3, 4), r(4), r(4)], {"epsilon": 1e-3}, False),
    ("rms_normalization", "rms_normalization", [r(3, 4), r(4)], {"epsilon": 1e-6}, False),
    ("psnr", "psnr", [r(4, 4), r(4, 4), 2.0], {}, False),
    ("depth_to_space", "depth_to_space", [r(2, 2, 3, 8)], {"block_size": 2}, False),
    ("space_to_depth", "space_to_depth", [r(2, 4, 6, 3)], {"block_size": 2}, False),
    ("unfold", "unfold", [r(2, 3, 5, 6)], {"kernel_size": 2, "stride": 1, "padding": 1}, False),
    ("unfold_dil", "unfold", [r(1, 2, 7, 7)], {"kernel_size": (3, 2), "dilation": 2, "stride": 2}, False),
    ("fold", "fold", [r(2, 12, 42)], {"output_size": (5, 6), "kernel_size": 2, "padding": 1}, False),
    ("conv_transpose_same", "conv_transpose", [r(2, 5, 5, 3), r(3, 3, 4, 3)], {"strides": 2, "padding": "same"}, False),
    ("conv_transpose_valid", "conv_transpose", [r(2, 5, 3), r(3, 2, 3)], {"strides": 2, "padding": "valid"}, False),
    ("conv_transpose_op", "conv_transpose", [r(1, 4, 4, 2), r(3, 3, 2, 2)],
     {"strides": 2, "padding": "same", "output_padding": 1}, False),
    ("conv_transpose_dil", "conv_transpose", [r(1, 6, 2), r(3, 3, 2)], {"strides": 1, "padding": "valid",
                                                                       "dilation_rate": 2}, False),
    ("rearrange", "rearrange", [r(2, 6, 4)], {"pattern": "b (h w) c -> b c h w", "h": 2}, False),
]


def main():
    arrays, meta = {}, []
    for case, name, args, kwargs, pair in CASES:
        call_args = list(args)
        if pair:
            call_args = [(call_args[0], call_args[1])]
        out = getattr(ops, name)(*call_args, **kwargs)
        outs = list(out) if isinstance(out, (tuple, list)) else [out]
        kinds = []
        for i, a in enumerate(args):
            if isinstance(a, list):
                for j, e in enumerate(a):
                    arrays[f"{case}__in{i}_{j}"] = np.asarray(e)
                kinds.append(["list", len(a)])
            elif isinstance(a, np.ndarray):
                arrays[f"{case}__in{i}"] = a
                kinds.append("array")
            else:
                kinds.append(["value", a])
        for k, o in enumerate(outs):
            arrays[f"{case}__out{k}"] = np.asarray(o)
        kw = {k: (list(v) if isinstance(v, tuple) else v) for k, v in kwargs.items()}
        meta.append({"case": case, "op": name, "args": kinds, "kwargs": kw, "pair": pair, "outputs": len(outs),
                     "tuple_out": isinstance(out, (tuple, list))})
    np.savez_compressed(HERE / "ops_extra.npz", **arrays)
    (HERE / "ops_extra.json").write_text(json.dumps({"keras_version": keras.__version__,
                                                      "backend": keras.backend.backend(), "cases": meta},
                                                     indent=1))
    print(f"wrote {len(meta)} cases")


if __name__ == "__main__":
    main()
