"""RemoteMonitor (keras/src/callbacks/remote_monitor.py): posts each epoch's logs to a
server, with the standard library's urllib (Keras uses ``requests``)."""

import json
import urllib.error
import urllib.parse
import urllib.request
import warnings

from .callback import Callback


class RemoteMonitor(Callback):
    """At each epoch end, POST ``{"epoch": epoch, **logs}`` to ``root + path``.

    Args:
        root: the server's root URL ("http://localhost:9000").
        path: the path the events go to ("/publish/epoch/end/").
        field: the form field holding the JSON text ("data"), when not ``send_as_json``.
        headers: optional dict of extra HTTP headers.
        send_as_json: send the body as JSON (Content-Type application/json) instead of a
            form with one field.

    An unreachable server gives a warning, not an error, as Keras.
    """

    def __init__(self, root="http://localhost:9000", path="/publish/epoch/end/", field="data",
                 headers=None, send_as_json=False):
        super().__init__()
        for n, v in (("root", root), ("path", path), ("field", field)):
            if not isinstance(v, str):
                raise TypeError(f"RemoteMonitor: {n}={v!r}; expected a string")
        if headers is not None and not isinstance(headers, dict):
            raise TypeError(f"RemoteMonitor: headers={headers!r}; expected a dict or None")
        self.root, self.path, self.field = root, path, field
        self.headers = headers
        self.send_as_json = bool(send_as_json)

    def on_epoch_end(self, epoch, logs=None):
        send = {"epoch": epoch}
        for k, v in (logs or {}).items():
            send[k] = v.item() if hasattr(v, "item") else v
        headers = dict(self.headers or {})
        if self.send_as_json:
            body = json.dumps(send).encode("utf-8")
            headers.setdefault("Content-Type", "application/json")
        else:
            body = urllib.parse.urlencode({self.field: json.dumps(send)}).encode("utf-8")
            headers.setdefault("Content-Type", "application/x-www-form-urlencoded")
        request = urllib.request.Request(self.root + self.path, data=body, headers=headers,
                                         method="POST")
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                response.read()
        except (urllib.error.URLError, OSError, ValueError):
            warnings.warn(f"Could not reach RemoteMonitor root server at {self.root}", stacklevel=2)
