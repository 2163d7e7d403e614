"""``keras.utils.get_file``: download a file once into a cache folder, check its hash,
extract tar/zip archives safely (keras/src/utils/file_utils.py).

Differences from Keras, on purpose: the default cache is ``$PORTANET_HOME`` (else
``~/.portanet``), the folder the data sets use; a download goes to a temporary file that is
renamed into place only once complete and checked; an archive member that would land
outside the extraction folder (an absolute path, ``..``, a link pointing out, a device
file) makes extraction refuse the whole archive with a ``ValueError`` naming the member,
before anything is written.
"""

import hashlib
import os
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import warnings
import zipfile

from ..datasets.download import portanet_home
from ..progbar import Progbar, print_msg

_CHUNK = 1 << 16


def resolve_hasher(algorithm, file_hash=None):
    """A hashlib object: sha256 for "sha256" (or "auto" with a 64-character hash), else md5."""
    if algorithm == "sha256":
        return hashlib.sha256()
    if algorithm == "auto" and file_hash is not None and len(file_hash) == 64:
        return hashlib.sha256()
    return hashlib.md5()


def hash_file(fpath, algorithm="sha256", chunk_size=65535):
    """The hex digest of a file ("sha256", "md5", "auto" or a hashlib object)."""
    hasher = resolve_hasher(algorithm) if isinstance(algorithm, str) else algorithm
    with open(fpath, "rb") as fh:
        for chunk in iter(lambda: fh.read(chunk_size), b""):
            hasher.update(chunk)
    return hasher.hexdigest()


def validate_file(fpath, file_hash, algorithm="auto", chunk_size=65535):
    """Whether the file's hash (sha256 or md5, "auto" by the hash's length) is ``file_hash``."""
    hasher = resolve_hasher(algorithm, file_hash)
    return str(hash_file(fpath, hasher, chunk_size)) == str(file_hash)


def _inside(root, name):
    target = os.path.realpath(os.path.join(root, name))
    root = os.path.realpath(root)
    return target == root or target.startswith(root + os.sep)


def _check_tar_members(archive, path):
    for member in archive.getmembers():
        if os.path.isabs(member.name) or not _inside(path, member.name):
            raise ValueError(f"get_file: archive member {member.name!r} would be written outside "
                             f"{path!r}; refusing to extract")
        if member.issym() or member.islnk():
            link = member.linkname
            base = os.path.dirname(member.name) if member.issym() else ""
            if os.path.isabs(link) or not _inside(path, os.path.join(base, link)):
                raise ValueError(f"get_file: archive member {member.name!r} links to {link!r}, "
                                 f"outside {path!r}; refusing to extract")
        elif not (member.isfile() or member.isdir()):
            raise ValueError(f"get_file: archive member {member.name!r} is not a file or folder "
                             "(a device or pipe); refusing to extract")


def extract_archive(file_path, path=".", archive_format="auto"):
    """Extract a tar or zip archive into ``path``; True when it was one of ``archive_format``
    ("auto" = ["tar", "zip"], a string or a list), False when it was none of them.
    Raises ValueError (writing nothing) when a member would land outside ``path``."""
    if archive_format is None:
        return False
    if archive_format == "auto":
        archive_format = ["tar", "zip"]
    if isinstance(archive_format, str):
        archive_format = [archive_format]
    for kind in archive_format:
        if kind == "tar" and tarfile.is_tarfile(file_path):
            with tarfile.open(file_path) as archive:
                _check_tar_members(archive, path)
                _extract_all(path, lambda dest: archive.extractall(dest))
            return True
        if kind == "zip" and zipfile.is_zipfile(file_path):
            with zipfile.ZipFile(file_path) as archive:
                for name in archive.namelist():
                    if os.path.isabs(name) or name.startswith("\\") or not _inside(path, name):
                        raise ValueError(f"get_file: archive member {name!r} would be written "
                                         f"outside {path!r}; refusing to extract")
                _extract_all(path, archive.extractall)
            return True
    return False


def _extract_all(path, extract):
    """Extract into ``path``; on an error leave no half-extracted folder behind."""
    existed = os.path.exists(path)
    try:
        extract(path)
    except (tarfile.TarError, zipfile.BadZipFile, OSError, KeyboardInterrupt):
        if not existed and os.path.exists(path):
            shutil.rmtree(path) if os.path.isdir(path) else os.remove(path)
        raise


def get_file(fname=None, origin=None, untar=False, md5_hash=None, file_hash=None,
             cache_subdir="datasets", hash_algorithm="auto", extract=False,
             archive_format="auto", cache_dir=None, force_download=False):
    """Download a file from a URL (``http(s)://``, ``file://``...) unless it is cached;
    returns its local path (the extraction folder with ``extract``/``untar``).

    Args follow Keras 3: fname (file name in the cache; default the URL's last part; a
    path is refused), origin (the URL), untar (deprecated: extract as tar), md5_hash
    (deprecated: file_hash with md5), file_hash (sha256 or md5 hex digest, checked after
    the download and on a cached file, which is downloaded again when it differs),
    cache_subdir (folder under cache_dir, or an absolute path), hash_algorithm ("auto",
    "sha256", "md5"), extract (extract a tar/zip archive into ``<name>_extracted`` when
    fname has an extension, else into ``<name>`` with the download at ``<name>_archive``),
    archive_format ("auto", "tar", "zip" or a list), cache_dir (default
    ``$PORTANET_HOME`` or ``~/.portanet``), force_download.
    """
    if origin is None:
        raise ValueError('Please specify the "origin" argument (URL of the file to download).')
    if hash_algorithm not in ("auto", "sha256", "md5"):
        raise ValueError(f"get_file: hash_algorithm={hash_algorithm!r}; expected 'auto', 'sha256' "
                         "or 'md5'")
    if cache_dir is None:
        cache_dir = portanet_home()
    if md5_hash is not None and file_hash is None:
        file_hash, hash_algorithm = md5_hash, "md5"
    datadir_base = os.path.expanduser(os.fspath(cache_dir))
    datadir = os.path.join(datadir_base, cache_subdir)
    os.makedirs(datadir, exist_ok=True)
    provided_fname = fname
    fname = os.fspath(fname) if fname is not None else None
    if not fname:
        fname = os.path.basename(urllib.parse.urlsplit(origin).path)
        if not fname:
            raise ValueError(f"Can't parse the file name from the origin provided: '{origin}'."
                             "Please specify the `fname` argument.")
    elif os.sep in fname:
        raise ValueError("Paths are no longer accepted as the `fname` argument. To specify the "
                         f"file's parent directory, use the `cache_dir` argument. Received: fname={fname}")
    extraction_dir = None
    if extract or untar:
        if provided_fname and "." in fname:
            download_target = os.path.join(datadir, fname)
            extraction_dir = os.path.join(datadir, f"{fname[:fname.find('.')]}_extracted")
        else:
            extraction_dir = os.path.join(datadir, fname)
            download_target = os.path.join(datadir, f"{fname}_archive")
    else:
        download_target = os.path.join(datadir, fname)

    download = True
    if not force_download and os.path.exists(download_target):
        download = False
        if file_hash is not None and not validate_file(download_target, file_hash, hash_algorithm):
            print_msg("A local file was found, but it seems to be incomplete or outdated because "
                      f"the {hash_algorithm} file hash does not match the original value of "
                      f"{file_hash} so we will re-download the data.")
            download = True
    if download:
        print_msg(f"Downloading data from {origin}")
        _download(origin, download_target)
        if file_hash is not None and not validate_file(download_target, file_hash, hash_algorithm):
            os.remove(download_target)
            raise ValueError(f"Incomplete or corrupted file detected. The {hash_algorithm} file "
                             f"hash does not match the provided value of {file_hash}.")
    if extract or untar:
        if untar:
            archive_format = "tar"
        if not extract_archive(download_target, extraction_dir, archive_format):
            warnings.warn("Could not extract archive.", stacklevel=2)
        return extraction_dir
    return download_target


def _download(origin, target):
    """Stream ``origin`` into a temporary file beside ``target``, then rename it into place;
    a progress bar counts the bytes as Keras's does."""
    fd, tmp = tempfile.mkstemp(prefix=".download-", suffix=".part", dir=os.path.dirname(target))
    try:
        try:
            with os.fdopen(fd, "wb") as out, urllib.request.urlopen(origin) as resp:
                total = resp.headers.get("Content-Length") if hasattr(resp, "headers") else None
                bar = Progbar(int(total) if total else None)
                done = 0
                for block in iter(lambda: resp.read(_CHUNK), b""):
                    out.write(block)
                    done += len(block)
                    if bar.target is None or done < bar.target:
                        bar.update(done)
                if bar.target is not None:
                    bar.update(bar.target)
        except urllib.error.HTTPError as e:
            raise Exception(f"URL fetch failure on {origin}: {e.code} -- {e.msg}") from None
        except urllib.error.URLError as e:
            raise Exception(f"URL fetch failure on {origin}: {e.errno} -- {e.reason}") from None
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
