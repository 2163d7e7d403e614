"""``keras.utils.FeatureSpace``: one object that preprocesses and encodes structured data
(a dict of columns) into one vector per row, as Keras 3.15.1
(keras/src/layers/preprocessing/feature_space.py).

Each feature gets one of portanet's preprocessing layers (``Normalization``, ``Rescaling``,
``Discretization``, ``IntegerLookup``, ``StringLookup``, ``Hashing``, or your own layer via
``FeatureSpace.feature``); crosses hash the preprocessed features together
(``HashedCrossing``); "one_hot" features are encoded with ``CategoryEncoding(multi_hot)``;
in "concat" mode the encoded features are concatenated in Keras's order (the features'
names sorted, then the crosses' names sorted).

Where Keras runs everything through TensorFlow (``tf.data`` for ``adapt``, TensorFlow
tensors in ``__call__``), portanet keeps strings on the host (the string layers hash and
look up there) and hands device arrays of the active backend to the encoders:

- ``adapt(dataset)`` takes what ``fit`` takes for dict inputs: a dict of columns (read in
  batches of 32 rows, as Keras's ``from_tensor_slices(...).batch(32)``), a list of dict
  batches, a generator or any iterable of them, or a ``PyDataset`` (``(x, y)`` batches use
  ``x``). As in Keras, a stream of unbatched rows (scalar columns) is batched by 32, and
  rank-1 columns get a trailing axis, so each layer adapts on ``(batch, 1)`` arrays and
  batch-dependent statistics (Discretization's quantile summaries) are Keras's.
- ``fs(data)`` returns one device array (``"concat"``) or a dict of them (``"dict"``);
  a dict of scalars (one unbatched row) gives outputs without a batch axis, as Keras.
  ``fs(inputs)`` on a dict of symbolic tensors gives the symbolic encoding (for a model).
- ``get_inputs()`` / ``get_encoded_features()`` give the ``pn.Input`` dict and the
  symbolic encoded tensor, for a functional model taking raw columns.

Saving: ``get_config`` is Keras's (features, crosses and their preprocessors' configs; as
in Keras an adapted vocabulary is not in it). The adapted state lives in the preprocessors:
Normalization's weights, Discretization's ``bin_boundaries`` (in its config), the lookups'
vocabularies (their ``save_assets``/``load_assets`` hooks). A model built from
``get_inputs()``/``get_encoded_features()`` contains those layers, so saving the model keeps
them where the file format writes layer assets (Keras's ``.keras``).

Differences from Keras: ``"float"`` features are cast to the layer's float dtype (Keras
passes the column through unchanged, so a float64 column fails in its concat); Keras's
``FeatureSpace.save(path)`` (a ``.keras`` file holding the FeatureSpace alone) is not here:
portanet's savers take models.
"""

from .. import backend as _backend
from .. import layers as _layers
from ..backend import host_text as _host
from ..layers import symbolic as _symbolic
from ..layers.base import Layer, unique_name
from ..layers.serialization import register as _register
from ..serialization import deserialize_keras_object, serialize_keras_object

__all__ = ["FeatureSpace", "Feature", "Cross"]

_MODULE = "keras.src.layers.preprocessing.feature_space"
_FEATURE_TYPES = ("float", "float_normalized", "float_rescaled", "float_discretized",
                  "integer_categorical", "string_categorical", "integer_hashed", "string_hashed")
_ADAPT_BATCH = 32     # Keras batches unbatched rows by 32 in adapt


def _entry(obj):
    """Keras's serialized form of a Feature or Cross."""
    name = type(obj).__name__
    return {"module": _MODULE, "class_name": name, "config": obj.get_config(),
            "registered_name": name}


def _from_entry(value, cls):
    """A Feature/Cross from its serialized dict (Keras's form, or its bare config)."""
    if value.get("class_name") is not None:
        if value["class_name"] != cls.__name__:
            raise ValueError(f"FeatureSpace: expected a serialized {cls.__name__}; got "
                             f"class_name={value['class_name']!r}")
        value = value.get("config") or {}
    return cls.from_config(value)


class Cross:
    """A feature cross (``FeatureSpace.cross``): the named features' preprocessed values
    hashed together into ``crossing_dim`` bins, "one_hot" (default) or "int"."""

    def __init__(self, feature_names, crossing_dim, output_mode="one_hot"):
        if output_mode not in {"int", "one_hot"}:
            raise ValueError("Invalid value for argument `output_mode`. Expected one of "
                             f"{{'int', 'one_hot'}}. Received: output_mode={output_mode}")
        if isinstance(feature_names, str) or not all(isinstance(n, str) for n in feature_names):
            raise ValueError(f"Cross: feature_names={feature_names!r}; expected a tuple of "
                             "feature names (strings)")
        if isinstance(crossing_dim, bool) or not isinstance(crossing_dim, int) or crossing_dim <= 0:
            raise ValueError(f"Cross: crossing_dim={crossing_dim!r}; expected a positive integer")
        self.feature_names = tuple(feature_names)
        self.crossing_dim = crossing_dim
        self.output_mode = output_mode

    @property
    def name(self):
        return "_X_".join(self.feature_names)

    def get_config(self):
        return {"feature_names": self.feature_names, "crossing_dim": self.crossing_dim,
                "output_mode": self.output_mode}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


class Feature:
    """One feature (``FeatureSpace.feature``): the ``dtype`` of its input, its
    ``preprocessor`` layer (or the serialized form of one), and its ``output_mode``:
    "float" (used as it comes out), "one_hot" (an integer output encoded by a
    ``CategoryEncoding``) or "int" (kept as indices; "dict" mode only)."""

    def __init__(self, dtype, preprocessor, output_mode):
        if output_mode not in {"int", "one_hot", "float"}:
            raise ValueError("Invalid value for argument `output_mode`. Expected one of "
                             f"{{'int', 'one_hot', 'float'}}. Received: output_mode={output_mode}")
        self.dtype = dtype
        if isinstance(preprocessor, dict):
            preprocessor = deserialize_keras_object(preprocessor)
        if not isinstance(preprocessor, Layer):
            raise TypeError(f"Feature: preprocessor={preprocessor!r}; expected a portanet layer "
                            "(or its serialized form)")
        self.preprocessor = preprocessor
        self.output_mode = output_mode

    def get_config(self):
        return {"dtype": self.dtype, "preprocessor": serialize_keras_object(self.preprocessor),
                "output_mode": self.output_mode}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


@_register
class TFDIdentity(Layer):
    """The preprocessor of ``FeatureSpace.float`` (Keras's name): the column as floats of
    the layer's dtype."""

    def forward(self, x, training=False):
        xp = self.xp
        dtype = self.backend.dtype(self.dtype)
        y = x if x.dtype == dtype else xp.astype(x, dtype)
        in_dtype = x.dtype

        def backward(dy):
            return dy if in_dtype == dtype else xp.astype(dy, in_dtype)
        return y, backward

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)


@_register
class FeatureSpace(Layer):
    """One-stop preprocessing and encoding of structured data, as Keras 3.

    Args:
        features: a dict ``{name: type}``; a type is a string ("float", "float_rescaled",
            "float_normalized", "float_discretized", "integer_categorical",
            "string_categorical", "integer_hashed", "string_hashed": the defaults) or a
            ``Feature`` from ``FeatureSpace.float(...)``, ``.float_rescaled(...)``,
            ``.float_normalized(...)``, ``.float_discretized(...)``,
            ``.integer_categorical(...)``, ``.string_categorical(...)``,
            ``.integer_hashed(...)``, ``.string_hashed(...)`` or ``.feature(dtype,
            preprocessor, output_mode)`` (your own layer).
        output_mode: "concat" (default; one float vector per row) or "dict" (a dict of the
            encoded features and crosses).
        crosses: a list of tuples of feature names (crossed into ``crossing_dim`` bins,
            one-hot) or ``FeatureSpace.cross(feature_names, crossing_dim, output_mode)``.
        crossing_dim: default bins of a cross (default 32).
        hashing_dim: bins of "integer_hashed"/"string_hashed" given by name (default 32).
        num_discretization_bins: bins of "float_discretized" given by name (default 32).
        name: the layer's name.

    Use: ``fs.adapt(data)`` (a dict of columns, a list/generator/PyDataset of dict
    batches), then ``fs(data)`` on a dict of columns (or of scalars, one row); or
    ``pn.Model(fs.get_inputs(), Dense(...)(fs.get_encoded_features()))``.
    Attributes as Keras: ``features``, ``preprocessors``, ``crossers``, ``crosses``,
    ``one_hot_encoders``, ``inputs``.
    """

    # ------------------------------------------------------------------ feature factories
    @classmethod
    def cross(cls, feature_names, crossing_dim, output_mode="one_hot"):
        return Cross(feature_names, crossing_dim, output_mode=output_mode)

    @classmethod
    def feature(cls, dtype, preprocessor, output_mode):
        return Feature(dtype, preprocessor, output_mode)

    @classmethod
    def float(cls, name=None):
        name = name or unique_name("float")
        return Feature(dtype="float32", output_mode="float",
                       preprocessor=TFDIdentity(dtype="float32", name=f"{name}_preprocessor"))

    @classmethod
    def float_rescaled(cls, scale=1.0, offset=0.0, name=None):
        name = name or unique_name("float_rescaled")
        return Feature(dtype="float32", output_mode="float",
                       preprocessor=_layers.Rescaling(scale=scale, offset=offset,
                                                      name=f"{name}_preprocessor"))

    @classmethod
    def float_normalized(cls, name=None):
        name = name or unique_name("float_normalized")
        return Feature(dtype="float32", output_mode="float",
                       preprocessor=_layers.Normalization(axis=-1, name=f"{name}_preprocessor"))

    @classmethod
    def float_discretized(cls, num_bins, bin_boundaries=None, output_mode="one_hot", name=None):
        name = name or unique_name("float_discretized")
        return Feature(dtype="float32", output_mode=output_mode,
                       preprocessor=_layers.Discretization(num_bins=num_bins,
                                                           bin_boundaries=bin_boundaries,
                                                           name=f"{name}_preprocessor"))

    @classmethod
    def integer_categorical(cls, max_tokens=None, num_oov_indices=1, output_mode="one_hot",
                            name=None):
        name = name or unique_name("integer_categorical")
        return Feature(dtype="int32", output_mode=output_mode,
                       preprocessor=_layers.IntegerLookup(name=f"{name}_preprocessor",
                                                          max_tokens=max_tokens,
                                                          num_oov_indices=num_oov_indices))

    @classmethod
    def string_categorical(cls, max_tokens=None, num_oov_indices=1, output_mode="one_hot",
                           name=None):
        name = name or unique_name("string_categorical")
        return Feature(dtype="string", output_mode=output_mode,
                       preprocessor=_layers.StringLookup(name=f"{name}_preprocessor",
                                                         max_tokens=max_tokens,
                                                         num_oov_indices=num_oov_indices))

    @classmethod
    def string_hashed(cls, num_bins, output_mode="one_hot", name=None):
        name = name or unique_name("string_hashed")
        return Feature(dtype="string", output_mode=output_mode,
                       preprocessor=_layers.Hashing(name=f"{name}_preprocessor", num_bins=num_bins))

    @classmethod
    def integer_hashed(cls, num_bins, output_mode="one_hot", name=None):
        name = name or unique_name("integer_hashed")
        return Feature(dtype="int32", output_mode=output_mode,
                       preprocessor=_layers.Hashing(name=f"{name}_preprocessor", num_bins=num_bins))

    # ------------------------------------------------------------------ construction
    def __init__(self, features, output_mode="concat", crosses=None, crossing_dim=32,
                 hashing_dim=32, num_discretization_bins=32, name=None, **kwargs):
        super().__init__(name=name, **kwargs)
        if not features:
            raise ValueError("The `features` argument cannot be None or empty.")
        if not isinstance(features, dict):
            raise TypeError(f"FeatureSpace: features of type {type(features).__name__}; expected "
                            "a dict {name: feature type}")
        for arg, value in (("crossing_dim", crossing_dim), ("hashing_dim", hashing_dim),
                           ("num_discretization_bins", num_discretization_bins)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                      or value <= 0):
                raise ValueError(f"FeatureSpace: {arg}={value!r}; expected a positive integer")
        self.crossing_dim = crossing_dim
        self.hashing_dim = hashing_dim
        self.num_discretization_bins = num_discretization_bins
        self.features = {name: self._standardize_feature(name, value)
                         for name, value in features.items()}
        self.crosses = []
        if crosses:
            feature_set = set(features.keys())
            for cross in crosses:
                if isinstance(cross, dict):
                    cross = _from_entry(cross, Cross)
                if isinstance(cross, Cross):
                    self.crosses.append(cross)
                    continue
                if not crossing_dim:
                    raise ValueError("When specifying `crosses`, the argument `crossing_dim` "
                                     "(dimensionality of the crossing space) should be "
                                     "specified as well.")
                for key in cross:
                    if key not in feature_set:
                        raise ValueError("All features referenced in the `crosses` argument "
                                         "should be present in the `features` dict. Received "
                                         f"unknown features: {cross}")
                self.crosses.append(Cross(cross, crossing_dim=crossing_dim))
        self.crosses_by_name = {cross.name: cross for cross in self.crosses}
        if output_mode not in {"dict", "concat"}:
            raise ValueError("Invalid value for argument `output_mode`. Expected one of "
                             f"{{'dict', 'concat'}}. Received: output_mode={output_mode}")
        self.output_mode = output_mode
        self.inputs = {name: _layers.Input(shape=(1,), dtype=value.dtype, name=name)
                       for name, value in self.features.items()}
        self.preprocessors = {name: value.preprocessor for name, value in self.features.items()}
        self.encoded_features = None
        self.crossers = {cross.name: _layers.HashedCrossing(cross.crossing_dim, name=cross.name)
                         for cross in self.crosses}
        self.one_hot_encoders = {}
        self._is_adapted = False
        self.concat = None
        self._preprocessed_features_names = None
        self._crossed_features_names = None
        self._sublayers_built = False

    def _standardize_feature(self, name, feature):
        if isinstance(feature, Feature):
            return feature
        if isinstance(feature, dict):
            return _from_entry(feature, Feature)
        if feature == "float":
            return self.float(name=name)
        if feature == "float_normalized":
            return self.float_normalized(name=name)
        if feature == "float_rescaled":
            return self.float_rescaled(name=name)
        if feature == "float_discretized":
            return self.float_discretized(name=name, num_bins=self.num_discretization_bins)
        if feature == "integer_categorical":
            return self.integer_categorical(name=name)
        if feature == "string_categorical":
            return self.string_categorical(name=name)
        if feature == "integer_hashed":
            return self.integer_hashed(self.hashing_dim, name=name)
        if feature == "string_hashed":
            return self.string_hashed(self.hashing_dim, name=name)
        raise ValueError(f"Invalid feature type: {feature} (feature {name!r}); expected a "
                         f"Feature or one of {list(_FEATURE_TYPES)}")

    # ------------------------------------------------------------------ adapt
    def _list_adaptable_preprocessors(self):
        names = []
        for name in self.features:
            preprocessor = self.preprocessors[name]
            # A Normalization with preset mean/variance, or a TextVectorization with a given
            # vocabulary, is not adaptable.
            if isinstance(preprocessor, _layers.Normalization):
                if preprocessor.input_mean is not None:
                    continue
            elif isinstance(preprocessor, _layers.TextVectorization):
                if preprocessor._has_input_vocabulary:
                    continue
            if hasattr(preprocessor, "adapt"):
                names.append(name)
        return names

    def adapt(self, dataset):
        """Adapt each adaptable preprocessor (Normalization, Discretization, the lookups,
        your own layers with ``adapt``) on its column of ``dataset``.

        Args:
            dataset: a dict of columns (arrays or lists with one row per sample; read in
                batches of 32 rows as Keras), or a list, generator, iterable or
                ``PyDataset`` of such dicts (batches; ``(x, y)`` items use ``x``; a stream of
                unbatched rows, i.e. scalar columns, is batched by 32 as Keras).
        """
        elements, rows = self._adapt_elements(dataset)
        names = self._list_adaptable_preprocessors()
        for name in names:
            if any(name not in e for e in elements):
                raise ValueError(f"FeatureSpace.adapt: the data has no column {name!r}; its "
                                 f"columns are {sorted(elements[0])}")
        for name in names:
            batches = self._column_batches(elements, rows, name)
            self.preprocessors[name].adapt(iter(batches))
        self._is_adapted = True
        self.get_encoded_features()     # finish building the layer
        self.built = True
        self._sublayers_built = True

    def _adapt_elements(self, dataset):
        """(list of dicts of host columns, rows): ``rows`` True when the dataset was a dict
        of columns (its elements are then slices of rows of it)."""
        if isinstance(dataset, dict):
            columns = {k: self._to_host(v, k) for k, v in dataset.items()}
            self._check_columns(columns, "FeatureSpace.adapt")
            return [columns], True
        if isinstance(dataset, (str, bytes)) or hasattr(dataset, "shape"):
            raise ValueError("`adapt()` can only be called on a dict of arrays/lists, or a list, "
                             "generator or PyDataset of dict batches. Received instead: "
                             f"{type(dataset).__name__}")
        if hasattr(dataset, "__getitem__") and hasattr(dataset, "__len__") \
                and hasattr(dataset, "on_epoch_end"):
            iterator = (dataset[i] for i in range(len(dataset)))      # a PyDataset
        else:
            try:
                iterator = iter(dataset)
            except TypeError:
                raise ValueError("`adapt()` can only be called on a dict of arrays/lists, or a "
                                 "list, generator or PyDataset of dict batches. Received "
                                 f"instead: {dataset!r} (of type {type(dataset).__name__})") from None
        elements = []
        for item in iterator:
            if isinstance(item, tuple) and item:
                item = item[0]          # (x, y) batches: the features
            if not isinstance(item, dict):
                raise ValueError("FeatureSpace.adapt: each batch must be a dict of columns; got "
                                 f"{type(item).__name__}")
            elements.append({k: self._to_host(v, k) for k, v in item.items()})
        if not elements:
            raise ValueError("FeatureSpace.adapt: the dataset yielded no batches")
        return elements, False

    @staticmethod
    def _check_columns(columns, owner):
        lengths = {k: (int(v.shape[0]) if v.ndim else None) for k, v in columns.items()}
        if any(n is None for n in lengths.values()):
            raise ValueError(f"{owner}: a dict of columns needs one row per sample; got scalar "
                             f"column(s) {sorted(k for k, n in lengths.items() if n is None)}")
        if len(set(lengths.values())) > 1:
            raise ValueError(f"{owner}: the columns have different numbers of rows: {lengths}")

    @staticmethod
    def _column_batches(elements, rows, name):
        """The host batches that ``name``'s preprocessor adapts on, as Keras's adapt: rank-0
        elements batched by 32, then rank-1 batches given a trailing axis."""
        if rows:
            column = elements[0][name]
            if column.ndim == 1:            # rows are scalars: batched by 32
                n = int(column.shape[0])
                return [column[i:i + _ADAPT_BATCH].reshape((-1, 1))
                        for i in range(0, n, _ADAPT_BATCH)]
            # rows of rank >= 1 are batches of their own (Keras's from_tensor_slices)
            batches = [column[i] for i in range(int(column.shape[0]))]
        else:
            batches = [e[name] for e in elements]
        if batches[0].ndim == 0:
            batches = [_stack(batches[i:i + _ADAPT_BATCH])
                       for i in range(0, len(batches), _ADAPT_BATCH)]
        if batches[0].ndim == 1:
            batches = [b.reshape((-1, 1)) for b in batches]
        return batches

    def _to_host(self, value, name):
        """A column (list, host array, device array, scalar) as a host NumPy array."""
        try:
            if _host.is_text_data(value) and not _host.is_ndarray(value):
                return _host.as_text_array(value)
            return _host.to_host(self.backend or _backend.current(), value)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"FeatureSpace: column {name!r} of type {type(value).__name__} is not "
                             f"array-like: {exc}") from None

    # ------------------------------------------------------------------ symbolic graph
    def get_inputs(self):
        """The dict ``{name: pn.Input(shape=(1,), dtype=...)}`` of the features."""
        self._check_if_built()
        return self.inputs

    def get_encoded_features(self):
        """The symbolic encoding of ``get_inputs()`` (one tensor in "concat" mode, a dict in
        "dict" mode); the FeatureSpace must be adapted first."""
        self._check_if_adapted()
        if self.encoded_features is None:
            preprocessed = self._preprocess_features(self.inputs)
            crossed = self._cross_features(preprocessed)
            self.encoded_features = self._merge_features(preprocessed, crossed)
        return self.encoded_features

    def _preprocess_features(self, features):
        return {name: self.preprocessors[name](features[name]) for name in features.keys()}

    def _cross_features(self, features):
        out = {}
        for cross in self.crosses:
            out[cross.name] = self.crossers[cross.name]([features[n] for n in cross.feature_names])
        return out

    def _merge_features(self, preprocessed, crossed):
        if not self._preprocessed_features_names:
            self._preprocessed_features_names = sorted(preprocessed.keys())
            self._crossed_features_names = sorted(crossed.keys())
        all_names = self._preprocessed_features_names + self._crossed_features_names
        all_features = ([preprocessed[n] for n in self._preprocessed_features_names]
                        + [crossed[n] for n in self._crossed_features_names])
        if not self._sublayers_built:
            self._build_encoders(all_names, all_features)
        outputs = {}
        for name, feature in zip(all_names, all_features):
            encoder = self.one_hot_encoders.get(name)
            outputs[name] = encoder(feature) if encoder is not None else feature
        if self.output_mode == "dict":
            return outputs
        return self._concat([outputs[n] for n in all_names])

    def _build_encoders(self, all_names, all_features):
        """Create the one-hot encoders (CategoryEncoding multi_hot, one per "one_hot"
        feature, its depth the preprocessor's cardinality) and check the concat's inputs,
        with Keras's checks and messages."""
        specs = ([self.features[n] for n in self._preprocessed_features_names]
                 + [self.crosses_by_name[n] for n in self._crossed_features_names])
        for name, feature, spec in zip(all_names, all_features, specs):
            dtype = _dtype_name(feature)
            if spec.output_mode == "one_hot":
                preprocessor = self.preprocessors.get(name) or self.crossers.get(name)
                if not dtype.startswith("int"):
                    raise ValueError(f"Feature '{name}' has `output_mode='one_hot'`. Thus its "
                                     "preprocessor should return an integer dtype. Instead it "
                                     f"returns a {dtype} dtype.")
                if isinstance(preprocessor, (_layers.IntegerLookup, _layers.StringLookup)):
                    cardinality = preprocessor.vocabulary_size()
                elif isinstance(preprocessor, _layers.CategoryEncoding):
                    cardinality = preprocessor.num_tokens
                elif isinstance(preprocessor, (_layers.Discretization, _layers.HashedCrossing,
                                               _layers.Hashing)):
                    cardinality = preprocessor.num_bins
                else:
                    raise ValueError(f"Feature '{name}' has `output_mode='one_hot'`. However it "
                                     "isn't a standard feature and the dimensionality of its "
                                     "output space is not known, thus it cannot be one-hot "
                                     "encoded. Try using `output_mode='int'`.")
                if cardinality is not None:
                    self.one_hot_encoders[name] = _layers.CategoryEncoding(
                        num_tokens=cardinality, output_mode="multi_hot")
                    dtype = self.one_hot_encoders[name].dtype
            if self.output_mode == "concat" and (dtype.startswith("int") or dtype == "string"):
                raise ValueError(f"Cannot concatenate features because feature '{name}' has not "
                                 f"been encoded (it has dtype {dtype}). Consider using "
                                 "`output_mode='dict'`.")
        if self.output_mode == "concat":
            self.concat = _layers.Concatenate(axis=-1)

    def _concat(self, tensors):
        if _symbolic.is_symbolic(tensors):
            return self.concat(list(tensors))
        backend = self.backend
        xp = backend.xp
        dtype = tensors[0].dtype
        for t in tensors[1:]:
            dtype = xp.result_type(dtype, t.dtype)
        return xp.concat([t if t.dtype == dtype else xp.astype(t, dtype) for t in tensors], axis=-1)

    def _check_if_adapted(self):
        if not self._is_adapted:
            if not self._list_adaptable_preprocessors():
                self._is_adapted = True
            else:
                raise ValueError("You need to call `.adapt(dataset)` on the FeatureSpace before "
                                 "you can start using it.")

    def _check_if_built(self):
        if not self._sublayers_built:
            self._check_if_adapted()
            self.get_encoded_features()     # finishes building
            self._sublayers_built = True

    # ------------------------------------------------------------------ call
    def __call__(self, data):
        """Encode ``data``: a dict of columns (arrays, lists; one row per sample) or of
        scalars (one row: the outputs have no batch axis). Returns a device array of the
        active backend ("concat") or a dict of them ("dict"). A dict of symbolic tensors
        gives the symbolic encoding."""
        self._check_if_built()
        if not isinstance(data, dict):
            raise ValueError(f"A FeatureSpace can only be called with a dict. Received: "
                             f"data={data!r} (of type {type(data)})")
        missing = [n for n in self.features if n not in data]
        extra = [n for n in data if n not in self.features]
        if missing or extra:
            raise ValueError(f"FeatureSpace {self.name!r}: data keys {sorted(data)} do not match "
                             f"the features {sorted(self.features)} (missing: {missing}, "
                             f"unexpected: {extra})")
        if _symbolic.is_symbolic(data):
            preprocessed = self._preprocess_features(data)
            return self._merge_features(preprocessed, self._cross_features(preprocessed))
        if self.backend is None:
            self.backend = _backend.current()
        host = {}
        rebatched = False
        for name, value in data.items():
            x = self._to_host(value, name)
            if x.ndim == 0:
                x = x.reshape((1, 1))
                rebatched = True
            elif x.ndim == 1:
                x = x.reshape((-1, 1))
            host[name] = x
        rows = {int(x.shape[0]) for x in host.values()}
        if len(rows) > 1:
            raise ValueError(f"FeatureSpace {self.name!r}: the columns have different numbers of "
                             f"rows: { {k: int(v.shape[0]) for k, v in host.items()} }")
        preprocessed = {name: self._on_backend(self.preprocessors[name](host[name]))
                        for name in host}
        merged = self._merge_features(preprocessed, self._cross_features(preprocessed))
        if rebatched:
            xp = self.backend.xp
            if self.output_mode == "concat":
                if merged.shape[0] != 1:
                    raise ValueError("Expected rebatched data to have batch size 1. Received: "
                                     f"shape={tuple(merged.shape)}")
                merged = xp.reshape(merged, tuple(merged.shape[1:]))
            else:
                for name, x in merged.items():
                    if x.ndim == 2 and x.shape[0] == 1:
                        merged[name] = xp.reshape(x, tuple(x.shape[1:]))
        return merged

    def _on_backend(self, y):
        """A preprocessor's output as an array of this layer's backend (string outputs of a
        custom layer stay on the host)."""
        backend = self.backend
        if backend.is_array(y) or _host.is_text_data(y):
            return y
        return backend.from_numpy(_host.host_array(y))

    # ------------------------------------------------------------------ config
    def get_config(self):
        return {"features": {name: _entry(f) for name, f in self.features.items()},
                "output_mode": self.output_mode,
                "crosses": [_entry(c) for c in self.crosses],
                "crossing_dim": self.crossing_dim, "hashing_dim": self.hashing_dim,
                "num_discretization_bins": self.num_discretization_bins}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def get_build_config(self):
        """Keras's: each preprocessor's build config, by feature name."""
        out = {}
        for name, feature in self.features.items():
            shape = getattr(feature.preprocessor, "_build_input_shape", None)
            out[name] = {} if shape is None else {"input_shape": list(shape)}
        return out

    def build_from_config(self, config):
        """Build the preprocessors from ``get_build_config()``'s dict and mark the space
        adapted (its preprocessors' state is restored by their own hooks)."""
        for name in config.keys():
            preprocessor = self.features[name].preprocessor
            shape = (config[name] or {}).get("input_shape")
            if not preprocessor.built and shape:
                if preprocessor.backend is None:
                    preprocessor.backend = _backend.current()
                preprocessor._maybe_build(tuple(shape))
        self._is_adapted = True

    def save_own_variables(self, store):
        """Keras's hook: a FeatureSpace holds no variables of its own."""
        return

    def load_own_variables(self, store):
        return

    def compute_output_shape(self, input_shape):
        enc = self.get_encoded_features()
        if isinstance(enc, dict):
            return {k: v.shape for k, v in enc.items()}
        return enc.shape


def _dtype_name(x):
    """The dtype of a symbolic tensor or array, as a name ("int64", "float32", "string")."""
    dtype = x.dtype
    if isinstance(dtype, str):
        return dtype
    text = str(dtype)
    for prefix in ("<class 'numpy.", "numpy.", "torch."):
        text = text.replace(prefix, "")
    return text.rstrip("'>")


def _stack(scalars):
    """Host 0-d arrays (one column's unbatched rows) as one 1-D host array."""
    if _host.is_text_array(scalars[0]):
        return _host.as_text_array([s.reshape(()).item() if hasattr(s, "item") else s
                                    for s in scalars])
    return _host.host_array(scalars)

