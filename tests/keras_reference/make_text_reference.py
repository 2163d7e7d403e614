"""Generate tests/keras_reference/text.json: Keras 3's outputs, adapted vocabularies, bin
boundaries and configs for the categorical and string preprocessing layers
(CategoryEncoding, Discretization, Hashing, HashedCrossing, IntegerLookup, StringLookup,
TextVectorization).

Keras 3.15.1's string layers (Hashing, HashedCrossing, the lookups, TextVectorization) need
TensorFlow on every backend: they run TensorFlow's CPU kernels (FarmHash64 fingerprints,
SipHash, hash tables) and convert the result to the backend's tensor, so their numbers do not
depend on the backend. Run with Keras 3.15.1 and TensorFlow installed (not portanet's test
dependencies):
    KERAS_BACKEND=tensorflow python tests/keras_reference/make_text_reference.py
(KERAS_BACKEND=jax gives the same numbers where JAX is installed next to TensorFlow.)
tests/test_text_preprocessing.py compares portanet with the stored values, through the
CASES below.
"""

import json
import pathlib

import numpy as np

HERE = pathlib.Path(__file__).parent

SENTENCES = ["The cat sat on the mat.", "The dog ate my homework!", "A cat, a dog; a bird?",
             "Dogs and cats: friends or foes", "the THE The tHe", "", "Héllo wörld, ÉCOLE"]
LONG = ["x" * 70, "a much longer sentence that goes past sixty four bytes for the hash loop",
        "y" * 129, "12345678901234567"]
INTS = [[3, 7, 7, 1], [0, 12, -5, 3], [100000, 7, 3, 3]]

# name: (class, constructor kwargs, adapt data or None, call input, call kwargs)
CASES = {
    "category_multi_hot": ("CategoryEncoding", dict(num_tokens=5), None,
                           [[0, 1, 1, 4], [3, 3, 2, 0]], {}),
    "category_count": ("CategoryEncoding", dict(num_tokens=6, output_mode="count"), None,
                       [[0, 1, 1, 5], [3, 3, 3, 0]], {}),
    "category_count_weights": ("CategoryEncoding", dict(num_tokens=4, output_mode="count"), None,
                               [[0, 1, 1], [3, 3, 2]],
                               {"count_weights": [[0.5, 1.0, 2.0], [1.5, 0.25, 3.0]]}),
    "category_one_hot": ("CategoryEncoding", dict(num_tokens=4, output_mode="one_hot"), None,
                         [[0], [3], [2]], {}),
    "category_one_hot_1d": ("CategoryEncoding", dict(num_tokens=4, output_mode="one_hot"), None,
                            [0, 3, 2, 1], {}),
    "category_multi_hot_1d": ("CategoryEncoding", dict(num_tokens=4), None, [0, 3, 3], {}),
    "discretization_bins": ("Discretization", dict(bin_boundaries=[0.0, 1.0, 2.5]), None,
                            [[-1.5, 0.0, 0.5], [1.0, 2.5, 9.0]], {}),
    "discretization_one_hot": ("Discretization", dict(bin_boundaries=[0.0, 1.0],
                                                      output_mode="one_hot"), None,
                               [[-1.0], [0.5], [3.0]], {}),
    "discretization_multi_hot": ("Discretization", dict(bin_boundaries=[0.0, 1.0, 2.0],
                                                        output_mode="multi_hot"), None,
                                 [[-1.0, 0.5, 0.7], [3.0, 1.5, -2.0]], {}),
    "discretization_count": ("Discretization", dict(bin_boundaries=[0.0, 1.0, 2.0],
                                                    output_mode="count"), None,
                             [[-1.0, 0.5, 0.7], [3.0, 1.5, -2.0]], {}),
    "discretization_adapt": ("Discretization", dict(num_bins=4), "uniform300",
                             [[-1.0, 0.1, 0.3], [0.5, 0.8, 2.0]], {}),
    "discretization_adapt_eps": ("Discretization", dict(num_bins=5, epsilon=0.05), "normal1000",
                                 [[-1.0, 0.1, 0.3], [0.5, 0.8, 2.0]], {}),
    "hashing_strings": ("Hashing", dict(num_bins=7), None, [[s] for s in SENTENCES + LONG], {}),
    "hashing_mask": ("Hashing", dict(num_bins=5, mask_value=""), None,
                     [["A"], ["B"], [""], ["C"], ["D"]], {}),
    "hashing_salt": ("Hashing", dict(num_bins=11, salt=[133, 137]), None,
                     [[s] for s in SENTENCES + LONG], {}),
    "hashing_salt_int": ("Hashing", dict(num_bins=3, salt=133), None,
                         [["A"], ["B"], ["C"], ["D"], ["E"]], {}),
    "hashing_ints": ("Hashing", dict(num_bins=13), None, INTS, {}),
    "hashing_ints_mask": ("Hashing", dict(num_bins=13, mask_value=7), None, INTS, {}),
    "hashing_one_hot": ("Hashing", dict(num_bins=4, output_mode="one_hot"), None,
                        [["a"], ["b"], ["c"]], {}),
    "hashing_multi_hot": ("Hashing", dict(num_bins=6, output_mode="multi_hot"), None,
                          [["a", "b"], ["c", "a"]], {}),
    "hashing_count": ("Hashing", dict(num_bins=6, output_mode="count"), None,
                      [["a", "b", "a"], ["c", "a", "z"]], {}),
    "crossing_strings_ints": ("HashedCrossing", dict(num_bins=10), None,
                              [["a", "b", "c", "d"], [1, 2, -3, 1]], {}),
    "crossing_one_hot": ("HashedCrossing", dict(num_bins=5, output_mode="one_hot"), None,
                         [[["a"], ["b"], ["c"]], [["x"], ["y"], ["x"]]], {}),
    "string_vocab": ("StringLookup", dict(vocabulary=["a", "b", "c", "d"]), None,
                     [["a", "c", "d"], ["d", "z", "b"]], {}),
    "string_vocab_mask": ("StringLookup", dict(vocabulary=["a", "b", "c"], mask_token="[MASK]"),
                          None, [["a", "[MASK]", "q"], ["c", "b", "a"]], {}),
    "string_oov2": ("StringLookup", dict(vocabulary=["a", "b"], num_oov_indices=2), None,
                    [["a", "x", "y"], ["zz", "b", "hello"]], {}),
    "string_oov3_salt": ("StringLookup", dict(vocabulary=["a", "b"], num_oov_indices=3, salt=42),
                         None, [["a", "x", "y"], ["zz", "b", "hello"]], {}),
    "string_adapt": ("StringLookup", dict(), "words", [["the", "cat", "zebra"]], {}),
    "string_adapt_max": ("StringLookup", dict(max_tokens=4), "words", [["the", "cat", "dog"]], {}),
    "string_invert": ("StringLookup", dict(vocabulary=["a", "b", "c"], invert=True,
                                           mask_token="[M]"), None, [[0, 1, 2], [3, 4, 9]], {}),
    "string_one_hot": ("StringLookup", dict(vocabulary=["a", "b", "c"], output_mode="one_hot"),
                       None, ["a", "c", "q"], {}),
    "string_multi_hot": ("StringLookup", dict(vocabulary=["a", "b", "c"],
                                              output_mode="multi_hot"), None,
                         [["a", "c", "a"], ["q", "b", "b"]], {}),
    "string_multi_hot_mask": ("StringLookup", dict(vocabulary=["a", "b", "c"], mask_token="",
                                                   output_mode="multi_hot"), None,
                              [["a", "", "a"], ["q", "", "b"]], {}),
    "string_count_pad": ("StringLookup", dict(vocabulary=["a", "b", "c"], output_mode="count",
                                              max_tokens=8, pad_to_max_tokens=True), None,
                         [["a", "c", "a"], ["q", "b", "b"]], {}),
    "string_tf_idf": ("StringLookup", dict(vocabulary=["a", "b", "c"],
                                           idf_weights=[0.5, 0.25, 0.125], output_mode="tf_idf"),
                      None, [["a", "c", "a"], ["q", "b", "b"]], {}),
    "string_tf_idf_adapt": ("StringLookup", dict(output_mode="tf_idf"), "words_2d",
                            [["the", "cat", "the"], ["dog", "zz", "mat"]], {}),
    "integer_vocab": ("IntegerLookup", dict(vocabulary=[12, 36, 1138, 42]), None,
                      [[12, 1138, 42], [42, 1000, 36]], {}),
    "integer_oov2": ("IntegerLookup", dict(vocabulary=[12, 36], num_oov_indices=2), None,
                     [[12, 7, 8], [36, -3, 11]], {}),
    "integer_oov2_farmhash": ("IntegerLookup", dict(vocabulary=[12, 36], num_oov_indices=3,
                                                    oov_method="farmhash"), None,
                              [[12, 7, 8], [36, -3, 11]], {}),
    "integer_mask": ("IntegerLookup", dict(vocabulary=[12, 36], mask_token=0), None,
                     [[12, 0, 8], [36, 0, 12]], {}),
    "integer_adapt": ("IntegerLookup", dict(), "ints", [[3, 7, 99]], {}),
    "integer_invert": ("IntegerLookup", dict(vocabulary=[12, 36, 1138], invert=True), None,
                       [[0, 1, 2], [3, 4, 1]], {}),
    "integer_multi_hot": ("IntegerLookup", dict(vocabulary=[12, 36, 1138],
                                                output_mode="multi_hot"), None,
                          [[12, 36, 5], [1138, 1138, 12]], {}),
    "text_int": ("TextVectorization", dict(), "sentences", SENTENCES[:3], {}),
    "text_int_len": ("TextVectorization", dict(max_tokens=8, output_sequence_length=4),
                     "sentences", SENTENCES, {}),
    "text_lower": ("TextVectorization", dict(standardize="lower", output_sequence_length=6),
                   "sentences", SENTENCES, {}),
    "text_strip": ("TextVectorization", dict(standardize="strip_punctuation",
                                             output_sequence_length=6), "sentences",
                   SENTENCES, {}),
    "text_none": ("TextVectorization", dict(standardize=None, output_sequence_length=6),
                  "sentences", SENTENCES, {}),
    "text_character": ("TextVectorization", dict(split="character", output_sequence_length=10),
                       "sentences", SENTENCES[:3], {}),
    "text_no_split": ("TextVectorization", dict(split=None), "sentences_col",
                      [["the cat sat on the mat"], ["zzz"], ["a cat a dog a bird"]], {}),
    "text_ngrams": ("TextVectorization", dict(ngrams=2, output_sequence_length=12),
                    "sentences", SENTENCES[:3], {}),
    "text_ngrams_tuple": ("TextVectorization", dict(ngrams=(1, 3), max_tokens=20,
                                                    output_mode="count"), "sentences",
                          SENTENCES[:3], {}),
    "text_multi_hot": ("TextVectorization", dict(max_tokens=10, output_mode="multi_hot"),
                       "sentences", SENTENCES, {}),
    "text_count": ("TextVectorization", dict(output_mode="count"), "sentences", SENTENCES, {}),
    "text_tf_idf": ("TextVectorization", dict(output_mode="tf_idf"), "sentences", SENTENCES, {}),
    "text_tf_idf_pad": ("TextVectorization", dict(output_mode="tf_idf", max_tokens=30,
                                                  pad_to_max_tokens=True), "sentences",
                        SENTENCES, {}),
    "text_vocab": ("TextVectorization", dict(vocabulary=["cat", "dog", "the"],
                                             output_sequence_length=5), None,
                   SENTENCES[:3], {}),
}


def adapt_data(key):
    """The adapt data of a case (same here and in the test)."""
    rng = np.random.default_rng(7)
    if key == "uniform300":
        return rng.uniform(-1.0, 2.0, size=(300, 1)).astype("float32")
    if key == "normal1000":
        return rng.standard_normal((250, 4)).astype("float32")
    if key == "words":
        return ["the", "cat", "the", "dog", "the", "cat", "mat", "a", "a", "b"]
    if key == "words_2d":
        return [["the", "cat", "the"], ["the", "dog", "mat"], ["a", "cat", "cat"]]
    if key == "ints":
        return [3, 7, 7, 1, 3, 3, 42, 42, 42, 5]
    if key == "sentences":
        return SENTENCES + ["the cat and the dog", "a bird on a mat"]
    if key == "sentences_col":
        return [["the cat sat on the mat"], ["a cat a dog a bird"], ["zzz"], ["a cat a dog a bird"]]
    raise KeyError(key)


def _plain(value):
    if hasattr(value, "numpy"):
        value = value.numpy()
    value = np.asarray(value)
    if value.dtype.kind in "SO":
        return [v.decode("utf-8") if isinstance(v, bytes) else v for v in value.reshape(-1)], \
            list(value.shape), "string"
    return value.tolist(), list(value.shape), str(value.dtype)


def main():
    import keras
    out = {"keras_version": keras.__version__, "backend": keras.backend.backend(), "cases": {}}
    for name, (cls, kwargs, adapt, x, call_kwargs) in CASES.items():
        layer = getattr(keras.layers, cls)(**kwargs)
        if adapt is not None:
            layer.adapt(adapt_data(adapt))
        y = layer(x, **call_kwargs)
        values, shape, dtype = _plain(y)
        entry = {"values": values, "shape": shape, "dtype": dtype}
        if hasattr(layer, "get_vocabulary"):
            entry["vocabulary"] = [v if isinstance(v, (str, int)) else int(v)
                                   for v in layer.get_vocabulary()]
            entry["vocabulary_size"] = int(layer.vocabulary_size())
        if cls == "Discretization":
            entry["bin_boundaries"] = [float(b) for b in layer.bin_boundaries]
        config = layer.get_config()
        entry["config_keys"] = sorted(config)
        entry["config"] = json.loads(json.dumps(config, default=str))
        out["cases"][name] = entry
        print(name, shape, dtype)
    with open(HERE / "text.json", "w") as f:
        json.dump(out, f, indent=0, sort_keys=True)


if __name__ == "__main__":
    main()
