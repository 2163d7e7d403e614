"""The four hot-loop workloads (the design card's anchors), as portanet models and as PyTorch peers.

Each workload is the same network on both sides: float32, Adam (Keras defaults:
lr 1e-3, betas 0.9/0.999, eps 1e-7), softmax cross-entropy on integer labels.
portanet takes channels_last images (its layout); PyTorch takes NCHW (its own), so each
side runs its native, fastest layout for the same shapes.
"""

import numpy as np

NAMES = ("mlp-small", "mlp-large", "cnn", "lstm")

# Batch sizes per device kind; the GPU cnn runs at both 128 and 1024.
BATCHES = {
    "cpu": {"mlp-small": [128], "mlp-large": [1024], "cnn": [64], "lstm": [64]},
    "gpu": {"mlp-small": [128], "mlp-large": [4096], "cnn": [128, 1024], "lstm": [64]},
}

# Which portanet layer classes each workload needs (the bench skips a workload whose
# layers have not landed yet, with a line saying so).
NEEDS = {
    "mlp-small": ("Dense",),
    "mlp-large": ("Dense",),
    "cnn": ("Conv2D", "MaxPooling2D", "Flatten", "Dense"),
    "lstm": ("LSTM", "Dense"),
}

CLASSES = 10


class Unavailable(Exception):
    """A workload cannot run here (a layer class is missing)."""


def input_shape(name):
    """Per-sample input shape (portanet layout)."""
    return {"mlp-small": (784,), "mlp-large": (784,), "cnn": (28, 28, 1), "lstm": (32, 32)}[name]


def make_data(name, rows, seed=0):
    """Host float32 inputs and int64 labels for ``rows`` samples (portanet layout)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((rows,) + input_shape(name), dtype=np.float32)
    y = rng.integers(0, CLASSES, size=(rows,)).astype(np.int64)
    return x, y


def missing_layers(name, pn):
    return [cls for cls in NEEDS[name] if not isinstance(getattr(pn.layers, cls, None), type)]


def portanet_model(name, pn, optimizer="adam"):
    """The workload as a compiled portanet Sequential (raises Unavailable if a layer is missing)."""
    missing = missing_layers(name, pn)
    if missing:
        raise Unavailable(f"layer not available: {', '.join(missing)}")
    L = pn.layers
    if name == "mlp-small":
        body = [L.Dense(256, activation="relu"), L.Dense(256, activation="relu")]
    elif name == "mlp-large":
        body = [L.Dense(1024, activation="relu"), L.Dense(1024, activation="relu")]
    elif name == "cnn":
        body = [L.Conv2D(32, 3, activation="relu"), L.Conv2D(64, 3, activation="relu"),
                L.MaxPooling2D(2), L.Flatten(), L.Dense(128, activation="relu")]
    else:
        body = [L.LSTM(128)]
    model = pn.Sequential([pn.Input(input_shape(name))] + body + [L.Dense(CLASSES, activation="softmax")])
    opt = pn.optimizers.Adam(learning_rate=1e-3) if optimizer == "adam" else optimizer
    model.compile(optimizer=opt, loss="sparse_categorical_crossentropy")
    return model


def torch_model(name, torch):
    """The same network in PyTorch (logits out; cross-entropy applies the softmax)."""
    nn = torch.nn
    if name == "mlp-small":
        return nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(),
                             nn.Linear(256, CLASSES))
    if name == "mlp-large":
        return nn.Sequential(nn.Linear(784, 1024), nn.ReLU(), nn.Linear(1024, 1024), nn.ReLU(),
                             nn.Linear(1024, CLASSES))
    if name == "cnn":
        return nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.Conv2d(32, 64, 3), nn.ReLU(),
                             nn.MaxPool2d(2), nn.Flatten(), nn.Linear(64 * 12 * 12, 128), nn.ReLU(),
                             nn.Linear(128, CLASSES))

    class LSTMNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = nn.LSTM(32, 128, batch_first=True)
            self.head = nn.Linear(128, CLASSES)

        def forward(self, x):
            out, _ = self.lstm(x)
            return self.head(out[:, -1, :])
    return LSTMNet()


def torch_layout(name, x):
    """portanet-layout host batch -> the PyTorch layout (NHWC -> NCHW for images)."""
    if name == "cnn":
        return np.ascontiguousarray(np.transpose(x, (0, 3, 1, 2)))
    return x
