"""audio_dataset_from_directory against Keras 3.15.1's stored batches
(tests/keras_reference/audio.npz, made by make_audio_reference.py from the same WAV bytes),
hand-computed decoding, splits, label modes, fit, and bad input."""

import importlib.util
import pathlib
import struct
import wave

import numpy as np
import pytest

import portanet as pn
from portanet.backend import host_audio

HERE = pathlib.Path(__file__).parent
REF_DIR = HERE / "keras_reference"
REFERENCE = np.load(REF_DIR / "audio.npz")
_spec = importlib.util.spec_from_file_location("make_audio_reference",
                                               REF_DIR / "make_audio_reference.py")
REF = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(REF)

KERAS_CASES = {
    "padded": dict(batch_size=2),
    "fixed": dict(batch_size=3, output_sequence_length=8, label_mode="categorical"),
    "binary": dict(batch_size=None, output_sequence_length=6, label_mode="binary"),
}


@pytest.mark.parametrize("tag", sorted(KERAS_CASES))
def test_batches_equal_keras(backend, tmp_path, tag, capsys):
    root = REF.write_wav_folder(tmp_path / "mono")
    ds = pn.utils.audio_dataset_from_directory(root, shuffle=False, **KERAS_CASES[tag])
    assert "Found 5 files belonging to 2 classes." in capsys.readouterr().out
    assert ds.class_names == ["no", "yes"]
    batches = list(ds)
    assert len(batches) == len([k for k in REFERENCE.files if k.startswith(f"{tag}_x")])
    for i, (x, y) in enumerate(batches):
        kx, ky = REFERENCE[f"{tag}_x{i}"], REFERENCE[f"{tag}_y{i}"]
        assert x.shape == kx.shape and x.dtype == kx.dtype == np.float32
        np.testing.assert_array_equal(x, kx)          # exact: int16 / 32768
        assert y.shape == ky.shape and y.dtype == ky.dtype
        np.testing.assert_array_equal(y, ky)


def test_stereo_unlabeled_equal_keras(backend, tmp_path, capsys):
    root = REF.write_wav_folder(tmp_path / "stereo", stereo=True)
    ds = pn.utils.audio_dataset_from_directory(root, labels=None, shuffle=False, batch_size=4)
    assert "Found 2 files." in capsys.readouterr().out
    (x,) = list(ds)
    assert x.shape == (2, 6, 2)
    np.testing.assert_array_equal(x, REFERENCE["stereo_x0"])


def test_decoding_by_hand(tmp_path):
    data = np.array([[-32768, 32767], [0, 1], [16384, -16384]], dtype="<i2")
    REF.write_wav(tmp_path / "x.wav", data, 22050)
    audio, rate = host_audio.read_wav(tmp_path / "x.wav")
    assert rate == 22050 and audio.dtype == np.float32
    np.testing.assert_array_equal(audio, [[-1.0, 32767 / 32768], [0.0, 1 / 32768], [0.5, -0.5]])
    cropped, _ = host_audio.read_wav(tmp_path / "x.wav", desired_samples=2)
    np.testing.assert_array_equal(cropped, audio[:2])
    padded, _ = host_audio.read_wav(tmp_path / "x.wav", desired_samples=5)
    np.testing.assert_array_equal(padded, np.concatenate([audio, np.zeros((2, 2))]))


def test_resample_keeps_a_low_tone(tmp_path):
    t = np.arange(800) / 8000.0
    tone = (0.5 * np.sin(2 * np.pi * 250 * t) * 32767).astype("<i2")[:, None]
    REF.write_wav(tmp_path / "tone.wav", tone, 8000)
    audio, rate = host_audio.read_wav(tmp_path / "tone.wav")
    up = host_audio.resample(audio, rate, 16000)
    assert up.shape == (1600, 1) and up.dtype == np.float32
    t2 = np.arange(1600) / 16000.0
    np.testing.assert_allclose(up[:, 0], 0.5 * np.sin(2 * np.pi * 250 * t2), atol=2e-3)
    down = host_audio.resample(audio, rate, 4000)
    np.testing.assert_allclose(down[:, 0], audio[::2, 0], atol=2e-3)


def test_sampling_rate_resamples_every_file(backend, tmp_path):
    root = REF.write_wav_folder(tmp_path / "mono")
    ds = pn.utils.audio_dataset_from_directory(root, shuffle=False, batch_size=None,
                                               sampling_rate=16000, verbose=False)
    lengths = [x.shape[0] for x, _ in ds]
    assert lengths == [18, 10, 24, 14, 20]        # 8 kHz files, twice as many samples


def test_label_modes_and_list_labels(backend, tmp_path):
    root = REF.write_wav_folder(tmp_path / "mono")
    ds = pn.utils.audio_dataset_from_directory(root, labels=[4, 1, 0, 1, 4], shuffle=False,
                                               batch_size=5, verbose=False)
    x, y = ds[0]
    assert y.dtype == np.int32 and y.tolist() == [4, 1, 0, 1, 4]
    assert ds.class_names == ["0", "1", "4"]
    ds = pn.utils.audio_dataset_from_directory(root, label_mode=None, shuffle=False,
                                               batch_size=5, verbose=False)
    assert ds[0].shape == (5, 12, 1)
    ds = pn.utils.audio_dataset_from_directory(root, class_names=["yes"], shuffle=False,
                                               verbose=False)
    x, y = ds[0]
    assert x.shape == (2, 10, 1) and y.tolist() == [0, 0]


def test_validation_split_and_shuffle(backend, tmp_path, capsys):
    root = REF.write_wav_folder(tmp_path / "mono")
    train, val = pn.utils.audio_dataset_from_directory(
        root, validation_split=0.4, subset="both", seed=3, batch_size=1)
    out = capsys.readouterr().out
    assert "Using 3 files for training." in out and "Using 2 files for validation." in out
    assert len(train) == 3 and len(val) == 2
    assert sorted(train.file_paths + val.file_paths) == sorted(
        str(p) for p in root.rglob("*.wav"))
    assert not set(train.file_paths) & set(val.file_paths)
    again = pn.utils.audio_dataset_from_directory(root, validation_split=0.4,
                                                  subset="validation", seed=3, verbose=False)
    assert again.file_paths == val.file_paths
    first = [train[i][1].tolist() for i in range(len(train))]
    train.on_epoch_end()
    second = [train[i][1].tolist() for i in range(len(train))]
    assert sorted(sum(first, [])) == sorted(sum(second, []))


def test_fit_on_audio_dataset(backend, tmp_path):
    root = tmp_path / "tones"
    for label, freq in (("low", 200), ("high", 1500)):
        (root / label).mkdir(parents=True)
        for k in range(6):
            t = np.arange(256) / 8000.0
            x = 0.6 * np.sin(2 * np.pi * (freq + 20 * k) * t + k)
            REF.write_wav(root / label / f"{k}.wav", (x * 32767).astype("<i2")[:, None], 8000)
    ds = pn.utils.audio_dataset_from_directory(root, batch_size=4, seed=1, verbose=False,
                                               label_mode="binary")
    pn.utils.set_random_seed(1)
    model = pn.Sequential([pn.Input((256, 1)), pn.layers.Conv1D(4, 9, activation="relu"),
                           pn.layers.GlobalMaxPooling1D(), pn.layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer=pn.optimizers.Adam(0.03), loss="binary_crossentropy",
                  metrics=["accuracy"])
    history = model.fit(ds, epochs=15, verbose=0)
    assert history.history["loss"][-1] < 0.5 * history.history["loss"][0]
    assert model.evaluate(ds, verbose=0)[1] >= 0.9


def test_bad_input(backend, tmp_path):
    root = REF.write_wav_folder(tmp_path / "mono")
    f = pn.utils.audio_dataset_from_directory
    with pytest.raises(ValueError, match="ragged"):
        f(root, ragged=True)
    with pytest.raises(ValueError, match="Cannot set both `ragged` and `output_sequence_length`"):
        f(root, ragged=True, output_sequence_length=4)
    with pytest.raises(ValueError, match="sampling_rate` should have an integer value"):
        f(root, sampling_rate=1.5)
    with pytest.raises(ValueError, match="sampling_rate` should be higher than 0"):
        f(root, sampling_rate=0)
    with pytest.raises(ValueError, match="label_mode"):
        f(root, label_mode="sparse")
    with pytest.raises(ValueError, match="exactly 2"):
        (root / "maybe").mkdir()
        REF.write_wav(root / "maybe" / "m.wav", REF.samples(9, 3, 1), 8000)
        f(root, label_mode="binary", verbose=False)
    with pytest.raises(ValueError, match="output_sequence_length=0"):
        f(root, output_sequence_length=0)
    with pytest.raises(ValueError, match="not an existing directory"):
        f(tmp_path / "nope")
    with pytest.raises(ValueError, match="No audio files found"):
        (tmp_path / "empty" / "a").mkdir(parents=True)
        f(tmp_path / "empty", verbose=False)
    # 8-bit PCM and a non-WAV file: one clear error naming the file
    bad = tmp_path / "bad" / "c"
    bad.mkdir(parents=True)
    with wave.open(str(bad / "eight.wav"), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(1)
        w.setframerate(8000)
        w.writeframes(bytes([128, 130, 120]))
    ds = f(tmp_path / "bad", verbose=False, shuffle=False)
    with pytest.raises(ValueError, match=r"eight\.wav.*8-bit PCM.*16-bit PCM"):
        ds[0]
    # 32-bit IEEE float (format tag 3)
    payload = np.array([0.5, -0.25], dtype="<f4").tobytes()
    header = (b"RIFF" + struct.pack("<I", 36 + len(payload)) + b"WAVEfmt "
              + struct.pack("<IHHIIHH", 16, 3, 1, 8000, 32000, 4, 32)
              + b"data" + struct.pack("<I", len(payload)))
    (bad / "eight.wav").write_bytes(header + payload)
    with pytest.raises(ValueError, match=r"eight\.wav.*IEEE float samples.*16-bit PCM"):
        ds[0]
    (bad / "eight.wav").write_bytes(b"not a wav file at all")
    with pytest.raises(ValueError, match=r"eight\.wav.*cannot be read as a WAV file"):
        ds[0]
