"""Generate tests/keras_reference/audio.npz: what Keras 3's
``keras.utils.audio_dataset_from_directory`` yields for a small folder of WAV files (mono and
stereo 16-bit PCM, different lengths), for tests/test_audio_dataset.py.

Keras 3.15.1 reads WAV files with TensorFlow (``tf.audio.decode_wav``), so this needs
TensorFlow next to Keras (not one of portanet's test dependencies). Run once:
    KERAS_BACKEND=tensorflow python tests/keras_reference/make_audio_reference.py
The files are written by ``write_wav_folder`` (imported by the test too), so both read the
same bytes.
"""

import pathlib
import tempfile
import wave

import numpy as np

HERE = pathlib.Path(__file__).parent

# class -> [(file name, number of samples, channels, sample rate)]
FILES = {
    "no": [("a.wav", 9, 1, 8000), ("b.wav", 5, 1, 8000), ("c.wav", 12, 1, 8000)],
    "yes": [("d.wav", 7, 1, 8000), ("e.wav", 10, 1, 8000)],
}
STEREO = [("s1.wav", 6, 2, 16000), ("s2.wav", 4, 2, 16000)]


def samples(seed, n, channels):
    """Deterministic int16 samples (extremes included)."""
    rng = np.random.default_rng(seed)
    x = rng.integers(-32768, 32768, size=(n, channels)).astype("<i2")
    x[0, 0] = -32768
    x[-1, -1] = 32767
    return x


def write_wav(path, data, rate):
    with wave.open(str(path), "wb") as f:
        f.setnchannels(data.shape[1])
        f.setsampwidth(2)
        f.setframerate(rate)
        f.writeframes(data.astype("<i2").tobytes())


def write_wav_folder(root, stereo=False):
    """Write the class folders of FILES (or one folder of STEREO files) under ``root``."""
    root = pathlib.Path(root)
    groups = {"st": STEREO} if stereo else FILES
    seed = 0
    for cls, entries in groups.items():
        (root / cls).mkdir(parents=True, exist_ok=True)
        for name, n, ch, rate in entries:
            seed += 1
            write_wav(root / cls / name, samples(seed, n, ch), rate)
    return root


def main():
    import keras
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = write_wav_folder(pathlib.Path(tmp) / "mono")
        for tag, kwargs in {
            "padded": dict(batch_size=2),
            "fixed": dict(batch_size=3, output_sequence_length=8, label_mode="categorical"),
            "binary": dict(batch_size=None, output_sequence_length=6, label_mode="binary"),
        }.items():
            ds = keras.utils.audio_dataset_from_directory(root, shuffle=False, **kwargs)
            for i, (x, y) in enumerate(ds):
                out[f"{tag}_x{i}"] = np.asarray(x)
                out[f"{tag}_y{i}"] = np.asarray(y)
        sroot = write_wav_folder(pathlib.Path(tmp) / "stereo", stereo=True)
        ds = keras.utils.audio_dataset_from_directory(sroot, shuffle=False, batch_size=4,
                                                      labels=None)
        for i, x in enumerate(ds):
            out[f"stereo_x{i}"] = np.asarray(x)
    np.savez(HERE / "audio.npz", **out)
    print({k: v.shape for k, v in out.items()})


if __name__ == "__main__":
    main()
