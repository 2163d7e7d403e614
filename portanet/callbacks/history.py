"""``History``: the per-epoch (and per-iteration) record ``fit`` returns
(keras/src/callbacks/history.py)."""

from ..plotting import plot_history
from .callback import Callback


class History(Callback):
    """Records each epoch's logs: ``history.history["loss"]`` is one float per epoch.

    The loss of every iteration (mini-batch) is in ``history.batch_history["loss"]`` when
    fit records it (``record_batch_loss=True``, the default; read back once per epoch), and
    ``history.batch_epoch_ends[i]`` is the number of iterations done by the end of the
    i-th epoch. ``history.plot(path)`` draws both curves (the ``plot`` extra).
    """

    def __init__(self):
        super().__init__()
        self.history = {}
        self.epoch = []
        self.batch_history = {}
        self.batch_epoch_ends = []

    def on_train_begin(self, logs=None):
        self.epoch = []
        self.batch_epoch_ends = []

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for k, v in (logs or {}).items():
            self.history.setdefault(k, []).append(v)
        self.batch_epoch_ends.append(len(self.batch_history.get("loss", [])))

    def plot(self, path=None, title=None):
        """Draw loss and metrics against the epoch (training and validation) and the loss
        against the iteration; writes a PNG to ``path`` and returns the matplotlib Figure.
        See ``pn.utils.plot_history``."""
        return plot_history(self, path, title=title)
