"""String and integer lookup layers and text vectorization: StringLookup, IntegerLookup,
TextVectorization (Keras 3.15.1's ``IndexLookup`` family, keras/src/layers/preprocessing/).

The string and dictionary work runs on the host (``portanet/backend/host_text.py``); the
layers hand int64 indices (or float encodings) to the device. They take Python lists,
NumPy string arrays and nested lists, and work as the first layer of a model fed with
string arrays in ``fit``/``predict`` (the data adapter leaves string arrays on the host), or
outside a model (``x = layer(strings)``). They have no gradient (``backward`` returns None).

Vocabularies: ``adapt`` learns one (tokens by count, then token, both descending, as
Keras); ``vocabulary=`` takes a list (carried in ``get_config``, as Keras) or a file path
(one token a line). An adapted vocabulary is not in the config (as Keras): it is saved by
the Keras hooks ``save_assets(dir_path)``/``load_assets(dir_path)`` (``vocabulary.txt``)
and, for ``tf_idf``, ``save_own_variables(store)``/``load_own_variables(store)``
(``idf_weights``); ``get_assets()``/``set_assets(assets)`` give the same as a dict of
file name -> text for a saver that keeps files in memory.

Differences from Keras, all refusals: ``sparse=True`` and ``ragged=True`` (no sparse or
ragged tensors in portanet; Keras has them only on the TensorFlow backend).
"""

import math
import os

from .. import backend as _backend
from .. import config as _config
from ..backend import host_text as _host
from ..validation import check_one_of
from .categorical import HostPreprocessingLayer, encode_categorical, _iterate_batches

__all__ = ["StringLookup", "IntegerLookup", "TextVectorization"]

_OUTPUT_MODES = ("int", "one_hot", "multi_hot", "count", "tf_idf")


class IndexLookup(HostPreprocessingLayer):
    """Maps values from a vocabulary to integer indices (Keras's ``IndexLookup``); the
    shared base of ``StringLookup`` and ``IntegerLookup``. See ``StringLookup`` for the
    arguments."""

    def __init__(self, max_tokens, num_oov_indices, mask_token, oov_token, vocabulary_dtype,
                 vocabulary=None, idf_weights=None, invert=False, output_mode="int",
                 sparse=False, pad_to_max_tokens=False, oov_method="floormod", name=None,
                 salt=None, **kwargs):
        owner = type(self).__name__
        if max_tokens is not None and (isinstance(max_tokens, bool) or not isinstance(max_tokens, int)
                                       or max_tokens <= 1):
            raise ValueError(f"{owner}: max_tokens={max_tokens!r}; if set, max_tokens must be an "
                             "integer greater than 1")
        if pad_to_max_tokens and max_tokens is None:
            raise ValueError(f"{owner}: pad_to_max_tokens=True needs max_tokens; got "
                             "max_tokens=None")
        if isinstance(num_oov_indices, bool) or not isinstance(num_oov_indices, int) \
                or num_oov_indices < 0:
            raise ValueError(f"{owner}: num_oov_indices={num_oov_indices!r}; expected an "
                             "integer >= 0")
        if output_mode == "binary":
            output_mode = "multi_hot"
        if output_mode == "tf-idf":
            output_mode = "tf_idf"
        check_one_of(output_mode, "output_mode", owner, _OUTPUT_MODES)
        if invert and output_mode != "int":
            raise ValueError(f"{owner}: output_mode={output_mode!r} with invert=True; output_mode "
                             "must be 'int' when invert is true")
        if sparse:
            raise ValueError(f"{owner}: sparse={sparse!r}; portanet has no sparse tensors (Keras "
                             "supports them only on the TensorFlow backend); expected False")
        if idf_weights is not None and output_mode != "tf_idf":
            raise ValueError(f"{owner}: idf_weights is set but output_mode={output_mode!r}; "
                             "idf_weights should only be set if output_mode is 'tf_idf'")
        check_one_of(oov_method, "oov_method", owner, ("floormod", "farmhash"))
        if salt is not None:
            if vocabulary_dtype != "string" and oov_method != "farmhash":
                raise ValueError(f"{owner}: salt={salt!r} with oov_method={oov_method!r}; salt "
                                 "can only be used when oov_method='farmhash'")
            if isinstance(salt, (tuple, list)) and len(salt) == 2 and \
                    all(isinstance(v, int) and not isinstance(v, bool) for v in salt):
                salt = list(salt)
            elif isinstance(salt, int) and not isinstance(salt, bool):
                salt = [salt, salt]
            else:
                raise ValueError(f"{owner}: salt={salt!r}; expected an integer or a tuple of 2 "
                                 "integers")
        frozen = kwargs.pop("vocabulary_size", None)
        has_input = kwargs.pop("has_input_vocabulary", vocabulary is not None)
        kwargs.pop("trainable", None)
        kwargs.pop("dtype", None)
        super().__init__(name=name, **kwargs)
        self.invert = bool(invert)
        self.max_tokens = max_tokens
        self.num_oov_indices = num_oov_indices
        self.mask_token = mask_token
        self.oov_token = oov_token
        self.output_mode = output_mode
        self.sparse = False
        self.pad_to_max_tokens = bool(pad_to_max_tokens)
        self.vocabulary_dtype = vocabulary_dtype
        self.oov_method = oov_method
        self.salt = salt
        self._frozen_vocab_size = frozen
        self.input_vocabulary = vocabulary if not isinstance(vocabulary, str) else None
        self.input_idf_weights = _listify(idf_weights)
        self._has_input_vocabulary = bool(has_input)
        self._tokens = []
        self._table = None
        self.idf_weights = None          # host float array (floatx) in tf_idf mode
        self._idf_device = None
        if output_mode == "tf_idf" and self._has_input_vocabulary and idf_weights is None:
            raise ValueError(f"{owner}: when vocabulary is given in 'tf_idf' output mode, "
                             "idf_weights must also be provided")
        if vocabulary is not None:
            self.set_vocabulary(vocabulary, idf_weights)
        self.reset_state()

    # ------------------------------------------------------------------ indices
    def __call__(self, inputs, *args, **kwargs):
        return _keras_call_dtype(self, super().__call__(inputs, *args, **kwargs),
                                 self.output_mode)

    def _oov_start_index(self):
        return 1 if self.mask_token is not None and self.output_mode == "int" else 0

    def _token_start_index(self):
        return self._oov_start_index() + self.num_oov_indices

    @property
    def output_dtype(self):
        if self.invert:
            return "string" if self.vocabulary_dtype == "string" else "int64"
        return "int64" if self.output_mode == "int" else _config.floatx()

    def _is_string(self):
        return self.vocabulary_dtype == "string"

    def _key(self, value):
        """A vocabulary entry as the table's key type (str or int)."""
        if self._is_string():
            return _host._decode(value, getattr(self, "encoding", "utf-8"))
        if isinstance(value, str):
            raise ValueError(f"{type(self).__name__} {self.name!r}: vocabulary entry {value!r} is "
                             "a string; expected integers")
        return int(value)

    # ------------------------------------------------------------------ vocabulary
    def vocabulary_size(self):
        """The vocabulary size, mask and OOV indices included."""
        return len(self._tokens) + self._token_start_index()

    def get_vocabulary(self, include_special_tokens=True):
        """The vocabulary as a list; with the mask and OOV tokens at their indices when
        ``include_special_tokens`` (so a term's position is its index)."""
        vocab = [self.oov_token] * self._token_start_index() + list(self._tokens)
        if self.mask_token is not None and self.output_mode == "int":
            vocab[0] = self.mask_token
        if not include_special_tokens:
            vocab = vocab[self._token_start_index():]
        return vocab

    def set_vocabulary(self, vocabulary, idf_weights=None):
        """Set the vocabulary (a list, tuple, 1-D array, or the path of a file with one token
        a line) and, in tf_idf mode, the idf weights (same length)."""
        owner = f"{type(self).__name__} {self.name!r}"
        if self.output_mode == "tf_idf":
            if idf_weights is None:
                raise ValueError(f"{owner}: idf_weights must be set if output_mode is 'tf_idf'")
        elif idf_weights is not None:
            raise ValueError(f"{owner}: idf_weights should only be set if output_mode is "
                             f"'tf_idf'; got output_mode={self.output_mode!r}")
        if isinstance(vocabulary, str):
            if not os.path.exists(vocabulary):
                raise ValueError(f"{owner}: vocabulary file {vocabulary!r} does not exist")
            if self.output_mode == "tf_idf":
                raise ValueError(f"{owner}: output_mode 'tf_idf' does not support loading a "
                                 "vocabulary from a file")
            lines = _host.read_lines(vocabulary)
            self._set_tokens([self._key(v) for v in lines])
            self._record_vocabulary_size()
            return
        if hasattr(vocabulary, "shape") and not _host.is_ndarray(vocabulary):
            vocabulary = _host.to_host(self.backend or _backend.current(), vocabulary)
        vocab = [self._key(v) for v in (vocabulary.tolist() if hasattr(vocabulary, "tolist")
                                        else list(vocabulary))]
        if not vocab:
            raise ValueError(f"{owner}: cannot set an empty vocabulary; got vocabulary={vocabulary!r}")
        token_start = self._token_start_index()
        special = [self.mask_token] * self._oov_start_index() + \
            [self.oov_token] * self.num_oov_indices
        found_special = vocab[:token_start] == special
        tokens = vocab[token_start:] if found_special else vocab
        seen, repeated = set(), []
        for t in tokens:
            if t in seen and t not in repeated:
                repeated.append(t)
            seen.add(t)
        if repeated:
            raise ValueError(f"{owner}: the vocabulary has repeated terms {repeated}; expected "
                             "unique terms")
        if self.mask_token is not None and self.mask_token in seen:
            raise ValueError(f"{owner}: found the reserved mask token {self.mask_token!r} in "
                             "the vocabulary; either remove the mask and OOV tokens, or put "
                             f"them first in exactly this order: {special}")
        if self.oov_token is not None and self.invert and self.oov_token in seen:
            raise ValueError(f"{owner}: found the reserved OOV token {self.oov_token!r} in "
                             "the vocabulary; either remove the mask and OOV tokens, or put "
                             f"them first in exactly this order: {special}")
        size = token_start + len(tokens)
        if self.max_tokens is not None and size > self.max_tokens:
            raise ValueError(f"{owner}: vocabulary of size {size} (with the special tokens) is "
                             f"larger than max_tokens={self.max_tokens}")
        self._set_tokens(tokens)
        self._record_vocabulary_size()
        if self.output_mode == "tf_idf" and idf_weights is not None:
            weights = _host.float_array(_host.to_host(self.backend, idf_weights)
                                        if hasattr(idf_weights, "shape") else idf_weights)
            if len(vocab) != len(weights):
                raise ValueError(f"{owner}: idf_weights must be the same length as the "
                                 f"vocabulary; got {len(weights)} weights and {len(vocab)} terms")
            if weights.ndim != 1:
                raise ValueError(f"{owner}: idf_weights must be 1-D; got shape {weights.shape}")
            front = 0 if found_special else token_start
            front_value = 0.0 if found_special else float(weights.mean())
            back = (self.max_tokens - front - len(weights)
                    if self.pad_to_max_tokens and self.max_tokens is not None else 0)
            padded = [front_value] * front + weights.tolist() + [0.0] * back
            self._set_idf(padded)

    def _set_tokens(self, tokens):
        self._tokens = list(tokens)
        mask_index = 0 if self.output_mode == "int" else _host.INT64_MAX
        hash_oov = "floormod" if (not self._is_string() and self.oov_method != "farmhash") \
            else "farmhash"
        self._table = _host.TokenTable(self._tokens, self._token_start_index(),
                                       self._oov_start_index(), self.num_oov_indices,
                                       self.mask_token if not self.invert else None,
                                       mask_index, hash_oov=hash_oov, salt=self.salt)
        self._inverse = None

    def _set_idf(self, values):
        self.idf_weights = _host.float_array(values, _config.floatx())
        self._idf_device = None

    def _record_vocabulary_size(self):
        if self.output_mode != "int" and not self.pad_to_max_tokens:
            new = self.vocabulary_size()
            if self._frozen_vocab_size is not None and new != self._frozen_vocab_size \
                    and getattr(self, "_called", False):
                raise RuntimeError(f"{type(self).__name__} {self.name!r}: with output_mode="
                                   f"{self.output_mode!r} and pad_to_max_tokens=False the "
                                   "vocabulary size cannot change after the layer is called; "
                                   f"old size {self._frozen_vocab_size}, new size {new}")
        self._frozen_vocab_size = self.vocabulary_size()

    # ------------------------------------------------------------------ adapt
    def reset_state(self):
        self._counts = {}
        self._doc_counts = {} if self.output_mode == "tf_idf" else None
        self._num_documents = 0

    def _documents(self, data):
        """A batch as a list of documents (lists of keys): rows of a rank-2 array; a rank-1
        batch is one document, a scalar a document of one token."""
        host = self._host(data)
        if host.ndim == 0:
            host = host.reshape((1,))
        if host.ndim == 1:
            host = host.reshape((1, -1))
        rows = host.reshape((host.shape[0], -1))
        return [[self._key(v) for v in row.tolist()] for row in rows]

    def update_state(self, data):
        if self._has_input_vocabulary:
            raise ValueError(f"Cannot adapt layer {self.name!r} after setting a static "
                             "vocabulary via the vocabulary argument or set_vocabulary()")
        self._update_documents(self._documents(data))

    def _update_documents(self, docs):
        _host.count_tokens(docs, self._counts, self._doc_counts)
        self._num_documents += len(docs)

    def finalize_state(self):
        if self._has_input_vocabulary or not self._counts:
            self._record_vocabulary_size()
            return
        for special in (self.mask_token, self.oov_token):
            if special is not None:
                self._counts.pop(special, None)
        limit = self.max_tokens - self._token_start_index() if self.max_tokens else None
        tokens = _host.sorted_vocabulary(self._counts, limit)
        self._set_tokens(tokens)
        if self.output_mode == "tf_idf":
            idf = [math.log(1 + self._num_documents / (1 + self._doc_counts.get(t, 0)))
                   for t in tokens]
            idf = _host.float_array(idf, _config.floatx()).tolist()
            mean = float(_host.float_array(idf, _config.floatx()).mean()) if idf else 0.0
            padded = [mean] * self._token_start_index() + idf
            if self.pad_to_max_tokens and self.max_tokens is not None:
                padded += [0.0] * (self.max_tokens - len(padded))
            self._set_idf(padded)
        self.reset_state()
        self._record_vocabulary_size()

    def adapt(self, data, steps=None):
        """Learn the vocabulary (and, for tf_idf, the document frequencies) of ``data``: an
        array or list (one batch; a 1-D one is a column of single tokens), or an iterable of
        batches (a generator, a PyDataset; ``(x, y)`` batches use x)."""
        if self._has_input_vocabulary:
            raise ValueError(f"Cannot adapt layer {self.name!r} after setting a static "
                             "vocabulary via the vocabulary argument or set_vocabulary()")
        self.reset_state()
        if self.backend is None:
            self.backend = _backend.current()
        if isinstance(data, (list, tuple)) or hasattr(data, "shape"):
            host = self._host(data)
            if host.ndim == 1:
                host = host.reshape((-1, 1))
            self.update_state(host)
        else:
            for batch in _iterate_batches(data, steps):
                self.update_state(batch)
        self.finalize_state()

    # ------------------------------------------------------------------ call
    def _lookup(self, host):
        if self._table is None:
            self._set_tokens([])
        try:
            return self._table.lookup(host)
        except KeyError as exc:
            raise ValueError(f"{type(self).__name__} {self.name!r}: when num_oov_indices=0 all "
                             f"inputs should be in the vocabulary; found OOV values "
                             f"{exc.args[0]}, consider setting num_oov_indices=1") from None

    def _invert(self, host):
        vocab = self.get_vocabulary()
        start = self._token_start_index()
        flat = host.reshape(-1).astype("int64").tolist()
        out = []
        for i in flat:
            if self.mask_token is not None and i == 0:
                out.append(self.mask_token)
            elif start <= i < len(vocab):
                out.append(vocab[i])
            else:
                out.append(self.oov_token)
        if self._is_string():
            return _host.as_text_array(out).reshape(host.shape)
        return self.backend.from_numpy(_host.int64_array(out, host.shape))

    def _depth(self):
        return self.max_tokens if self.pad_to_max_tokens else self._frozen_vocab_size

    def _encode_indices(self, idx_host):
        """Device output of host int64 indices: "int" as is, else the encoding (tf_idf:
        counts times the idf weights)."""
        backend = self.backend
        idx = backend.from_numpy(idx_host)
        if self.output_mode == "int":
            return idx
        depth = self._depth()
        if depth is None:
            raise RuntimeError(f"{type(self).__name__} {self.name!r}: with output_mode="
                               f"{self.output_mode!r} and pad_to_max_tokens=False, set the "
                               "vocabulary (vocabulary= or adapt) before calling the layer")
        mode = "count" if self.output_mode == "tf_idf" else self.output_mode
        out = encode_categorical(backend, idx, mode, depth, _config.floatx())
        if self.output_mode == "tf_idf":
            if self.idf_weights is None:
                raise ValueError(f"{type(self).__name__} {self.name!r}: when output_mode is "
                                 "'tf_idf', idf_weights must be provided (or adapt the layer)")
            if self._idf_device is None:
                self._idf_device = backend.from_numpy(self.idf_weights, _config.floatx())
            out = out * self._idf_device
        return out

    def forward(self, inputs, training=False):
        self._called = True
        host = self._host(inputs)
        if self.invert:
            return self._invert(host), self._no_grad
        if not self._is_string() and host.dtype.kind not in "iub":
            if host.dtype.kind == "f":
                host = host.astype("int64")
            else:
                raise TypeError(f"{type(self).__name__} {self.name!r}: inputs of dtype "
                                f"{host.dtype}; expected integers")
        if self._is_string() and not _host.is_text_array(host):
            raise TypeError(f"{type(self).__name__} {self.name!r}: inputs of dtype {host.dtype}; "
                            "expected strings (a list or an array of str)")
        scalar = host.ndim == 0
        if scalar:
            host = host.reshape((1,))
        idx = self._lookup(host)
        if scalar and self.output_mode == "int":
            idx = idx.reshape(())
        return self._encode_indices(idx), self._no_grad

    def compute_output_shape(self, input_shape):
        input_shape = tuple(input_shape)
        if self.output_mode == "int":
            return input_shape
        depth = self._depth()
        if self.output_mode == "one_hot":
            if len(input_shape) > 1 and input_shape[-1] == 1:
                return input_shape[:-1] + (depth,)
            return input_shape + (depth,)
        return input_shape[:-1] + (depth,)

    # ------------------------------------------------------------------ saving
    def get_config(self):
        config = super().get_config()
        config.update({
            "invert": self.invert, "max_tokens": self.max_tokens,
            "num_oov_indices": self.num_oov_indices, "oov_token": self.oov_token,
            "mask_token": self.mask_token, "output_mode": self.output_mode,
            "sparse": self.sparse, "pad_to_max_tokens": self.pad_to_max_tokens,
            "vocabulary_dtype": self.vocabulary_dtype,
            "idf_weights": _listify(self.input_idf_weights),
            "vocabulary": _listify(self.input_vocabulary),
            "vocabulary_size": self._frozen_vocab_size,
            "oov_method": self.oov_method, "salt": self.salt})
        config.pop("batch_input_shape", None)
        return config

    def get_assets(self):
        """The Keras assets as ``{file name: text}``: ``vocabulary.txt`` (one entry a line,
        special tokens included) when the vocabulary was not given as a list, else {}."""
        if self.input_vocabulary is not None:
            return {}
        return {"vocabulary.txt": "\n".join(str(w) for w in self.get_vocabulary())}

    def set_assets(self, assets):
        """Restore what ``get_assets`` returned (idf weights come from
        ``load_own_variables``)."""
        if self.input_vocabulary is not None or "vocabulary.txt" not in assets:
            return
        lines = assets["vocabulary.txt"].splitlines()
        while lines and lines[-1] == "":
            lines.pop()
        values = [line if self._is_string() else int(line) for line in lines]
        was_input = self._has_input_vocabulary
        if self.output_mode == "tf_idf":
            idf = None if self.idf_weights is None else self.idf_weights[:len(values)]
            self.set_vocabulary(values, idf_weights=idf)
        else:
            self.set_vocabulary(values)
        self._has_input_vocabulary = was_input

    def save_assets(self, dir_path):
        """Keras's hook: write ``vocabulary.txt`` into ``dir_path`` (adapted vocabularies)."""
        for name, text in self.get_assets().items():
            with open(os.path.join(dir_path, name), "w", encoding="utf-8") as f:
                f.write(text)

    def load_assets(self, dir_path):
        """Keras's hook: read ``vocabulary.txt`` from ``dir_path``."""
        if self.input_vocabulary is not None:
            return
        path = os.path.join(dir_path, "vocabulary.txt")
        with open(path, "r", encoding="utf-8") as f:
            self.set_assets({"vocabulary.txt": f.read()})

    def save_own_variables(self, store):
        """Keras's hook: ``store["idf_weights"]`` in tf_idf mode."""
        if self.output_mode == "tf_idf" and self.idf_weights is not None:
            store["idf_weights"] = self.idf_weights

    def load_own_variables(self, store):
        if self.output_mode == "tf_idf" and "idf_weights" in store:
            self._set_idf(_host.host_array(store["idf_weights"]).tolist())


def _keras_call_dtype(layer, y, output_mode):
    """Keras 3 returns the lookup layers' one_hot/multi_hot/count encodings as int64 when
    called on data (TensorFlow's bincount in the value dtype), though its symbolic spec says
    floatx; a direct call gives int64 as Keras, a model (``forward``) keeps floatx so the
    next layer gets floats."""
    if output_mode in ("one_hot", "multi_hot", "count") and hasattr(y, "dtype") \
            and layer.backend is not None and layer.backend.is_array(y):
        return layer.xp.astype(y, layer.backend.dtype("int64"))
    return y


def _listify(x):
    if x is None:
        return None
    if hasattr(x, "tolist"):
        return x.tolist()
    if isinstance(x, tuple):
        return list(x)
    return x


class StringLookup(IndexLookup):
    """Maps strings to integer indices from a vocabulary (Keras's ``StringLookup``).

    Args:
        max_tokens: the most vocabulary entries (mask and OOV included), or None.
        num_oov_indices: out-of-vocabulary slots (default 1); with more than one, an OOV
            string goes to slot ``FarmHash64(s) % num_oov_indices`` (SipHash with ``salt``).
        mask_token: a token mapped to 0 (int mode) or dropped (other modes); default None.
        oov_token: the token that ``invert`` returns for OOV indices; default "[UNK]".
        vocabulary: a list/array of strings, or a text file path (one token a line).
        idf_weights: per-term weights, required with a vocabulary in "tf_idf" mode.
        invert: map indices back to strings.
        output_mode: "int" (int64 indices), "one_hot", "multi_hot", "count", "tf_idf"
            (floats of ``floatx``; depth ``vocabulary_size()`` or ``max_tokens`` with
            ``pad_to_max_tokens``).
        pad_to_max_tokens: encode to ``max_tokens`` columns.
        sparse: must be False.
        encoding: the encoding of bytes inputs (default "utf-8").
        salt: SipHash key for OOV hashing.
    """

    def __init__(self, max_tokens=None, num_oov_indices=1, mask_token=None, oov_token="[UNK]",
                 vocabulary=None, idf_weights=None, invert=False, output_mode="int",
                 pad_to_max_tokens=False, sparse=False, encoding="utf-8", name=None, salt=None,
                 **kwargs):
        self.encoding = encoding
        kwargs.pop("vocabulary_dtype", None)
        super().__init__(max_tokens=max_tokens, num_oov_indices=num_oov_indices,
                         mask_token=mask_token, oov_token=oov_token, vocabulary=vocabulary,
                         idf_weights=idf_weights, invert=invert, output_mode=output_mode,
                         pad_to_max_tokens=pad_to_max_tokens, sparse=sparse, name=name,
                         salt=salt, vocabulary_dtype="string", **kwargs)

    def _requires_strings(self):
        return not self.invert

    def _host(self, data):
        if self.invert:
            return super()._host(data)
        if _host.is_ndarray(data) and data.size and not _host.is_text_array(data):
            raise TypeError(f"StringLookup {self.name!r}: inputs of dtype {data.dtype}; "
                            "expected strings (a list or an array of str)")
        if _host.is_ndarray(data) or isinstance(data, (list, tuple, str, bytes)):
            return _host.as_text_array(data, self.encoding)
        return super()._host(data)

    def get_config(self):
        config = super().get_config()
        del config["vocabulary_dtype"]
        config["encoding"] = self.encoding
        return config


class IntegerLookup(IndexLookup):
    """Maps integers to contiguous indices from a vocabulary (Keras's ``IntegerLookup``).

    As ``StringLookup`` with integer terms; defaults ``mask_token=None``, ``oov_token=-1``;
    with several OOV slots an OOV value goes to ``value % num_oov_indices``
    (``oov_method="floormod"``) or its FarmHash (``"farmhash"``).
    """

    _accepts_strings = False

    def __init__(self, max_tokens=None, num_oov_indices=1, mask_token=None, oov_token=-1,
                 vocabulary=None, vocabulary_dtype="int64", idf_weights=None, invert=False,
                 output_mode="int", sparse=False, pad_to_max_tokens=False,
                 oov_method="floormod", salt=None, name=None, **kwargs):
        if vocabulary_dtype != "int64":
            raise ValueError(f"IntegerLookup: vocabulary_dtype={vocabulary_dtype!r}; only "
                             "'int64' is supported")
        super().__init__(max_tokens=max_tokens, num_oov_indices=num_oov_indices,
                         mask_token=mask_token, oov_token=oov_token, vocabulary=vocabulary,
                         vocabulary_dtype=vocabulary_dtype, idf_weights=idf_weights,
                         invert=invert, output_mode=output_mode, sparse=sparse,
                         pad_to_max_tokens=pad_to_max_tokens, oov_method=oov_method,
                         salt=salt, name=name, **kwargs)

    def get_config(self):
        config = super().get_config()
        for key in ("oov_token", "mask_token"):
            if config[key] is not None:
                config[key] = int(config[key])
        if config["vocabulary"] is not None:
            config["vocabulary"] = [int(v) for v in config["vocabulary"]]
        return config


class TextVectorization(HostPreprocessingLayer):
    """Turns raw strings into token indices or encodings (Keras's ``TextVectorization``).

    Args:
        max_tokens: the most vocabulary entries (the padding "" and OOV "[UNK]" included).
        standardize: "lower_and_strip_punctuation" (default), "lower", "strip_punctuation",
            None, or a callable taking a NumPy array of str and returning one (as Keras on
            non-TensorFlow backends). "lower" lowercases ASCII letters, as ``tf.strings.lower``.
        split: "whitespace" (default), "character", None, or a callable taking a 1-D NumPy
            array of str and returning a list of token lists.
        ngrams: None, an int n (all 1..n-grams) or a tuple of widths.
        output_mode: "int" (default; int64 indices, 0 pads), "multi_hot", "count", "tf_idf"
            (and "one_hot", as Keras).
        output_sequence_length: "int" mode: pad or cut each row to this length.
        pad_to_max_tokens: encode to ``max_tokens`` columns.
        vocabulary, idf_weights: as ``StringLookup``.
        sparse, ragged: must be False.
        encoding: the encoding of bytes inputs.

    Input: a list or 1-D array of strings, or shape (batch, 1).
    """

    def __init__(self, max_tokens=None, standardize="lower_and_strip_punctuation",
                 split="whitespace", ngrams=None, output_mode="int", output_sequence_length=None,
                 pad_to_max_tokens=False, vocabulary=None, idf_weights=None, sparse=False,
                 ragged=False, encoding="utf-8", name=None, **kwargs):
        if not (standardize is None or callable(standardize) or standardize in
                ("lower_and_strip_punctuation", "lower", "strip_punctuation")):
            raise ValueError(f"TextVectorization: standardize={standardize!r}; expected one of "
                             "('lower_and_strip_punctuation', 'lower', 'strip_punctuation'), "
                             "None or a callable")
        if not (split is None or callable(split) or split in ("whitespace", "character")):
            raise ValueError(f"TextVectorization: split={split!r}; expected one of "
                             "('whitespace', 'character'), None or a callable")
        if output_mode == "binary":
            output_mode = "multi_hot"
        if output_mode == "tf-idf":
            output_mode = "tf_idf"
        check_one_of(output_mode, "output_mode", "TextVectorization", _OUTPUT_MODES)
        if not (ngrams is None or (isinstance(ngrams, int) and not isinstance(ngrams, bool)
                                   and ngrams >= 1)
                or (isinstance(ngrams, (tuple, list))
                    and all(isinstance(i, int) and i >= 1 for i in ngrams))):
            raise ValueError(f"TextVectorization: ngrams={ngrams!r}; expected None, a positive "
                             "integer or a tuple of positive integers")
        if output_mode == "int" and not (output_sequence_length is None or (
                isinstance(output_sequence_length, int)
                and not isinstance(output_sequence_length, bool)
                and output_sequence_length >= 1)):
            raise ValueError("TextVectorization: output_sequence_length="
                             f"{output_sequence_length!r}; expected None or a positive integer "
                             "when output_mode is 'int'")
        if output_mode != "int" and output_sequence_length is not None:
            raise ValueError("TextVectorization: output_sequence_length must not be set if "
                             f"output_mode is not 'int'; got output_sequence_length="
                             f"{output_sequence_length!r} with output_mode={output_mode!r}")
        if sparse:
            raise ValueError("TextVectorization: sparse=True; portanet has no sparse tensors "
                             "(Keras supports them only on the TensorFlow backend)")
        if ragged:
            raise ValueError("TextVectorization: ragged=True; portanet has no ragged tensors "
                             "(Keras supports them only on the TensorFlow backend)")
        has_input = kwargs.pop("has_input_vocabulary", vocabulary is not None)
        vocabulary_size = kwargs.pop("vocabulary_size", None)
        kwargs.pop("batch_input_shape", None)
        super().__init__(name=name, **kwargs)
        self._max_tokens = max_tokens
        self._standardize = standardize
        self._split = split
        self._ngrams_arg = list(ngrams) if isinstance(ngrams, list) else ngrams
        self._ngrams = tuple(range(1, ngrams + 1)) if isinstance(ngrams, int) else (
            tuple(ngrams) if ngrams is not None else None)
        self._ragged = False
        self._output_mode = output_mode
        self._output_sequence_length = output_sequence_length
        self._encoding = encoding
        self._has_input_vocabulary = has_input
        self._lookup_layer = StringLookup(
            max_tokens=max_tokens, vocabulary=vocabulary, idf_weights=idf_weights,
            pad_to_max_tokens=pad_to_max_tokens, mask_token="", output_mode=output_mode,
            has_input_vocabulary=has_input, encoding=encoding, vocabulary_size=vocabulary_size,
            name=f"{self.name}_lookup")

    @property
    def output_dtype(self):
        return "int64" if self._output_mode == "int" else _config.floatx()

    def __call__(self, inputs, *args, **kwargs):
        return _keras_call_dtype(self, super().__call__(inputs, *args, **kwargs),
                                 self._output_mode)

    def _requires_strings(self):
        return True

    # ------------------------------------------------------------------ text to tokens
    def _strings(self, inputs):
        if not _host.is_ndarray(inputs) and hasattr(inputs, "shape"):
            inputs = _host.to_host(self.backend or _backend.current(), inputs)
        if not _host.is_text_data(inputs):
            arr = _host.host_array(inputs)
            if arr.size:
                raise TypeError(f"TextVectorization {self.name!r}: inputs of dtype {arr.dtype}; "
                                "expected strings")
        return _host.as_text_array(inputs, self._encoding)

    def _preprocess(self, inputs):
        """Standardized strings, then (with a split) a list of token lists, one per row."""
        texts = self._strings(inputs)
        if callable(self._standardize):
            texts = _host.as_text_array(self._standardize(texts), self._encoding)
        elif self._standardize is not None:
            texts = _host.standardize(texts, self._standardize)
        if self._split is None:
            if self._ngrams is not None:
                return _host.ngrams([[t] for t in texts.reshape(-1)], self._ngrams), texts.shape
            return texts, None
        if texts.ndim > 1:
            if texts.shape[-1] != 1:
                raise ValueError("When using TextVectorization to tokenize strings, the input "
                                 "rank must be 1 or the last shape dimension must be 1; got "
                                 f"inputs of shape {texts.shape}")
            texts = texts.reshape(texts.shape[:-1])
        if texts.ndim == 0:
            texts = texts.reshape((1,))
        if callable(self._split):
            tokens = [[str(t) for t in row] for row in self._split(texts)]
        else:
            tokens = _host.split_tokens(texts.reshape(-1), self._split)
        if self._ngrams is not None:
            tokens = _host.ngrams(tokens, self._ngrams)
        return tokens, None

    # ------------------------------------------------------------------ adapt
    def adapt(self, data, batch_size=None, steps=None):
        """Learn the vocabulary of ``data`` (a list or array of strings, or an iterable of
        batches such as a generator or a PyDataset; ``(x, y)`` batches use x): tokens by
        count, ties by token, both descending, the first ``max_tokens - 2`` kept."""
        if self.backend is None:
            self.backend = _backend.current()
        self.reset_state()
        if isinstance(data, (list, tuple, str)) or hasattr(data, "shape"):
            self.update_state(data)
        else:
            for batch in _iterate_batches(data, steps):
                self.update_state(batch)
        self.finalize_state()

    def update_state(self, data):
        lookup = self._lookup_layer
        if lookup._has_input_vocabulary:
            raise ValueError(f"Cannot adapt layer {self.name!r} after setting a static "
                             "vocabulary via the vocabulary argument or set_vocabulary()")
        tokens, _ = self._preprocess(data)
        if self._split is None and self._ngrams is None:
            texts = tokens
            if texts.ndim <= 1:
                texts = texts.reshape((1, -1)) if texts.ndim == 1 else texts.reshape((1, 1))
            docs = [list(row) for row in texts.reshape((texts.shape[0], -1))]
        else:
            docs = tokens
        lookup._update_documents(docs)

    def finalize_state(self):
        self._lookup_layer.finalize_state()

    def reset_state(self):
        self._lookup_layer.reset_state()

    # ------------------------------------------------------------------ vocabulary
    def get_vocabulary(self, include_special_tokens=True):
        return self._lookup_layer.get_vocabulary(include_special_tokens)

    def vocabulary_size(self):
        return self._lookup_layer.vocabulary_size()

    def set_vocabulary(self, vocabulary, idf_weights=None):
        self._lookup_layer.set_vocabulary(vocabulary, idf_weights=idf_weights)

    # ------------------------------------------------------------------ call
    def forward(self, inputs, training=False):
        lookup = self._lookup_layer
        lookup.backend = self.backend
        lookup._called = True
        tokens, shape = self._preprocess(inputs)
        if self._split is None and self._ngrams is None:
            idx = lookup._lookup(tokens)
            if self._output_mode == "int":
                if self._output_sequence_length is not None and idx.ndim >= 1:
                    idx = _fit_last_axis(idx, self._output_sequence_length)
                return self.backend.from_numpy(idx), self._no_grad
            return lookup._encode_indices(idx), self._no_grad
        rows = [lookup._lookup(_host.as_text_array(row).reshape(-1)).tolist()
                if row else [] for row in tokens]
        if self._output_mode == "int":
            padded = _host.pad_sequences_int(rows, self._output_sequence_length)
            return self.backend.from_numpy(padded), self._no_grad
        padded = _host.pad_sequences_int([r for r in rows], None)
        if padded.shape[1] == 0:
            padded = _host.int64_array([[_host.INT64_MAX]] * len(rows)).reshape((len(rows), 1))
        else:
            lengths = [len(r) for r in rows]
            for i, n in enumerate(lengths):
                padded[i, n:] = _host.INT64_MAX
        return lookup._encode_indices(padded), self._no_grad

    def compute_output_shape(self, input_shape):
        input_shape = tuple(input_shape)
        if self._output_mode == "int":
            return (input_shape[0], self._output_sequence_length)
        if self._split is None:
            if len(input_shape) <= 1:
                input_shape = input_shape + (1,)
        else:
            # The shape of what the layer returns: the call squeezes a last axis of 1 before
            # splitting (Keras's _preprocess), so (batch, 1) strings give (batch, depth) in the
            # multi_hot, count and tf_idf modes, as (batch,) do. (Keras 3.15.1's own
            # compute_output_shape keeps that axis, (batch, 1, depth), unlike its outputs.)
            if len(input_shape) > 1:
                if input_shape[-1] not in (1, None):
                    raise ValueError("When using TextVectorization to tokenize strings, the input "
                                     "rank must be 1 or the last shape dimension must be 1; got "
                                     f"inputs of shape {input_shape}")
                input_shape = input_shape[:-1]
            input_shape = input_shape + (None,)
        return self._lookup_layer.compute_output_shape(input_shape)

    # ------------------------------------------------------------------ saving
    def get_config(self):
        config = super().get_config()
        config.pop("batch_input_shape", None)
        config.update({
            "max_tokens": self._lookup_layer.max_tokens, "standardize": self._standardize,
            "split": self._split, "ngrams": self._ngrams_arg, "output_mode": self._output_mode,
            "output_sequence_length": self._output_sequence_length,
            "pad_to_max_tokens": self._lookup_layer.pad_to_max_tokens,
            "sparse": False, "ragged": False,
            "vocabulary": _listify(self._lookup_layer.input_vocabulary),
            "idf_weights": _listify(self._lookup_layer.input_idf_weights),
            "encoding": self._encoding, "vocabulary_size": self.vocabulary_size()})
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if isinstance(config.get("ngrams"), list):
            config["ngrams"] = tuple(config["ngrams"])
        return cls(**config)

    def get_assets(self):
        return self._lookup_layer.get_assets()

    def set_assets(self, assets):
        self._lookup_layer.set_assets(assets)

    def save_assets(self, dir_path):
        self._lookup_layer.save_assets(dir_path)

    def load_assets(self, dir_path):
        self._lookup_layer.load_assets(dir_path)

    def save_own_variables(self, store):
        self._lookup_layer.save_own_variables(store)

    def load_own_variables(self, store):
        self._lookup_layer.load_own_variables(store)


def _fit_last_axis(idx, length):
    """Cut or zero-pad the last axis of a host int array to ``length``."""
    n = idx.shape[-1]
    if n >= length:
        return idx[..., :length]
    out = _host.int64_array([0] * (idx.size // max(n, 1) * length if n else
                                   int(_prod(idx.shape[:-1])) * length),
                            tuple(idx.shape[:-1]) + (length,))
    out[..., :n] = idx
    return out


def _prod(shape):
    p = 1
    for s in shape:
        p *= s
    return p
