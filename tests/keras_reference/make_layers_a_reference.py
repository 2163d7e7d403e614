"""Generate tests/keras_reference/layers_a.npz: Keras 3's outputs and gradients for
ConvLSTM1D/2D/3D, the adaptive pooling layers, SpectralNormalization, Pipeline,
ReversibleEmbedding, STFTSpectrogram and MelSpectrogram, in float64.

Weights and inputs are drawn here from a seed fixed per case (``case_arrays``), except
where a case keeps Keras's own initial weights (``keep_init``: the STFT kernels, so the
test also checks ``initializers.STFT``). For each case the file holds
``<case>/w<i>`` (the weights, in get_weights order), ``<case>/x`` (the input),
``<case>/y<i>`` (the outputs), ``<case>/r<i>`` (random cotangents), ``<case>/dx`` and
``<case>/dw<i>`` (the gradients of sum(y·r) w.r.t. the input and the trainable weights, in
trainable_weights order).

SpectralNormalization is called with training=True: the outputs use the normalized
kernel, ``<case>/after<i>`` holds the weights after the call (kernel W/σ, the new
vector_u), and the gradients are those of the wrapped layer at the normalized kernel (what
the kernel's assignment means on Keras's eager backends; Keras's JAX trainer drops
the assignment of a trainable variable inside stateless_call instead).

Run with Keras 3 and JAX installed (not portanet's test dependencies):
    KERAS_BACKEND=jax python tests/keras_reference/make_layers_a_reference.py
tests/test_layers_a.py and tests/test_conv_lstm.py compare portanet with the stored arrays.
"""

import os
import pathlib

import numpy as np

HERE = pathlib.Path(__file__).parent

# name: (Keras class, constructor kwargs, input shape, call kwargs, options)
CASES = {
    "convlstm1d_seq": ("ConvLSTM1D", dict(filters=3, kernel_size=2, return_sequences=True),
                       (2, 4, 6, 2), {}, {}),
    "convlstm2d_state_back": ("ConvLSTM2D", dict(filters=2, kernel_size=3, padding="same",
                                                 return_state=True, go_backwards=True,
                                                 return_sequences=True),
                              (2, 3, 5, 4, 2), {}, {}),
    "convlstm2d_strides_cf": ("ConvLSTM2D", dict(filters=2, kernel_size=2, strides=2,
                                                 data_format="channels_first",
                                                 unit_forget_bias=False),
                              (2, 3, 2, 6, 5), {}, {}),
    "convlstm2d_dilation_relu": ("ConvLSTM2D", dict(filters=2, kernel_size=2, dilation_rate=2,
                                                    activation="relu", use_bias=False),
                                 (2, 2, 5, 5, 1), {}, {}),
    "convlstm3d": ("ConvLSTM3D", dict(filters=2, kernel_size=2, padding="same",
                                      return_sequences=True),
                   (2, 2, 3, 3, 2, 1), {}, {}),
    "adaptive_avg1d": ("AdaptiveAveragePooling1D", dict(output_size=4), (2, 10, 3), {}, {}),
    "adaptive_max1d": ("AdaptiveMaxPooling1D", dict(output_size=3), (2, 7, 2), {}, {}),
    "adaptive_avg2d": ("AdaptiveAveragePooling2D", dict(output_size=(3, 2)), (2, 7, 5, 3), {}, {}),
    "adaptive_max2d_cf": ("AdaptiveMaxPooling2D", dict(output_size=3,
                                                       data_format="channels_first"),
                          (2, 2, 8, 5), {}, {}),
    "adaptive_avg3d_up": ("AdaptiveAveragePooling3D", dict(output_size=(2, 3, 5)),
                          (1, 5, 6, 3, 2), {}, {}),
    "adaptive_max3d": ("AdaptiveMaxPooling3D", dict(output_size=2), (2, 5, 4, 3, 2), {}, {}),
    "spectral_dense": ("SpectralNormalization", dict(layer=("Dense", dict(units=3)),
                                                     power_iterations=2),
                       (4, 5), {}, dict(training=True)),
    "spectral_conv": ("SpectralNormalization", dict(layer=("Conv2D", dict(filters=2,
                                                                          kernel_size=2))),
                      (2, 4, 4, 3), {}, dict(training=True)),
    "pipeline": ("Pipeline", dict(layers=[("Dense", dict(units=3)),
                                          ("Dense", dict(units=2, activation="tanh"))]),
                 (4, 5), {}, {}),
    "reversible_tied_cap": ("ReversibleEmbedding", dict(input_dim=7, output_dim=4,
                                                        logit_soft_cap=2.0),
                            (2, 3, 4), dict(reverse=True), {}),
    "reversible_untied": ("ReversibleEmbedding", dict(input_dim=7, output_dim=4,
                                                      tie_weights=False),
                          (2, 3, 4), dict(reverse=True), {}),
    "stft_log": ("STFTSpectrogram", dict(frame_length=16, frame_step=4, fft_length=16),
                 (2, 48, 1), {}, dict(keep_init=True)),
    "stft_psd_same": ("STFTSpectrogram", dict(mode="psd", frame_length=12, frame_step=5,
                                              fft_length=16, window="hamming", periodic=True,
                                              padding="same"),
                      (2, 40, 2), {}, dict(keep_init=True)),
    "stft_stft_expand": ("STFTSpectrogram", dict(mode="stft", frame_length=8, frame_step=8,
                                                 scaling="spectrum", expand_dims=True),
                         (2, 32, 2), {}, dict(keep_init=True)),
    "stft_angle_cf": ("STFTSpectrogram", dict(mode="angle", frame_length=8, frame_step=3,
                                              data_format="channels_first", window=None),
                      (2, 2, 30), {}, dict(keep_init=True)),
    "stft_magnitude_blackman": ("STFTSpectrogram", dict(mode="magnitude", frame_length=10,
                                                        frame_step=5, window="blackman"),
                                (1, 30, 1), {}, dict(keep_init=True)),
    "mel_default_db": ("MelSpectrogram", dict(fft_length=64, sequence_stride=16,
                                              sequence_length=48, num_mel_bins=10,
                                              sampling_rate=8000),
                       (2, 300), {}, {}),
    "mel_linear_hamming": ("MelSpectrogram", dict(fft_length=32, sequence_stride=8,
                                                  window="hamming", num_mel_bins=6,
                                                  sampling_rate=4000, min_freq=50.0,
                                                  max_freq=1800.0, power_to_db=False,
                                                  mag_exp=1.0),
                           (2, 100), {}, {}),
}


def case_arrays(name, shapes):
    """(input, weights) drawn from a seed fixed per case (same here and in the tests)."""
    rng = np.random.default_rng(sorted(CASES).index(name) + 200)
    x = rng.standard_normal(CASES[name][2])
    weights = [0.4 * rng.standard_normal(s) for s in shapes]
    return x, weights


def make_keras_layer(keras, cls_name, kwargs):
    kwargs = dict(kwargs)
    if "layer" in kwargs:
        inner, inner_kwargs = kwargs.pop("layer")
        kwargs["layer"] = getattr(keras.layers, inner)(**inner_kwargs)
    if "layers" in kwargs:
        kwargs["layers"] = [getattr(keras.layers, c)(**k) for c, k in kwargs["layers"]]
    return getattr(keras.layers, cls_name)(**kwargs)


def main():
    os.environ.setdefault("KERAS_BACKEND", "jax")
    import jax
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
    import keras
    keras.config.set_floatx("float64")
    arrays = {}
    for name, (cls_name, kwargs, shape, call_kwargs, options) in CASES.items():
        layer = make_keras_layer(keras, cls_name, kwargs)
        x0 = np.zeros(shape)
        if cls_name == "ReversibleEmbedding":
            layer.build((None, 3))
        else:
            layer(x0)  # build
        shapes = [tuple(w.shape) for w in layer.weights]
        x, weights = case_arrays(name, shapes)
        if options.get("keep_init"):
            weights = [np.asarray(w) for w in layer.get_weights()]
        elif weights:
            if cls_name == "SpectralNormalization":
                # vector_u is a direction: keep it small like Keras's initializer.
                weights = [w if "vector_u" not in v.path else 0.02 * w / 0.4
                           for w, v in zip(weights, layer.weights)]
            layer.set_weights(weights)
        for i, w in enumerate(weights):
            arrays[f"{name}/w{i}"] = np.asarray(w)
        arrays[f"{name}/x"] = x
        training = options.get("training", False)
        y = layer(x, training=training, **call_kwargs)
        ys = list(y) if isinstance(y, (list, tuple)) else [y]
        for i, o in enumerate(ys):
            arrays[f"{name}/y{i}"] = np.asarray(o)
        if training:
            for i, w in enumerate(layer.get_weights()):
                arrays[f"{name}/after{i}"] = np.asarray(w)
        rng = np.random.default_rng(sorted(CASES).index(name) + 900)
        rs = [rng.standard_normal(np.shape(o)) for o in ys]
        for i, r in enumerate(rs):
            arrays[f"{name}/r{i}"] = r
        trainable = [v.value for v in layer.trainable_variables]
        non_trainable = [v.value for v in layer.non_trainable_variables]

        def objective(tv, xx):
            extra = dict(call_kwargs)
            if layer._call_has_training_arg:
                extra["training"] = False
            out, _ = layer.stateless_call(tv, non_trainable, xx, **extra)
            outs = list(out) if isinstance(out, (list, tuple)) else [out]
            return sum(jnp.sum(o * r) for o, r in zip(outs, rs))
        dw, dx = jax.grad(objective, argnums=(0, 1))(trainable, jnp.asarray(x))
        arrays[f"{name}/dx"] = np.asarray(dx)
        for i, g in enumerate(dw):
            arrays[f"{name}/dw{i}"] = np.asarray(g)
        print(name, [a.shape for a in ys], len(dw))
    np.savez_compressed(HERE / "layers_a.npz", **arrays)


if __name__ == "__main__":
    main()
