"""Audio front ends of Keras 3: ``STFTSpectrogram`` (keras/src/layers/preprocessing/
stft_spectrogram.py) and ``MelSpectrogram`` (mel_spectrogram.py).

``STFTSpectrogram`` computes the short-time Fourier transform as Keras does, as a strided
1-D convolution whose kernels (``real_kernel``, ``imag_kernel``, trainable) are drawn by
``initializers.STFT``. ``MelSpectrogram`` follows Keras's ``ops.stft`` (centered frames,
reflect padding, a periodic window) and the HTK mel filter bank, with the power-to-dB
scaling. Both are written with ``call()`` over ``pn.ops``, so they are differentiable
through the tape.
"""

import math

from .. import initializers as _initializers
from .. import ops
from ..ops import tape as _tape
from ..validation import check_number, check_one_of, check_positive_int
from . import _windows as W
from .base import Layer
from .input_spec import InputSpec

__all__ = ["STFTSpectrogram", "MelSpectrogram"]

_EPSILON = 1e-7          # keras.config.epsilon()
_MEL_BREAK_FREQUENCY_HERTZ = 700.0
_MEL_HIGH_FREQUENCY_Q = 1127.0


def _check_window(window, owner):
    if window is None or isinstance(window, str):
        if isinstance(window, str):
            check_one_of(window, "window", owner, _initializers._WINDOWS)
        return window
    try:
        return [float(v) for v in window]
    except TypeError:
        raise TypeError(f"{owner}: window={window!r}; expected a window name, a sequence of "
                        "window values or None") from None


class STFTSpectrogram(Layer):
    """Short-time Fourier transform of 1-D signals, as Keras 3's ``STFTSpectrogram``.

    A (batch, time, channels) signal (channels_last) is cut in frames of
    ``frame_length`` samples every ``frame_step`` and each frame is transformed by two
    convolution kernels of shape (frame_length, 1, fft_length//2 + 1) (the real and
    imaginary parts of a windowed DFT, ``initializers.STFT``). Channels are transformed
    independently.

    Args:
        mode: "log" (default, log of the magnitude), "magnitude", "psd" (power spectral
            density), "real", "imag", "angle" or "stft" (real and imaginary concatenated on
            the frequency axis).
        frame_length: samples per frame (default 256).
        frame_step: samples between frames (default frame_length // 2), 1..frame_length.
        fft_length: FFT size >= frame_length (default the next power of two).
        window: "hann" (default), "hamming", "blackman", "bartlett", "boxcar", a sequence
            of frame_length values, or None.
        periodic: periodic window (default False). scaling: "density" (default),
            "spectrum" or None.
        padding: "valid" (default) or "same".
        expand_dims: keep frequency and channels as separate axes (default False: merged).
        data_format: "channels_last" (default) or "channels_first".

    Output shape (channels_last): (batch, frames, channels·bins), or with ``expand_dims``
    (batch, frames, bins, channels); bins = fft_length//2 + 1 (twice that for "stft").
    Weights: real_kernel (unless mode "imag"), imag_kernel (unless mode "real").

    Example:
        >>> layer = pn.layers.STFTSpectrogram(frame_length=64, frame_step=16, fft_length=64)
    """

    def __init__(self, mode="log", frame_length=256, frame_step=None, fft_length=None,
                 window="hann", periodic=False, scaling="density", padding="valid",
                 expand_dims=False, data_format=None, **kwargs):
        owner = "STFTSpectrogram"
        frame_length = check_positive_int(frame_length, "frame_length", owner)
        if frame_step is not None and (isinstance(frame_step, bool) or not isinstance(frame_step, int)
                                       or not 1 <= frame_step <= frame_length):
            raise ValueError(f"{owner}: frame_step={frame_step!r}; expected a positive integer "
                             f"not greater than frame_length={frame_length}")
        if fft_length is not None:
            fft_length = check_positive_int(fft_length, "fft_length", owner)
            if fft_length < frame_length:
                raise ValueError(f"{owner}: fft_length={fft_length}; expected at least "
                                 f"frame_length={frame_length}")
        check_one_of(mode, "mode", owner, ("log", "magnitude", "psd", "real", "imag", "angle",
                                           "stft"))
        if scaling is not None:
            check_one_of(scaling, "scaling", owner, ("density", "spectrum"))
        check_one_of(padding, "padding", owner, ("valid", "same"))
        window = _check_window(window, owner)
        data_format = W.normalize_data_format(data_format, owner)
        super().__init__(**kwargs)
        self.mode = mode
        self.frame_length = frame_length
        self.frame_step = frame_step
        self._frame_step = frame_step or frame_length // 2
        self.fft_length = fft_length
        self._fft_length = fft_length or 2 ** int(math.ceil(math.log2(frame_length)))
        self.window = window
        self.periodic = bool(periodic)
        self.scaling = scaling
        self.padding = padding
        self.expand_dims = bool(expand_dims)
        self.data_format = data_format
        self.input_spec = InputSpec(ndim=3)

    def build(self, input_shape):
        W.check_rank(f"STFTSpectrogram {self.name!r}", input_shape, 3)
        shape = (self.frame_length, 1, self._fft_length // 2 + 1)
        if self.mode != "imag":
            self.real_kernel = self.add_weight(
                name="real_kernel", shape=shape,
                initializer=_initializers.STFT("real", self.window, self.scaling, self.periodic))
        if self.mode != "real":
            self.imag_kernel = self.add_weight(
                name="imag_kernel", shape=shape,
                initializer=_initializers.STFT("imag", self.window, self.scaling, self.periodic))
        self.built = True

    def _apply_conv(self, inputs, kernel):
        if self.data_format == "channels_last":
            _, time_seq, channels = ops.shape(inputs)
            x = ops.reshape(ops.transpose(inputs, (0, 2, 1)), (-1, time_seq, 1))
        else:
            _, channels, time_seq = ops.shape(inputs)
            x = ops.reshape(inputs, (-1, 1, time_seq))
        out = ops.conv(x, kernel, strides=self._frame_step, padding=self.padding,
                       data_format=self.data_format)
        if self.data_format == "channels_last":
            _, frames, bins = ops.shape(out)
            out = ops.transpose(out, (0, 2, 1))
        else:
            _, bins, frames = ops.shape(out)
        return ops.reshape(out, (-1, channels, bins, frames))

    def _adjust_shapes(self, out):
        _, channels, bins, frames = ops.shape(out)
        if self.data_format == "channels_last":
            if self.expand_dims:
                return ops.transpose(out, (0, 3, 2, 1))
            return ops.transpose(ops.reshape(out, (-1, channels * bins, frames)), (0, 2, 1))
        if self.expand_dims:
            return ops.transpose(out, (0, 1, 3, 2))
        return ops.reshape(out, (-1, channels * bins, frames))

    def call(self, inputs):
        real = imag = None
        if self.mode != "imag":
            real = self._apply_conv(inputs, self.real_kernel)
        if self.mode != "real":
            imag = self._apply_conv(inputs, self.imag_kernel)
        if self.mode == "real":
            return self._adjust_shapes(real)
        if self.mode == "imag":
            return self._adjust_shapes(imag)
        if self.mode == "angle":
            return self._adjust_shapes(ops.arctan2(imag, real))
        if self.mode == "stft":
            return self._adjust_shapes(ops.concatenate([real, imag], axis=2))
        power = ops.square(real) + ops.square(imag)
        if self.mode == "psd":
            return self._adjust_shapes(
                power + ops.pad(power[:, :, 1:-1, :], [[0, 0], [0, 0], [1, 1], [0, 0]]))
        linear = self._adjust_shapes(ops.sqrt(ops.maximum(power, _EPSILON)))
        if self.mode == "magnitude":
            return linear
        return ops.log(ops.maximum(linear, _EPSILON))

    def compute_output_shape(self, input_shape):
        channels = input_shape[-1] if self.data_format == "channels_last" else input_shape[1]
        time_seq = input_shape[1] if self.data_format == "channels_last" else input_shape[2]
        bins = self._fft_length // 2 + 1
        if self.mode == "stft":
            bins *= 2
        frames = W.output_length(time_seq, self.frame_length, self.padding, self._frame_step)
        batch = input_shape[0]
        merged = None if channels is None else channels * bins
        if self.data_format == "channels_last":
            return (batch, frames, bins, channels) if self.expand_dims else (batch, frames, merged)
        return (batch, channels, frames, bins) if self.expand_dims else (batch, merged, frames)

    def get_config(self):
        config = super().get_config()
        config.update({"mode": self.mode, "frame_length": self.frame_length,
                       "frame_step": self.frame_step, "fft_length": self.fft_length,
                       "window": self.window, "periodic": self.periodic,
                       "scaling": self.scaling, "padding": self.padding,
                       "data_format": self.data_format, "expand_dims": self.expand_dims})
        return config


class MelSpectrogram(Layer):
    """Mel-scaled spectrogram of raw audio, as Keras 3's ``MelSpectrogram``.

    Keras's ``ops.stft(x, sequence_length, sequence_stride, fft_length, window,
    center=True)``: the signal is reflect-padded by fft_length//2 on each side, cut in
    frames of fft_length every ``sequence_stride`` samples, each frame multiplied by the
    periodic window of ``sequence_length`` samples zero-padded to fft_length in the middle,
    and transformed (no scaling). Then ``|X|^mag_exp``, the HTK mel filter bank of
    ``num_mel_bins`` triangles between ``min_freq`` and ``max_freq`` (Keras computes the
    bank in float32, so does this layer), and with ``power_to_db``
    ``10·log10(max(S, min_power)) − 10·log10(max(|ref_power|, min_power))`` clipped below at
    its maximum (over the whole batch, as Keras) minus ``top_db``.

    Args (Keras's defaults): fft_length=2048, sequence_stride=512, sequence_length=None
    (fft_length), window="hann" ("hann", "hamming", or None), sampling_rate=16000,
    num_mel_bins=128, min_freq=20.0, max_freq=None (sampling_rate // 2),
    power_to_db=True, top_db=80.0, mag_exp=2.0, min_power=1e-10, ref_power=1.0.

    Input shape: (time,) or (batch, time). Output shape: (num_mel_bins, frames) or
    (batch, num_mel_bins, frames), frames = 1 + (time + 2·(fft_length//2) − fft_length)
    // sequence_stride. No weights.

    Example:
        >>> mel = pn.layers.MelSpectrogram(fft_length=512, sequence_stride=128, num_mel_bins=40)
    """

    def __init__(self, fft_length=2048, sequence_stride=512, sequence_length=None,
                 window="hann", sampling_rate=16000, num_mel_bins=128, min_freq=20.0,
                 max_freq=None, power_to_db=True, top_db=80.0, mag_exp=2.0, min_power=1e-10,
                 ref_power=1.0, **kwargs):
        owner = "MelSpectrogram"
        fft_length = check_positive_int(fft_length, "fft_length", owner)
        sequence_stride = check_positive_int(sequence_stride, "sequence_stride", owner)
        sequence_length = (fft_length if sequence_length is None
                           else check_positive_int(sequence_length, "sequence_length", owner))
        if fft_length < sequence_length:
            raise ValueError(f"{owner}: fft_length={fft_length} must be greater than or equal to "
                             f"sequence_length={sequence_length}")
        if isinstance(window, str):
            check_one_of(window, "window", owner, ("hann", "hamming"))
        elif window is not None:
            window = _check_window(window, owner)
            if len(window) != sequence_length:
                raise ValueError(f"{owner}: window has {len(window)} values; expected "
                                 f"sequence_length={sequence_length}")
        check_number(sampling_rate, "sampling_rate", owner, 0, low_open=True)
        num_mel_bins = check_positive_int(num_mel_bins, "num_mel_bins", owner)
        check_number(min_freq, "min_freq", owner, 0)
        if max_freq is not None:
            check_number(max_freq, "max_freq", owner, 0, low_open=True)
        check_number(top_db, "top_db", owner, 0)
        check_number(mag_exp, "mag_exp", owner, 0, low_open=True)
        check_number(min_power, "min_power", owner, 0, low_open=True)
        check_number(ref_power, "ref_power", owner)
        super().__init__(**kwargs)
        self.fft_length = fft_length
        self.sequence_stride = sequence_stride
        self.sequence_length = sequence_length
        self.window = window
        self.sampling_rate = sampling_rate
        self.num_mel_bins = num_mel_bins
        self.min_freq = min_freq
        self.max_freq = max_freq or int(sampling_rate / 2)
        self.power_to_db = bool(power_to_db)
        self.top_db = top_db
        self.mag_exp = mag_exp
        self.min_power = min_power
        self.ref_power = ref_power

    def build(self, input_shape):
        if len(input_shape) not in (1, 2):
            raise ValueError(f"MelSpectrogram {self.name!r}: expected inputs of shape (time,) or "
                             f"(batch, time); got {tuple(input_shape)}")
        self.built = True

    # ------------------------------------------------------------------ constants
    def _frames_count(self, time_seq):
        pad = self.fft_length // 2
        return 1 + (time_seq + 2 * pad - self.fft_length) // self.sequence_stride

    def _dft(self, dtype):
        """Windowed DFT matrices (fft_length, bins): cos and −sin (Keras's ops.stft)."""
        xp = self.xp
        n_fft, seq = self.fft_length, self.sequence_length
        l_pad = (n_fft - seq) // 2
        n = xp.arange(seq, dtype=xp.float64, device=self.backend.device)
        if self.window is None:
            win = xp.ones((seq,), dtype=xp.float64, device=self.backend.device)
        elif isinstance(self.window, str):
            a = 0.5 if self.window == "hann" else 0.54
            win = a - (1.0 - a) * xp.cos(2.0 * math.pi * n / seq)   # periodic window
        else:
            win = xp.asarray(self.window, dtype=xp.float64, device=self.backend.device)
        bins = n_fft // 2 + 1
        t = xp.reshape(n + l_pad, (seq, 1))
        k = xp.reshape(xp.arange(bins, dtype=xp.float64, device=self.backend.device), (1, bins))
        # Reduce t·k modulo n_fft first so the angle stays exact for long frames.
        arg = (2.0 * math.pi / n_fft) * ((t * k) % n_fft)
        w = xp.reshape(win, (seq, 1))
        cos = xp.astype(xp.cos(arg) * w, dtype)
        sin = xp.astype(-xp.sin(arg) * w, dtype)
        return cos, sin, l_pad

    def _hertz_to_mel(self, xp, f):
        return _MEL_HIGH_FREQUENCY_Q * xp.log(1.0 + f / _MEL_BREAK_FREQUENCY_HERTZ)

    def linear_to_mel_weight_matrix(self, num_mel_bins=20, num_spectrogram_bins=129,
                                    sampling_rate=8000, lower_edge_hertz=125.0,
                                    upper_edge_hertz=3800.0, dtype="float32"):
        """The (num_spectrogram_bins, num_mel_bins) HTK mel filter bank (Keras's method),
        computed in ``dtype`` (float32 by default, as Keras)."""
        xp = self.xp
        dt = self.backend.dtype(dtype)
        dev = self.backend.device
        f = lambda v: xp.asarray(v, dtype=dt, device=dev)  # noqa: E731

        def linspace(start, stop, num):
            # numpy's linspace on 0-d device arrays (start + i·step, the last point exactly
            # stop), without turning them into Python floats (a host read on CuPy).
            steps = xp.arange(num, dtype=dt, device=dev) * ((stop - start) / (num - 1)) + start
            return xp.concat([steps[:-1], xp.reshape(stop, (1,))])

        nyquist = f(sampling_rate) / f(2.0)
        freqs = linspace(f(0.0), nyquist, num_spectrogram_bins)[1:]
        bins_mel = xp.reshape(self._hertz_to_mel(xp, freqs), (-1, 1))
        edges = linspace(self._hertz_to_mel(xp, f(lower_edge_hertz)),
                         self._hertz_to_mel(xp, f(upper_edge_hertz)), num_mel_bins + 2)
        lower = xp.reshape(edges[:-2], (1, -1))
        center = xp.reshape(edges[1:-1], (1, -1))
        upper = xp.reshape(edges[2:], (1, -1))
        lower_slopes = (bins_mel - lower) / (center - lower)
        upper_slopes = (upper - bins_mel) / (upper - center)
        m = xp.maximum(f(0.0), xp.minimum(lower_slopes, upper_slopes))
        return xp.concat([xp.zeros((1, num_mel_bins), dtype=dt, device=dev), m], axis=0)

    # ------------------------------------------------------------------ call
    def call(self, inputs):
        shape = tuple(ops.shape(inputs))
        single = len(shape) == 1
        x = ops.reshape(inputs, (1, shape[0])) if single else inputs
        time_seq = ops.shape(x)[1]
        pad = self.fft_length // 2
        if pad >= time_seq:
            raise ValueError(f"MelSpectrogram {self.name!r}: the signal ({time_seq} samples) must "
                             f"be longer than fft_length // 2 = {pad} (reflect padding)")
        dtype = _tape.value_of(x).dtype
        if pad:
            left = ops.flip(x[:, 1:pad + 1], axis=1)
            right = ops.flip(x[:, time_seq - pad - 1:time_seq - 1], axis=1)
            x = ops.concatenate([left, x, right], axis=1)
        cos, sin, l_pad = self._dft(dtype)
        seq, stride = self.sequence_length, self.sequence_stride
        count = self._frames_count(time_seq)
        frames = ops.stack([x[:, i * stride + l_pad:i * stride + l_pad + seq]
                            for i in range(count)], axis=1)             # (B, frames, seq)
        real = ops.matmul(frames, cos)
        imag = ops.matmul(frames, sin)
        power = ops.square(real) + ops.square(imag)
        if self.mag_exp == 2.0:
            spec = power
        else:
            spec = ops.power(ops.sqrt(power), self.mag_exp)
        bank = self.linear_to_mel_weight_matrix(
            num_mel_bins=self.num_mel_bins, num_spectrogram_bins=self.fft_length // 2 + 1,
            sampling_rate=self.sampling_rate, lower_edge_hertz=self.min_freq,
            upper_edge_hertz=self.max_freq)
        out = ops.matmul(spec, self.xp.astype(bank, dtype))
        if self.power_to_db:
            log_spec = 10.0 * ops.log10(ops.maximum(out, self.min_power))
            log_spec = log_spec - 10.0 * math.log10(max(abs(self.ref_power), self.min_power))
            out = ops.maximum(log_spec, ops.max(log_spec) - self.top_db)
        out = ops.swapaxes(out, -1, -2)
        return out[0] if single else out

    def compute_output_shape(self, input_shape):
        time_seq = input_shape[-1]
        frames = None if time_seq is None else self._frames_count(time_seq)
        if len(input_shape) == 1:
            return (self.num_mel_bins, frames)
        return (input_shape[0], self.num_mel_bins, frames)

    def get_config(self):
        config = super().get_config()
        config.update({"fft_length": self.fft_length, "sequence_stride": self.sequence_stride,
                       "sequence_length": self.sequence_length, "window": self.window,
                       "sampling_rate": self.sampling_rate, "num_mel_bins": self.num_mel_bins,
                       "min_freq": self.min_freq, "max_freq": self.max_freq,
                       "power_to_db": self.power_to_db, "top_db": self.top_db,
                       "mag_exp": self.mag_exp, "min_power": self.min_power,
                       "ref_power": self.ref_power})
        return config
