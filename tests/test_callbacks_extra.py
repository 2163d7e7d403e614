"""SwapEMAWeights (evaluation, prediction and epoch-end callbacks see the optimizer's moving
averages; training continues on the raw weights) and RemoteMonitor (posts each epoch's logs
to a local http.server on 127.0.0.1, as a form field or as JSON; warns when unreachable)."""

import http.server
import json
import threading
import urllib.parse

import numpy as np
import pytest

import portanet as pn


def _data():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((32, 3)).astype("float32")
    y = (x @ np.array([[0.5], [-1.0], [0.25]])).astype("float32")
    return x, y


def _model(optimizer):
    pn.utils.set_random_seed(0)
    model = pn.Sequential([pn.Input((3,)), pn.layers.Dense(4, activation="tanh"), pn.layers.Dense(1)])
    model.compile(optimizer=optimizer, loss="mse")
    return model


def _averages(model):
    opt = model.optimizer
    inner = opt.optimizers if hasattr(opt, "optimizers") else [opt]
    out = {}
    for o in inner:
        for v, slots in zip(o.variables, o.get_state()["slots"]):
            if "average" in slots:
                out[v.path] = np.asarray(slots["average"])
    return [out[v.path] for v in model.trainable_weights]


def _drifted_model(optimizer):
    """A model whose weights and EMA differ (fit copies the averages in at its end, so a
    few train_on_batch steps follow)."""
    x, y = _data()
    model = _model(optimizer)
    model.fit(x, y, epochs=1, batch_size=8, verbose=0)
    for i in range(3):
        model.train_on_batch(x[i * 8:(i + 1) * 8], y[i * 8:(i + 1) * 8])
    return model


def test_evaluate_and_predict_use_the_averages(backend):
    x, y = _data()
    model = _drifted_model(pn.optimizers.Adam(learning_rate=0.05, use_ema=True, ema_momentum=0.5))
    raw, avg = model.get_weights(), _averages(model)
    assert any(not np.allclose(a, b) for a, b in zip(raw, avg))
    swap = pn.callbacks.SwapEMAWeights()
    loss_ema = model.evaluate(x, y, verbose=0, callbacks=[swap])
    pred_ema = model.predict(x, verbose=0, callbacks=[swap])
    for a, b in zip(model.get_weights(), raw):            # swapped back afterwards
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(_averages(model)[0], avg[0])
    model.set_weights(avg)
    np.testing.assert_allclose(loss_ema, model.evaluate(x, y, verbose=0), rtol=1e-6)
    np.testing.assert_allclose(pred_ema, model.predict(x, verbose=0), rtol=1e-6)


def test_swap_on_epoch_shows_averages_at_epoch_end(backend):
    x, y = _data()
    model = _model(pn.optimizers.SGD(learning_rate=0.05, use_ema=True, ema_momentum=0.8))
    seen = []

    def record(epoch, logs):
        seen.append((model.get_weights(), _averages(model)))
    model.fit(x, y, epochs=3, batch_size=8, verbose=0,
              callbacks=[pn.callbacks.SwapEMAWeights(swap_on_epoch=True),
                         pn.callbacks.LambdaCallback(on_epoch_end=record)])
    # At each epoch end the model holds what the optimizer had as averages (and the
    # optimizer holds the raw weights), except after the last epoch, where both are the
    # averages, as fit's final EMA copy leaves them.
    for weights, held in seen[:-1]:
        assert any(not np.allclose(a, b) for a, b in zip(weights, held))
    for a, b in zip(*seen[-1]):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(model.get_weights(), seen[-1][0]):
        np.testing.assert_array_equal(a, b)


def test_multi_optimizer_and_errors(backend):
    x, y = _data()
    multi = pn.optimizers.MultiOptimizer(pn.optimizers.OptimizerMap(
        pn.optimizers.SGD(learning_rate=0.05), {"dense.*/kernel": pn.optimizers.Adam(
            learning_rate=0.05, use_ema=True, ema_momentum=0.5)}))
    model = _drifted_model(multi)
    raw = model.get_weights()
    model.evaluate(x, y, verbose=0, callbacks=[pn.callbacks.SwapEMAWeights()])
    for a, b in zip(model.get_weights(), raw):
        np.testing.assert_array_equal(a, b)
    plain = _model(pn.optimizers.Adam())
    with pytest.raises(ValueError, match="use_ema"):
        plain.evaluate(x, y, verbose=0, callbacks=[pn.callbacks.SwapEMAWeights()])
    no_ema = _model(pn.optimizers.MultiOptimizer(pn.optimizers.OptimizerMap(pn.optimizers.SGD())))
    no_ema.fit(x, y, epochs=1, verbose=0)
    with pytest.raises(ValueError, match="at least one inner optimizer"):
        no_ema.evaluate(x, y, verbose=0, callbacks=[pn.callbacks.SwapEMAWeights()])


class _Recorder(http.server.BaseHTTPRequestHandler):
    posts = []

    def do_POST(self):  # noqa: N802 - http.server's name
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).posts.append((self.path, dict(self.headers), body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    _Recorder.posts = []
    httpd = http.server.HTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", _Recorder.posts
    httpd.shutdown()
    httpd.server_close()


def test_remote_monitor_posts_each_epoch(backend, server):
    root, posts = server
    x, y = _data()
    model = _model(pn.optimizers.SGD(learning_rate=0.01))
    hist = model.fit(x, y, epochs=2, batch_size=8, verbose=0,
                     callbacks=[pn.callbacks.RemoteMonitor(root=root, headers={"X-Run": "7"})])
    assert len(posts) == 2
    for epoch, (path, headers, body) in enumerate(posts):
        assert path == "/publish/epoch/end/"
        assert headers["X-Run"] == "7"
        assert headers["Content-Type"] == "application/x-www-form-urlencoded"
        sent = json.loads(urllib.parse.parse_qs(body.decode())["data"][0])
        assert sent["epoch"] == epoch
        np.testing.assert_allclose(sent["loss"], hist.history["loss"][epoch], rtol=1e-6)


def test_remote_monitor_as_json(backend, server):
    root, posts = server
    monitor = pn.callbacks.RemoteMonitor(root=root, path="/events", send_as_json=True)
    monitor.on_epoch_end(3, {"loss": 0.25, "val_loss": 0.5})
    path, headers, body = posts[0]
    assert path == "/events" and headers["Content-Type"] == "application/json"
    assert json.loads(body) == {"epoch": 3, "loss": 0.25, "val_loss": 0.5}


def test_remote_monitor_unreachable_warns():
    import socket
    with socket.socket() as s:       # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monitor = pn.callbacks.RemoteMonitor(root=f"http://127.0.0.1:{port}")
    with pytest.warns(UserWarning, match="Could not reach RemoteMonitor"):
        monitor.on_epoch_end(0, {"loss": 1.0})
    with pytest.raises(TypeError, match="headers"):
        pn.callbacks.RemoteMonitor(headers=["x"])
