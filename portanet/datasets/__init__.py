"""Data sets: the bundled 8x8 digits (no download) and Keras-style downloaders
(``mnist``, ``fashion_mnist``) that fetch once into ``~/.portanet/datasets`` and check
each file's SHA-256."""

from . import digits, download, fashion_mnist, mnist
from .download import ChecksumError, DownloadError, get_file

__all__ = ["digits", "mnist", "fashion_mnist", "download", "get_file", "DownloadError",
           "ChecksumError"]
