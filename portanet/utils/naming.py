"""Name registries: ``get(identifier)``, ``serialize`` and ``deserialize`` the Keras way.

Every catalogue (activations, initializers, losses, metrics, optimizers, ...) resolves
strings and configs only through its own registry, plus classes the user registers
explicitly with ``pn.saving.register_serializable``. Nothing named in a config is ever
imported or evaluated, so a config from a file can never run code.
"""

import re

# Classes registered by users (``register_serializable``), shared by every registry.
CUSTOM_OBJECTS = {}


def snake_case(name):
    """Keras's to_snake_case: "Conv2D" -> "conv2d", "GlobalMaxPooling1D" -> "global_max_pooling1d"."""
    s = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", s).lower()


class NameRegistry:
    """Maps names (strings and class names) to classes or functions of one kind."""

    def __init__(self, kind, base=None):
        self.kind = kind
        self.base = base
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
        if name in self._by_name:
            return self._by_name[name]
        if name in CUSTOM_OBJECTS:
            return CUSTOM_OBJECTS[name]
        raise ValueError(f"unknown {self.kind} name {name!r}; expected one of: "
                         f"{', '.join(self.names())}")

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
        if obj is None:
            return None
        if isinstance(obj, type) or not hasattr(obj, "get_config"):
            name = getattr(obj, "__name__", None)
            if name is None:
                raise TypeError(f"cannot serialize {self.kind} {obj!r}: it has no name or get_config")
            return name
        return {"class_name": type(obj).__name__, "config": obj.get_config()}

    def deserialize(self, config):
        if config is None:
            return None
        if isinstance(config, str):
            return self.get(config)
        if not isinstance(config, dict) or "class_name" not in config:
            raise ValueError(f"cannot deserialize {self.kind} from {config!r}: expected a name "
                             "or a dict with 'class_name' and 'config'")
        cls = self.lookup(config["class_name"])
        cfg = dict(config.get("config") or {})
        if not isinstance(cls, type):
            return cls
        if hasattr(cls, "from_config"):
            return cls.from_config(cfg)
        return cls(**cfg)
