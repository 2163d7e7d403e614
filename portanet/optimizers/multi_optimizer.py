"""MultiOptimizer and OptimizerMap, as keras/src/optimizers/multi_optimizer.py: one
optimizer per group of variables, chosen by the variable's path.
"""

import re
from collections.abc import MutableMapping

from .base import Optimizer, _is_variable

# Set by portanet.optimizers (its registry's serialize/deserialize) once the package is loaded.
_serialize = None
_deserialize = None


class OptimizerMap(MutableMapping):
    """Maps variable paths to optimizers: an exact key wins, else the one regex key that
    ``re.fullmatch``-es the path (several is an error), else ``default_optimizer``.
    Calling the map with a variable returns its optimizer (``map(variable)``).

    Args:
        default_optimizer: the Optimizer of variables no key matches.
        optimizer_map: optional dict {path or regex: Optimizer}.
    """

    def __init__(self, default_optimizer, optimizer_map=None):
        if not isinstance(default_optimizer, Optimizer):
            raise TypeError(f"OptimizerMap: default_optimizer={default_optimizer!r}; expected an "
                            "Optimizer instance")
        if optimizer_map is not None and not isinstance(optimizer_map, dict):
            raise TypeError(f"OptimizerMap: optimizer_map={optimizer_map!r}; expected a dict")
        self._default_optimizer = default_optimizer
        self._optimizer_map = {}
        for k, v in (optimizer_map or {}).items():
            self[k] = v

    @property
    def default_optimizer(self):
        return self._default_optimizer

    def __getitem__(self, key):
        if key in self._optimizer_map:
            return self._optimizer_map[key]
        matching = [p for p in self._optimizer_map if re.fullmatch(p, key)]
        if len(matching) > 1:
            raise ValueError(f"OptimizerMap: multiple optimizers assigned to variable {key!r} "
                             f"(keys {matching})")
        if matching:
            return self._optimizer_map[matching[0]]
        return self._default_optimizer

    def __setitem__(self, key, optimizer):
        if key in self._optimizer_map:
            raise ValueError(f"OptimizerMap: {key!r} already exists with value "
                             f"{self._optimizer_map[key]!r}; keys must not repeat")
        if not isinstance(key, str):
            raise ValueError(f"OptimizerMap: key={key!r}; expected a string")
        if not isinstance(optimizer, Optimizer):
            raise ValueError(f"OptimizerMap: optimizer={optimizer!r}; expected an Optimizer instance")
        if isinstance(optimizer, MultiOptimizer):
            raise ValueError("OptimizerMap: optimizer cannot be a MultiOptimizer")
        self._optimizer_map[key] = optimizer

    def __delitem__(self, key):
        del self._optimizer_map[key]

    def __len__(self):
        return len(self._optimizer_map)

    def __iter__(self):
        return iter(self._optimizer_map)

    def __call__(self, variable):
        return self[getattr(variable, "path", None) or variable.name]

    def get_config(self):
        return {"default_optimizer": _serialize(self._default_optimizer),
                "optimizer_map": {k: _serialize(v) for k, v in self._optimizer_map.items()}}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        return cls(_deserialize(config["default_optimizer"]),
                   {k: _deserialize(v) for k, v in (config.get("optimizer_map") or {}).items()})


class MultiOptimizer(Optimizer):
    """Applies a different optimizer to each group of variables.

    Args:
        optimizer_map: an ``OptimizerMap`` (or any callable ``f(variable) -> Optimizer``).
        loss_scale_factor: passed on to every inner optimizer.
        name: the optimizer's name.

    ``iterations`` counts the MultiOptimizer's own steps; each inner optimizer keeps its
    own step count, slots and learning rate (``learning_rate`` of a MultiOptimizer is an
    AttributeError, as Keras: set it on the inner optimizers). ``get_state`` lists every
    variable's slots in the order of the variables, so saving and resuming work as for
    any optimizer.
    """

    def __init__(self, optimizer_map, loss_scale_factor=None, name=None):
        if not callable(optimizer_map):
            raise TypeError(f"MultiOptimizer: optimizer_map={optimizer_map!r}; expected an OptimizerMap "
                            "or a callable variable -> Optimizer")
        self._inner_optimizers = []
        super().__init__(learning_rate=0.0, loss_scale_factor=loss_scale_factor, name=name)
        self._optimizer_map = optimizer_map
        inner = list(optimizer_map.values()) if hasattr(optimizer_map, "values") else []
        default = getattr(optimizer_map, "default_optimizer", None)
        if default is not None:
            inner.append(default)
        for opt in inner:
            if opt not in self._inner_optimizers:
                opt.loss_scale_factor = loss_scale_factor
                self._inner_optimizers.append(opt)
        self._owner = {}

    @property
    def optimizers(self):
        return list(self._inner_optimizers)

    @property
    def learning_rate(self):
        raise AttributeError("Learning rate cannot be accessed on a MultiOptimizer; access it on the "
                             "individual inner optimizers (optimizer.optimizers) instead")

    @learning_rate.setter
    def learning_rate(self, value):
        raise AttributeError("Learning rate cannot be set on a MultiOptimizer; set it on the "
                             "individual inner optimizers (optimizer.optimizers) instead")

    @property
    def loss_scale_factor(self):
        return getattr(self, "_loss_scale_factor", None)

    @loss_scale_factor.setter
    def loss_scale_factor(self, value):
        self._loss_scale_factor = value
        for opt in getattr(self, "_inner_optimizers", ()):
            opt.loss_scale_factor = value

    def _optimizer_of(self, variable):
        opt = self._optimizer_map(variable)
        if not isinstance(opt, Optimizer):
            raise ValueError(f"MultiOptimizer: the optimizer for variable {variable.path!r} is {opt!r}, "
                             "not an Optimizer instance")
        if isinstance(opt, MultiOptimizer):
            raise ValueError("MultiOptimizer cannot be used inside a MultiOptimizer")
        if opt not in self._inner_optimizers:
            opt.loss_scale_factor = self.loss_scale_factor
            self._inner_optimizers.append(opt)
        return opt

    def build(self, variables):
        """Assign each variable to its optimizer and build every inner optimizer."""
        self._variables = list(variables)
        self._owner = {id(v): self._optimizer_of(v) for v in self._variables}
        for opt in self._inner_optimizers:
            mine = [v for v in self._variables if self._owner[id(v)] is opt]
            if mine:
                opt.build(mine)
        self._slots = []

    def _groups(self, variables):
        return [(opt, [v for v in variables if self._owner[id(v)] is opt])
                for opt in self._inner_optimizers]

    def apply(self, grads, trainable_variables=None):
        grads = list(grads)
        if not grads:
            if trainable_variables is None:
                self.iterations += 1
            return
        own_form = trainable_variables is None and _is_variable(grads[0])
        variables = grads if own_form else trainable_variables
        if variables is None:
            if self._variables is None:
                raise ValueError(f"{self.name}: apply(grads) without trainable_variables needs a built "
                                 "optimizer; call optimizer.build(trainable_variables) first")
            variables = self._variables
        variables = list(variables)
        if self._variables is None or any(id(v) not in self._owner for v in variables):
            self.build(variables)
        if own_form:
            for opt, group in self._groups(variables):
                if group:
                    opt.apply(group)
        else:
            if len(grads) != len(variables):
                raise ValueError(f"{self.name}: apply got {len(grads)} gradients and {len(variables)} "
                                 "trainable_variables; expected one gradient each")
            by_opt = {}
            for g, v in zip(grads, variables):
                by_opt.setdefault(id(self._owner[id(v)]), ([], []))
                by_opt[id(self._owner[id(v)])][0].append(g)
                by_opt[id(self._owner[id(v)])][1].append(v)
            for opt in self._inner_optimizers:
                if id(opt) in by_opt:
                    gs, vs = by_opt[id(opt)]
                    opt.apply(gs, vs)
        self.iterations += 1

    def finalize_variable_values(self, var_list=None):
        for opt in self._inner_optimizers:
            if opt.built:
                opt.finalize_variable_values(var_list)

    def _new_slots(self, variable):
        return self._owner[id(variable)]._new_slots(variable) if id(variable) in self._owner else \
            self._optimizer_of(variable)._new_slots(variable)

    def get_state(self):
        inner_states = [opt.get_state() if opt.built else {"iterations": opt.iterations, "slots": []}
                        for opt in self._inner_optimizers]
        per_var = {}
        for opt, st in zip(self._inner_optimizers, inner_states):
            for v, slots in zip(opt.variables, st["slots"]):
                per_var[id(v)] = slots
        return {"iterations": self.iterations,
                "slots": [per_var.get(id(v), {}) for v in self.variables],
                "inner_iterations": [st["iterations"] for st in inner_states],
                "inner_extra": [{k: val for k, val in st.items() if k not in ("iterations", "slots")}
                                for st in inner_states]}

    def set_state(self, state, variables):
        self.build(variables)
        self.iterations = int(state["iterations"])
        slots = state["slots"]
        if len(slots) != len(self._variables):
            raise ValueError(f"{self.name}: optimizer state holds {len(slots)} variables' slots; "
                             f"the model has {len(self._variables)} trainable variables")
        of_var = {id(v): s for v, s in zip(self._variables, slots)}
        its = state.get("inner_iterations") or [state["iterations"]] * len(self._inner_optimizers)
        extras = state.get("inner_extra") or [{}] * len(self._inner_optimizers)
        for opt, (_, group), it, extra in zip(self._inner_optimizers, self._groups(self._variables),
                                              its, extras):
            if group:
                opt.set_state({**extra, "iterations": it, "slots": [of_var[id(v)] for v in group]}, group)

    def get_config(self):
        om = self._optimizer_map
        om_config = {"class_name": type(om).__name__, "config": om.get_config()} \
            if isinstance(om, OptimizerMap) else None
        return {"optimizer_map": om_config, "loss_scale_factor": self.loss_scale_factor, "name": self.name}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        om = config.pop("optimizer_map")
        if isinstance(om, dict):
            om = OptimizerMap.from_config(om.get("config", om))
        return cls(om, **config)

    def __repr__(self):
        return f"<MultiOptimizer optimizers={self._inner_optimizers!r}>"
