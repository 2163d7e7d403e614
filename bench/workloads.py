"""The hot-loop workloads (the design card's four anchors, and mlp-small with its Dense layers
written as a custom ``call()`` layer), as portanet models and as PyTorch peers.

Each workload is the same network on both sides: float32, Adam (Keras defaults:
lr 1e-3, betas 0.9/0.999, eps 1e-7), softmax cross-entropy on integer labels.
portanet takes channels_last images (its layout); PyTorch takes NCHW (its own), so each
side runs its native, fastest layout for the same shapes.

``mlp-small-custom`` (issue 13) is mlp-small built from ``CallDense``, a Layer subclass whose
``call()`` is ``ops.matmul(x, self.kernel) + self.bias`` then the activation, so the tape
differentiates it; its PyTorch peer is the same MLP. Its step time over mlp-small's is the
cost of writing layers the Keras way (``python -m bench.custom_overhead`` prints it).

``transformer`` (issue 16) is two post-norm transformer encoder blocks (d_model 128, 4 heads
of 32, feed-forward 256 with relu, LayerNormalization epsilon 1e-3, no dropout) over a
sequence of 64 feature vectors, then global average pooling and the softmax head; portanet
builds it from ``MultiHeadAttention`` in the functional API, PyTorch from
``nn.MultiheadAttention`` (``TransformerNet``).
"""

import numpy as np

NAMES = ("mlp-small", "mlp-large", "cnn", "lstm", "mlp-small-custom", "transformer")

# Batch sizes per device kind; the GPU cnn runs at both 128 and 1024.
BATCHES = {
    "cpu": {"mlp-small": [128], "mlp-large": [1024], "cnn": [64], "lstm": [64], "mlp-small-custom": [128],
            "transformer": [32]},
    "gpu": {"mlp-small": [128], "mlp-large": [4096], "cnn": [128, 1024], "lstm": [64],
            "mlp-small-custom": [128], "transformer": [32]},
}

# Which portanet layer classes each workload needs (the bench skips a workload whose
# layers have not landed yet, with a line saying so).
NEEDS = {
    "mlp-small": ("Dense",),
    "mlp-large": ("Dense",),
    "cnn": ("Conv2D", "MaxPooling2D", "Flatten", "Dense"),
    "lstm": ("LSTM", "Dense"),
    "mlp-small-custom": ("Layer",),
    "transformer": ("MultiHeadAttention", "LayerNormalization", "Add", "Dense",
                    "GlobalAveragePooling1D"),
}

# The transformer workload's sizes (issue 16).
SEQ, D_MODEL, HEADS, FF = 64, 128, 4, 256

CLASSES = 10


class Unavailable(Exception):
    """A workload cannot run here (a layer class is missing)."""


def input_shape(name):
    """Per-sample input shape (portanet layout)."""
    return {"mlp-small": (784,), "mlp-large": (784,), "cnn": (28, 28, 1), "lstm": (32, 32),
            "mlp-small-custom": (784,), "transformer": (SEQ, D_MODEL)}[name]


def make_data(name, rows, seed=0):
    """Host float32 inputs and int64 labels for ``rows`` samples (portanet layout)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((rows,) + input_shape(name), dtype=np.float32)
    y = rng.integers(0, CLASSES, size=(rows,)).astype(np.int64)
    return x, y


def missing_layers(name, pn):
    return [cls for cls in NEEDS[name] if not isinstance(getattr(pn.layers, cls, None), type)]


_CALL_DENSE = {}


def call_dense_class(pn):
    """``CallDense``: Dense written as a Keras-style custom layer (``build`` + ``call`` with
    ``pn.ops``), subclassing this ``pn``'s Layer (made once per portanet module).

    Args of the layer: ``units`` and ``activation`` (None, "relu" or "softmax").
    Input shape: (batch, features); output shape: (batch, units).
    """
    cls = _CALL_DENSE.get(id(pn))
    if cls is not None:
        return cls
    ops = pn.ops

    class CallDense(pn.layers.Layer):
        def __init__(self, units, activation=None, **kwargs):
            super().__init__(**kwargs)
            if activation not in (None, "relu", "softmax"):
                raise ValueError(f"CallDense: activation={activation!r}; expected None, 'relu' or 'softmax'")
            self.units, self.activation = units, activation

        def build(self, input_shape):
            self.kernel = self.add_weight(shape=(input_shape[-1], self.units),
                                          initializer="glorot_uniform", name="kernel")
            self.bias = self.add_weight(shape=(self.units,), initializer="zeros", name="bias")

        def call(self, inputs):
            y = ops.matmul(inputs, self.kernel) + self.bias
            if self.activation == "relu":
                return ops.relu(y)
            if self.activation == "softmax":
                return ops.softmax(y, axis=-1)
            return y

        def get_config(self):
            config = super().get_config()
            config.update({"units": self.units, "activation": self.activation})
            return config

    _CALL_DENSE[id(pn)] = CallDense
    return CallDense


def transformer_encoder_block(pn, x, d_model=D_MODEL, heads=HEADS, ff=FF):
    """One post-norm encoder block in the functional API (the README's code):
    x + MHA(x, x) -> LayerNorm -> + FFN -> LayerNorm."""
    L = pn.layers
    attn = L.MultiHeadAttention(num_heads=heads, key_dim=d_model // heads)(x, x)
    x = L.LayerNormalization()(L.Add()([x, attn]))
    h = L.Dense(ff, activation="relu")(x)
    h = L.Dense(d_model)(h)
    return L.LayerNormalization()(L.Add()([x, h]))


def portanet_model(name, pn, optimizer="adam"):
    """The workload as a compiled portanet model (raises Unavailable if a layer is missing)."""
    missing = missing_layers(name, pn)
    if missing:
        raise Unavailable(f"layer not available: {', '.join(missing)}")
    L = pn.layers
    if name == "transformer":
        inputs = pn.Input(input_shape(name))
        x = transformer_encoder_block(pn, inputs)
        x = transformer_encoder_block(pn, x)
        outputs = L.Dense(CLASSES, activation="softmax")(L.GlobalAveragePooling1D()(x))
        model = pn.Model(inputs, outputs)
        opt = pn.optimizers.Adam(learning_rate=1e-3) if optimizer == "adam" else optimizer
        model.compile(optimizer=opt, loss="sparse_categorical_crossentropy")
        return model
    if name == "mlp-small":
        body = [L.Dense(256, activation="relu"), L.Dense(256, activation="relu")]
    elif name == "mlp-large":
        body = [L.Dense(1024, activation="relu"), L.Dense(1024, activation="relu")]
    elif name == "cnn":
        body = [L.Conv2D(32, 3, activation="relu"), L.Conv2D(64, 3, activation="relu"),
                L.MaxPooling2D(2), L.Flatten(), L.Dense(128, activation="relu")]
    elif name == "mlp-small-custom":
        D = call_dense_class(pn)
        body = [D(256, activation="relu"), D(256, activation="relu"), D(CLASSES, activation="softmax")]
    else:
        body = [L.LSTM(128)]
    head = [] if name == "mlp-small-custom" else [L.Dense(CLASSES, activation="softmax")]
    model = pn.Sequential([pn.Input(input_shape(name))] + body + head)
    opt = pn.optimizers.Adam(learning_rate=1e-3) if optimizer == "adam" else optimizer
    model.compile(optimizer=opt, loss="sparse_categorical_crossentropy")
    return model


def torch_model(name, torch):
    """The same network in PyTorch (logits out; cross-entropy applies the softmax)."""
    nn = torch.nn
    if name in ("mlp-small", "mlp-small-custom"):
        return nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(),
                             nn.Linear(256, CLASSES))
    if name == "mlp-large":
        return nn.Sequential(nn.Linear(784, 1024), nn.ReLU(), nn.Linear(1024, 1024), nn.ReLU(),
                             nn.Linear(1024, CLASSES))
    if name == "cnn":
        return nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.Conv2d(32, 64, 3), nn.ReLU(),
                             nn.MaxPool2d(2), nn.Flatten(), nn.Linear(64 * 12 * 12, 128), nn.ReLU(),
                             nn.Linear(128, CLASSES))

    if name == "transformer":
        return transformer_torch(torch)

    class LSTMNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = nn.LSTM(32, 128, batch_first=True)
            self.head = nn.Linear(128, CLASSES)

        def forward(self, x):
            out, _ = self.lstm(x)
            return self.head(out[:, -1, :])
    return LSTMNet()


def transformer_torch(torch):
    """The transformer workload in PyTorch: the same blocks with ``nn.MultiheadAttention``."""
    nn = torch.nn

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.attn = nn.MultiheadAttention(D_MODEL, HEADS, batch_first=True)
            self.norm1 = nn.LayerNorm(D_MODEL, eps=1e-3)
            self.ff1 = nn.Linear(D_MODEL, FF)
            self.ff2 = nn.Linear(FF, D_MODEL)
            self.norm2 = nn.LayerNorm(D_MODEL, eps=1e-3)

        def forward(self, x):
            a, _ = self.attn(x, x, x, need_weights=False)
            x = self.norm1(x + a)
            return self.norm2(x + self.ff2(torch.relu(self.ff1(x))))

    class TransformerNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.blocks = nn.Sequential(Block(), Block())
            self.head = nn.Linear(D_MODEL, CLASSES)

        def forward(self, x):
            return self.head(self.blocks(x).mean(dim=1))
    return TransformerNet()


def torch_layout(name, x):
    """portanet-layout host batch -> the PyTorch layout (NHWC -> NCHW for images)."""
    if name == "cnn":
        return np.ascontiguousarray(np.transpose(x, (0, 3, 1, 2)))
    return x
