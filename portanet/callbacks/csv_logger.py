"""``CSVLogger`` (keras/src/callbacks/csv_logger.py)."""

import csv
import os
from collections.abc import Iterable

from .callback import Callback


class CSVLogger(Callback):
    """Stream each epoch's logs to a CSV file: a header ``epoch,<sorted keys>`` then one row
    per epoch (``NA`` for a key an epoch lacks).

    Args:
        filename: the CSV path. separator: the field delimiter, default ",".
        append: add to an existing file (without repeating a header) instead of overwriting.
    """

    writes_files = True

    def __init__(self, filename, separator=",", append=False):
        super().__init__()
        filename = os.fspath(filename) if isinstance(filename, os.PathLike) else filename
        if not isinstance(filename, str) or not filename:
            raise ValueError(f"CSVLogger: filename={filename!r}; expected a non-empty path")
        if not isinstance(separator, str) or len(separator) != 1:
            raise ValueError(f"CSVLogger: separator={separator!r}; expected a one-character string")
        self.filename, self.sep, self.append = filename, separator, bool(append)
        self.csv_file = None
        self.writer = None
        self.keys = None
        self.append_header = True

    def on_train_begin(self, logs=None):
        if self.append:
            if os.path.exists(self.filename):
                with open(self.filename, "r", newline="") as f:
                    self.append_header = not bool(len(f.readline()))
            mode = "a"
        else:
            mode = "w"
        if self.csv_file is not None and not self.csv_file.closed:
            self.csv_file.close()
        self.csv_file = open(self.filename, mode, newline="")
        self.writer = None
        self.keys = None

    def on_epoch_end(self, epoch, logs=None):
        logs = dict(logs or {})

        def handle_value(v):
            if isinstance(v, str):
                return v
            if isinstance(v, Iterable):
                return f"\"[{', '.join(map(str, v))}]\""
            return v

        if self.keys is None:
            self.keys = sorted(logs.keys())
        if self.writer is None:
            class Dialect(csv.excel):
                delimiter = self.sep
            self.writer = csv.DictWriter(self.csv_file, fieldnames=["epoch"] + self.keys, dialect=Dialect,
                                         extrasaction="ignore")
            if self.append_header:
                self.writer.writeheader()
        row = {"epoch": epoch}
        row.update((k, handle_value(logs.get(k, "NA"))) for k in self.keys)
        self.writer.writerow(row)
        self.csv_file.flush()

    def on_train_end(self, logs=None):
        if self.csv_file is not None and not self.csv_file.closed:
            self.csv_file.close()
        self.writer = None
