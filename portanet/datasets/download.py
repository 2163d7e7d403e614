"""Download-once file cache for data sets (as ``keras.utils.get_file``).

Files land in ``~/.portanet/datasets/<subdir>/`` (``$PORTANET_HOME/datasets`` when that
variable is set). A download is streamed into a temporary file in the same folder, its
SHA-256 checked, and only then renamed into place, so an interrupted or corrupted
transfer never leaves a file that looks complete. A cached file is checked again before
use; a bad one is deleted and fetched anew.

``$PORTANET_DATASETS_BASE_URL`` (or a loader's ``base_url=`` argument) replaces the
download server, e.g. with a mirror or a local folder served over HTTP.
"""

import hashlib
import os
import socket
import sys
import tempfile
import urllib.error
import urllib.request

BASE_URL_ENV = "PORTANET_DATASETS_BASE_URL"
HOME_ENV = "PORTANET_HOME"
TIMEOUT_SECONDS = 60
_CHUNK = 1 << 20


class DownloadError(OSError):
    """A file could not be downloaded (no network, server error, file not found)."""


class ChecksumError(ValueError):
    """A downloaded file's SHA-256 is not the published one (the file is deleted)."""


def portanet_home():
    """``$PORTANET_HOME``, else ``~/.portanet``."""
    return os.environ.get(HOME_ENV) or os.path.join(os.path.expanduser("~"), ".portanet")


def cache_dir(cache_subdir=""):
    """The folder data sets are cached in (created on demand)."""
    return os.path.join(portanet_home(), "datasets", cache_subdir)


def resolve_base_url(default, override=None):
    """The server to download from: ``override``, else ``$PORTANET_DATASETS_BASE_URL``, else
    ``default``; always ending with a slash."""
    url = override or os.environ.get(BASE_URL_ENV) or default
    return url if url.endswith("/") else url + "/"


def sha256(path):
    """Hex SHA-256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(_CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def get_file(fname, origin, file_hash=None, cache_subdir="", verbose=True):
    """Return the local path of ``fname``, downloading it from ``origin`` once.

    Args:
        fname: file name inside the cache folder (an absolute path is used as is).
        origin: the URL to download from when the file is not cached.
        file_hash: the expected SHA-256 (hex). A cached file that does not match is
            downloaded again; a download that does not match is deleted and refused.
        cache_subdir: sub-folder of the cache (``~/.portanet/datasets/<cache_subdir>``).
        verbose: print a line when downloading.

    Raises:
        DownloadError: the file could not be fetched (offline, server error, not found).
        ChecksumError: the downloaded file's SHA-256 differs from ``file_hash``.
    """
    folder = cache_dir(cache_subdir)
    path = os.path.join(folder, fname)
    if os.path.exists(path):
        if file_hash is None or sha256(path) == file_hash.lower():
            return path
        if verbose:
            print(f"The cached {path} does not match its SHA-256; downloading it again.",
                  file=sys.stderr, flush=True)
        os.remove(path)
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    if verbose:
        print(f"Downloading data from {origin}", file=sys.stderr, flush=True)
    fd, tmp = tempfile.mkstemp(prefix=".download-", suffix=".part", dir=os.path.dirname(path) or ".")
    digest = hashlib.sha256()
    try:
        try:
            with os.fdopen(fd, "wb") as out, urllib.request.urlopen(origin, timeout=TIMEOUT_SECONDS) as resp:
                for block in iter(lambda: resp.read(_CHUNK), b""):
                    digest.update(block)
                    out.write(block)
        except urllib.error.HTTPError as exc:
            raise DownloadError(f"could not download {fname}: the server at {origin} answered HTTP "
                                f"{exc.code} ({exc.reason}). Check the address, or set "
                                f"{BASE_URL_ENV} to a mirror that has the file.") from None
        except (urllib.error.URLError, socket.timeout, ConnectionError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise DownloadError(f"could not download {fname} from {origin}: {reason}. Are you offline? "
                                f"Connect to the internet, or copy the file by hand to {path} (or "
                                f"set {BASE_URL_ENV} to a reachable mirror) and try again.") from None
        got = digest.hexdigest()
        if file_hash is not None and got != file_hash.lower():
            raise ChecksumError(f"the download of {fname} from {origin} is corrupted: its SHA-256 is "
                                f"{got}, expected {file_hash.lower()}. The file was deleted; try again "
                                "(or use another mirror).")
        _default_permissions(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


def _default_permissions(path):
    """mkstemp makes 0600 files; give the final file the usual 0666 minus the umask."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, 0o666 & ~umask)
