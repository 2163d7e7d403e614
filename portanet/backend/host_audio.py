"""Host-side audio decoding for ``audio_dataset_from_directory``: WAV files read with
Python's standard ``wave`` module into float32 NumPy arrays, as ``tf.audio.decode_wav``
(the decoder Keras 3 uses) returns them.

- 16-bit PCM only (mono or any number of channels), as TensorFlow's ``DecodeWav``; any
  other encoding (8/24/32-bit PCM, IEEE float, compressed) raises one ``ValueError``
  naming the file and what it holds.
- Samples are ``int16 / 32768`` (float32 in [-1, 1)), shape ``(samples, channels)``.
- ``desired_samples`` > 0 crops longer files and pads shorter ones with zeros at the end
  (``decode_wav(desired_samples=...)``).
- ``resample``: band-limited (FFT) resampling to another rate. Keras resamples with
  ``tensorflow_io.audio.resample``, whose filter differs, so resampled values are not
  Keras's (the lengths are ``round(n * rate_out / rate_in)``).
"""

import wave

import numpy as np

__all__ = ["read_wav", "resample", "pad_batch"]

# WAV format tags the wave module refuses ("unknown format: N").
_FORMAT_NAMES = {"3": "IEEE float", "6": "A-law", "7": "mu-law", "2": "ADPCM",
                 "17": "IMA ADPCM", "85": "MP3"}


def read_wav(path, desired_samples=-1):
    """``(audio, sample_rate)``: ``audio`` float32 of shape ``(samples, channels)``."""
    try:
        with wave.open(str(path), "rb") as f:
            channels = f.getnchannels()
            width = f.getsampwidth()
            rate = f.getframerate()
            frames = f.readframes(f.getnframes())
    except wave.Error as exc:
        text = str(exc)
        kind = _FORMAT_NAMES.get(text.rsplit(":", 1)[-1].strip()) if "format" in text else None
        what = f"holds {kind} samples" if kind else f"cannot be read as a WAV file ({text})"
        raise ValueError(f"audio file {str(path)!r} {what}; only 16-bit PCM WAV files (mono or "
                         "stereo) are supported (as tf.audio.decode_wav)") from None
    except EOFError:
        raise ValueError(f"audio file {str(path)!r} is truncated; expected a complete 16-bit "
                         "PCM WAV file") from None
    if width != 2:
        raise ValueError(f"audio file {str(path)!r} holds {8 * width}-bit PCM samples; only "
                         "16-bit PCM WAV files are supported (as tf.audio.decode_wav)")
    usable = len(frames) - len(frames) % (2 * channels)
    ints = np.frombuffer(frames[:usable], dtype="<i2").reshape(-1, channels)
    audio = ints.astype("float32") * np.float32(1.0 / 32768.0)
    if desired_samples is not None and desired_samples > 0:
        n = audio.shape[0]
        if n >= desired_samples:
            audio = audio[:desired_samples]
        else:
            audio = np.concatenate(
                [audio, np.zeros((desired_samples - n, channels), dtype="float32")], axis=0)
    return np.ascontiguousarray(audio), rate


def resample(audio, rate_in, rate_out):
    """``audio`` (samples, channels) from ``rate_in`` to ``rate_out`` Hz by FFT
    (band-limited) resampling; float32."""
    if rate_in == rate_out:
        return audio
    n = audio.shape[0]
    m = max(int(round(n * rate_out / rate_in)), 0)
    if n == 0 or m == 0:
        return np.zeros((m, audio.shape[1]), dtype="float32")
    spectrum = np.fft.rfft(audio.astype("float64"), axis=0)
    keep = min(spectrum.shape[0], m // 2 + 1)
    out_spec = np.zeros((m // 2 + 1, audio.shape[1]), dtype=spectrum.dtype)
    out_spec[:keep] = spectrum[:keep]
    if m % 2 == 0 and keep == m // 2 + 1 and m < n:
        out_spec[-1] = out_spec[-1].real      # the Nyquist bin of the shorter signal
    out = np.fft.irfft(out_spec, n=m, axis=0) * (m / n)
    return out.astype("float32")


def pad_batch(arrays):
    """Arrays of shape (samples_i, channels) as one (batch, max samples, channels) float32
    array, zero-padded at the end (``tf.data``'s ``padded_batch``)."""
    channels = {int(a.shape[1]) for a in arrays}
    if len(channels) > 1:
        raise ValueError(f"audio files in one batch have different numbers of channels "
                         f"({sorted(channels)}); expected the same number")
    length = max(int(a.shape[0]) for a in arrays)
    out = np.zeros((len(arrays), length, channels.pop()), dtype="float32")
    for i, a in enumerate(arrays):
        out[i, :a.shape[0]] = a
    return out
