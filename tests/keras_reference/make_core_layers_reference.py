"""Generate tests/keras_reference/core_layers.npz: Keras 3's outputs, gradients and
(for BatchNormalization in training) updated weights for the layers that predate the
stored-reference tests (Dense, the convolutions, pooling, normalization, Embedding, the
recurrent layers and their wrappers, reshaping, merging and activation layers...), in float64.

Weights and inputs are drawn here from a seed fixed per case (``case_arrays``). For each
case the file holds ``<case>/w<i>`` (the weights, in get_weights order), ``<case>/x<j>`` (the
inputs), ``<case>/y<i>`` (the outputs), ``<case>/r<i>`` (random cotangents),
``<case>/dx<j>`` and ``<case>/dw<i>`` (the gradients of sum(y·r) w.r.t. the float inputs and
the trainable weights, in trainable_weights order) and, for a ``training`` case,
``<case>/after<i>`` (the weights after the call: the moving statistics).

Run with Keras 3 and JAX installed (not portanet's test dependencies):
    KERAS_BACKEND=jax python tests/keras_reference/make_core_layers_reference.py
tests/test_core_layers_keras.py compares portanet with the stored arrays.
"""

import os
import pathlib

import numpy as np

HERE = pathlib.Path(__file__).parent

# name: (Keras class, constructor kwargs, input shape (a list of shapes for a layer taking
# a list), options). Options: training (call and differentiate with training=True),
# int=n (integer input in [0, n), no input gradient), zero_rows (set entries [0, 1] and
# [1, 3] of the input to 0: time steps for Masking, tokens for Embedding(mask_zero=True);
# implies out_mask), mask (call with a (batch, time) boolean mask, stored as
# ``<case>/mask``), out_mask (store the layer's output mask as ``<case>/out_mask``).
# Every case with trainable weights also stores ``<case>/sgd<i>``: the trainable weights
# after one step of keras.optimizers.SGD(learning_rate=0.1) with the gradients above.
CASES = {
    "dense_tanh": ("Dense", dict(units=4, activation="tanh"), (3, 5), {}),
    "dense_3d_nobias": ("Dense", dict(units=3, use_bias=False), (2, 3, 4), {}),
    "conv1d_same_strides_relu": ("Conv1D", dict(filters=3, kernel_size=3, strides=2,
                                                padding="same", activation="relu"), (2, 9, 2), {}),
    "conv1d_causal_dilated": ("Conv1D", dict(filters=2, kernel_size=2, padding="causal",
                                             dilation_rate=2), (2, 7, 3), {}),
    "conv2d_valid": ("Conv2D", dict(filters=4, kernel_size=3), (2, 6, 5, 2), {}),
    "conv2d_same_strides_cf": ("Conv2D", dict(filters=3, kernel_size=(2, 3), strides=2,
                                              padding="same", data_format="channels_first"),
                               (2, 2, 7, 6), {}),
    "conv2d_groups": ("Conv2D", dict(filters=4, kernel_size=2, groups=2), (2, 5, 5, 4), {}),
    "conv2d_dilated": ("Conv2D", dict(filters=2, kernel_size=2, dilation_rate=(2, 1)),
                       (2, 6, 5, 2), {}),
    "conv3d_same": ("Conv3D", dict(filters=2, kernel_size=2, padding="same"), (1, 4, 4, 3, 2), {}),
    "conv1d_transpose": ("Conv1DTranspose", dict(filters=3, kernel_size=3, strides=2),
                         (2, 5, 2), {}),
    "conv2d_transpose_same": ("Conv2DTranspose", dict(filters=2, kernel_size=3, strides=2,
                                                      padding="same"), (2, 4, 3, 2), {}),
    "conv3d_transpose": ("Conv3DTranspose", dict(filters=2, kernel_size=2, strides=2),
                         (1, 2, 3, 2, 2), {}),
    "depthwise2d_same": ("DepthwiseConv2D", dict(kernel_size=3, depth_multiplier=2,
                                                 padding="same"), (2, 5, 5, 2), {}),
    "depthwise1d_strides": ("DepthwiseConv1D", dict(kernel_size=2, strides=2), (2, 7, 3), {}),
    "separable2d": ("SeparableConv2D", dict(filters=3, kernel_size=3, depth_multiplier=2),
                    (2, 6, 6, 2), {}),
    "separable1d_same": ("SeparableConv1D", dict(filters=4, kernel_size=3, padding="same"),
                         (2, 7, 2), {}),
    "maxpool1d": ("MaxPooling1D", dict(pool_size=3, strides=2), (2, 9, 2), {}),
    "maxpool2d_same": ("MaxPooling2D", dict(pool_size=2, padding="same"), (2, 5, 5, 2), {}),
    "maxpool3d": ("MaxPooling3D", dict(pool_size=2), (1, 4, 4, 4, 2), {}),
    "avgpool1d_same": ("AveragePooling1D", dict(pool_size=3, strides=2, padding="same"),
                       (2, 8, 2), {}),
    "avgpool2d": ("AveragePooling2D", dict(pool_size=2), (2, 6, 4, 3), {}),
    "avgpool2d_same_cf": ("AveragePooling2D", dict(pool_size=3, strides=2, padding="same",
                                                   data_format="channels_first"), (2, 2, 5, 6), {}),
    "avgpool3d": ("AveragePooling3D", dict(pool_size=(2, 2, 1)), (1, 4, 4, 3, 2), {}),
    "gap1d": ("GlobalAveragePooling1D", dict(), (2, 5, 3), {}),
    "gmp1d": ("GlobalMaxPooling1D", dict(), (2, 5, 3), {}),
    "gap2d_cf": ("GlobalAveragePooling2D", dict(data_format="channels_first"), (2, 3, 4, 4), {}),
    "gmp2d_keepdims": ("GlobalMaxPooling2D", dict(keepdims=True), (2, 4, 4, 3), {}),
    "gap3d": ("GlobalAveragePooling3D", dict(), (1, 3, 3, 2, 2), {}),
    "batchnorm_inference": ("BatchNormalization", dict(), (4, 3), {}),
    "batchnorm_training_axis1": ("BatchNormalization", dict(axis=1, momentum=0.9),
                                 (4, 3, 5), dict(training=True)),
    "batchnorm_training_noscale": ("BatchNormalization", dict(scale=False, epsilon=0.01),
                                   (3, 4, 2), dict(training=True)),
    "layernorm": ("LayerNormalization", dict(), (3, 4, 5), {}),
    "layernorm_axes": ("LayerNormalization", dict(axis=(1, 2), epsilon=0.01), (3, 4, 5), {}),
    "layernorm_rms": ("LayerNormalization", dict(rms_scaling=True), (3, 6), {}),
    "groupnorm": ("GroupNormalization", dict(groups=2), (2, 4, 4, 4), {}),
    "embedding": ("Embedding", dict(input_dim=7, output_dim=4), (2, 5), dict(int=7)),
    # SimpleRNN with tanh fails in Keras 3.15.1 on JAX in float64 (ops.tanh returns float32
    # there, and the scan carry changes dtype): relu here.
    "simple_rnn_seq": ("SimpleRNN", dict(units=4, activation="relu", return_sequences=True),
                       (2, 5, 3), {}),
    "lstm": ("LSTM", dict(units=4), (2, 5, 3), {}),
    "lstm_state_backwards": ("LSTM", dict(units=3, return_sequences=True, return_state=True,
                                          go_backwards=True), (2, 4, 2), {}),
    "gru_reset_after": ("GRU", dict(units=4), (2, 5, 3), {}),
    "gru_reset_before_seq": ("GRU", dict(units=3, reset_after=False, return_sequences=True),
                             (2, 4, 3), {}),
    "bidirectional_lstm": ("Bidirectional", dict(layer=("LSTM", dict(units=3,
                                                                     return_sequences=True))),
                           (2, 4, 3), {}),
    "bidirectional_gru_sum": ("Bidirectional", dict(layer=("GRU", dict(units=2)),
                                                    merge_mode="sum"), (2, 5, 3), {}),
    "time_distributed_dense": ("TimeDistributed", dict(layer=("Dense", dict(units=3))),
                               (2, 4, 5), {}),
    "dropout_inference": ("Dropout", dict(rate=0.5), (3, 4), {}),
    "flatten": ("Flatten", dict(), (2, 3, 4), {}),
    "reshape": ("Reshape", dict(target_shape=(6, -1)), (2, 3, 4), {}),
    "permute": ("Permute", dict(dims=(2, 1)), (2, 3, 4), {}),
    "repeat_vector": ("RepeatVector", dict(n=3), (2, 4), {}),
    "upsampling1d": ("UpSampling1D", dict(size=3), (2, 4, 2), {}),
    "upsampling2d": ("UpSampling2D", dict(size=(2, 3)), (2, 3, 2, 2), {}),
    "upsampling2d_bilinear": ("UpSampling2D", dict(size=2, interpolation="bilinear"),
                              (2, 3, 4, 2), {}),
    "zeropadding1d": ("ZeroPadding1D", dict(padding=(1, 2)), (2, 3, 2), {}),
    "zeropadding2d": ("ZeroPadding2D", dict(padding=((1, 2), (0, 1))), (2, 3, 3, 2), {}),
    "cropping1d": ("Cropping1D", dict(cropping=(1, 2)), (2, 6, 2), {}),
    "cropping2d": ("Cropping2D", dict(cropping=((1, 0), (1, 2))), (2, 4, 5, 2), {}),
    "add": ("Add", dict(), [(2, 3, 4), (2, 3, 4), (2, 3, 4)], {}),
    "subtract": ("Subtract", dict(), [(2, 5), (2, 5)], {}),
    "multiply": ("Multiply", dict(), [(2, 5), (2, 5)], {}),
    "average": ("Average", dict(), [(2, 5), (2, 5)], {}),
    "maximum": ("Maximum", dict(), [(2, 5), (2, 5)], {}),
    "concatenate": ("Concatenate", dict(axis=1), [(2, 3, 4), (2, 2, 4)], {}),
    "dot": ("Dot", dict(axes=(2, 2)), [(2, 3, 4), (2, 5, 4)], {}),
    "dot_normalize": ("Dot", dict(axes=1, normalize=True), [(3, 4), (3, 4)], {}),
    "relu_options": ("ReLU", dict(max_value=1.0, negative_slope=0.1, threshold=0.2), (3, 5), {}),
    "leaky_relu": ("LeakyReLU", dict(negative_slope=0.2), (3, 5), {}),
    "prelu": ("PReLU", dict(), (2, 3, 4), {}),
    "prelu_shared": ("PReLU", dict(shared_axes=[1]), (2, 3, 4), {}),
    "elu": ("ELU", dict(alpha=0.5), (3, 5), {}),
    "softmax": ("Softmax", dict(axis=1), (2, 3, 4), {}),
    "activation_gelu": ("Activation", dict(activation="gelu"), (3, 5), {}),
    "activation_swish": ("Activation", dict(activation="swish"), (3, 5), {}),
    "activation_softplus": ("Activation", dict(activation="softplus"), (3, 5), {}),
    "masking": ("Masking", dict(mask_value=0.0), (2, 4, 3), dict(zero_rows=True)),
    "normalization": ("Normalization", dict(mean=[0.5, -1.0, 2.0], variance=[4.0, 0.25, 1.0]),
                      (4, 3), {}),
    "rescaling": ("Rescaling", dict(scale=0.5, offset=1.0), (3, 4), {}),
    "conv1d_cf_nobias": ("Conv1D", dict(filters=3, kernel_size=2, data_format="channels_first",
                                        use_bias=False, activation="sigmoid"), (2, 2, 6), {}),
    "batchnorm_inference_nocenter": ("BatchNormalization", dict(center=False, axis=1),
                                     (3, 2, 4), {}),
    "layernorm_nocenter": ("LayerNormalization", dict(center=False), (3, 5), {}),
    "groupnorm_instance": ("GroupNormalization", dict(groups=-1, epsilon=0.01), (2, 5, 3), {}),
    "unit_normalization": ("UnitNormalization", dict(), (3, 4), {}),
    "lstm_nobias_backwards": ("LSTM", dict(units=2, use_bias=False, go_backwards=True,
                                           unit_forget_bias=False), (2, 4, 3), {}),
    "gru_state": ("GRU", dict(units=2, return_state=True), (2, 3, 2), {}),
    "bidirectional_lstm_none": ("Bidirectional", dict(layer=("LSTM", dict(units=2)),
                                                      merge_mode=None), (2, 3, 2), {}),
    "bidirectional_gru_mul": ("Bidirectional", dict(layer=("GRU", dict(units=2)),
                                                    merge_mode="mul"), (2, 3, 2), {}),
    "bidirectional_rnn_ave": ("Bidirectional", dict(layer=("SimpleRNN", dict(
        units=2, activation="relu", return_sequences=True)), merge_mode="ave"), (2, 3, 2), {}),
    "time_distributed_conv1d": ("TimeDistributed", dict(layer=("Conv1D", dict(filters=2,
                                                                              kernel_size=2))),
                                (2, 3, 5, 2), {}),
    "upsampling3d": ("UpSampling3D", dict(size=(1, 2, 2)), (1, 2, 2, 2, 2), {}),
    "zeropadding3d": ("ZeroPadding3D", dict(padding=1), (1, 2, 2, 2, 2), {}),
    "cropping3d": ("Cropping3D", dict(cropping=((1, 0), (0, 1), (1, 1))), (1, 3, 3, 4, 2), {}),
    "concatenate_last": ("Concatenate", dict(), [(2, 3), (2, 4), (2, 1)], {}),
    "minimum": ("Minimum", dict(), [(2, 5), (2, 5)], {}),
    "softmax_default": ("Softmax", dict(), (3, 5), {}),
    "spatial_dropout_inference": ("SpatialDropout1D", dict(rate=0.5), (2, 3, 4), {}),
    "gaussian_noise_inference": ("GaussianNoise", dict(stddev=0.3), (3, 4), {}),
    "identity": ("Identity", dict(), (3, 4), {}),
}
CASES.update({
    "lstm_masked": ("LSTM", dict(units=3, return_sequences=True), (2, 5, 2), dict(mask=True)),
    "gru_masked": ("GRU", dict(units=2), (2, 4, 3), dict(mask=True)),
    "simple_rnn_masked_backwards": ("SimpleRNN", dict(units=3, activation="relu",
                                                      go_backwards=True), (2, 5, 2),
                                    dict(mask=True)),
    "bidirectional_lstm_masked": ("Bidirectional", dict(layer=("LSTM", dict(
        units=2, return_sequences=True))), (2, 4, 3), dict(mask=True)),
    "gap1d_masked": ("GlobalAveragePooling1D", dict(), (2, 5, 3), dict(mask=True)),
    "embedding_mask_zero": ("Embedding", dict(input_dim=6, output_dim=3, mask_zero=True),
                            (2, 5), dict(int=6, zero_rows=True)),
    "conv2d_transpose_output_padding_cf": ("Conv2DTranspose", dict(
        filters=2, kernel_size=3, strides=2, output_padding=1, data_format="channels_first"),
        (2, 2, 3, 4), {}),
    "conv1d_transpose_dilated_same": ("Conv1DTranspose", dict(filters=2, kernel_size=3,
                                                              dilation_rate=2, padding="same"),
                                      (2, 6, 3), {}),
    "maxpool1d_cf": ("MaxPooling1D", dict(pool_size=2, data_format="channels_first"),
                     (2, 3, 6), {}),
    "upsampling2d_cf": ("UpSampling2D", dict(size=2, data_format="channels_first"),
                        (1, 2, 2, 3), {}),
    "zeropadding2d_cf": ("ZeroPadding2D", dict(padding=1, data_format="channels_first"),
                         (1, 2, 2, 3), {}),
    "cropping2d_cf": ("Cropping2D", dict(cropping=1, data_format="channels_first"),
                      (1, 2, 4, 4), {}),
    "permute_3d": ("Permute", dict(dims=(3, 1, 2)), (2, 3, 4, 2), {}),
    "flatten_cf": ("Flatten", dict(data_format="channels_first"), (2, 3, 2, 2), {}),
    "dense_4d": ("Dense", dict(units=2, activation="relu"), (2, 2, 3, 4), {}),
})
for act in ["relu", "sigmoid", "tanh", "softmax", "log_softmax", "selu", "elu", "silu",
            "hard_sigmoid", "hard_silu", "exponential", "mish", "relu6", "leaky_relu",
            "softsign", "linear"]:
    CASES[f"activation_{act}"] = ("Activation", dict(activation=act), (3, 5), {})


def case_arrays(name, shapes):
    """(inputs, weights) drawn from a seed fixed per case (same here and in the tests)."""
    _, _, shape, options = CASES[name]
    rng = np.random.default_rng(sorted(CASES).index(name) + 300)
    in_shapes = shape if isinstance(shape, list) else [shape]
    if "int" in options:
        xs = [rng.integers(0, options["int"], s) for s in in_shapes]
    else:
        xs = [rng.standard_normal(s) for s in in_shapes]
    if options.get("zero_rows"):
        xs[0][0, 1] = 0.0
        xs[0][1, 3] = 0.0
    weights = [0.4 * rng.standard_normal(s) for s in shapes]
    return xs, weights


def case_mask(name):
    """The (batch, time) boolean mask of a ``mask`` case (same here and in the tests)."""
    _, _, shape, _ = CASES[name]
    rng = np.random.default_rng(sorted(CASES).index(name) + 500)
    m = rng.random(shape[:2]) > 0.35
    m[:, 0] = True
    return m


def fix_weights(paths, weights):
    """Variances must be positive: |w| + 0.5 for them."""
    return [np.abs(w) + 0.5 if "variance" in p else w for p, w in zip(paths, weights)]


def make_keras_layer(keras, cls_name, kwargs):
    kwargs = dict(kwargs)
    if "layer" in kwargs:
        inner, inner_kwargs = kwargs.pop("layer")
        kwargs["layer"] = getattr(keras.layers, inner)(dtype="float64", **inner_kwargs)
    return getattr(keras.layers, cls_name)(dtype="float64", **kwargs)


def main():
    os.environ.setdefault("KERAS_BACKEND", "jax")
    import jax
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
    import keras
    keras.config.set_floatx("float64")
    keras.config.set_dtype_policy("float64")  # else the RNN cells stay float32
    arrays = {}
    for name, (cls_name, kwargs, shape, options) in CASES.items():
        layer = make_keras_layer(keras, cls_name, kwargs)
        multi = isinstance(shape, list)
        in_shapes = shape if multi else [shape]
        x0 = [np.zeros(s, dtype="int64" if "int" in options else "float64") for s in in_shapes]
        layer(x0 if multi else x0[0])  # build
        paths = [v.path for v in layer.weights]
        xs, weights = case_arrays(name, [tuple(w.shape) for w in layer.weights])
        weights = fix_weights(paths, weights)
        if weights:
            layer.set_weights(weights)
        for i, w in enumerate(weights):
            arrays[f"{name}/w{i}"] = np.asarray(w)
        for j, x in enumerate(xs):
            arrays[f"{name}/x{j}"] = x
        training = options.get("training", False)
        non_trainable = [v.value for v in layer.non_trainable_variables]
        mask_kw = {}
        if options.get("mask"):
            mask_kw["mask"] = case_mask(name)
            arrays[f"{name}/mask"] = mask_kw["mask"]
        if options.get("out_mask") or options.get("zero_rows"):
            arrays[f"{name}/out_mask"] = np.asarray(layer.compute_mask(xs[0], None))
        y = layer(xs if multi else xs[0], training=training, **mask_kw)
        ys = list(y) if isinstance(y, (list, tuple)) else [y]
        for i, o in enumerate(ys):
            arrays[f"{name}/y{i}"] = np.asarray(o)
        if training:
            for i, w in enumerate(layer.get_weights()):
                arrays[f"{name}/after{i}"] = np.asarray(w)
        rng = np.random.default_rng(sorted(CASES).index(name) + 700)
        rs = [rng.standard_normal(np.shape(o)) for o in ys]
        for i, r in enumerate(rs):
            arrays[f"{name}/r{i}"] = r
        trainable = [v.value for v in layer.trainable_variables]

        def objective(tv, xx):
            extra = dict(mask_kw)
            if layer._call_has_training_arg:
                extra["training"] = training
            out, _ = layer.stateless_call(tv, non_trainable, xx if multi else xx[0], **extra)
            outs = list(out) if isinstance(out, (list, tuple)) else [out]
            return sum(jnp.sum(o * r) for o, r in zip(outs, rs))
        if "int" in options:
            dw = jax.grad(objective)(trainable, [jnp.asarray(x) for x in xs])
            dx = []
        else:
            dw, dx = jax.grad(objective, argnums=(0, 1))(trainable, [jnp.asarray(x) for x in xs])
        for j, g in enumerate(dx):
            arrays[f"{name}/dx{j}"] = np.asarray(g)
        for i, g in enumerate(dw):
            arrays[f"{name}/dw{i}"] = np.asarray(g)
        if dw:
            keras.optimizers.SGD(learning_rate=0.1).apply_gradients(
                zip(dw, layer.trainable_variables))
            for i, v in enumerate(layer.trainable_variables):
                arrays[f"{name}/sgd{i}"] = np.asarray(v.value)
        print(name, [tuple(a.shape) for a in ys], len(dw))
    np.savez_compressed(HERE / "core_layers.npz", **arrays)


if __name__ == "__main__":
    main()
