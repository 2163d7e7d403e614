"""``TensorBoard`` (keras/src/callbacks/tensorboard.py): event files TensorBoard reads.

Written with ``tensorboardX`` (the ``tensorboard`` extra: ``pip install portanet[tensorboard]``),
a standalone writer of TensorBoard's event format; nothing of TensorFlow is needed.

Layout and tags as Keras 3 writes them: ``<log_dir>/train`` and ``<log_dir>/validation`` hold
one event file each; every epoch writes ``epoch_<metric>`` (``epoch_loss``,
``epoch_accuracy``, ``epoch_learning_rate``...) at step ``epoch``, the ``val_`` metrics under
``validation/`` without their prefix; with an integer ``update_freq`` every ``update_freq``-th
training batch writes ``batch_<metric>`` at the global batch count; each evaluation inside
``fit`` writes ``evaluation_<metric>_vs_iterations`` at the optimizer's iteration count.
"""

import os
import time
import warnings

from .callback import Callback


def _summary_writer_class():
    try:
        # tensorboardX is optional (the "tensorboard" extra); imported only when a writer is made.
        from tensorboardX import SummaryWriter
    except ImportError as exc:
        raise ImportError("TensorBoard needs the tensorboardX package (portanet's 'tensorboard' extra): "
                          "pip install 'portanet[tensorboard]' (or pip install tensorboardX)") from exc
    return SummaryWriter


def _is_count(value, allow_zero=True):
    return isinstance(value, int) and not isinstance(value, bool) and (value >= 0 if allow_zero else value > 0)


class TensorBoard(Callback):
    """Log metrics, weight histograms and the model's architecture for TensorBoard.

    Run ``tensorboard --logdir <log_dir>`` to view them.

    Args:
        log_dir: the folder for the event files (``train/`` and ``validation/`` inside).
        histogram_freq: every how many epochs to write a histogram of every weight
            (tag ``<layer>/<weight>/histogram``); 0 writes none.
        write_graph: write the model's architecture (its JSON, as the text summary ``keras``)
            once when training begins. (Keras draws TensorFlow's graph; portanet has none.)
        write_images: with ``histogram_freq``, also write each 1-D/2-D weight as a grey image.
        write_steps_per_second: add ``epoch_steps_per_second`` (and ``batch_steps_per_second``).
        update_freq: ``"epoch"`` (default), ``"batch"`` or an integer N: besides the epoch
            scalars, write the batch logs every N training batches.
        profile_batch: accepted for Keras compatibility; portanet has no profiler, so a value
            other than 0 only warns.
        embeddings_freq: every how many epochs to write the weights of ``Embedding`` layers
            for TensorBoard's projector; 0 writes none.
        embeddings_metadata: ``{layer name: path of a labels file (one label a line)}``, or one
            path used for every Embedding layer.
    """

    writes_files = True

    def __init__(self, log_dir="logs", histogram_freq=0, write_graph=True, write_images=False,
                 write_steps_per_second=False, update_freq="epoch", profile_batch=0,
                 embeddings_freq=0, embeddings_metadata=None):
        super().__init__()
        log_dir = os.fspath(log_dir) if isinstance(log_dir, os.PathLike) else log_dir
        if not isinstance(log_dir, str) or not log_dir:
            raise ValueError(f"TensorBoard: log_dir={log_dir!r}; expected a non-empty path")
        if not _is_count(histogram_freq):
            raise ValueError(f"TensorBoard: histogram_freq={histogram_freq!r}; expected an integer >= 0")
        if not _is_count(embeddings_freq):
            raise ValueError(f"TensorBoard: embeddings_freq={embeddings_freq!r}; expected an integer >= 0")
        if update_freq == "batch":
            update_freq = 1
        if update_freq != "epoch" and not _is_count(update_freq, allow_zero=False):
            raise ValueError(f"TensorBoard: update_freq={update_freq!r}; expected 'epoch', 'batch' or an "
                             "integer >= 1")
        if not (_is_count(profile_batch) or (isinstance(profile_batch, (tuple, list)) and len(profile_batch) == 2
                                            and all(_is_count(b) for b in profile_batch))):
            raise ValueError(f"TensorBoard: profile_batch={profile_batch!r}; expected an integer >= 0 or a "
                             "pair (start, stop)")
        if embeddings_metadata is not None and not isinstance(embeddings_metadata, (str, dict)):
            raise ValueError(f"TensorBoard: embeddings_metadata={embeddings_metadata!r}; expected None, a "
                             "path or a dict {layer name: path}")
        _summary_writer_class()   # the missing extra is reported here, before training starts
        if profile_batch not in (0, (0, 0), [0, 0]):
            warnings.warn("TensorBoard: profile_batch is ignored: portanet has no profiler", stacklevel=2)
        self.log_dir = log_dir
        self.histogram_freq = histogram_freq
        self.write_graph = bool(write_graph)
        self.write_images = bool(write_images)
        self.write_steps_per_second = bool(write_steps_per_second)
        self.update_freq = update_freq
        self.profile_batch = profile_batch
        self.embeddings_freq = embeddings_freq
        self.embeddings_metadata = embeddings_metadata
        self._writers = {}
        self._global_train_batch = 0
        self._epoch_start = None
        self._epoch_batches = 0
        self._batch_start = None
        self._in_fit = False

    # ------------------------------------------------------------------ writers
    def _writer(self, kind):
        """The SummaryWriter of ``log_dir/train`` or ``log_dir/validation``, made on first use."""
        writer = self._writers.get(kind)
        if writer is None:
            writer = _summary_writer_class()(logdir=os.path.join(self.log_dir, kind))
            self._writers[kind] = writer
        return writer

    def _close_writers(self):
        for writer in self._writers.values():
            writer.close()
        self._writers = {}

    @staticmethod
    def _scalars(writer, logs, prefix, step, skip=()):
        for name, value in logs.items():
            if name in skip:
                continue
            try:
                number = float(value)
            except (TypeError, ValueError):
                continue          # non-scalar logs (arrays, strings) are not scalars
            writer.add_scalar(prefix + name, number, global_step=step)

    # ------------------------------------------------------------------ hooks
    def on_train_begin(self, logs=None):
        self._global_train_batch = 0
        self._in_fit = True
        if self.write_graph:
            to_json = getattr(self.model, "to_json", None)
            if to_json is not None:
                try:
                    text = to_json(indent=2)
                except (TypeError, ValueError):   # a custom layer without a config: nothing to show
                    text = None
                if text is not None:
                    self._writer("train").add_text("keras", "```\n" + text + "\n```", global_step=0)

    def on_train_end(self, logs=None):
        self._in_fit = False
        self._close_writers()

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_start = time.perf_counter()
        self._epoch_batches = 0

    def on_train_batch_begin(self, batch, logs=None):
        self._batch_start = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        self._global_train_batch += 1
        self._epoch_batches += 1
        if self.update_freq == "epoch" or self._global_train_batch % self.update_freq:
            return
        batch_logs = dict(logs or {})
        if self.write_steps_per_second and self._batch_start is not None:
            elapsed = time.perf_counter() - self._batch_start
            if elapsed > 0:
                batch_logs["steps_per_second"] = 1.0 / elapsed
        self._scalars(self._writer("train"), batch_logs, "batch_", self._global_train_batch,
                      skip=("batch", "size", "num_steps"))

    def on_test_end(self, logs=None):
        optimizer = getattr(self.model, "optimizer", None)
        if not self._in_fit or not logs or optimizer is None:
            return
        step = int(getattr(optimizer, "iterations", 0))
        writer = self._writer("validation")
        for name, value in dict(logs).items():
            try:
                number = float(value)
            except (TypeError, ValueError):
                continue
            writer.add_scalar(f"evaluation_{name}_vs_iterations", number, global_step=step)

    def on_epoch_end(self, epoch, logs=None):
        logs = dict(logs or {})
        train_logs = {k: v for k, v in logs.items() if not k.startswith("val_")}
        val_logs = {k[4:]: v for k, v in logs.items() if k.startswith("val_")}
        optimizer = getattr(self.model, "optimizer", None)
        if "learning_rate" not in train_logs and optimizer is not None:
            try:
                train_logs["learning_rate"] = float(optimizer.learning_rate)
            except (TypeError, ValueError, AttributeError):
                pass          # a schedule object: its value is not one number
        if self.write_steps_per_second and self._epoch_start is not None:
            elapsed = time.perf_counter() - self._epoch_start
            if elapsed > 0:
                train_logs["steps_per_second"] = self._epoch_batches / elapsed
        self._scalars(self._writer("train"), train_logs, "epoch_", epoch)
        if val_logs:
            self._scalars(self._writer("validation"), val_logs, "epoch_", epoch)
        if self.histogram_freq and epoch % self.histogram_freq == 0:
            self._log_weights(epoch)
        if self.embeddings_freq and epoch % self.embeddings_freq == 0:
            self._log_embeddings(epoch)
        for writer in self._writers.values():
            writer.flush()

    # ------------------------------------------------------------------ weights
    def _weight_items(self):
        for layer in self.model.layers:
            for weight in layer.weights:
                name = weight.name if "/" in weight.name else f"{layer.name}/{weight.name}"
                yield layer, name.replace(":", "_"), weight.numpy()

    def _log_weights(self, epoch):
        writer = self._writer("train")
        for _, name, values in self._weight_items():
            writer.add_histogram(name + "/histogram", values.astype("float64"), global_step=epoch)
            if self.write_images and values.ndim in (1, 2) and values.size:
                image = values.reshape(1, -1) if values.ndim == 1 else values
                low, high = float(image.min()), float(image.max())
                scaled = (image - low) / (high - low) if high > low else image * 0.0
                writer.add_image(name + "/image", scaled.astype("float32"), global_step=epoch, dataformats="HW")

    def _log_embeddings(self, epoch):
        writer = self._writer("train")
        for layer in self.model.layers:
            if type(layer).__name__ != "Embedding" or not layer.weights:
                continue
            matrix = layer.weights[0].numpy()
            path = self.embeddings_metadata
            if isinstance(path, dict):
                path = path.get(layer.name)
            labels = None
            if path is not None:
                with open(path, encoding="utf-8") as f:
                    labels = [line.rstrip("\n") for line in f][:matrix.shape[0]]
                if len(labels) != matrix.shape[0]:
                    raise ValueError(f"TensorBoard: embeddings_metadata for {layer.name!r} ({path}) has "
                                     f"{len(labels)} labels; the layer has {matrix.shape[0]} rows")
            writer.add_embedding(matrix, metadata=labels, tag=layer.name, global_step=epoch)
