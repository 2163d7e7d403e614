"""Host-side work of the string and categorical preprocessing layers.

Strings never reach a device: ``StringLookup``, ``IntegerLookup``, ``TextVectorization``,
``Hashing``, ``HashedCrossing`` and ``Discretization.adapt`` do their string, dictionary
and quantile work here on host NumPy arrays, and hand integer (or float) arrays to the
device backend (``portanet/layers/text_preprocessing.py``, ``categorical.py``).

Keras 3.15.1 runs these layers with TensorFlow's CPU kernels whatever the backend; this
module reproduces what those kernels compute:

- ``fingerprint64``: TensorFlow's ``Fingerprint64`` (FarmHash's ``farmhashna::Hash64``),
  the hash of ``tf.strings.to_hash_bucket_fast`` (``Hashing`` without a salt, and the OOV
  buckets of the lookup layers).
- ``siphash64``: SipHash-2-4 with a 128-bit key, the hash of
  ``tf.strings.to_hash_bucket_strong`` (``Hashing(salt=...)``).
- ``fingerprint_cat64``: TensorFlow's ``FingerprintCat64``, which ``tf.sparse.cross_hashed``
  (``HashedCrossing``) chains over the features with the key ``0xDECAFCAFFE``.
- standardization, whitespace/character splitting and n-grams as ``TextVectorization``'s
  ``tf.strings`` calls; the vocabulary ordering of ``adapt`` (count, then token, both
  descending, as ``np.lexsort`` in Keras's ``IndexLookup.finalize_state``); the quantile
  summaries of ``Discretization.adapt`` (keras/src/layers/preprocessing/discretization.py).
"""

import re

import numpy as np

__all__ = [
    "as_text_array", "is_text_array", "is_text_data", "fingerprint64", "siphash64",
    "fingerprint_cat64", "hash_to_bins", "hashed_cross", "standardize", "split_tokens",
    "ngrams", "TokenTable", "count_tokens", "sorted_vocabulary", "summarize",
    "merge_summaries", "bin_boundaries", "empty_summary", "read_lines", "to_host",
    "read_text_file", "host_array", "int64_array", "pad_sequences_int",
    "is_ndarray", "float_array", "label_array", "text_batch",
]

_M64 = (1 << 64) - 1
_K0 = 0xC3A5C85C97CB3127
_K1 = 0xB492B66FBE98F273
_K2 = 0x9AE16A3B2F90404F
_CROSS_KEY = 0xDECAFCAFFE          # tf.sparse.cross_hashed's default hash_key
_CAT_MUL = 0xC6A4A7935BD1E995
INT64_MAX = (1 << 63) - 1

# TextVectorization's punctuation class (keras/src/layers/preprocessing/text_vectorization.py).
_PUNCTUATION = re.compile(r'[!"#$%&()\*\+,-\./:;<=>?@\[\\\]^_`{|}~\']')
# tf.strings.split(sep=None) splits on ASCII whitespace and drops empty pieces.
_WHITESPACE = re.compile(r"[ \t\n\v\f\r]+")
_ASCII_LOWER = {c: c + 32 for c in range(ord("A"), ord("Z") + 1)}


# ---------------------------------------------------------------------- strings on the host
def is_text_array(a):
    """True for a host NumPy array of strings (unicode, bytes, or objects holding them)."""
    if not isinstance(a, np.ndarray):
        return False
    if a.dtype.kind in "US":
        return True
    if a.dtype.kind == "O" and a.size:
        first = a.reshape(-1)[0]
        return isinstance(first, (str, bytes))
    return False


def is_text_data(x):
    """True when ``x`` is string data: a str/bytes, a string array, or a (nested) list whose
    first leaf is a str/bytes."""
    if isinstance(x, (str, bytes)):
        return True
    if isinstance(x, np.ndarray):
        return is_text_array(x)
    if isinstance(x, (list, tuple)):
        for item in x:
            return is_text_data(item)
    return False


def _decode(value, encoding):
    if isinstance(value, bytes):
        return value.decode(encoding)
    if isinstance(value, np.bytes_):
        return bytes(value).decode(encoding)
    return str(value)


def as_text_array(data, encoding="utf-8"):
    """Strings (a str, a nested list, a NumPy array of str/bytes/objects) as a NumPy object
    array of Python ``str`` with the same shape."""
    if isinstance(data, np.ndarray):
        arr = data
    elif isinstance(data, (str, bytes)):
        arr = np.empty((), dtype=object)
        arr[()] = data
    else:
        arr = np.array(data, dtype=object)
    out = np.empty(arr.shape, dtype=object)
    flat_in, flat_out = arr.reshape(-1), out.reshape(-1)
    for i in range(flat_in.size):
        flat_out[i] = _decode(flat_in[i], encoding)
    return out


def host_array(data):
    """Anything np.asarray takes as a host array (lists, NumPy arrays, DLPack arrays)."""
    if isinstance(data, np.ndarray):
        return data
    if hasattr(data, "__dlpack__") and not isinstance(data, (list, tuple)):
        try:
            return np.from_dlpack(data)
        except Exception:
            pass
    return np.asarray(data)


def to_host(backend, data):
    """A device array of ``backend`` (or any array-like) as a host NumPy array."""
    if backend is not None and backend.is_array(data):
        return backend.to_numpy(data)
    return host_array(data)


def is_ndarray(x):
    """True for a host NumPy array."""
    return isinstance(x, np.ndarray)


def float_array(values, dtype="float64"):
    return np.asarray(values, dtype=dtype)


def int64_array(values, shape=None):
    arr = np.asarray(values, dtype=np.int64)
    return arr if shape is None else arr.reshape(shape)


# ---------------------------------------------------------------------- hashing
def _fetch64(s, i):
    return int.from_bytes(s[i:i + 8], "little")


def _fetch32(s, i):
    return int.from_bytes(s[i:i + 4], "little")


def _rot(v, shift):
    # FarmHash's Rotate64 rotates right.
    return ((v >> shift) | (v << (64 - shift))) & _M64 if shift else v


def _shift_mix(v):
    return v ^ (v >> 47)


def _hash_len16(u, v, mul):
    a = ((u ^ v) * mul) & _M64
    a ^= a >> 47
    b = ((v ^ a) * mul) & _M64
    b ^= b >> 47
    return (b * mul) & _M64


def _len_0_to_16(s, n):
    if n >= 8:
        mul = _K2 + n * 2
        a = (_fetch64(s, 0) + _K2) & _M64
        b = _fetch64(s, n - 8)
        c = (_rot(b, 37) * mul + a) & _M64
        d = ((_rot(a, 25) + b) * mul) & _M64
        return _hash_len16(c, d, mul)
    if n >= 4:
        mul = _K2 + n * 2
        a = _fetch32(s, 0)
        return _hash_len16((n + (a << 3)) & _M64, _fetch32(s, n - 4), mul)
    if n > 0:
        a, b, c = s[0], s[n >> 1], s[n - 1]
        y = (a + (b << 8)) & 0xFFFFFFFF
        z = (n + (c << 2)) & 0xFFFFFFFF
        return (_shift_mix(((y * _K2) & _M64) ^ ((z * _K0) & _M64)) * _K2) & _M64
    return _K2


def _len_17_to_32(s, n):
    mul = _K2 + n * 2
    a = (_fetch64(s, 0) * _K1) & _M64
    b = _fetch64(s, 8)
    c = (_fetch64(s, n - 8) * mul) & _M64
    d = (_fetch64(s, n - 16) * _K2) & _M64
    return _hash_len16((_rot((a + b) & _M64, 43) + _rot(c, 30) + d) & _M64,
                       (a + _rot((b + _K2) & _M64, 18) + c) & _M64, mul)


def _len_33_to_64(s, n):
    mul = _K2 + n * 2
    a = (_fetch64(s, 0) * _K2) & _M64
    b = _fetch64(s, 8)
    c = (_fetch64(s, n - 8) * mul) & _M64
    d = (_fetch64(s, n - 16) * _K2) & _M64
    y = (_rot((a + b) & _M64, 43) + _rot(c, 30) + d) & _M64
    z = _hash_len16(y, (a + _rot((b + _K2) & _M64, 18) + c) & _M64, mul)
    e = (_fetch64(s, 16) * mul) & _M64
    f = _fetch64(s, 24)
    g = ((y + _fetch64(s, n - 32)) * mul) & _M64
    h = ((z + _fetch64(s, n - 24)) * mul) & _M64
    return _hash_len16((_rot((e + f) & _M64, 43) + _rot(g, 30) + h) & _M64,
                       (e + _rot((f + a) & _M64, 18) + g) & _M64, mul)


def _weak32(s, i, a, b):
    w, x, y, z = _fetch64(s, i), _fetch64(s, i + 8), _fetch64(s, i + 16), _fetch64(s, i + 24)
    a = (a + w) & _M64
    b = _rot((b + a + z) & _M64, 21)
    c = a
    a = (a + x + y) & _M64
    b = (b + _rot(a, 44)) & _M64
    return (a + z) & _M64, (b + c) & _M64


def fingerprint64(data):
    """TensorFlow's ``Fingerprint64`` of ``data`` (bytes, or a str encoded as UTF-8)."""
    s = data.encode("utf-8") if isinstance(data, str) else bytes(data)
    n = len(s)
    if n <= 16:
        return _len_0_to_16(s, n)
    if n <= 32:
        return _len_17_to_32(s, n)
    if n <= 64:
        return _len_33_to_64(s, n)
    seed = 81
    x = seed
    y = (seed * _K1 + 113) & _M64
    z = (_shift_mix((y * _K2 + 113) & _M64) * _K2) & _M64
    v0 = v1 = w0 = w1 = 0
    x = (x * _K2 + _fetch64(s, 0)) & _M64
    end = ((n - 1) // 64) * 64
    last64 = end + ((n - 1) & 63) - 63
    pos = 0
    while True:
        x = (_rot((x + y + v0 + _fetch64(s, pos + 8)) & _M64, 37) * _K1) & _M64
        y = (_rot((y + v1 + _fetch64(s, pos + 48)) & _M64, 42) * _K1) & _M64
        x ^= w1
        y = (y + v0 + _fetch64(s, pos + 40)) & _M64
        z = (_rot((z + w0) & _M64, 33) * _K1) & _M64
        v0, v1 = _weak32(s, pos, (v1 * _K1) & _M64, (x + w0) & _M64)
        w0, w1 = _weak32(s, pos + 32, (z + w1) & _M64, (y + _fetch64(s, pos + 16)) & _M64)
        z, x = x, z
        pos += 64
        if pos == end:
            break
    mul = _K1 + ((z & 0xFF) << 1)
    pos = last64
    w0 = (w0 + ((n - 1) & 63)) & _M64
    v0 = (v0 + w0) & _M64
    w0 = (w0 + v0) & _M64
    x = (_rot((x + y + v0 + _fetch64(s, pos + 8)) & _M64, 37) * mul) & _M64
    y = (_rot((y + v1 + _fetch64(s, pos + 48)) & _M64, 42) * mul) & _M64
    x ^= (w1 * 9) & _M64
    y = (y + v0 * 9 + _fetch64(s, pos + 40)) & _M64
    z = (_rot((z + w0) & _M64, 33) * mul) & _M64
    v0, v1 = _weak32(s, pos, (v1 * mul) & _M64, (x + w0) & _M64)
    w0, w1 = _weak32(s, pos + 32, (z + w1) & _M64, (y + _fetch64(s, pos + 16)) & _M64)
    z, x = x, z
    return _hash_len16((_hash_len16(v0, w0, mul) + _shift_mix(y) * _K0 + z) & _M64,
                       (_hash_len16(v1, w1, mul) + x) & _M64, mul)


def _rotl(v, shift):
    return ((v << shift) | (v >> (64 - shift))) & _M64


def siphash64(key, data):
    """SipHash-2-4 of ``data`` with the 128-bit key ``(key[0], key[1])`` (64-bit words),
    TensorFlow's ``StrongKeyedHash`` used by ``tf.strings.to_hash_bucket_strong``."""
    s = data.encode("utf-8") if isinstance(data, str) else bytes(data)
    k0, k1 = int(key[0]) & _M64, int(key[1]) & _M64
    v0 = k0 ^ 0x736F6D6570736575
    v1 = k1 ^ 0x646F72616E646F6D
    v2 = k0 ^ 0x6C7967656E657261
    v3 = k1 ^ 0x7465646279746573

    def rounds(v0, v1, v2, v3, count):
        for _ in range(count):
            v0 = (v0 + v1) & _M64
            v1 = _rotl(v1, 13) ^ v0
            v0 = _rotl(v0, 32)
            v2 = (v2 + v3) & _M64
            v3 = _rotl(v3, 16) ^ v2
            v0 = (v0 + v3) & _M64
            v3 = _rotl(v3, 21) ^ v0
            v2 = (v2 + v1) & _M64
            v1 = _rotl(v1, 17) ^ v2
            v2 = _rotl(v2, 32)
        return v0, v1, v2, v3

    n = len(s)
    full = n - n % 8
    for i in range(0, full, 8):
        m = int.from_bytes(s[i:i + 8], "little")
        v3 ^= m
        v0, v1, v2, v3 = rounds(v0, v1, v2, v3, 2)
        v0 ^= m
    m = int.from_bytes(s[full:], "little") | ((n & 0xFF) << 56)
    v3 ^= m
    v0, v1, v2, v3 = rounds(v0, v1, v2, v3, 2)
    v0 ^= m
    v2 ^= 0xFF
    v0, v1, v2, v3 = rounds(v0, v1, v2, v3, 4)
    return v0 ^ v1 ^ v2 ^ v3


def fingerprint_cat64(fp1, fp2):
    """TensorFlow's ``FingerprintCat64``: combines two 64-bit fingerprints."""
    result = fp1 ^ _CAT_MUL
    result ^= (_shift_mix((fp2 * _CAT_MUL) & _M64) * _CAT_MUL) & _M64
    result = (result * _CAT_MUL) & _M64
    result = (_shift_mix(result) * _CAT_MUL) & _M64
    return _shift_mix(result)


def _value_text(value):
    """``tf.as_string`` of an integer, or the string itself."""
    if isinstance(value, (bytes, np.bytes_)):
        return bytes(value)
    if isinstance(value, str):
        return value.encode("utf-8")
    return str(int(value)).encode("ascii")


def hash_to_bins(values, num_bins, salt=None, mask_value=None):
    """``Hashing``'s bins for a host array of strings or numbers: FarmHash64 (SipHash64 with
    ``salt``) of each value's string form, modulo the bins; with ``mask_value`` the mask maps
    to 0 and the others to 1 + hash % (num_bins - 1). Floats are truncated to int64 first."""
    arr = np.asarray(values)
    if arr.dtype.kind == "f":
        arr = arr.astype(np.int64)
    elif arr.dtype.kind == "b":
        arr = arr.astype(np.int64)
    bins = int(num_bins)
    masked = mask_value is not None and bins > 1
    if masked:
        bins -= 1
    out = np.empty(arr.shape, dtype=np.int64)
    flat_in, flat_out = arr.reshape(-1), out.reshape(-1)
    cache = {}
    for i in range(flat_in.size):
        v = flat_in[i]
        key = v.item() if isinstance(v, np.generic) else v
        h = cache.get(key)
        if h is None:
            text = _value_text(key)
            h = (siphash64(salt, text) if salt is not None else fingerprint64(text)) % bins
            if masked:
                h = 0 if _equal(key, mask_value) else h + 1
            cache[key] = h
        flat_out[i] = h
    return out


def _equal(value, mask_value):
    if isinstance(value, bytes) and isinstance(mask_value, str):
        return value == mask_value.encode("utf-8")
    if isinstance(value, str) and isinstance(mask_value, bytes):
        return value.encode("utf-8") == mask_value
    try:
        return bool(value == mask_value)
    except Exception:
        return False


def hashed_cross(columns, num_bins):
    """``tf.sparse.cross_hashed`` of dense 1-value-per-row features: for each row,
    FingerprintCat64 over the features (strings: Fingerprint64; ints: the int64 value),
    starting from the key 0xDECAFCAFFE, modulo ``num_bins``. ``columns``: host arrays of
    one shape (n,); returns int64 (n,)."""
    n = columns[0].shape[0]
    out = np.empty((n,), dtype=np.int64)
    feats = []
    for col in columns:
        if col.dtype.kind in "USO":
            feats.append([fingerprint64(_value_text(v)) for v in col.reshape(-1)])
        else:
            feats.append([int(v) & _M64 for v in col.astype(np.int64).reshape(-1)])
    for r in range(n):
        h = _CROSS_KEY
        for f in feats:
            h = fingerprint_cat64(h, f[r])
        out[r] = h % int(num_bins) if num_bins else h % INT64_MAX
    return out


# ---------------------------------------------------------------------- text
def standardize(texts, mode):
    """``TextVectorization``'s built-in standardization of an object array of str:
    "lower" (ASCII letters only, as ``tf.strings.lower``), "strip_punctuation",
    "lower_and_strip_punctuation", or None."""
    out = np.empty(texts.shape, dtype=object)
    flat_in, flat_out = texts.reshape(-1), out.reshape(-1)
    lower = mode in ("lower", "lower_and_strip_punctuation")
    strip = mode in ("strip_punctuation", "lower_and_strip_punctuation")
    for i in range(flat_in.size):
        t = flat_in[i]
        if lower:
            t = t.translate(_ASCII_LOWER)
        if strip:
            t = _PUNCTUATION.sub("", t)
        flat_out[i] = t
    return out


def split_tokens(texts, mode):
    """Each string of a 1-D object array as a list of tokens: "whitespace" (ASCII
    whitespace, empty pieces dropped, as ``tf.strings.split``) or "character" (Unicode
    code points, as ``tf.strings.unicode_split``)."""
    if mode == "whitespace":
        return [[tok for tok in _WHITESPACE.split(t) if tok] for t in texts]
    return [list(t) for t in texts]


def ngrams(token_lists, widths):
    """``tf.strings.ngrams(tokens, ngram_width=widths, separator=" ")`` per document: for
    each width in order, every run of that many tokens joined by spaces."""
    out = []
    for toks in token_lists:
        grams = []
        for w in widths:
            grams.extend(" ".join(toks[i:i + w]) for i in range(len(toks) - w + 1))
        out.append(grams)
    return out


# ---------------------------------------------------------------------- vocabularies
class TokenTable:
    """A static token -> index table with IndexLookup's OOV and mask rules.

    Args:
        tokens: the learned tokens (no special tokens), in index order.
        token_start: index of the first token (mask and OOV slots come before it).
        oov_start: index of the first OOV slot.
        num_oov: number of OOV slots.
        mask_token: the mask token or None; it maps to ``mask_index``.
        mask_index: 0 in "int" mode; INT64_MAX otherwise (so encoding drops it).
        hash_oov: with num_oov > 1, how OOV values spread over the slots: "floormod"
            (integers: value mod num_oov) or "farmhash"/"siphash" (the value's string form).
        salt: SipHash key for OOV hashing, or None.
    """

    def __init__(self, tokens, token_start, oov_start, num_oov, mask_token, mask_index,
                 hash_oov="farmhash", salt=None):
        self.index = {tok: token_start + i for i, tok in enumerate(tokens)}
        self.oov_start = oov_start
        self.num_oov = num_oov
        self.mask_token = mask_token
        self.mask_index = mask_index
        self.hash_oov = hash_oov
        self.salt = salt

    def _oov(self, value):
        if self.num_oov == 0:
            return None
        if self.num_oov == 1:
            return self.oov_start
        if self.hash_oov == "floormod" and not isinstance(value, (str, bytes)):
            return int(value) % self.num_oov + self.oov_start
        text = _value_text(value)
        h = siphash64(self.salt, text) if self.salt is not None else fingerprint64(text)
        return h % self.num_oov + self.oov_start

    def lookup(self, values):
        """int64 indices of a host array (str objects or ints); raises ``KeyError`` listing
        the out-of-vocabulary values when there are no OOV slots."""
        flat = values.reshape(-1)
        out = np.empty(flat.shape, dtype=np.int64)
        missing = []
        index, mask = self.index, self.mask_token
        for i in range(flat.size):
            v = flat[i]
            v = v.item() if isinstance(v, np.generic) else v
            if mask is not None and v == mask:
                out[i] = self.mask_index
                continue
            j = index.get(v)
            if j is None:
                j = self._oov(v)
                if j is None:
                    missing.append(v)
                    j = -1
            out[i] = j
        if missing:
            raise KeyError(missing)
        return out.reshape(values.shape)


def count_tokens(items, counts, doc_counts=None):
    """Add the tokens of ``items`` (an iterable of documents, each an iterable of tokens)
    to ``counts``; with ``doc_counts`` also count each token once per document."""
    for doc in items:
        for tok in doc:
            counts[tok] = counts.get(tok, 0) + 1
        if doc_counts is not None:
            for tok in set(doc):
                doc_counts[tok] = doc_counts.get(tok, 0) + 1


def sorted_vocabulary(counts, limit=None):
    """Tokens by count, then token, both descending (Keras: ``np.lexsort((tokens,
    counts))[::-1]``), the first ``limit`` of them."""
    items = sorted(counts.items(), key=lambda kv: (kv[1], kv[0]), reverse=True)
    if limit is not None:
        items = items[:max(int(limit), 0)]
    return [k for k, _ in items]


def read_lines(path):
    """A vocabulary file's lines (one token a line, trailing empty lines dropped)."""
    with open(path, "r", encoding="utf-8") as f:
        lines = f.read().splitlines()
    while lines and lines[-1] == "":
        lines.pop()
    return lines


# ---------------------------------------------------------------------- quantiles
def empty_summary():
    return np.array([[], []], dtype="float32")


def summarize(values, epsilon):
    """Discretization's summary of one batch: sorted values at a stride and their weights."""
    values = np.sort(np.reshape(np.asarray(values, dtype="float32"), [-1]))
    elements = np.size(values)
    num_buckets = 1.0 / epsilon
    increment = elements / num_buckets
    step = max(increment, 1)
    start = step - 1
    boundaries = values[int(start)::int(step)]
    weights = np.ones_like(boundaries) * step
    return np.stack([boundaries, weights])


def _compress(summary, epsilon):
    if summary.shape[1] * epsilon < 1:
        return summary
    percents = epsilon + np.arange(0.0, 1.0, epsilon)
    cum_weights = summary[1].cumsum()
    cum_weight_percents = cum_weights / cum_weights[-1]
    new_bins = np.interp(percents, cum_weight_percents, summary[0])
    cum_weights = np.interp(percents, cum_weight_percents, cum_weights)
    new_weights = cum_weights - np.concatenate((np.array([0]), cum_weights[:-1]))
    return np.stack((new_bins, new_weights)).astype("float32")


def merge_summaries(prev_summary, next_summary, epsilon):
    merged = np.concatenate((prev_summary, next_summary), axis=1)
    merged = np.take(merged, np.argsort(merged[0]), axis=1)
    return _compress(merged, epsilon)


def bin_boundaries(summary, num_bins):
    """The ``num_bins - 1`` boundaries of a summary, as a list of Python floats."""
    return _compress(summary, 1.0 / num_bins)[0, :-1].tolist()


# ---------------------------------------------------------------------- files
def read_text_file(path, max_length=None):
    """A file's text (decoded as UTF-8, undecodable bytes replaced), cut to ``max_length``
    characters when given."""
    with open(path, "rb") as f:
        text = f.read().decode("utf-8", errors="replace")
    if max_length is not None:
        text = text[:max_length]
    return text


def pad_sequences_int(seqs, length, dtype=np.int64):
    """Rows of ints padded with 0 (or cut) to ``length``; ``length=None`` pads to the
    longest row."""
    if length is None:
        length = max((len(s) for s in seqs), default=0)
    out = np.zeros((len(seqs), length), dtype=dtype)
    for i, s in enumerate(seqs):
        s = s[:length]
        out[i, :len(s)] = s
    return out


def label_array(labels, label_mode, num_classes):
    """Host labels as ``text_dataset_from_directory`` yields them: "int" int32 (n,),
    "binary" float32 (n, 1), "categorical" float32 one-hot (n, num_classes)."""
    arr = np.asarray(labels, dtype="int32")
    if label_mode == "binary":
        return arr.astype("float32").reshape(-1, 1)
    if label_mode == "categorical":
        out = np.zeros((arr.shape[0], num_classes), dtype="float32")
        out[np.arange(arr.shape[0]), arr] = 1.0
        return out
    return arr


def text_batch(texts):
    """A batch of strings as a 1-D NumPy array of str."""
    out = np.empty((len(texts),), dtype=object)
    for i, t in enumerate(texts):
        out[i] = t
    return out.astype(str) if len(texts) else np.zeros((0,), dtype=str)
