"""``keras.utils.Config``: a dict-like container of named values, read and written as
attributes or items, that can be frozen and written as JSON (keras/src/utils/config.py)."""

import copy
import difflib
import json


class Config:
    """A dict-like container for named values.

    Values are set and read as attributes (``config.seed = 1``) or items
    (``config["seed"]``); ``freeze()`` makes every later change raise ``ValueError``;
    ``to_json()`` writes the values as JSON; iteration gives the keys in sorted order, as
    in Keras.

    Example:
        >>> config = pn.utils.Config(learning_rate=0.1, momentum=0.9)
        >>> config.use_ema = True
        >>> config["seed"] = 123
        >>> config.freeze()
    """

    __attrs__ = None

    def __init__(self, **kwargs):
        self._config = kwargs
        self._frozen = False
        self.__attrs__ = set(dir(self))

    @property
    def frozen(self):
        """True once ``freeze()`` was called (and not undone by ``unfreeze()``)."""
        return self._frozen

    def freeze(self):
        """Refuse every later change."""
        self._frozen = True

    def unfreeze(self):
        """Allow changes again."""
        self._frozen = False

    def _raise_if_frozen(self):
        if self._frozen:
            raise ValueError("Cannot mutate attribute(s) because the config is frozen.")

    def as_dict(self):
        """A shallow copy of the values as a plain dict."""
        return copy.copy(self._config)

    def to_json(self):
        """The values as JSON text."""
        return json.dumps(self._config)

    def keys(self):
        return self._config.keys()

    def values(self):
        return self._config.values()

    def items(self):
        return self._config.items()

    def pop(self, *args):
        self._raise_if_frozen()
        return self._config.pop(*args)

    def update(self, *args, **kwargs):
        self._raise_if_frozen()
        return self._config.update(*args, **kwargs)

    def get(self, keyname, value=None):
        return self._config.get(keyname, value)

    def __setattr__(self, name, value):
        attrs = object.__getattribute__(self, "__attrs__")
        if attrs is None or name in attrs:
            return object.__setattr__(self, name, value)
        self._raise_if_frozen()
        self._config[name] = value
        return None

    def __getattr__(self, name):
        attrs = object.__getattribute__(self, "__attrs__")
        if attrs is None or name in attrs:
            return object.__getattribute__(self, name)
        config = object.__getattribute__(self, "_config")
        if name in config:
            return config[name]
        msg = f"Unknown attribute: '{name}'."
        closest = difflib.get_close_matches(name, config.keys(), n=1, cutoff=0.7)
        if closest:
            msg += f" Did you mean '{closest[0]}'?"
        raise AttributeError(msg)

    def __setitem__(self, key, item):
        self._raise_if_frozen()
        self._config[key] = item

    def __getitem__(self, key):
        return self._config[key]

    def __repr__(self):
        return f"<Config {self._config}>"

    def __iter__(self):
        yield from sorted(self._config.keys())

    def __len__(self):
        return len(self._config)

    def __delitem__(self, key):
        self._raise_if_frozen()
        del self._config[key]

    def __contains__(self, item):
        return item in self._config
