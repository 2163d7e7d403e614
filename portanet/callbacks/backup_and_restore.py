"""``BackupAndRestore`` (keras/src/callbacks/backup_and_restore.py): makes an interrupted
``fit`` resumable through the model's public API (``save``, the optimizer's learning rate,
the backend's random state) and ``portanet.saving``'s public functions."""

import json
import os
import shutil

from .. import saving
from ._monitor import _check_save_freq, _float_learning_rate
from .callback import Callback


class BackupAndRestore(Callback):
    """Make an interrupted ``fit`` resumable: back up the training state to ``backup_dir``
    and, when a later ``fit`` starts with a backup present, restore it and continue.

    Each backup holds the model (weights and optimizer state, ``model.save``), the
    number of finished epochs and the host random stream (so shuffles and dropout masks
    after a resume are those of an uninterrupted run; on the numpy and array_api_strict
    backends the resumed run is bit-identical). A backup is written atomically: the model
    goes to a new file, then ``training_metadata.json`` is replaced in one rename to point
    at it, then the previous file is removed; a crash at any point leaves a complete backup.
    List it after callbacks that change the training state at epoch end (ReduceLROnPlateau),
    so that each backup holds the state after their change.

    Args:
        backup_dir: a directory for the backup (created when needed).
        save_freq: "epoch", or a number of batches (as Keras, a resume then restarts the
            interrupted epoch from the weights of the last backup).
        delete_checkpoint: remove the backup when training ends normally. Default True.
    """

    writes_files = True
    _METADATA = "training_metadata.json"

    def __init__(self, backup_dir, save_freq="epoch", delete_checkpoint=True):
        super().__init__()
        backup_dir = os.fspath(backup_dir) if isinstance(backup_dir, os.PathLike) else backup_dir
        if not isinstance(backup_dir, str) or not backup_dir:
            raise ValueError(f"BackupAndRestore: backup_dir={backup_dir!r}; expected a non-empty directory path")
        self.backup_dir = backup_dir
        self.save_freq = _check_save_freq("BackupAndRestore", save_freq)
        self.delete_checkpoint = bool(delete_checkpoint)
        self._current_epoch = 0
        self._batches_seen_since_last_saving = 0
        self._last_batch_seen = 0
        self._saves = 0

    @property
    def reads_batch_logs(self):
        return self.save_freq != "epoch"

    @property
    def _metadata_path(self):
        return os.path.join(self.backup_dir, self._METADATA)

    def _read_metadata(self):
        if not os.path.exists(self._metadata_path):
            return None
        with open(self._metadata_path, "r") as f:
            return json.load(f)

    def on_train_begin(self, logs=None):
        meta = self._read_metadata()
        self._current_epoch = 0
        if meta is None:
            return
        path = os.path.join(self.backup_dir, meta["checkpoint"])
        restore = getattr(saving, "restore_training_state", None)
        if restore is not None:
            # Loads weights and optimizer state into this model (no rebuild from the file,
            # so unregistered custom layers resume too).
            restore(self.model, path)
        else:
            loaded = saving.load_model(path)
            self.model.set_weights(loaded.get_weights())
            if getattr(loaded, "optimizer", None) is not None and self.model.optimizer is not None:
                self.model.optimizer.set_state(loaded.optimizer.get_state(), self.model.trainable_weights)
        opt = self.model.optimizer
        if meta.get("learning_rate") is not None and _float_learning_rate(opt) is not None:
            # A rate changed during training (ReduceLROnPlateau...) is state too, as in Keras
            # where the rate is an optimizer variable saved with the weights.
            opt.learning_rate = meta["learning_rate"]
        if meta.get("rng_state") is not None:
            self.model.backend.set_rng_state(meta["rng_state"])
        self._current_epoch = int(meta["epoch"])
        self._saves = int(meta.get("saves", 0))
        # Keras 3's attribute: fit starts from this epoch (and clears it).
        self.model._initial_epoch = self._current_epoch

    def on_epoch_end(self, epoch, logs=None):
        self._current_epoch = epoch + 1
        self._last_batch_seen = 0
        if self.save_freq == "epoch":
            self._save()

    def on_train_batch_end(self, batch, logs=None):
        if self.save_freq == "epoch":
            return
        add = batch + 1 if batch <= self._last_batch_seen else batch - self._last_batch_seen
        self._batches_seen_since_last_saving += add
        self._last_batch_seen = batch
        if self._batches_seen_since_last_saving >= self.save_freq:
            self._batches_seen_since_last_saving = 0
            self._save()

    def _save(self):
        os.makedirs(self.backup_dir, exist_ok=True)
        previous = self._read_metadata()
        self._saves += 1
        name = f"checkpoint-{self._saves}{_CHECKPOINT_SUFFIX}"
        self.model.save(os.path.join(self.backup_dir, name), overwrite=True)
        meta = {"epoch": self._current_epoch, "batch": self._last_batch_seen, "checkpoint": name,
                "saves": self._saves, "learning_rate": _float_learning_rate(self.model.optimizer),
                "rng_state": self.model.backend.get_rng_state()}
        tmp = self._metadata_path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(meta, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self._metadata_path)
        if previous is not None and previous.get("checkpoint") != name:
            _remove_path(os.path.join(self.backup_dir, previous["checkpoint"]))

    def on_train_end(self, logs=None):
        if not self.delete_checkpoint:
            return
        meta = self._read_metadata()
        if meta is not None:
            _remove_path(os.path.join(self.backup_dir, meta["checkpoint"]))
            _remove_path(self._metadata_path)
        try:
            os.rmdir(self.backup_dir)   # only when empty: never delete files we did not write
        except OSError:
            pass


# The extension of portanet's own model format (model.save picks the format by it).
_CHECKPOINT_SUFFIX = ".portanet"


def _remove_path(path):
    if os.path.isdir(path):
        shutil.rmtree(path)
    elif os.path.exists(path):
        os.remove(path)

