"""pn.utils.pad_sequences (and its pn.preprocessing.sequence alias), to_categorical, normalize:
Keras 3's keras.utils semantics, checked against hand-computed arrays."""

import numpy as np
import pytest

import portanet as pn
from portanet.utils import normalize, pad_sequences, to_categorical

SEQS = [[1, 2, 3, 4, 5], [6, 7], []]


@pytest.mark.parametrize("padding, truncating, expected", [
    ("pre", "pre", [[3, 4, 5], [0, 6, 7], [0, 0, 0]]),
    ("pre", "post", [[1, 2, 3], [0, 6, 7], [0, 0, 0]]),
    ("post", "pre", [[3, 4, 5], [6, 7, 0], [0, 0, 0]]),
    ("post", "post", [[1, 2, 3], [6, 7, 0], [0, 0, 0]]),
])
def test_every_padding_and_truncating_combination(backend, padding, truncating, expected):
    out = pad_sequences(SEQS, maxlen=3, padding=padding, truncating=truncating)
    assert isinstance(out, np.ndarray) and out.dtype == np.int32
    np.testing.assert_array_equal(out, expected)


@pytest.mark.parametrize("padding, expected", [
    ("pre", [[1, 2, 3, 4, 5], [0, 0, 0, 6, 7], [0, 0, 0, 0, 0]]),
    ("post", [[1, 2, 3, 4, 5], [6, 7, 0, 0, 0], [0, 0, 0, 0, 0]]),
])
def test_maxlen_none_pads_to_the_longest(backend, padding, expected):
    np.testing.assert_array_equal(pad_sequences(SEQS, padding=padding), expected)


def test_keras_docstring_examples_and_the_preprocessing_alias(backend):
    seq = [[1], [2, 3], [4, 5, 6]]
    np.testing.assert_array_equal(pad_sequences(seq, value=-1), [[-1, -1, 1], [-1, 2, 3], [4, 5, 6]])
    np.testing.assert_array_equal(pad_sequences(seq, maxlen=2), [[0, 1], [2, 3], [5, 6]])
    assert pn.preprocessing.sequence.pad_sequences is pad_sequences
    assert pn.utils.pad_sequences is pad_sequences


def test_value_dtype_and_longer_maxlen(backend):
    out = pad_sequences([[1.5, 2.5], [3.25]], maxlen=4, dtype="float32", value=0.5,
                        padding="post")
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, [[1.5, 2.5, 0.5, 0.5], [3.25, 0.5, 0.5, 0.5]])
    # int32 truncates floats, as np.asarray does in Keras.
    np.testing.assert_array_equal(pad_sequences([[1.7, 2.2]]), [[1, 2]])


def test_empty_inputs(backend):
    assert pad_sequences([], maxlen=4).shape == (0, 4)
    np.testing.assert_array_equal(pad_sequences([[], []], maxlen=2, value=9), [[9, 9], [9, 9]])
    assert pad_sequences([[], []]).shape == (2, 0)
    assert pad_sequences([[1, 2], [3]], maxlen=0).shape == (2, 0)
    with pytest.raises(ValueError, match=r"sequences=\[\] and maxlen=None"):
        pad_sequences([])


def test_strings_need_object_or_string_dtype(backend):
    out = pad_sequences([["a", "b"], ["c"]], dtype=object, value="PAD")
    assert out.dtype == object
    assert out.tolist() == [["a", "b"], ["PAD", "c"]]
    out = pad_sequences([["ab"], ["c", "d"]], dtype="<U3", value="-", padding="post")
    assert out.tolist() == [["ab", "-"], ["c", "d"]]
    with pytest.raises(ValueError, match=r"`dtype` int32 is not compatible with `value`'s "
                                         r"type: <class 'str'>\nYou should set `dtype=object`"):
        pad_sequences([["a"]], value="PAD")


def test_sequences_of_vectors_keep_the_item_shape(backend):
    out = pad_sequences([[[1, 2], [3, 4]], [[5, 6]]], padding="pre")
    assert out.shape == (2, 2, 2)
    np.testing.assert_array_equal(out, [[[1, 2], [3, 4]], [[0, 0], [5, 6]]])
    with pytest.raises(ValueError, match=r"Shape of sample \(3,\) of sequence at position 1 "
                                         r"is different from expected shape \(2,\)"):
        pad_sequences([[[1, 2]], [[1, 2, 3]]])


@pytest.mark.parametrize("kwargs, match", [
    (dict(sequences=5), r"`sequences` must be iterable\."),
    (dict(sequences=[[1], 5]), r"`sequences` must be a list of iterables\. Found non-iterable: 5"),
    (dict(sequences=[[1]], padding="mid"), r'Padding type "mid" not understood'),
    (dict(sequences=[[1]], truncating="end"), r'Truncating type "end" not understood'),
    (dict(sequences=[[1]], maxlen=-1), r"pad_sequences: maxlen=-1"),
    (dict(sequences=[[1]], maxlen=2.5), r"pad_sequences: maxlen=2\.5"),
])
def test_keras_errors(backend, kwargs, match):
    with pytest.raises(ValueError, match=match):
        pad_sequences(**kwargs)


# ----------------------------------------------------------------- to_categorical
def test_to_categorical_values_and_shapes(backend):
    out = to_categorical([0, 2, 1], num_classes=4)
    assert isinstance(out, np.ndarray) and out.dtype == np.float32
    np.testing.assert_array_equal(out, [[1, 0, 0, 0], [0, 0, 1, 0], [0, 1, 0, 0]])
    np.testing.assert_array_equal(to_categorical([[1], [0]]), [[0, 1], [1, 0]])   # (n, 1) -> (n, C)
    grid = to_categorical(np.array([[0, 1], [2, 0]]))
    assert grid.shape == (2, 2, 3)
    np.testing.assert_array_equal(grid.argmax(-1), [[0, 1], [2, 0]])
    assert to_categorical([]).shape == (0, 0)


def test_to_categorical_follows_floatx(backend, float64):
    assert to_categorical([1, 0]).dtype == np.float64


def test_to_categorical_keeps_backend_arrays_on_the_device(backend):
    y = backend.from_numpy(np.array([[2], [0], [1]]))
    out = to_categorical(y, 3)
    assert backend.is_array(out) and out.dtype == backend.floatx()
    np.testing.assert_array_equal(backend.to_numpy(out), np.eye(3)[[2, 0, 1]])


@pytest.mark.parametrize("args, match", [
    (([0, -1],), r"to_categorical: labels must be non-negative; got -1"),
    (([0, 3], 3), r"to_categorical: label 3 >= num_classes=3"),
    (([0], 0), r"to_categorical: num_classes=0"),
    ((["a"],), r"to_categorical: x=\['a'\]"),
])
def test_to_categorical_errors(backend, args, match):
    with pytest.raises(ValueError, match=match):
        to_categorical(*args)


# ----------------------------------------------------------------- normalize
def test_normalize_host_arrays(backend):
    x = np.array([[3.0, 4.0], [0.0, 0.0]])
    out = normalize(x)
    assert isinstance(out, np.ndarray)
    np.testing.assert_allclose(out, [[0.6, 0.8], [0.0, 0.0]])
    np.testing.assert_allclose(normalize(np.array([[3.0, 4.0], [4.0, 3.0]]), axis=0),
                               [[0.6, 0.8], [0.8, 0.6]])
    np.testing.assert_allclose(normalize(np.array([1.0, 3.0]), order=1), [0.25, 0.75])


def test_normalize_backend_arrays(backend):
    x = backend.from_numpy(np.array([[3.0, 4.0], [0.0, 0.0], [1.0, -1.0]], dtype="float32"))
    out = normalize(x)
    assert backend.is_array(out) and out.dtype == backend.dtype("float32")
    np.testing.assert_allclose(backend.to_numpy(out),
                               [[0.6, 0.8], [0.0, 0.0], [2 ** -0.5, -(2 ** -0.5)]], rtol=1e-6)
    np.testing.assert_allclose(backend.to_numpy(normalize(x, order=1))[2], [0.5, -0.5])
    with pytest.raises(ValueError, match=r"normalize: axis=2 is out of range"):
        normalize(x, axis=2)
