"""Generate tests/keras_reference/configs.json: Keras 3's serialized form
(``keras.saving.serialize_keras_object``) of every layer, loss, metric, optimizer,
initializer, regularizer and constraint class that portanet shares with Keras, plus a
Sequential, a functional multi-input/multi-output model and a nested model.

Run with Keras 3.15.1 and JAX installed (not portanet's test dependencies):
    KERAS_BACKEND=jax JAX_ENABLE_X64=1 python tests/keras_reference/make_config_reference.py

Each entry stores the case (class name, constructor arguments, input shapes) beside
Keras's dict, so tests/test_keras_config.py builds the same object in portanet from the
stored case alone. Every object gets an explicit name so no counter suffix differs.
Constructor arguments are JSON: a nested layer is written ``{"__layer__": [class, args]}``.
Models also store Keras's predictions on a fixed input, with the weights that gave them.

Classes Keras has but portanet lacks are not listed (see SKIPPED below).
"""

import json
import os
import pathlib

import numpy as np

HERE = pathlib.Path(__file__).parent


def L(cls, **args):
    return {"__layer__": [cls, args]}


# (id, class, args, input shapes without batch axis (list of shapes for several inputs),
#  input dtype). An input of None means: not built.
LAYERS = [
    ("activation", "Activation", dict(activation="relu"), (4,)),
    ("activation_v", "Activation", dict(activation="tanh"), (4,)),
    ("activity_regularization", "ActivityRegularization", dict(), (4,)),
    ("activity_regularization_v", "ActivityRegularization", dict(l1=0.01, l2=0.02), (4,)),
    ("add", "Add", dict(), [(3,), (3,)]),
    ("average", "Average", dict(), [(3,), (3,)]),
    ("maximum", "Maximum", dict(), [(3,), (3,)]),
    ("minimum", "Minimum", dict(), [(3,), (3,)]),
    ("multiply", "Multiply", dict(), [(3,), (3,)]),
    ("subtract", "Subtract", dict(), [(3,), (3,)]),
    ("concatenate", "Concatenate", dict(), [(3,), (2,)]),
    ("concatenate_v", "Concatenate", dict(axis=1), [(2, 3), (4, 3)]),
    ("dot", "Dot", dict(axes=1), [(3,), (3,)]),
    ("dot_v", "Dot", dict(axes=[2, 2], normalize=True), [(2, 3), (4, 3)]),
    ("additive_attention", "AdditiveAttention", dict(), [(3, 4), (5, 4)]),
    ("additive_attention_v", "AdditiveAttention", dict(use_scale=False, dropout=0.1), [(3, 4), (5, 4)]),
    ("attention", "Attention", dict(), [(3, 4), (5, 4)]),
    ("attention_v", "Attention", dict(use_scale=True, score_mode="concat", dropout=0.1, seed=3),
     [(3, 4), (5, 4)]),
    ("alpha_dropout", "AlphaDropout", dict(rate=0.2), (4,)),
    ("alpha_dropout_v", "AlphaDropout", dict(rate=0.5, noise_shape=(None, 4), seed=3), (4,)),
    ("average_pooling1d", "AveragePooling1D", dict(pool_size=2), (8, 3)),
    ("average_pooling1d_v", "AveragePooling1D", dict(pool_size=3, strides=1, padding="same"), (8, 3)),
    ("average_pooling2d", "AveragePooling2D", dict(pool_size=2), (6, 6, 3)),
    ("average_pooling2d_v", "AveragePooling2D", dict(pool_size=(2, 3), strides=(1, 2), padding="same"),
     (6, 6, 3)),
    ("average_pooling3d", "AveragePooling3D", dict(pool_size=2), (4, 4, 4, 2)),
    ("max_pooling1d", "MaxPooling1D", dict(pool_size=2), (8, 3)),
    ("max_pooling1d_v", "MaxPooling1D", dict(pool_size=3, strides=1, padding="same"), (8, 3)),
    ("max_pooling2d", "MaxPooling2D", dict(pool_size=2), (6, 6, 3)),
    ("max_pooling2d_v", "MaxPooling2D", dict(pool_size=(2, 3), strides=(1, 2), padding="same"), (6, 6, 3)),
    ("max_pooling3d", "MaxPooling3D", dict(pool_size=2), (4, 4, 4, 2)),
    ("global_average_pooling1d", "GlobalAveragePooling1D", dict(), (5, 3)),
    ("global_average_pooling1d_v", "GlobalAveragePooling1D", dict(keepdims=True), (5, 3)),
    ("global_average_pooling2d", "GlobalAveragePooling2D", dict(), (4, 4, 3)),
    ("global_average_pooling3d", "GlobalAveragePooling3D", dict(), (3, 3, 3, 2)),
    ("global_max_pooling1d", "GlobalMaxPooling1D", dict(), (5, 3)),
    ("global_max_pooling2d", "GlobalMaxPooling2D", dict(), (4, 4, 3)),
    ("global_max_pooling2d_v", "GlobalMaxPooling2D", dict(keepdims=True), (4, 4, 3)),
    ("global_max_pooling3d", "GlobalMaxPooling3D", dict(), (3, 3, 3, 2)),
    ("batch_normalization", "BatchNormalization", dict(), (4, 3)),
    ("batch_normalization_v", "BatchNormalization",
     dict(axis=1, momentum=0.9, epsilon=1e-4, center=False, gamma_initializer="random_normal",
          gamma_regularizer="l2", gamma_constraint="non_neg"), (4, 3)),
    ("layer_normalization", "LayerNormalization", dict(), (4, 3)),
    ("layer_normalization_v", "LayerNormalization",
     dict(axis=1, epsilon=1e-5, center=False, beta_initializer="ones", gamma_regularizer="l1"), (4, 3)),
    ("group_normalization", "GroupNormalization", dict(groups=2), (4, 4)),
    ("group_normalization_v", "GroupNormalization", dict(groups=4, epsilon=1e-5, scale=False), (4, 4)),
    ("unit_normalization", "UnitNormalization", dict(), (4,)),
    ("unit_normalization_v", "UnitNormalization", dict(axis=[1, 2]), (3, 4)),
    ("rms_normalization", "RMSNormalization", dict(), (4,)),
    ("rms_normalization_v", "RMSNormalization", dict(epsilon=1e-3), (3, 4)),
    ("normalization", "Normalization", dict(), (3,)),
    ("normalization_v", "Normalization", dict(mean=[0.0, 1.0, 2.0], variance=[1.0, 2.0, 3.0]), (3,)),
    ("dense", "Dense", dict(units=3), (4,)),
    ("dense_v", "Dense", dict(units=2, activation="relu", use_bias=False, kernel_initializer="he_normal",
                              kernel_regularizer="l2", activity_regularizer="l1",
                              kernel_constraint="max_norm"), (4,)),
    ("einsum_dense", "EinsumDense", dict(equation="ab,bc->ac", output_shape=4), (3,)),
    ("einsum_dense_v", "EinsumDense", dict(equation="abc,cd->abd", output_shape=(None, 4), bias_axes="d",
                                           activation="relu", kernel_initializer="zeros"), (2, 3)),
    ("conv1d", "Conv1D", dict(filters=2, kernel_size=3), (8, 3)),
    ("conv1d_v", "Conv1D", dict(filters=2, kernel_size=3, strides=2, padding="same", activation="relu",
                                use_bias=False, kernel_initializer="he_normal", kernel_regularizer="l2",
                                bias_constraint="non_neg"), (8, 3)),
    ("conv2d", "Conv2D", dict(filters=2, kernel_size=3), (6, 6, 3)),
    ("conv2d_v", "Conv2D", dict(filters=4, kernel_size=(3, 2), strides=(1, 2), padding="same",
                                dilation_rate=1, groups=1, activation="sigmoid",
                                bias_initializer="ones"), (6, 6, 2)),
    ("conv3d", "Conv3D", dict(filters=2, kernel_size=2), (4, 4, 4, 2)),
    ("conv1d_transpose", "Conv1DTranspose", dict(filters=2, kernel_size=3), (8, 3)),
    ("conv1d_transpose_v", "Conv1DTranspose", dict(filters=2, kernel_size=3, strides=2, padding="same"),
     (8, 3)),
    ("conv2d_transpose", "Conv2DTranspose", dict(filters=2, kernel_size=3), (5, 5, 3)),
    ("conv3d_transpose", "Conv3DTranspose", dict(filters=2, kernel_size=2), (3, 3, 3, 2)),
    ("depthwise_conv1d", "DepthwiseConv1D", dict(kernel_size=3), (8, 3)),
    ("depthwise_conv2d", "DepthwiseConv2D", dict(kernel_size=3), (6, 6, 3)),
    ("depthwise_conv2d_v", "DepthwiseConv2D", dict(kernel_size=3, depth_multiplier=2, padding="same",
                                                   depthwise_initializer="ones"), (6, 6, 3)),
    ("separable_conv1d", "SeparableConv1D", dict(filters=2, kernel_size=3), (8, 3)),
    ("separable_conv2d", "SeparableConv2D", dict(filters=2, kernel_size=3), (6, 6, 3)),
    ("separable_conv2d_v", "SeparableConv2D", dict(filters=2, kernel_size=3, depth_multiplier=2,
                                                   pointwise_regularizer="l2"), (6, 6, 3)),
    ("cropping1d", "Cropping1D", dict(), (6, 3)),
    ("cropping1d_v", "Cropping1D", dict(cropping=(1, 2)), (6, 3)),
    ("cropping2d", "Cropping2D", dict(), (6, 6, 3)),
    ("cropping2d_v", "Cropping2D", dict(cropping=((1, 1), (2, 0))), (6, 6, 3)),
    ("cropping3d", "Cropping3D", dict(), (4, 4, 4, 2)),
    ("zero_padding1d", "ZeroPadding1D", dict(), (6, 3)),
    ("zero_padding1d_v", "ZeroPadding1D", dict(padding=(1, 2)), (6, 3)),
    ("zero_padding2d", "ZeroPadding2D", dict(), (4, 4, 3)),
    ("zero_padding2d_v", "ZeroPadding2D", dict(padding=((1, 0), (2, 1))), (4, 4, 3)),
    ("zero_padding3d", "ZeroPadding3D", dict(), (3, 3, 3, 2)),
    ("up_sampling1d", "UpSampling1D", dict(), (4, 3)),
    ("up_sampling1d_v", "UpSampling1D", dict(size=3), (4, 3)),
    ("up_sampling2d", "UpSampling2D", dict(), (4, 4, 3)),
    ("up_sampling2d_v", "UpSampling2D", dict(size=(2, 3), interpolation="nearest"), (4, 4, 3)),
    ("up_sampling3d", "UpSampling3D", dict(), (2, 2, 2, 3)),
    ("dropout", "Dropout", dict(rate=0.5), (4,)),
    ("dropout_v", "Dropout", dict(rate=0.2, noise_shape=(None, 1), seed=2), (4,)),
    ("spatial_dropout1d", "SpatialDropout1D", dict(rate=0.2), (5, 3)),
    ("spatial_dropout2d", "SpatialDropout2D", dict(rate=0.2), (4, 4, 3)),
    ("spatial_dropout3d", "SpatialDropout3D", dict(rate=0.2), (3, 3, 3, 2)),
    ("gaussian_dropout", "GaussianDropout", dict(rate=0.2), (4,)),
    ("gaussian_dropout_v", "GaussianDropout", dict(rate=0.3, seed=5), (4,)),
    ("gaussian_noise", "GaussianNoise", dict(stddev=0.1), (4,)),
    ("gaussian_noise_v", "GaussianNoise", dict(stddev=0.5, seed=5), (4,)),
    ("elu", "ELU", dict(), (4,)),
    ("elu_v", "ELU", dict(alpha=0.5), (4,)),
    ("leaky_relu", "LeakyReLU", dict(), (4,)),
    ("leaky_relu_v", "LeakyReLU", dict(negative_slope=0.1), (4,)),
    ("relu", "ReLU", dict(), (4,)),
    ("relu_v", "ReLU", dict(max_value=6.0, negative_slope=0.1, threshold=0.5), (4,)),
    ("prelu", "PReLU", dict(), (3, 4)),
    ("prelu_v", "PReLU", dict(alpha_initializer="ones", alpha_regularizer="l2", shared_axes=[1]), (3, 4)),
    ("softmax", "Softmax", dict(), (4,)),
    ("softmax_v", "Softmax", dict(axis=1), (3, 4)),
    ("embedding", "Embedding", dict(input_dim=10, output_dim=4), (5,), "int32"),
    ("embedding_v", "Embedding", dict(input_dim=10, output_dim=4, mask_zero=True,
                                      embeddings_initializer="random_normal",
                                      embeddings_regularizer="l2"), (5,), "int32"),
    ("flatten", "Flatten", dict(), (2, 3)),
    ("identity", "Identity", dict(), (3,)),
    ("masking", "Masking", dict(), (5, 3)),
    ("masking_v", "Masking", dict(mask_value=-1.0), (5, 3)),
    ("permute", "Permute", dict(dims=(2, 1)), (2, 3)),
    ("repeat_vector", "RepeatVector", dict(n=3), (4,)),
    ("reshape", "Reshape", dict(target_shape=(2, 3)), (6,)),
    ("reshape_v", "Reshape", dict(target_shape=(-1, 2)), (6,)),
    ("rescaling", "Rescaling", dict(scale=0.5), (4,)),
    ("rescaling_v", "Rescaling", dict(scale=2.0, offset=1.0), (4,)),
    ("center_crop", "CenterCrop", dict(height=2, width=2), (4, 4, 3)),
    ("resizing", "Resizing", dict(height=2, width=2), (4, 4, 3)),
    ("resizing_v", "Resizing", dict(height=3, width=2, interpolation="nearest", crop_to_aspect_ratio=True),
     (4, 4, 3)),
    ("random_flip", "RandomFlip", dict(), (4, 4, 3)),
    ("random_flip_v", "RandomFlip", dict(mode="horizontal", seed=1), (4, 4, 3)),
    ("random_rotation", "RandomRotation", dict(factor=0.1), (4, 4, 3)),
    ("random_translation", "RandomTranslation", dict(height_factor=0.1, width_factor=0.2), (4, 4, 3)),
    ("random_zoom", "RandomZoom", dict(height_factor=0.1), (4, 4, 3)),
    ("simple_rnn", "SimpleRNN", dict(units=3), (5, 4)),
    ("simple_rnn_v", "SimpleRNN", dict(units=3, activation="relu", return_sequences=True, go_backwards=True,
                                       dropout=0.1, recurrent_initializer="glorot_uniform"), (5, 4)),
    ("lstm", "LSTM", dict(units=3), (5, 4)),
    ("lstm_v", "LSTM", dict(units=2, return_sequences=True, return_state=False, unit_forget_bias=False,
                            recurrent_activation="hard_sigmoid", kernel_regularizer="l2"), (5, 4)),
    ("gru", "GRU", dict(units=3), (5, 4)),
    ("gru_v", "GRU", dict(units=2, reset_after=False, return_sequences=True, stateful=False,
                          unroll=False), (5, 4)),
    ("simple_rnn_cell", "SimpleRNNCell", dict(units=3), None),
    ("lstm_cell", "LSTMCell", dict(units=3), None),
    ("gru_cell", "GRUCell", dict(units=3), None),
    ("rnn", "RNN", dict(cell=L("SimpleRNNCell", units=3, name="rnn_cell")), (5, 4)),
    ("rnn_v", "RNN", dict(cell=L("LSTMCell", units=2, name="rnn_v_cell"), return_sequences=True),
     (5, 4)),
    ("stacked_rnn_cells", "StackedRNNCells", dict(cells=[L("SimpleRNNCell", units=2, name="stacked_a"),
                                                        L("SimpleRNNCell", units=3, name="stacked_b")]),
     None),
    ("bidirectional", "Bidirectional", dict(layer=L("LSTM", units=3, name="bidi_lstm")), (5, 4)),
    ("bidirectional_v", "Bidirectional",
     dict(layer=L("GRU", units=2, return_sequences=True, name="bidi_gru"), merge_mode="sum"), (5, 4)),
    ("time_distributed", "TimeDistributed", dict(layer=L("Dense", units=2, name="td_dense")), (3, 4)),
    ("multi_head_attention", "MultiHeadAttention", dict(num_heads=2, key_dim=3), [(4, 5), (3, 5)]),
    ("multi_head_attention_v", "MultiHeadAttention",
     dict(num_heads=2, key_dim=3, value_dim=2, dropout=0.1, use_bias=False, output_shape=(4,),
          kernel_initializer="he_normal"), [(4, 5), (3, 5)]),
    ("grouped_query_attention", "GroupedQueryAttention",
     dict(head_dim=2, num_query_heads=4, num_key_value_heads=2), [(3, 4), (3, 4)]),
]

# Keras classes portanet does not have (as of this script), so not listed above.
SKIPPED = {
    "layers": ["Lambda (Keras writes Python bytecode; portanet refuses it)",
               "UpSampling2D(interpolation='bilinear') (portanet implements 'nearest' only)"],
    "losses": ["Tversky, Dice, CTC, Circle, CategoricalFocalCrossentropy (not in portanet)"],
}

LOSSES = [
    ("MeanSquaredError", {}), ("MeanAbsoluteError", {}), ("MeanAbsolutePercentageError", {}),
    ("MeanSquaredLogarithmicError", {}), ("CosineSimilarity", {"axis": -1}), ("Huber", {"delta": 2.0}),
    ("LogCosh", {}), ("Hinge", {}), ("SquaredHinge", {}), ("CategoricalHinge", {}),
    ("KLDivergence", {}), ("Poisson", {}),
    ("BinaryCrossentropy", {"from_logits": True, "label_smoothing": 0.1}),
    ("BinaryFocalCrossentropy", {"apply_class_balancing": True, "gamma": 3.0}),
    ("CategoricalCrossentropy", {"label_smoothing": 0.2}),
    ("SparseCategoricalCrossentropy", {"from_logits": True}),
]
METRICS = [
    ("AUC", {}), ("Accuracy", {}), ("BinaryAccuracy", {"threshold": 0.3}), ("BinaryCrossentropy", {}),
    ("CategoricalAccuracy", {}), ("CategoricalCrossentropy", {}), ("CategoricalHinge", {}),
    ("CosineSimilarity", {}), ("F1Score", {}), ("FBetaScore", {"beta": 2.0}), ("FalseNegatives", {}),
    ("FalsePositives", {}), ("Hinge", {}), ("KLDivergence", {}), ("LogCoshError", {}), ("Mean", {}),
    ("MeanAbsoluteError", {}), ("MeanAbsolutePercentageError", {}), ("MeanSquaredError", {}),
    ("MeanSquaredLogarithmicError", {}), ("Poisson", {}), ("Precision", {}), ("R2Score", {}),
    ("Recall", {}), ("RootMeanSquaredError", {}), ("SparseCategoricalAccuracy", {}),
    ("SparseCategoricalCrossentropy", {}), ("SparseTopKCategoricalAccuracy", {}), ("SquaredHinge", {}),
    ("TopKCategoricalAccuracy", {"k": 3}), ("TrueNegatives", {}), ("TruePositives", {}),
]
OPTIMIZERS = [
    ("Adadelta", {}), ("Adagrad", {}), ("Adam", {}), ("Adam", {"learning_rate": 0.01, "amsgrad": True,
                                                               "clipnorm": 1.0}),
    ("AdamW", {}), ("Adamax", {}), ("Ftrl", {}), ("Lion", {}), ("Nadam", {}), ("RMSprop", {}),
    ("SGD", {}), ("SGD", {"learning_rate": 0.1, "momentum": 0.9, "nesterov": True, "weight_decay": 1e-4}),
]
INITIALIZERS = [
    ("Constant", {"value": 2.0}), ("GlorotNormal", {}), ("GlorotUniform", {"seed": 1}), ("HeNormal", {}),
    ("HeUniform", {}), ("Identity", {}), ("LecunNormal", {}), ("LecunUniform", {}), ("Ones", {}),
    ("Orthogonal", {}), ("RandomNormal", {"mean": 1.0, "stddev": 0.5}), ("RandomUniform", {}),
    ("TruncatedNormal", {}), ("VarianceScaling", {"scale": 2.0, "mode": "fan_out"}), ("Zeros", {}),
]
REGULARIZERS = [("L1", {}), ("L2", {"l2": 0.1}), ("L1L2", {"l1": 0.1}), ("OrthogonalRegularizer", {})]
CONSTRAINTS = [("MaxNorm", {}), ("MinMaxNorm", {"min_value": 0.5}), ("NonNeg", {}), ("UnitNorm", {})]


def to_jsonable(v):
    if isinstance(v, tuple):
        return [to_jsonable(x) for x in v]
    if isinstance(v, list):
        return [to_jsonable(x) for x in v]
    if isinstance(v, dict):
        return {k: to_jsonable(x) for k, x in v.items()}
    return v


def main():
    os.environ.setdefault("KERAS_BACKEND", "jax")
    import keras

    keras.config.set_floatx("float32")
    keras.utils.set_random_seed(0)      # the models' initial weights: the same file on each run
    out = {"keras_version": keras.__version__, "skipped": SKIPPED, "layers": [], "objects": [],
           "models": []}

    def make_layer(cls, args, name):
        def resolve(v):
            if isinstance(v, dict) and "__layer__" in v:
                c, a = v["__layer__"]
                return make_layer(c, a, a.get("name"))
            if isinstance(v, list):
                return [resolve(x) for x in v]
            return v
        kwargs = {k: resolve(v) for k, v in args.items() if k != "name"}
        # Keras exports GroupedQueryAttention as keras.layers.GroupQueryAttention.
        klass = getattr(keras.layers, {"GroupedQueryAttention": "GroupQueryAttention"}.get(cls, cls))
        return klass(name=name, **kwargs)

    for case in LAYERS:
        ident, cls, args, shapes = case[:4]
        dtype = case[4] if len(case) > 4 else "float32"
        layer = make_layer(cls, args, ident)
        node_kwargs = None
        if shapes is not None:
            if isinstance(shapes, list):
                inputs = [keras.Input(shape=s, dtype=dtype) for s in shapes]
                y = layer(*inputs) if cls in ("MultiHeadAttention", "GroupedQueryAttention") else layer(inputs)
            else:
                inputs = keras.Input(shape=shapes, dtype=dtype)
                y = layer(inputs)
            # The kwargs Keras records in the layer's inbound node of a functional model.
            entry = keras.Model(inputs, y).get_config()["layers"][-1]
            node_kwargs = entry["inbound_nodes"][0]["kwargs"]
        out["layers"].append({"id": ident, "class_name": cls, "args": to_jsonable(args),
                              "inputs": to_jsonable(shapes), "dtype": dtype, "node_kwargs": node_kwargs,
                              "keras": keras.saving.serialize_keras_object(layer)})

    for kind, module, table in (("loss", keras.losses, LOSSES), ("metric", keras.metrics, METRICS),
                                ("optimizer", keras.optimizers, OPTIMIZERS),
                                ("initializer", keras.initializers, INITIALIZERS),
                                ("regularizer", keras.regularizers, REGULARIZERS),
                                ("constraint", keras.constraints, CONSTRAINTS)):
        for k, (cls, args) in enumerate(table):
            kwargs = dict(args)
            if kind in ("loss", "metric", "optimizer"):
                kwargs["name"] = f"{cls.lower()}_{k}"
            obj = getattr(module, cls)(**kwargs)
            out["objects"].append({"id": f"{kind}_{cls}_{k}", "kind": kind, "class_name": cls,
                                   "args": kwargs, "keras": keras.saving.serialize_keras_object(obj)})

    rng = np.random.default_rng(0)

    def record(ident, model, inputs, note):
        weights = model.get_weights()
        preds = model.predict(inputs, verbose=0)
        preds = preds if isinstance(preds, (list, tuple)) else [preds]
        out["models"].append({
            "id": ident, "note": note, "keras": keras.saving.serialize_keras_object(model),
            "json": model.to_json(),
            "inputs": [np.asarray(x).tolist() for x in (inputs if isinstance(inputs, list) else [inputs])],
            "weights": [w.tolist() for w in weights],
            "outputs": [np.asarray(p).tolist() for p in preds]})

    seq = keras.Sequential([keras.Input(shape=(4,), name="seq_in"),
                            keras.layers.Dense(5, activation="relu", name="seq_d1"),
                            keras.layers.Dropout(0.1, name="seq_drop"),
                            keras.layers.Dense(2, activation="softmax", name="seq_d2")], name="seq")
    record("sequential", seq, rng.normal(size=(3, 4)).astype("float32"), "Sequential with an Input")

    a = keras.Input(shape=(4,), name="in_a")
    b = keras.Input(shape=(3,), name="in_b")
    h = keras.layers.Dense(5, activation="tanh", name="fa")(a)
    g = keras.layers.Dense(5, name="fb")(b)
    s = keras.layers.Add(name="fadd")([h, g])
    o1 = keras.layers.Dense(2, name="out1")(s)
    o2 = keras.layers.Dense(1, activation="sigmoid", name="out2")(keras.layers.Concatenate(name="fcat")([s, b]))
    multi = keras.Model([a, b], [o1, o2], name="multi")
    record("functional_multi", multi, [rng.normal(size=(3, 4)).astype("float32"),
                                       rng.normal(size=(3, 3)).astype("float32")],
           "functional, two inputs, two outputs")

    inner_in = keras.Input(shape=(4,), name="inner_in")
    inner = keras.Model(inner_in, keras.layers.Dense(3, activation="relu", name="inner_d")(inner_in),
                        name="inner")
    inner_seq = keras.Sequential([keras.Input(shape=(3,), name="iseq_in"), keras.layers.Dense(2, name="iseq_d")],
                                 name="inner_seq")
    x = keras.Input(shape=(4,), name="outer_in")
    y = inner_seq(inner(x))
    nested = keras.Model(x, keras.layers.Dense(1, name="outer_d")(y), name="nested")
    record("functional_nested", nested, rng.normal(size=(3, 4)).astype("float32"),
           "functional holding a functional model and a Sequential")

    seq_nested = keras.Sequential([keras.Input(shape=(4,), name="sn_in"),
                                   keras.Sequential([keras.layers.Dense(3, name="sn_inner_d")], name="sn_inner"),
                                   keras.layers.Dense(2, name="sn_d")], name="seq_nested")
    record("sequential_nested", seq_nested, rng.normal(size=(3, 4)).astype("float32"),
           "Sequential holding a Sequential")

    t = keras.Input(shape=(5, 4), name="seq_x")
    r = keras.layers.LSTM(3, return_sequences=True, name="m_lstm")(t)
    r = keras.layers.BatchNormalization(name="m_bn")(r)
    r = keras.layers.Dropout(0.2, name="m_drop")(r)
    att = keras.layers.Attention(name="m_att")([r, r])
    mha = keras.layers.MultiHeadAttention(num_heads=2, key_dim=2, name="m_mha")(att, r)
    pooled = keras.layers.GlobalAveragePooling1D(name="m_pool")(mha)
    probs = keras.layers.Softmax(name="m_soft")(keras.layers.Dense(3, name="m_d")(pooled))
    masks = keras.Model(t, probs, name="call_kwargs")
    record("functional_call_kwargs", masks, rng.normal(size=(2, 5, 4)).astype("float32"),
           "layers whose call takes a mask: the node kwargs Keras records")

    compiled = keras.Sequential([keras.Input(shape=(4,), name="c_in"), keras.layers.Dense(2, name="c_d")],
                                name="compiled")
    compiled.compile(optimizer=keras.optimizers.Adam(learning_rate=0.01, name="adam"),
                     loss="mse", metrics=["mae", keras.metrics.RootMeanSquaredError(name="rmse")])
    out["compile_config"] = {"model": "compiled", "keras": compiled.get_compile_config()}

    (HERE / "configs.json").write_text(json.dumps(out, indent=1, sort_keys=True) + "\n")
    print("wrote", HERE / "configs.json", len(out["layers"]), "layers", len(out["objects"]), "objects")


if __name__ == "__main__":
    main()
