"""Recurrent networks learn tasks that need what they claim: memory over 20 noisy steps,
local patterns found by a convolution and aggregated by an LSTM, and masks that stop a
recurrence at a sequence's real end."""

import time

import numpy as np

import portanet as pn

L = pn.layers


def _fit(model, x, y, x_test, y_test, epochs, lr=0.01):
    model.compile(optimizer=pn.optimizers.Adam(lr), loss="binary_crossentropy", metrics=["accuracy"])
    start = time.perf_counter()
    history = model.fit(x, y, epochs=epochs, batch_size=32, verbose=0)
    seconds = time.perf_counter() - start
    _, accuracy = model.evaluate(x_test, y_test, verbose=0)
    print(f"train accuracy {history.history['accuracy'][-1]:.3f}, test accuracy {accuracy:.3f}, "
          f"{seconds:.2f} s ({seconds / epochs:.3f} s/epoch)")
    return accuracy


def memory_data(n, steps=21, seed=0):
    """The label is the sign of the first element; 20 steps of N(0, 1) noise follow it."""
    rng = np.random.default_rng(seed)
    label = rng.integers(0, 2, size=n)
    x = rng.standard_normal((n, steps, 1)).astype("float32")
    x[:, 0, 0] = 2.0 * label - 1.0
    return x, label.astype("float32")[:, None]


def motif_data(n, steps=24, seed=0):
    """A +/− (label 1) or −/+ (label 0) pair of adjacent values at a random position in noise."""
    rng = np.random.default_rng(seed)
    label = rng.integers(0, 2, size=n)
    x = 0.3 * rng.standard_normal((n, steps, 1)).astype("float32")
    pos = rng.integers(0, steps - 1, size=n)
    sign = np.where(label == 1, 1.5, -1.5)
    x[np.arange(n), pos, 0] += sign
    x[np.arange(n), pos + 1, 0] -= sign
    return x, label.astype("float32")[:, None]


def frames_data(n, frames=6, width=8, seed=0):
    """Six frames, each holding one motif; the label is the first frame's motif."""
    rng = np.random.default_rng(seed)
    symbols = rng.integers(0, 2, size=(n, frames))
    x = 0.3 * rng.standard_normal((n, frames, width, 1)).astype("float32")
    pos = rng.integers(0, width - 1, size=(n, frames))
    sign = np.where(symbols == 1, 1.5, -1.5)
    i, f = np.meshgrid(np.arange(n), np.arange(frames), indexing="ij")
    x[i, f, pos, 0] += sign
    x[i, f, pos + 1, 0] -= sign
    return x, symbols[:, :1].astype("float32")


def last_token_data(n, maxlen=10, vocab=6, seed=0):
    """Variable-length id sequences padded with 0 at the end; label = parity of the last real id."""
    rng = np.random.default_rng(seed)
    ids = rng.integers(1, vocab, size=(n, maxlen))
    lengths = rng.integers(3, maxlen + 1, size=n)
    ids[np.arange(maxlen)[None, :] >= lengths[:, None]] = 0
    last = ids[np.arange(n), lengths - 1]
    return ids, (last % 2).astype("float32")[:, None]


def test_lstm_remembers_the_first_element_over_20_noisy_steps(backend):
    x, y = memory_data(512)
    x_test, y_test = memory_data(256, seed=100)
    model = pn.Sequential([pn.Input((21, 1)), L.LSTM(8), L.Dense(1, activation="sigmoid")])
    assert _fit(model, x, y, x_test, y_test, epochs=15) >= 0.9


def test_conv1d_then_lstm_finds_a_local_pattern(backend):
    x, y = motif_data(512)
    x_test, y_test = motif_data(256, seed=100)
    model = pn.Sequential([pn.Input((24, 1)), L.Conv1D(8, 3, activation="relu"), L.LSTM(8),
                           L.Dense(1, activation="sigmoid")])
    assert _fit(model, x, y, x_test, y_test, epochs=12) >= 0.95


def test_time_distributed_conv1d_then_lstm(backend):
    x, y = frames_data(512)
    x_test, y_test = frames_data(256, seed=100)
    model = pn.Sequential([pn.Input((6, 8, 1)), L.TimeDistributed(L.Conv1D(4, 2, activation="relu")),
                           L.TimeDistributed(L.Flatten()), L.LSTM(8),
                           L.Dense(1, activation="sigmoid")])
    assert _fit(model, x, y, x_test, y_test, epochs=20) >= 0.9


def test_masked_bidirectional_gru_reads_the_last_real_token(backend):
    x, y = last_token_data(512)
    x_test, y_test = last_token_data(256, seed=100)
    model = pn.Sequential([pn.Input((10,), dtype="int64"), L.Embedding(6, 8, mask_zero=True),
                           L.Bidirectional(L.GRU(8)), L.Dense(1, activation="sigmoid")])
    assert _fit(model, x, y, x_test, y_test, epochs=10) >= 0.95
