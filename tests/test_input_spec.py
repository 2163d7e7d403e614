"""Layer.input_spec checked on every call as Keras 3.15.1's assert_input_compatibility
does: the built-in layers carry Keras's specs, and the errors are Keras's own text (each
expected message below is what Keras 3.15.1 printed for the same call)."""

import numpy as np
import pytest

import portanet as pn

L = pn.layers
HEAD = "Input 0 with name 'None' of layer '{}' is incompatible with the layer: "


def _sym(shape):
    return pn.Input(shape)


def _raises(message, fn):
    with pytest.raises(ValueError) as info:
        fn()
    assert str(info.value) == message


@pytest.mark.parametrize("make,arg,message", [
    (lambda: L.Dense(3, name="d"), lambda: _sym(()),
     "expected min_ndim=2, found ndim=1. Full shape received: (None,)"),
    (lambda: L.Conv2D(2, 3, name="d"), lambda: _sym((5, 5)),
     "expected min_ndim=4, found ndim=3. Full shape received: (None, 5, 5)"),
    (lambda: L.LSTM(2, name="d"), lambda: _sym((5,)),
     "expected ndim=3, found ndim=2. Full shape received: (None, 5)"),
    (lambda: L.SimpleRNN(2, name="d"), lambda: _sym((5,)),
     "expected ndim=3, found ndim=2. Full shape received: (None, 5)"),
    (lambda: L.Bidirectional(L.LSTM(2), name="d"), lambda: _sym((3,)),
     "expected ndim=3, found ndim=2. Full shape received: (None, 3)"),
    (lambda: L.MaxPooling2D(name="d"), lambda: np.ones((2, 4, 4), "float32"),
     "expected ndim=4, found ndim=3. Full shape received: (2, 4, 4)"),
    (lambda: L.Permute((2, 1), name="d"), lambda: _sym((2, 3, 4)),
     "expected ndim=3, found ndim=4. Full shape received: (None, 2, 3, 4)"),
    (lambda: L.RepeatVector(2, name="d"), lambda: _sym((2, 3)),
     "expected ndim=2, found ndim=3. Full shape received: (None, 2, 3)"),
    (lambda: L.Flatten(name="d"), lambda: np.float32(1.0),
     "expected min_ndim=1, found ndim=0. Full shape received: ()"),
    (lambda: L.UpSampling2D(name="d"), lambda: _sym((5, 3)),
     "expected ndim=4, found ndim=3. Full shape received: (None, 5, 3)"),
    (lambda: L.GlobalAveragePooling1D(name="d"), lambda: _sym((5, 3, 2)),
     "expected ndim=3, found ndim=4. Full shape received: (None, 5, 3, 2)"),
])
def test_built_in_specs_reject_as_keras(backend, make, arg, message):
    layer = make()
    _raises(HEAD.format("d") + message, lambda: layer(arg()))


def test_specs_set_at_build_fix_the_feature_axis(backend):
    dense = L.Dense(3, name="d")
    dense(np.ones((2, 4), "float32"))
    assert (dense.input_spec.min_ndim, dense.input_spec.axes) == (2, {-1: 4})
    tail = "expected axis -1 of input shape to have value 4, but received input with shape "
    _raises(HEAD.format("d") + tail + "(2, 5)", lambda: dense(np.ones((2, 5), "float32")))
    _raises(HEAD.format("d") + tail + "(None, 5)", lambda: dense(pn.Input((5,))))
    conv = L.Conv2D(2, 1, name="c")
    conv(np.ones((1, 3, 3, 3), "float32"))
    _raises(HEAD.format("c") + "expected axis -1 of input shape to have value 3, but received "
            "input with shape (1, 3, 3, 4)", lambda: conv(np.ones((1, 3, 3, 4), "float32")))
    first = L.Conv2D(2, 1, data_format="channels_first", name="cf")
    first(np.ones((1, 3, 4, 4), "float32"))
    assert first.input_spec.axes == {1: 3}
    bn = L.BatchNormalization(name="bn")
    bn(np.ones((2, 3), "float32"))
    _raises(HEAD.format("bn") + "expected axis -1 of input shape to have value 3, but received "
            "input with shape (2, 4)", lambda: bn(np.ones((2, 4), "float32")))
    # The right inputs still run, eagerly and in a model.
    np.testing.assert_allclose(pn.backend.current().to_numpy(
        L.Dense(1, kernel_initializer="ones", name="ok")(np.array([[1., 2.]], "float32"))), [[3.]])


class _Spec(L.Layer):
    def __init__(self, spec, **kwargs):
        super().__init__(**kwargs)
        self.input_spec = spec

    def call(self, x):
        return x[0] if isinstance(x, (list, tuple)) else x


def test_user_specs_dtype_shape_names_and_counts(backend):
    spec = pn.layers.InputSpec(dtype="float32", shape=(None, 3), name="x")
    assert pn.InputSpec is pn.layers.InputSpec
    _raises("Input 0 with name 'x' of layer 'm' is incompatible with the layer: expected "
            "dtype=float32, found dtype=int32",
            lambda: _Spec(spec, name="m")(np.ones((2, 3), "int32")))
    _raises("Input 0 with name 'x' of layer 'm' is incompatible with the layer: expected "
            "shape=(None, 3), found shape=(2, 4)",
            lambda: _Spec(spec, name="m")(np.ones((2, 4), "float32")))
    _raises("Layer \"m\" expects 1 named input(s) with keys ['x'], but it received 2 input "
            "tensors. Pass inputs as a dict, e.g. `layer({'x': ...})`.",
            lambda: _Spec(spec, name="m")([np.ones((2, 3), "float32")] * 2))
    two = [pn.layers.InputSpec(ndim=2), pn.layers.InputSpec(max_ndim=2)]
    _raises("Input 1 with name 'None' of layer 'm2' is incompatible with the layer: expected "
            "max_ndim=2, found ndim=3",
            lambda: _Spec(two, name="m2")([np.ones((2, 3), "float32"), np.ones((2, 3, 1), "float32")]))
    with pytest.raises(ValueError, match=r'^Layer "m3" expects 2 input\(s\), but it received 1 '
                                         r"input tensors\. Inputs received: "):
        _Spec(two, name="m3")(np.ones((2, 3), "float32"))
    # allow_last_axis_squeeze: (2, 3, 1) meets shape (None, 3); a dict is read by the names.
    squeeze = pn.layers.InputSpec(shape=(None, 3), allow_last_axis_squeeze=True, name="x")
    y = _Spec(squeeze, name="s")(np.ones((2, 3, 1), "float32"))
    assert tuple(y.shape) == (2, 3, 1)
    with pytest.raises(ValueError, match=r'Missing data for input "x"\. You passed a data '
                                         r"dictionary with keys \['y'\]\. Expected the following "
                                         r"keys: \['x'\]"):
        _Spec(squeeze, name="s2")({"y": np.ones((2, 3), "float32")})


def test_recurrent_spec_reads_the_sequences_not_the_states(backend):
    """A recurrent layer's spec is its sequences' (Keras checks the call's first argument):
    initial states, in the input list or as initial_state=, are not inputs of the spec."""
    lstm = L.LSTM(2, return_state=True)
    x = np.ones((2, 4, 3), "float32")
    states = [np.zeros((2, 2), "float32"), np.ones((2, 2), "float32")]
    out1 = lstm(x, initial_state=states)
    out2 = lstm([x] + states)
    for a, b in zip(out1, out2):
        np.testing.assert_array_equal(pn.backend.current().to_numpy(a),
                                      pn.backend.current().to_numpy(b))
    seq = pn.Input((4, 3))
    h = pn.Input((2,))
    c = pn.Input((2,))
    assert L.LSTM(2)(seq, initial_state=[h, c]).shape == (None, 2)
