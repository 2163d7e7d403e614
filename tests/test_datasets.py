"""Data sets: the bundled digits, and the download-once cache of mnist/fashion_mnist
against a local HTTP server on 127.0.0.1 (never the internet): a good download, a cached
second call that makes no request, a corrupted download refused and deleted, and a clear
error when the server cannot be reached."""

import gzip
import hashlib
import http.server
import io
import os
import socket
import threading

import numpy as np
import pytest

import portanet as pn
from portanet.datasets import download, fashion_mnist, mnist


class _Handler(http.server.SimpleHTTPRequestHandler):
    requests = []

    def do_GET(self):
        type(self).requests.append(self.path)
        super().do_GET()

    def log_message(self, *args):  # keep pytest output clean
        pass


@pytest.fixture
def server(tmp_path, monkeypatch):
    """Serves tmp_path/www on 127.0.0.1; the cache lives in tmp_path/home ($PORTANET_HOME)."""
    www = tmp_path / "www"
    www.mkdir()
    monkeypatch.setenv("PORTANET_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("PORTANET_DATASETS_BASE_URL", raising=False)
    handler = type("Handler", (_Handler,), {"requests": []})
    httpd = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), lambda *a, **k: handler(*a, directory=str(www), **k))
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{httpd.server_address[1]}/"
    yield www, url, handler.requests
    httpd.shutdown()
    httpd.server_close()


def _sha(data):
    return hashlib.sha256(data).hexdigest()


def _fake_mnist(rng):
    buf = io.BytesIO()
    arrays = {"x_train": rng.integers(0, 256, (6, 28, 28), dtype=np.uint8),
              "y_train": rng.integers(0, 10, 6).astype(np.uint8),
              "x_test": rng.integers(0, 256, (2, 28, 28), dtype=np.uint8),
              "y_test": rng.integers(0, 10, 2).astype(np.uint8)}
    np.savez(buf, **arrays)
    return buf.getvalue(), arrays


def test_mnist_downloads_once_then_uses_the_cache(server, monkeypatch, rng):
    www, url, requests = server
    data, arrays = _fake_mnist(rng)
    (www / "mnist.npz").write_bytes(data)
    monkeypatch.setattr(mnist, "FILE_HASH", _sha(data))
    (x_train, y_train), (x_test, y_test) = mnist.load_data(base_url=url)
    assert requests == ["/mnist.npz"]
    np.testing.assert_array_equal(x_train, arrays["x_train"])
    np.testing.assert_array_equal(y_test, arrays["y_test"])
    assert x_train.dtype == np.uint8 and x_train.shape == (6, 28, 28) and y_train.shape == (6,)
    cached = os.path.join(os.environ["PORTANET_HOME"], "datasets", "mnist.npz")
    assert open(cached, "rb").read() == data
    # Second call: served from the cache, no request even when the server is told nothing.
    (x2, _), _ = mnist.load_data(base_url=url)
    assert requests == ["/mnist.npz"]
    np.testing.assert_array_equal(x2, x_train)
    # No temporary files left next to it.
    assert os.listdir(os.path.dirname(cached)) == ["mnist.npz"]


def test_corrupted_download_is_refused_and_deleted(server, monkeypatch, rng):
    www, url, requests = server
    data, _ = _fake_mnist(rng)
    monkeypatch.setattr(mnist, "FILE_HASH", _sha(data))
    (www / "mnist.npz").write_bytes(data[:-100] + b"\0" * 100)  # damaged in transit
    monkeypatch.setenv("PORTANET_DATASETS_BASE_URL", url)   # the environment variable route
    with pytest.raises(download.ChecksumError, match=r"mnist.npz .* is corrupted: its SHA-256 is "
                                                      r"[0-9a-f]{64}, expected " + _sha(data)):
        mnist.load_data()
    folder = os.path.join(os.environ["PORTANET_HOME"], "datasets")
    assert os.listdir(folder) == []
    # The real file fixes it on the next call.
    (www / "mnist.npz").write_bytes(data)
    mnist.load_data()
    assert requests == ["/mnist.npz", "/mnist.npz"]


def test_corrupted_cache_is_fetched_again(server, monkeypatch, rng):
    www, url, requests = server
    data, _ = _fake_mnist(rng)
    (www / "mnist.npz").write_bytes(data)
    monkeypatch.setattr(mnist, "FILE_HASH", _sha(data))
    folder = os.path.join(os.environ["PORTANET_HOME"], "datasets")
    os.makedirs(folder)
    with open(os.path.join(folder, "mnist.npz"), "wb") as fh:
        fh.write(b"truncated")
    mnist.load_data(base_url=url)
    assert requests == ["/mnist.npz"]
    assert open(os.path.join(folder, "mnist.npz"), "rb").read() == data


def test_real_hash_refuses_a_fake_file(server):
    www, url, _ = server
    (www / "mnist.npz").write_bytes(b"not the real mnist")
    with pytest.raises(download.ChecksumError, match=mnist.FILE_HASH):
        mnist.load_data(base_url=url)


def _idx(array, magic):
    header = magic.to_bytes(4, "big") + b"".join(int(s).to_bytes(4, "big") for s in array.shape)
    return gzip.compress(header + array.tobytes())


def test_fashion_mnist_parses_the_four_files(server, monkeypatch, rng):
    www, url, requests = server
    x_train = rng.integers(0, 256, (5, 28, 28), dtype=np.uint8)
    y_train = rng.integers(0, 10, 5).astype(np.uint8)
    x_test = rng.integers(0, 256, (3, 28, 28), dtype=np.uint8)
    y_test = rng.integers(0, 10, 3).astype(np.uint8)
    files = {"train-labels-idx1-ubyte.gz": _idx(y_train, 2049), "train-images-idx3-ubyte.gz": _idx(x_train, 2051),
             "t10k-labels-idx1-ubyte.gz": _idx(y_test, 2049), "t10k-images-idx3-ubyte.gz": _idx(x_test, 2051)}
    for name, data in files.items():
        (www / name).write_bytes(data)
    monkeypatch.setattr(fashion_mnist, "FILE_HASHES", {k: _sha(v) for k, v in files.items()})
    (a, b), (c, d) = fashion_mnist.load_data(base_url=url)
    for got, want in ((a, x_train), (b, y_train), (c, x_test), (d, y_test)):
        np.testing.assert_array_equal(got, want)
        assert got.dtype == np.uint8
    assert sorted(requests) == sorted("/" + k for k in files)
    fashion_mnist.load_data(base_url=url)
    assert len(requests) == 4
    assert sorted(os.listdir(os.path.join(os.environ["PORTANET_HOME"], "datasets", "fashion-mnist"))) == \
        sorted(files)


def test_keras_published_hashes():
    assert mnist.FILE_HASH == "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1"
    assert fashion_mnist.FILE_HASHES["t10k-images-idx3-ubyte.gz"] == \
        "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073"
    assert mnist.DEFAULT_BASE_URL == "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"


def test_clear_errors_when_unreachable_or_missing(server, tmp_path, monkeypatch):
    www, url, _ = server
    with pytest.raises(download.DownloadError, match=r"HTTP 404"):
        mnist.load_data(base_url=url)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there now: as good as offline
    with pytest.raises(download.DownloadError, match=r"could not download mnist.npz from "
                                                      rf"http://127.0.0.1:{port}/mnist.npz: .*offline.*"
                                                      r"copy the file by hand"):
        mnist.load_data(base_url=f"http://127.0.0.1:{port}")
    assert os.listdir(os.path.join(os.environ["PORTANET_HOME"], "datasets")) == []


def test_cache_location(monkeypatch, tmp_path):
    monkeypatch.setenv("PORTANET_HOME", str(tmp_path))
    assert download.cache_dir("x") == os.path.join(str(tmp_path), "datasets", "x")
    monkeypatch.delenv("PORTANET_HOME")
    assert download.cache_dir() == os.path.join(os.path.expanduser("~"), ".portanet", "datasets", "")


def test_bundled_digits():
    (x_train, y_train), (x_test, y_test) = pn.datasets.digits.load_data()
    assert x_train.shape == (1438, 8, 8) and x_test.shape == (359, 8, 8)
    assert x_train.dtype == np.float32 and 0.0 <= x_train.min() and x_train.max() == 1.0
    assert sorted(set(y_train.tolist())) == list(range(10))
