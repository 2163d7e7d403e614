"""The architectures of tests/keras_reference/files/, written once for both libraries:
each builder takes the library module (``keras`` or ``portanet``) and uses only
``k.Input``, ``k.Sequential``, ``k.Model`` and ``k.layers``, so make_keras_files.py (with
Keras) and tests/test_keras_files.py (with portanet) build the same model."""


def _seq(k, *layers, name=None):
    return k.Sequential(list(layers), name=name)


def dense(k):
    L = k.layers
    return _seq(k, k.Input((4,)), L.Dense(8, activation="relu"), L.Dense(3))


def conv1d(k):
    L = k.layers
    return _seq(k, k.Input((10, 3)), L.Conv1D(4, 3, activation="relu"), L.MaxPooling1D(2),
                L.Conv1D(2, 2, padding="same"), L.GlobalAveragePooling1D(), L.Dense(2))


def conv2d(k):
    L = k.layers
    return _seq(k, k.Input((8, 8, 2)), L.Conv2D(3, 3, activation="relu"), L.BatchNormalization(),
                L.AveragePooling2D(2), L.MaxPooling2D(1), L.Flatten(), L.Dense(2))


def embedding(k):
    L = k.layers
    return _seq(k, k.Input((5,), dtype="int32"), L.Embedding(10, 4), L.LayerNormalization(),
                L.GlobalMaxPooling1D(), L.Dense(2))


def simple_rnn(k):
    L = k.layers
    return _seq(k, k.Input((5, 3)), L.SimpleRNN(4, return_sequences=True), L.SimpleRNN(2))


def lstm(k):
    L = k.layers
    return _seq(k, k.Input((5, 3)), L.LSTM(4), L.Dense(2))


def gru(k):
    L = k.layers
    return _seq(k, k.Input((5, 3)), L.GRU(4, return_sequences=True), L.GRU(3))


def bidirectional(k):
    L = k.layers
    return _seq(k, k.Input((5, 3)), L.Bidirectional(L.LSTM(3, return_sequences=True)),
                L.Bidirectional(L.GRU(2), merge_mode="sum"), L.Dense(2))


def functional(k):
    L = k.layers
    a, b = k.Input((4,), name="a"), k.Input((3,), name="b")
    h = L.Concatenate()([L.Dense(5, activation="tanh")(a), b])
    h = L.Dense(6, activation="relu")(h)
    out1 = L.Dense(2, name="out1")(h)
    out2 = L.Dense(1, activation="sigmoid", name="out2")(L.Add()([h, L.Dense(6)(b)]))
    return k.Model([a, b], [out1, out2], name="two_heads")


def nested(k):
    L = k.layers
    inner = _seq(k, k.Input((4,)), L.Dense(5, activation="relu"), L.Dense(3), name="inner")
    x = k.Input((4,))
    h = L.BatchNormalization()(inner(x))
    return k.Model(x, L.Dense(2)(h), name="outer")


def nested_seq(k):
    L = k.layers
    inner = _seq(k, k.Input((4,)), L.Dense(5, activation="relu"), name="block")
    return _seq(k, k.Input((4,)), inner, L.Dense(3))


def conv_more_1d(k):
    L = k.layers
    return _seq(k, k.Input((8, 2)), L.Conv1DTranspose(3, 3, strides=2), L.DepthwiseConv1D(3),
                L.SeparableConv1D(4, 3), L.Flatten(), L.Dense(2))


def conv_more_2d(k):
    L = k.layers
    return _seq(k, k.Input((6, 6, 2)), L.Conv2DTranspose(3, 3), L.DepthwiseConv2D(3, depth_multiplier=2),
                L.SeparableConv2D(4, 3), L.GroupNormalization(groups=2), L.PReLU(),
                L.GlobalAveragePooling2D(), L.Dense(2))


def conv_3d(k):
    L = k.layers
    return _seq(k, k.Input((4, 4, 4, 1)), L.Conv3D(2, 2), L.Conv3DTranspose(2, 2),
                L.GlobalMaxPooling3D(), L.Dense(2))


def attention(k):
    L = k.layers
    x = k.Input((4, 6))
    h = L.MultiHeadAttention(num_heads=2, key_dim=3)(x, x)
    gqa = getattr(L, "GroupQueryAttention", None) or L.GroupedQueryAttention
    h = gqa(head_dim=2, num_query_heads=2, num_key_value_heads=1)(h, h)
    h = L.EinsumDense("abc,cd->abd", output_shape=(None, 5), bias_axes="d")(h)
    h = L.Attention(use_scale=True)([h, h])
    h = L.AdditiveAttention()([h, h])
    h = L.RMSNormalization()(h)
    h = L.UnitNormalization()(h)
    return k.Model(x, L.Dense(2)(L.GlobalAveragePooling1D()(h)), name="attention")


def wrappers(k):
    L = k.layers
    return _seq(k, k.Input((5, 3)), L.TimeDistributed(L.Dense(4)),
                L.RNN([L.LSTMCell(3), L.GRUCell(2)], return_sequences=True),
                L.RNN(L.SimpleRNNCell(2)), L.Dense(2))


def noisy(k):
    L = k.layers
    return _seq(k, k.Input((4,)), L.Dense(6), L.Dropout(0.5), L.GaussianNoise(0.1),
                L.GaussianDropout(0.2), L.Dense(2))


def subclassed(k):
    """A subclassed model: Keras reaches its layers by attribute (``blocks/dense``,
    ``encoder``) and, for a private attribute, through ``layers`` (``layers/dense_3``)."""
    class Net(k.Model):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.encoder = k.layers.Dense(5, activation="relu")
            self.blocks = [k.layers.Dense(4), k.layers.Dense(4, activation="tanh")]
            self._head = k.layers.Dense(2)

        def call(self, x):
            h = self.encoder(x)
            for block in self.blocks:
                h = block(h)
            return self._head(h)

    model = Net(name="net")
    model(k.ops.zeros((1, 4)))
    return model


# Input shapes of models without ``inputs`` (subclassed); their files are weights only.
INPUT_SHAPES = {"subclassed": [(4,)]}

BUILDERS = {f.__name__: f for f in (subclassed, dense, conv1d, conv2d, embedding, simple_rnn, lstm, gru,
                                    bidirectional, functional, nested, nested_seq, conv_more_1d,
                                    conv_more_2d, conv_3d, attention, wrappers, noisy)}

# name: (architecture, optimizer (class name, kwargs), loss)
TRAINED = {
    "dense_adam": ("dense", ("Adam", dict(learning_rate=0.01)), "mse"),
    "conv2d_sgd": ("conv2d", ("SGD", dict(learning_rate=0.05, momentum=0.9)), "mse"),
    "lstm_adam": ("lstm", ("Adam", dict(learning_rate=0.01, amsgrad=True)), "mse"),
    "gru_rmsprop": ("gru", ("RMSprop", dict(learning_rate=0.01, momentum=0.5)), "mse"),
    "functional_nadam": ("functional", ("Nadam", dict(learning_rate=0.01)), ["mse", "binary_crossentropy"]),
    # (SGD: the key bias of attention has a zero gradient in exact arithmetic, so an adaptive
    # optimizer's step on it is rounding noise scaled up: not comparable between libraries)
    "attention_sgd": ("attention", ("SGD", dict(learning_rate=0.05, momentum=0.8, nesterov=True)), "mse"),
    "wrappers_adamw": ("wrappers", ("AdamW", dict(learning_rate=0.01, weight_decay=0.01)), "mse"),
    "conv_more_adagrad": ("conv_more_2d", ("Adagrad", dict(learning_rate=0.05)), "mse"),
    "dense_adamax": ("dense", ("Adamax", dict(learning_rate=0.01)), "mse"),
    "dense_ema_clip": ("dense", ("Adam", dict(learning_rate=0.01, use_ema=True, clipnorm=1.0)), "mse"),
    "dense_adadelta": ("dense", ("Adadelta", dict(learning_rate=0.5)), "mse"),
    "dense_ftrl": ("dense", ("Ftrl", dict(learning_rate=0.05)), "mse"),
    "dense_lion": ("dense", ("Lion", dict(learning_rate=0.01)), "mse"),
}

# Cases also written as legacy Keras 2 .h5 files.
LEGACY = ("dense", "conv2d", "lstm", "dense_adam")


def make_optimizer(k, case):
    name, kwargs = TRAINED[case][1]
    return getattr(k.optimizers, name)(**kwargs)


# Normalization files (make_normalization_files.py): adapted on NORMALIZATION_ADAPT's data
# (weights mean, variance, count), or given its statistics (no weights).
def normalization_adapted(k):
    L = k.layers
    return _seq(k, k.Input((3,)), L.Normalization(name="norm"), L.Dense(2, name="head"),
                name="adapted")


def normalization_given(k):
    L = k.layers
    x = k.Input((2, 3))
    h = L.Normalization(axis=(1, 2), mean=[1.0, -2.0, 0.5], variance=[4.0, 1.0, 0.25],
                        name="norm")(x)
    return k.Model(x, L.Dense(2, name="head")(L.Flatten()(h)), name="given")


NORMALIZATION_BUILDERS = {f.__name__: f for f in (normalization_adapted, normalization_given)}
NORMALIZATION_ADAPT = {"normalization_adapted": [[1.0, 10.0, -3.0], [2.0, 10.0, -1.0],
                                                 [3.0, 10.0, 0.0], [6.0, 30.0, 4.0]]}
