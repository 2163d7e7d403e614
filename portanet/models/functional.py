"""``Functional``: a model defined by calling layers on symbolic tensors (keras/src/models/functional.py).

    inputs = pn.Input((16,))
    x = pn.layers.Dense(8, activation="relu")(inputs)
    a, b = pn.layers.Dense(3)(x), pn.layers.Dense(1)(x)
    model = pn.Model(inputs, [a, b])

Calling a layer on a ``KerasTensor`` records a ``Node`` (layers/symbolic.py). The model walks
those nodes back from its outputs to its inputs once, at construction, and keeps them in a
topological order. A training step runs each node's ``layer.run`` in that order and then the
nodes' backward closures in reverse, summing the gradients of a tensor that feeds several
nodes. A layer called at several nodes (a shared layer) accumulates its weight gradients
through ``Variable.add_grad``, so sharing needs nothing special.
"""

from .. import backend as _backend
from .. import layers as _layers
from ..layers.base import keras_node_kwargs
from ..layers import op_layer as _op_layer
from ..layers.core import InputLayer
from ..layers.traced import uses_call as _uses_call
from ..layers.symbolic import KerasTensor, Node
from ..naming import custom_object_scope
from ..training.inputs import adjusted_shape, rank_adjustment
from .model import Model
from .summary import _fmt_shape


def _structure(value, what):
    """(flat list of tensors, kind, dict keys): kind is "single", "list" or "dict"."""
    if isinstance(value, KerasTensor):
        return [value], "single", None
    if isinstance(value, dict):
        if not value:
            raise ValueError(f"Functional: {what} is an empty dict; expected symbolic tensors")
        keys = list(value)
        return [value[k] for k in keys], "dict", keys
    if isinstance(value, (list, tuple)):
        if not value:
            raise ValueError(f"Functional: {what} is empty; expected one or more symbolic tensors")
        return list(value), "list", None
    raise TypeError(f"Functional: {what}={value!r}; expected a symbolic tensor (from pn.Input or a "
                    "layer called on one), or a list or dict of them")


def _check_tensors(tensors, what):
    for t in tensors:
        if not isinstance(t, KerasTensor):
            raise TypeError(f"Functional: every entry of {what} must be a symbolic tensor (from pn.Input "
                            f"or a layer called on one); got {type(t).__name__}: {t!r}")


def _map_graph(inputs, outputs):
    """Nodes reachable from ``outputs``, inputs first (post-order), plus Keras's node depths."""
    finished = set()
    order = []
    stack = [(t.node, False) for t in reversed(outputs)]
    while stack:
        node, expanded = stack.pop()
        if id(node) in finished:
            continue
        if expanded:
            finished.add(id(node))
            order.append(node)
            continue
        stack.append((node, True))
        for t in reversed(node.input_tensors):
            if id(t.node) not in finished:
                stack.append((t.node, False))
    input_nodes = {id(t.node) for t in inputs}
    for node in order:
        if node.is_input and id(node) not in input_nodes:
            raise ValueError(
                f"Graph disconnected: the outputs depend on input {node.layer.name!r} "
                f"(shape {node.outputs[0].shape}), which is not among the model's inputs "
                f"{[t.node.layer.name for t in inputs]}")
    for t in inputs:
        if id(t.node) not in finished:
            finished.add(id(t.node))
            order.insert(0, t.node)
    # Depths as keras's map_graph: an output node is 0, a node is one deeper than its
    # deepest consumer, and all nodes of one layer share the layer's maximum depth.
    node_depth, layer_depth = {}, {}
    for node in reversed(order):
        depth = max(node_depth.get(id(node), 0), layer_depth.get(id(node.layer), 0))
        node_depth[id(node)] = depth
        layer_depth[id(node.layer)] = depth
        for t in node.input_tensors:
            node_depth[id(t.node)] = max(depth + 1, node_depth.get(id(t.node), 0))
    return order, node_depth, layer_depth


def _clone_graph_nodes(inputs, outputs):
    """Keras's ``clone_graph_nodes``: a new ``Input`` (named ``<tensor name>CLONE``, with the
    tensor's batch shape and dtype) for every input that is not one, and the nodes between
    the inputs and the outputs recorded again on it (each layer gets one more inbound node),
    so the model's graph starts at its inputs and the original graph is left as it was.
    Returns the new (inputs, outputs)."""
    mapping = {}
    new_inputs = []
    for t in inputs:
        new = t if t.node.is_input else \
            InputLayer(batch_shape=t.shape, dtype=t.dtype, name=f"{t.name}CLONE").output
        mapping[id(t)] = new
        new_inputs.append(new)
    # The nodes between, producers first (the walk stops at the inputs).
    order, done = [], set()
    stack = [(t.node, False) for t in reversed(outputs) if id(t) not in mapping]
    while stack:
        node, expanded = stack.pop()
        if id(node) in done:
            continue
        if expanded or node.is_input:
            done.add(id(node))
            order.append(node)
            continue
        stack.append((node, True))
        for t in reversed(node.input_tensors):
            if id(t) not in mapping and id(t.node) not in done:
                stack.append((t.node, False))
    for node in order:
        if node.is_input:   # an Input that is not among the inputs: kept (graph disconnected)
            for t in node.outputs:
                mapping[id(t)] = t
            continue
        args = [mapping[id(t)] for t in node.primary_tensors]
        kwargs = {k: mapping[id(v)] if isinstance(v, KerasTensor) else v
                  for k, v in node.kwargs.items()}
        clone = Node(node.layer, args if node.multi_input else args[0], [], kwargs)
        clone.positional = node.positional
        for t in node.outputs:
            mapping[id(t)] = KerasTensor(t.shape, t.dtype, name=t.name, node=clone, index=t.index)
            clone.outputs.append(mapping[id(t)])
        node.layer._inbound_nodes.append(clone)
    return new_inputs, [mapping[id(t)] for t in outputs]


class Functional(Model):
    """A model given by its symbolic inputs and outputs: ``pn.Model(inputs, outputs)``.

    Args:
        inputs: a symbolic tensor from ``pn.Input``, or a list or dict of them. With a dict,
            ``fit``/``predict`` take the data as a dict with the same keys.
        outputs: a symbolic tensor, or a list or dict of them (a dict names the outputs
            for ``loss``/``metrics`` dicts and History keys; otherwise the output layers'
            names do, as Keras).
        name: model name (default "functional", "functional_1", ...).
        trainable: whether fit updates the weights.

    Example:
        >>> a, b = pn.Input((4,)), pn.Input((2,))
        >>> x = pn.layers.Concatenate()([a, pn.layers.Dense(4)(b)])
        >>> model = pn.Model([a, b], pn.layers.Dense(1)(x))
    """

    _adjusts_input_rank = True   # Keras's Functional._adjust_input_rank (training/inputs.py)

    def __init__(self, inputs=None, outputs=None, name=None, trainable=True, **kwargs):
        # pn.Model(...) constructs a Functional in Model.__new__, after which Python calls
        # __init__ on it a second time with the same arguments.
        if getattr(self, "_graph_ready", False):
            return
        if inputs is None or outputs is None:
            raise ValueError("Functional: give both inputs and outputs, e.g. pn.Model(inputs=x, outputs=y)")
        super().__init__(name=name, trainable=trainable, **kwargs)
        self._inputs, self._inputs_kind, self._input_keys = _structure(inputs, "inputs")
        self._outputs, self._outputs_kind, self._output_keys = _structure(outputs, "outputs")
        _check_tensors(self._inputs, "inputs")
        _check_tensors(self._outputs, "outputs")
        if len({id(t) for t in self._inputs}) != len(self._inputs):
            raise ValueError("Functional: the same input tensor is listed twice in inputs")
        if not all(t.node.is_input for t in self._inputs):
            # Inputs that are outputs of layers (e.g. FeatureSpace's encoded features): as
            # Keras, each becomes a new Input and the graph between is re-recorded on it.
            self._inputs, self._outputs = _clone_graph_nodes(self._inputs, self._outputs)
        order, node_depth, layer_depth = _map_graph(self._inputs, self._outputs)
        self._nodes = order
        self._node_ids = {id(n) for n in order}
        self._node_depth = node_depth
        first_seen = {}
        for i, node in enumerate(order):
            first_seen.setdefault(id(node.layer), (i, node.layer))
        # model.layers as Keras: deepest first (inputs), ties in order of first use.
        ranked = sorted(first_seen.values(), key=lambda p: (-layer_depth[id(p[1])], p[0]))
        self._layers = [layer for _, layer in ranked]
        names = [layer.name for layer in self._layers]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"Functional {self.name!r}: all layer names must be unique; {dupes} "
                             "name more than one layer (pass name=... to the layers)")
        self.backend = next((l.backend for l in self._layers if l.backend is not None), None) or _backend.current()
        for layer in self._layers:
            self._adopt_layer_backend(layer)
        # Per node: (layer, input ids, called on a list, output ids), precomputed for the hot loop.
        # A node whose call() took tensors besides its inputs (targets=...) also carries
        # (number of input tensors, {argument: tensor id or value}, tensor argument names).
        self._exec = [(n.layer, [id(t) for t in n.input_tensors], n.multi_input, [id(t) for t in n.outputs],
                       _kwargs_plan(n))
                      for n in order if not n.is_input]
        self._last_masks = None
        self._pending_extra = None
        if not self.trainable:
            self.trainable = False     # Layer.__init__ ran before the layers were known
        self.built = True
        self._graph_ready = True

    # ------------------------------------------------------------------ structure
    @property
    def inputs(self):
        return list(self._inputs)

    @property
    def outputs(self):
        return list(self._outputs)

    @property
    def input(self):
        return self._inputs[0] if len(self._inputs) == 1 else list(self._inputs)

    @property
    def output(self):
        return self._outputs[0] if len(self._outputs) == 1 else list(self._outputs)

    @property
    def layers(self):
        # As Keras: the ops applied to symbolic tensors (x + y) are operations, not layers.
        return [layer for layer in self._layers if not getattr(layer, "_is_op_layer", False)]

    @property
    def input_shapes(self):
        return [tuple(t.shape) for t in self._inputs]

    @property
    def input_shape(self):
        """Keras's: the inputs' shapes (batch axis first), one tuple for a single input."""
        shapes = [tuple(t.shape) for t in self._inputs]
        return shapes[0] if len(shapes) == 1 else shapes

    @property
    def output_shape(self):
        """Keras's: the outputs' shapes, one tuple for a single output."""
        shapes = [tuple(t.shape) for t in self._outputs]
        return shapes[0] if len(shapes) == 1 else shapes

    @property
    def input_names(self):
        if self._input_keys is not None:
            return list(self._input_keys)
        return [t.node.layer.name for t in self._inputs]

    @property
    def output_names(self):
        if self._output_keys is not None:
            return list(self._output_keys)
        names, seen = [], {}
        for t in self._outputs:
            base = t.node.layer.name
            # One layer may give several outputs (a multi-output layer, or the same tensor
            # listed twice): keep the names distinct so loss/metric dicts stay unambiguous.
            count = seen.get(base, 0)
            seen[base] = count + 1
            names.append(base if count == 0 else f"{base}_{count}")
        return names

    def _num_outputs(self):
        return len(self._outputs)

    def _model_nodes(self, layer):
        """The nodes of ``layer`` that belong to this model, in the layer's call order."""
        if isinstance(layer, InputLayer):
            return [layer.output.node]
        return [n for n in layer._inbound_nodes if id(n) in self._node_ids]

    def _tensor_history(self, t):
        """(layer name, node index within this model, tensor index) of a tensor."""
        layer = t.node.layer
        nodes = self._model_nodes(layer)
        index = next(i for i, n in enumerate(nodes) if n is t.node)
        return [layer.name, index, t.index]

    # ------------------------------------------------------------------ building
    def build(self, input_shape=None):
        self.built = True

    def _maybe_build(self, input_shape):
        self.built = True

    def compute_output_shape(self, input_shape):
        if (isinstance(input_shape, list) and input_shape
                and isinstance(input_shape[0], (tuple, list))):
            shapes = [tuple(s) for s in input_shape]
        else:
            shapes = [tuple(input_shape)]
        if len(shapes) != len(self._inputs):
            raise ValueError(f"Functional {self.name!r} takes {len(self._inputs)} input(s); got "
                             f"{len(shapes)} shape(s): {input_shape}")
        shapes = [adjusted_shape(s, rank_adjustment(s, t.shape) or 0)
                  for s, t in zip(shapes, self._inputs)]
        known = {id(t): s for t, s in zip(self._inputs, shapes)}
        for node in self._nodes:
            if node.is_input:
                continue
            ins = [known[id(t)] for t in node.primary_tensors]
            if node.kwargs and _uses_call(node.layer):
                # A call() layer that takes tensors besides its inputs: keep the recorded shapes.
                out = [tuple(t.shape) for t in node.outputs]
                out = out if len(out) > 1 else out[0]
            else:
                out = node.layer.compute_output_shape(ins if node.multi_input else ins[0],
                                                      **node.kwargs)
            outs = out if isinstance(out, list) else [out]
            for t, s in zip(node.outputs, outs):
                known[id(t)] = tuple(s)
        result = [known[id(t)] for t in self._outputs]
        return result if len(result) > 1 else result[0]

    def compute_mask(self, inputs, mask=None):
        # Called by Layer.run right after forward: the masks the inner graph produced.
        masks = self._last_masks
        if not masks:
            return None
        return masks if len(masks) > 1 else masks[0]

    # ------------------------------------------------------------------ running
    def _input_fed_layer(self):
        """The layer reading the model's only input, when nothing else reads it and the layer
        is called once here (its input gradient is then never used; see
        portanet/training/fast_paths.py, which also checks that the layer opts in)."""
        cached = getattr(self, "_input_fed_cache", None)
        if cached is None:
            layer = None
            if len(self._inputs) == 1 and not any(t is self._inputs[0] for t in self._outputs):
                source = self._inputs[0]
                readers = [n for n in self._nodes if not n.is_input
                           and any(t is source for t in n.input_tensors)]
                if len(readers) == 1 and len(readers[0].layer._inbound_nodes) == 1:
                    layer = readers[0].layer
            cached = self._input_fed_cache = (layer,)
        return cached[0]

    def _forward_graph(self, xs, training=False):
        if len(xs) != len(self._inputs):
            raise ValueError(f"Functional {self.name!r} takes {len(self._inputs)} input(s) "
                             f"{self.input_names}; got {len(xs)}")
        xs, restore = self._adjust_input_ranks(xs)
        outs, backward, extras = self._run_graph(xs, training)
        if restore is not None:
            inner = backward

            def backward(d_outputs):
                return restore(inner(d_outputs))
        return outs, backward, extras

    def _run_graph(self, xs, training):
        values = {id(t): x for t, x in zip(self._inputs, xs)}
        masks = {}
        records = []
        extras = []
        for layer, in_ids, multi, out_ids, plan in self._exec:
            kwargs = {}
            if plan is not None:
                n_in, template, _, _ = plan
                kwargs = {k: values[v.id] if type(v) is _TensorArg else v for k, v in template.items()}
                ids = in_ids[:n_in]
            else:
                ids = in_ids
            if multi:
                args = [values[i] for i in ids]
                mask = [masks.get(i) for i in ids]
                if all(m is None for m in mask):
                    mask = None
            else:
                args = values[ids[0]]
                mask = masks.get(ids[0])
            y, back, out_mask, extra = layer.run(args, training=training, mask=mask, **kwargs)
            self._collect_extra(layer, extra, extras)
            if len(out_ids) == 1:
                values[out_ids[0]] = y
                if out_mask is not None:
                    masks[out_ids[0]] = out_mask
            else:
                for j, oid in enumerate(out_ids):
                    values[oid] = y[j]
                    m = out_mask[j] if isinstance(out_mask, (list, tuple)) else out_mask
                    if m is not None:
                        masks[oid] = m
            records.append((back, in_ids, multi, out_ids, plan))
        outs = [values[id(t)] for t in self._outputs]
        self._last_masks = [masks.get(id(t)) for t in self._outputs]
        self._output_masks = self._last_masks   # the compiled loss and metrics apply them
        input_ids = [id(t) for t in self._inputs]

        def backward(d_outputs):
            grads = {}
            for t, d in zip(self._outputs, d_outputs):
                if d is not None:
                    k = id(t)
                    grads[k] = d if k not in grads else grads[k] + d
            xp = None
            for back, in_ids, multi, out_ids, plan in reversed(records):
                # Every consumer of this node's outputs ran before it in reverse order,
                # so the summed gradients are complete and can be released.
                ds = [grads.pop(o, None) for o in out_ids]
                if any(d is None for d in ds):
                    xp = xp or self.backend.xp
                    ds = [xp.zeros_like(values[o]) if d is None else d for o, d in zip(out_ids, ds)]
                dx = back(ds[0] if len(ds) == 1 else ds)
                if plan is not None and plan[3]:     # a call() layer: (d_inputs, {argument: gradient})
                    dx, d_kwargs = dx
                    dxs = ([None] * plan[0] if dx is None else list(dx) if multi else [dx]) + \
                        [d_kwargs.get(k) for k in plan[2]]
                else:
                    dxs = dx if multi else [dx]
                for i, g in zip(in_ids, dxs):
                    if g is not None:
                        grads[i] = g if i not in grads else grads[i] + g
            return [grads.get(i) for i in input_ids]
        return outs, backward, extras

    # ------------------------------------------------------------------ summary
    def _is_sequential_like(self):
        """Keras's test: one node per depth, each with one input, and no shared layer."""
        by_depth = {}
        for node in self._nodes:
            by_depth.setdefault(self._node_depth[id(node)], []).append(node)
        for nodes in by_depth.values():
            if len(nodes) > 1 or len(nodes[0].input_tensors) > 1:
                return False
        return all(len(self._model_nodes(layer)) <= 1 for layer in self._layers)

    def _summary_rows(self):
        sequential_like = self._is_sequential_like()
        rows = []
        for layer in self._layers:
            nodes = self._model_nodes(layer)
            # As Keras's format_layer_shape: the outputs of the layer's last call, in this
            # model or not (a shared layer shows one shape, not one per call).
            last = (layer._inbound_nodes or nodes or [None])[-1]
            if last is None:
                shape_text = "?"
            else:
                out = [t.shape for t in last.outputs]
                shape_text = _fmt_shape(out[0] if len(out) == 1 else out)
            connected = None
            if not sequential_like:
                links = []
                for node in nodes:
                    if node.is_input:
                        continue
                    for t in node.input_tensors:
                        # As Keras's summary: the node's index among ALL the layer's
                        # inbound nodes (its keras_history), not only this model's (a
                        # layer called again for a second model shows [1]).
                        inbound, index, tensor = t._keras_history
                        links.append(f"{inbound.name}[{index}][{tensor}]")
                connected = ",\n".join(links)
            rows.append((f"{layer.name} ({type(layer).__name__})", shape_text, layer.count_params(), connected,
                         layer.trainable if layer.weights else None))
        return rows

    # ------------------------------------------------------------------ config
    def _tensor_config(self, t):
        return {"class_name": "__keras_tensor__",
                "config": {"shape": list(t.shape), "dtype": t.dtype,
                           "keras_history": self._tensor_history(t)}}

    def _struct_config(self, tensors, kind, keys):
        items = [self._tensor_history(t) for t in tensors]
        if kind == "single":
            return items[0]
        if kind == "dict":
            return dict(zip(keys, items))
        return items

    def get_config(self):
        """Keras's functional config: each layer with its inbound nodes, plus the input and
        output tensors as [layer name, node index, tensor index]."""
        layer_configs = []
        for layer in self._layers:
            if getattr(layer, "_is_op_layer", False):     # x + y: an operation, as Keras writes it
                node = self._model_nodes(layer)[0]
                layer_configs.append(layer.keras_entry(
                    [self._tensor_config(t) for t in node.input_tensors]))
                continue
            entry = _layers.serialize(layer)
            entry["name"] = layer.name
            inbound = []
            for node in self._model_nodes(layer):
                if node.is_input:
                    continue
                kwargs = keras_node_kwargs(layer)
                if node.multi_input and getattr(layer, "_keras_positional_inputs", 0):
                    # Keras calls these layers with separate tensors (MultiHeadAttention:
                    # query, value, key; attention_mask by keyword).
                    n = layer._keras_positional_inputs
                    tensors = [self._tensor_config(t) for t in node.primary_tensors]
                    args = tensors[:n]
                    if len(tensors) > n:
                        kwargs["attention_mask"] = tensors[n]
                elif node.multi_input:
                    args = [[self._tensor_config(t) for t in node.primary_tensors]]
                else:
                    args = [self._tensor_config(node.inputs)]
                for k, v in node.kwargs.items():   # call()'s other arguments (targets=...)
                    value = self._tensor_config(v) if isinstance(v, KerasTensor) else v
                    if k in node.positional:       # given by position: in "args", as Keras
                        args.append(value)
                    else:
                        kwargs[k] = value
                inbound.append({"args": args, "kwargs": kwargs})
            entry["inbound_nodes"] = inbound
            layer_configs.append(entry)
        return {"name": self.name, "trainable": self.trainable, "layers": layer_configs,
                "input_layers": self._struct_config(self._inputs, self._inputs_kind, self._input_keys),
                "output_layers": self._struct_config(self._outputs, self._outputs_kind, self._output_keys)}

    def get_build_config(self):
        # A functional model is built when it is made; Keras writes {"input_shape": None}.
        return {"input_shape": None}

    def build_from_config(self, config):
        return None

    @classmethod
    def from_config(cls, config, custom_objects=None):
        """Rebuild the graph: create every layer, then replay its calls in an order where each
        call's input tensors exist (Keras's process_node loop)."""
        with custom_object_scope(custom_objects or {}):
            return _rebuild(cls, config, _layers.deserialize)


def _is_history(item):
    return (isinstance(item, (list, tuple)) and len(item) >= 3 and isinstance(item[0], str)
            and isinstance(item[1], int) and isinstance(item[2], int))


def _rebuild(cls, config, make_layer, clone_inputs=None):
    if not isinstance(config, dict) or not isinstance(config.get("layers"), list):
        raise ValueError("Functional.from_config: expected a dict with 'layers', 'input_layers' and "
                         f"'output_layers'; got {str(config)[:200]}")
    created = {}
    produced = {}   # (layer name, node index) -> list of output tensors
    pending = []
    for entry in config["layers"]:
        if not isinstance(entry, dict):
            raise ValueError(f"Functional.from_config: a layer entry must be a dict; got {entry!r}")
        if _op_layer.is_op_entry(entry):
            # An operation (x + y, ops.mean(...)): replayed by calling the op on its tensors.
            layer = _OpReplay(entry)
        else:
            # The whole entry (module, registered_name, build_config) but the graph keys.
            layer = make_layer({k: v for k, v in entry.items() if k not in ("name", "inbound_nodes")})
        name = entry.get("name", layer.name)
        if name in created:
            raise ValueError(f"Functional.from_config: layer name {name!r} appears twice")
        created[name] = layer
        if isinstance(layer, InputLayer):
            produced[(name, 0)] = [layer.output]
        inbound = entry.get("inbound_nodes") or []
        if not isinstance(inbound, list):
            raise ValueError(f"Functional.from_config: inbound_nodes of {name!r} must be a list")
        for k, node_config in enumerate(inbound):
            pending.append((name, layer, k, node_config))

    def resolve(arg):
        if isinstance(arg, dict) and arg.get("class_name") == "__keras_tensor__":
            hist = (arg.get("config") or {}).get("keras_history")
            if not _is_history(hist):
                raise ValueError(f"Functional.from_config: bad keras_history {hist!r}")
            key = (hist[0], hist[1])
            if key not in produced:
                return None
            outs = produced[key]
            if not 0 <= hist[2] < len(outs):
                raise ValueError(f"Functional.from_config: tensor index {hist[2]} out of range for {key}")
            return outs[hist[2]]
        if isinstance(arg, list):
            items = [resolve(a) for a in arg]
            return None if any(i is None for i in items) else items
        raise ValueError(f"Functional.from_config: cannot read node argument {str(arg)[:200]}")

    def is_tensor(arg):
        return isinstance(arg, dict) and arg.get("class_name") == "__keras_tensor__" or (
            isinstance(arg, list) and bool(arg) and all(is_tensor(a) for a in arg))

    def node_inputs(node_config, layer):
        """(args, tensor kwargs) of one call, or None while an input is not produced yet.
        Keras 3 records every positional argument (MultiHeadAttention: query, value) and
        tensors given by keyword (key=...); other recorded kwargs (mask=None,
        training=False) are the call's defaults and are not replayed."""
        if isinstance(node_config, dict) and isinstance(layer, _OpReplay):
            args = node_config.get("args") or []
            kwargs = node_config.get("kwargs") or {}
            missing = []

            def tensor(arg):
                t = resolve(arg)
                if t is None:
                    missing.append(arg)
                return t
            args = [_op_layer.decode_argument(a, tensor) for a in args]
            kwargs = {k: _op_layer.decode_argument(v, tensor) for k, v in kwargs.items()}
            return None if missing else (args, kwargs)
        if isinstance(node_config, dict):
            args = node_config.get("args")
            if not isinstance(args, list) or not args:
                raise ValueError(f"Functional.from_config: node without args: {str(node_config)[:200]}")
            kwargs = node_config.get("kwargs") or {}
            if not isinstance(kwargs, dict):
                raise ValueError(f"Functional.from_config: node kwargs must be a dict: {str(kwargs)[:200]}")
            resolved = [resolve(a) for a in args]
            tensor_kwargs = {k: resolve(v) for k, v in kwargs.items() if is_tensor(v)}
            if any(a is None for a in resolved) or any(v is None for v in tensor_kwargs.values()):
                return None
            if _uses_call(layer):
                # A call() layer's other arguments (flag=True) are replayed as recorded.
                tensor_kwargs.update({k: v for k, v in kwargs.items() if not is_tensor(v)
                                      and k not in ("training", "mask")})
            else:
                # Call arguments that choose what the call computes (reverse=True) are replayed.
                tensor_kwargs.update({k: v for k, v in kwargs.items()
                                      if k in getattr(layer, "_node_call_kwargs", ())
                                      and not is_tensor(v)})
            return resolved, tensor_kwargs
        if isinstance(node_config, list):  # Keras 2: [[name, node_index, tensor_index, kwargs], ...]
            tensors = []
            for item in node_config:
                if not _is_history(item):
                    raise ValueError(f"Functional.from_config: bad inbound entry {item!r}")
                outs = produced.get((item[0], item[1]))
                if outs is None:
                    return None
                tensors.append(outs[item[2]])
            return [tensors[0] if len(tensors) == 1 else tensors], {}
        raise ValueError(f"Functional.from_config: cannot read inbound node {str(node_config)[:200]}")

    done = set()
    while pending:
        progressed = False
        rest = []
        for name, layer, k, node_config in pending:
            if k > 0 and (name, k - 1) not in done:
                rest.append((name, layer, k, node_config))
                continue
            inputs = node_inputs(node_config, layer)
            if inputs is None:
                rest.append((name, layer, k, node_config))
                continue
            args, kwargs = inputs
            out = layer(*args, **kwargs)
            produced[(name, k)] = list(out) if isinstance(out, list) else [out]
            done.add((name, k))
            progressed = True
        if not progressed:
            missing = sorted({f"{n}[{k}]" for n, _, k, _ in rest})
            raise ValueError(f"Functional.from_config: cannot connect node(s) {missing}: their inputs "
                             "are never produced by the listed layers")
        pending = rest

    def lookup(item):
        if not _is_history(item):
            raise ValueError(f"Functional.from_config: bad input/output reference {item!r}")
        outs = produced.get((item[0], item[1]))
        if outs is None or not 0 <= item[2] < len(outs):
            raise ValueError(f"Functional.from_config: no tensor {item!r} in the model")
        return outs[item[2]]

    def struct(value, what):
        if _is_history(value):
            return lookup(value)
        if isinstance(value, dict):
            return {k: lookup(v) for k, v in value.items()}
        if isinstance(value, list):
            return [lookup(v) for v in value]
        raise ValueError(f"Functional.from_config: {what} must be a reference or a list/dict of them; "
                         f"got {value!r}")
    inputs = struct(config.get("input_layers"), "input_layers")
    outputs = struct(config.get("output_layers"), "output_layers")
    return cls(inputs, outputs, name=config.get("name"), trainable=config.get("trainable", True))


class _TensorArg:
    """In a node's argument template: the tensor with this id."""
    __slots__ = ("id",)

    def __init__(self, tensor_id):
        self.id = tensor_id


def _kwargs_plan(node):
    """None for a node called on its inputs alone; else (number of input tensors,
    {argument: _TensorArg or its value}, names of the tensor arguments in the order of
    ``node.kwarg_tensors``, whether the layer's backward also returns the arguments'
    gradients: a ``call()`` layer's, see ``Layer.run``)."""
    if not node.kwargs:
        return None
    template = {k: _TensorArg(id(v)) if isinstance(v, KerasTensor) else v
                for k, v in node.kwargs.items()}
    names = tuple(k for k, v in node.kwargs.items() if isinstance(v, KerasTensor))
    return len(node.primary_tensors), template, names, _uses_call(node.layer)


class _OpReplay:
    """An operation entry of a functional config (Keras's ``x + y`` nodes): calling it on
    the rebuilt tensors runs the portanet op, which records an OpLayer with the entry's name."""

    def __init__(self, entry):
        self.name = entry.get("name")
        self.op_name, self.fn, self.extra = _op_layer.op_function(entry)

    def __call__(self, *args, **kwargs):
        if self.op_name == "get_item" and len(args) == 2 and isinstance(args[1], list):
            args = [args[0], tuple(args[1])]      # the key Keras wrote as a list
        out = self.fn(*args, **{**self.extra, **kwargs})
        first = out[0] if isinstance(out, (list, tuple)) else out
        if not isinstance(first, KerasTensor):
            raise ValueError(f"Functional.from_config: operation {self.name!r} (ops.{self.op_name}) "
                             "did not take a symbolic tensor")
        first.node.layer.name = self.name
        return list(out) if isinstance(out, (list, tuple)) else out


def clone_functional(model, clone_function=None, input_tensors=None):
    """A functional model with the same graph, each layer replaced by ``clone_function(layer)``."""
    mapping = {}

    config = model.get_config()
    by_name = {layer.name: layer for layer in model.layers}
    given_inputs = None
    if input_tensors is not None:
        given_inputs = input_tensors if isinstance(input_tensors, (list, tuple)) else [input_tensors]
        if len(given_inputs) != len(model.inputs):
            raise ValueError(f"clone_model: input_tensors has {len(given_inputs)} tensors; the model "
                             f"has {len(model.inputs)} inputs")
        input_by_name = {t.node.layer.name: g for t, g in zip(model.inputs, given_inputs)}
    else:
        input_by_name = {}
    entry_names = iter([e["name"] for e in config["layers"] if not _op_layer.is_op_entry(e)])

    def make_layer(entry):
        name = next(entry_names)
        original = by_name[name]
        if isinstance(original, InputLayer):
            if name in input_by_name:
                given = input_by_name[name]
                if not isinstance(given, KerasTensor) or not given.node.is_input:
                    raise ValueError("clone_model: input_tensors must come from pn.Input(...)")
                return given.node.layer
            return _layers.deserialize(_layers.serialize(original))
        if id(original) not in mapping:
            clone = clone_function(original) if clone_function is not None else \
                type(original).from_config(original.get_config())
            mapping[id(original)] = clone
        return mapping[id(original)]
    return _rebuild(type(model), config, make_layer)
