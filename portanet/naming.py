"""Name registries: ``get(identifier)``, ``serialize`` and ``deserialize`` the Keras way.

Every catalogue (activations, initializers, losses, metrics, optimizers, ...) resolves
strings and configs only through its own registry, plus classes the user registers
explicitly with ``pn.saving.register_serializable``. Nothing named in a config is ever
imported or evaluated, so a config from a file can never run code.
"""

import contextlib
import re
import threading

# Classes registered by users (``register_serializable``), shared by every registry.
CUSTOM_OBJECTS = {}

# Objects passed as ``custom_objects=`` (load_model, from_config), innermost scope last.
_scopes = threading.local()


def _scoped_objects():
    return getattr(_scopes, "stack", ())


@contextlib.contextmanager
def custom_object_scope(custom_objects):
    """Make ``{name: class_or_function}`` resolvable by every registry inside the block
    (Keras's ``custom_object_scope``; ``load_model(..., custom_objects=...)`` uses it)."""
    if not isinstance(custom_objects, dict):
        raise TypeError(f"custom_objects={custom_objects!r}; expected a dict {{name: class or function}}")
    stack = list(_scoped_objects())
    stack.append(dict(custom_objects))
    _scopes.stack = tuple(stack)
    try:
        yield
    finally:
        _scopes.stack = tuple(stack[:-1])


def register_serializable(package="Custom", name=None):
    """Decorator registering a user class (or function) so configs and files can name it.

    As Keras's ``register_keras_serializable``: the object is registered under
    ``"package>name"`` (name defaults to its ``__name__``) and under the plain name, so
    every registry (layers, losses, metrics, activations, ...) can resolve it. Classes
    need ``get_config`` (and ``from_config`` unless ``cls(**config)`` rebuilds them).

    Example:
        >>> @pn.saving.register_serializable(package="MyLayers")
        ... class Scale(pn.layers.Layer): ...
    """
    if not isinstance(package, str) or not package or ">" in package:
        raise ValueError(f"register_serializable: package={package!r}; expected a non-empty string "
                         "without '>'")
    if name is not None and (not isinstance(name, str) or not name):
        raise ValueError(f"register_serializable: name={name!r}; expected a non-empty string or None")

    def decorator(obj):
        if not callable(obj):
            raise TypeError(f"register_serializable: {obj!r} is not a class or function")
        if isinstance(obj, type) and not hasattr(obj, "get_config"):
            raise TypeError(f"register_serializable: class {obj.__name__} needs a get_config() method")
        registered = name or obj.__name__
        key = f"{package}>{registered}"
        CUSTOM_OBJECTS[key] = obj
        CUSTOM_OBJECTS[registered] = obj
        # Configs name classes by __name__, so that resolves too when a name is given.
        CUSTOM_OBJECTS.setdefault(obj.__name__, obj)
        obj._registered_name = key
        return obj
    return decorator


def snake_case(name):
    """Keras's to_snake_case: "Conv2D" -> "conv2d", "GlobalMaxPooling1D" -> "global_max_pooling1d"."""
    s = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", s).lower()


class NameRegistry:
    """Maps names (strings and class names) to classes or functions of one kind."""

    def __init__(self, kind, base=None, module=None):
        self.kind = kind
        self.base = base
        # The Keras module objects of this kind serialize under ("keras.initializers", ...).
        self.module = module
        self._by_name = {}
        self._canonical = {}

    def register(self, obj, *names):
        """Register a class or function under its __name__ and the given aliases."""
        for n in (obj.__name__,) + tuple(names):
            self._by_name[n] = obj
        self._canonical.setdefault(obj, names[0] if names else obj.__name__)
        return obj

    def names(self):
        return sorted(self._by_name)

    def lookup(self, name):
        if not isinstance(name, str):
            raise ValueError(f"unknown {self.kind} name {name!r}: expected a string")
        if name in self._by_name:
            return self._by_name[name]
        for scope in reversed(_scoped_objects()):
            if name in scope and self._fits(scope[name]):
                return scope[name]
        if name in CUSTOM_OBJECTS and self._fits(CUSTOM_OBJECTS[name]):
            return CUSTOM_OBJECTS[name]
        raise ValueError(f"unknown {self.kind} name {name!r}; expected one of: "
                         f"{', '.join(self.names())}")

    def _fits(self, obj):
        """A user object serves this registry only if it is of the registry's kind."""
        if isinstance(obj, type) and self.base is not None:
            return issubclass(obj, self.base)
        return True

    def get(self, identifier, **defaults):
        """Resolve a string, a {"class_name", "config"} dict, an instance or a callable."""
        if identifier is None:
            return None
        if isinstance(identifier, str):
            obj = self.lookup(identifier)
            return obj(**defaults) if isinstance(obj, type) else obj
        if isinstance(identifier, dict):
            return self.deserialize(identifier)
        if isinstance(identifier, type) and self.base is not None and issubclass(identifier, self.base):
            return identifier(**defaults)
        if self.base is not None and isinstance(identifier, self.base):
            return identifier
        if callable(identifier):
            return identifier
        raise TypeError(f"could not interpret {self.kind} identifier {identifier!r}: expected a "
                        f"name (one of {', '.join(self.names())}), a config dict or an instance")

    def serialize(self, obj):
        """Keras 3's form: ``{"module", "class_name", "config", "registered_name"}`` (see
        ``keras_object_config``); a function or class without get_config gives its name."""
        if obj is None:
            return None
        if isinstance(obj, type) or not hasattr(obj, "get_config"):
            name = getattr(obj, "__name__", None)
            if name is None:
                raise TypeError(f"cannot serialize {self.kind} {obj!r}: it has no name or get_config")
            return name
        return keras_object_config(obj, self.module)

    def deserialize(self, config):
        if config is None:
            return None
        if isinstance(config, str):
            return self.get(config)
        if not isinstance(config, dict) or "class_name" not in config:
            raise ValueError(f"cannot deserialize {self.kind} from {config!r}: expected a name "
                             "or a dict with 'class_name' and 'config'")
        if config["class_name"] == "function" and isinstance(config.get("config"), str):
            # Keras's form of a built-in function ({"class_name": "function", "config": name}).
            return self.get(config["config"])
        cls = self.lookup(_class_key(config))
        cfg = dict(config.get("config") or {})
        if not isinstance(cls, type):
            return cls
        if hasattr(cls, "from_config"):
            return cls.from_config(cfg)
        return cls(**cfg)


def registered_name(obj_or_cls):
    """The ``"package>name"`` a class was registered under, or None for built-in classes."""
    cls = obj_or_cls if isinstance(obj_or_cls, type) else type(obj_or_cls)
    name = cls.__dict__.get("_registered_name")
    return name if isinstance(name, str) else None


def keras_object_config(obj, module, config=None):
    """Keras 3's serialized form of a built-in or registered object:
    ``{"module", "class_name", "config", "registered_name"}``.

    A built-in object is written under ``module`` (its Keras module, e.g.
    ``"keras.initializers"``) with ``registered_name`` None; a class registered with
    ``register_serializable`` writes its Python module (only recorded, never imported back;
    None for ``__main__``) and its ``"package>name"``, as Keras does. ``config`` defaults to ``obj.get_config()``.
    """
    registered = registered_name(obj)
    cls = type(obj)
    if registered is not None:
        # Keras's record_object_after_serialization: "__main__" is written as None.
        module = None if cls.__module__ == "__main__" else cls.__module__
    return {"module": module,
            # A class Keras exports under another name sets _keras_class_name on itself.
            "class_name": cls.__dict__.get("_keras_class_name", cls.__name__),
            "config": obj.get_config() if config is None else config,
            "registered_name": registered}


def _class_key(config):
    """The name to resolve for a ``{"class_name", "registered_name", ...}`` dict: a
    registered custom class is found by its ``"package>name"`` first (as Keras)."""
    registered = config.get("registered_name")
    if isinstance(registered, str) and registered in CUSTOM_OBJECTS and registered != config["class_name"]:
        return registered
    return config["class_name"]
