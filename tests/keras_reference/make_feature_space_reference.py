"""Generate tests/keras_reference/feature_space.npz and feature_space.json: Keras 3's
``keras.utils.FeatureSpace`` on a small structured data set (every feature type, crosses,
"concat" and "dict" output, an unbatched call, adapt on batches), for
tests/test_feature_space.py.

Keras 3.15.1's FeatureSpace runs on TensorFlow whatever the backend (tf.data for adapt, the
string layers' TensorFlow kernels), so it needs TensorFlow next to Keras; it is not one of
portanet's test dependencies. Run once:
    KERAS_BACKEND=tensorflow python tests/keras_reference/make_feature_space_reference.py
(KERAS_BACKEND=jax gives the same numbers where JAX is installed next to TensorFlow.)
The data set is built here from a seeded NumPy generator; the test rebuilds it with
``make_data`` (imported from this file), so the inputs are the same bytes.
"""

import json
import pathlib

import numpy as np

HERE = pathlib.Path(__file__).parent

CITIES = ["paris", "rome", "oslo", "lima", "kyiv"]
PETS = ["cat", "dog", "fish", "bird", "none", "hamster"]


def make_data(n=100, seed=7):
    """The structured data set: a dict of NumPy columns (float32, str, int64)."""
    rng = np.random.default_rng(seed)
    return {
        "age": rng.normal(40.0, 12.0, n).astype("float32"),
        "fare": rng.uniform(0.0, 50.0, n).astype("float32"),
        "height": rng.normal(170.0, 9.0, n).astype("float32"),
        "raw": rng.uniform(-1.0, 1.0, n).astype("float32"),
        "city": np.array([CITIES[i] for i in rng.choice(5, n, p=[0.4, 0.25, 0.2, 0.1, 0.05])]),
        "pet": np.array([PETS[i] for i in rng.integers(0, 6, n)]),
        "rooms": rng.choice([1, 2, 3, 4, 5, 6, 7], n, p=[0.1, 0.3, 0.25, 0.15, 0.1, 0.06, 0.04]
                            ).astype("int64"),
        "zip": rng.integers(10000, 10040, n).astype("int64"),
    }


TEXT = {"text": ["1st string", "2nd string", "3rd string", "a 2nd longer string"]}


def make_query():
    """Rows to encode after adapt: seen values and unseen ones (OOV city, pet, rooms)."""
    return {
        "age": np.array([18.0, 40.0, 71.5, 33.3], "float32"),
        "fare": np.array([0.0, 12.5, 49.0, 100.0], "float32"),
        "height": np.array([150.0, 169.0, 171.0, 195.0], "float32"),
        "raw": np.array([-0.5, 0.0, 0.25, 1.0], "float32"),
        "city": np.array(["paris", "oslo", "tokyo", "lima"]),
        "pet": np.array(["dog", "none", "lizard", "cat"]),
        "rooms": np.array([3, 1, 9, 7], "int64"),
        "zip": np.array([10001, 10039, 99999, 10020], "int64"),
    }


def feature_spec(FeatureSpace):
    """The "concat" FeatureSpace's features and crosses (portanet and Keras share it)."""
    features = {
        "age": "float_normalized",
        "fare": FeatureSpace.float_rescaled(scale=0.1, offset=-1.0, name="fare"),
        "height": FeatureSpace.float_discretized(num_bins=5, name="height"),
        "raw": "float",
        "city": "string_categorical",
        "pet": FeatureSpace.string_hashed(num_bins=8, name="pet"),
        "rooms": FeatureSpace.integer_categorical(max_tokens=6, name="rooms"),
        "zip": "integer_hashed",
    }
    crosses = [("city", "rooms"), FeatureSpace.cross(("pet", "zip"), crossing_dim=8)]
    return features, crosses


def dict_spec(FeatureSpace):
    """The "dict" FeatureSpace: integer outputs and an integer cross."""
    features = {
        "city": FeatureSpace.string_categorical(output_mode="int", name="city"),
        "rooms": FeatureSpace.integer_categorical(output_mode="int", name="rooms"),
        "pet": "string_hashed",
        "height": "float_discretized",
        "age": "float_normalized",
    }
    crosses = [FeatureSpace.cross(("city", "rooms"), crossing_dim=16, output_mode="int")]
    return features, crosses


def main():
    import keras
    import tensorflow as tf
    from keras.utils import FeatureSpace

    out, meta = {}, {}
    data, query = make_data(), make_query()

    features, crosses = feature_spec(FeatureSpace)
    fs = FeatureSpace(features, crosses=crosses, crossing_dim=16, hashing_dim=4,
                      num_discretization_bins=6)
    fs.adapt(data)                          # a dict: Keras batches it by 32
    out["concat_query"] = np.asarray(fs(query))
    out["concat_data"] = np.asarray(fs(data))
    one = {k: v[1] for k, v in query.items()}
    out["concat_single"] = np.asarray(fs(one))
    out["age_mean"] = np.asarray(fs.preprocessors["age"].mean)
    out["age_variance"] = np.asarray(fs.preprocessors["age"].variance)
    out["height_boundaries"] = np.asarray(fs.preprocessors["height"].bin_boundaries)
    meta["city_vocabulary"] = fs.preprocessors["city"].get_vocabulary()
    meta["rooms_vocabulary"] = [int(v) for v in fs.preprocessors["rooms"].get_vocabulary()]
    meta["concat_config"] = json.loads(json.dumps(fs.get_config(), default=str))
    enc = fs.get_encoded_features()
    meta["encoded_shape"] = list(enc.shape)
    meta["inputs"] = {k: [list(v.shape), v.dtype] for k, v in fs.get_inputs().items()}

    features, crosses = dict_spec(FeatureSpace)
    fd = FeatureSpace(features, crosses=crosses, output_mode="dict", hashing_dim=8,
                      num_discretization_bins=4)
    sub = {k: v for k, v in data.items() if k in features}
    batched = tf.data.Dataset.from_tensor_slices(sub).batch(10)   # batches of 10 rows
    fd.adapt(batched)
    dq = {k: v for k, v in query.items() if k in features}   # extra keys are refused
    res = fd(dq)
    meta["dict_keys"] = sorted(res)
    for k, v in res.items():
        out[f"dict_{k}"] = np.asarray(v)
        meta[f"dict_{k}_dtype"] = str(np.asarray(v).dtype)
    out["dict_height_boundaries"] = np.asarray(fd.preprocessors["height"].bin_boundaries)
    out["dict_age_mean"] = np.asarray(fd.preprocessors["age"].mean)
    out["dict_age_variance"] = np.asarray(fd.preprocessors["age"].variance)
    res1 = fd({k: v[2] for k, v in dq.items()})
    for k, v in res1.items():
        out[f"dict_single_{k}"] = np.asarray(v)

    # The docstring's custom feature: a TextVectorization(tf_idf) preprocessor.
    ft = FeatureSpace({"text": FeatureSpace.feature(
        preprocessor=keras.layers.TextVectorization(output_mode="tf_idf"), dtype="string",
        output_mode="float")}, output_mode="concat")
    ft.adapt(tf.data.Dataset.from_tensor_slices(TEXT))
    out["text_tf_idf"] = np.asarray(ft(TEXT))
    meta["text_vocabulary"] = ft.preprocessors["text"].get_vocabulary()

    np.savez(HERE / "feature_space.npz", **out)
    meta["keras_version"] = keras.__version__
    meta["tensorflow_version"] = tf.__version__
    (HERE / "feature_space.json").write_text(json.dumps(meta, indent=1, sort_keys=True) + "\n")
    print({k: v.shape for k, v in out.items()})


if __name__ == "__main__":
    main()
