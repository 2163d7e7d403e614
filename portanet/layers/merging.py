"""Merging layers: Add, Subtract, Multiply, Average, Maximum, Minimum, Concatenate, Dot
(keras/src/layers/merging), and their functional forms ``add``, ``concatenate``, ...

Each takes a list of tensors and returns one; ``backward(dy)`` returns a list of input
gradients. Element-wise merges broadcast as Keras does: inputs of lower rank are expanded
at axis 1 until every rank is equal, then ordinary broadcasting applies (every non-batch
dimension equal, or 1). The gradient of a broadcast input is summed back to its shape.
"""

from .base import Layer

__all__ = ["Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate", "Dot",
           "add", "subtract", "multiply", "average", "maximum", "minimum", "concatenate", "dot"]


def _is_shape_list(input_shape):
    return isinstance(input_shape, list) and all(isinstance(s, (tuple, list)) for s in input_shape)


def _broadcast_shapes(shape1, shape2, layer_name):
    """Keras's _compute_elemwise_op_output_shape on shapes without the batch axis."""
    if len(shape1) < len(shape2):
        return _broadcast_shapes(shape2, shape1, layer_name)
    if not shape2:
        return tuple(shape1)
    out = list(shape1[: len(shape1) - len(shape2)])
    for i, j in zip(shape1[len(shape1) - len(shape2):], shape2):
        if i is None or j is None:
            out.append(None)
        elif i == 1:
            out.append(j)
        elif j == 1 or i == j:
            out.append(i)
        else:
            raise ValueError(f"{layer_name}: inputs have incompatible shapes {tuple(shape1)} and "
                             f"{tuple(shape2)} (without the batch axis): each dimension must be equal or 1")
    return tuple(out)


class _Merge(Layer):
    """Base of the element-wise merges: ``_merge(xs)`` and ``_merge_grads(xs, y, dy)``."""

    supports_masking = True
    _min_inputs = 1
    _max_inputs = None

    def _check_inputs(self, input_shape):
        name = type(self).__name__
        if not _is_shape_list(input_shape):
            raise ValueError(f"{name} {self.name!r}: a merge layer must be called on a list of inputs; "
                             f"got input shape {input_shape!r}")
        n = len(input_shape)
        if n < self._min_inputs or (self._max_inputs is not None and n > self._max_inputs):
            exact = self._min_inputs == self._max_inputs
            want = (f"exactly {self._min_inputs}" if exact else f"at least {self._min_inputs}")
            raise ValueError(f"{name} {self.name!r}: must be called on {want} inputs; got {n}")
        batch = {s[0] for s in input_shape if len(s) and s[0] is not None}
        if len(batch) > 1:
            raise ValueError(f"{name} {self.name!r}: cannot merge tensors with different batch sizes: "
                             f"{[tuple(s) for s in input_shape]}")

    def build(self, input_shape):
        self._check_inputs(input_shape)
        self.compute_output_shape(input_shape)
        self.built = True

    def compute_output_shape(self, input_shape):
        self._check_inputs(input_shape)
        shape = tuple(input_shape[0][1:])
        for s in input_shape[1:]:
            shape = _broadcast_shapes(shape, tuple(s[1:]), f"{type(self).__name__} {self.name!r}")
        batch = next((s[0] for s in input_shape if len(s) and s[0] is not None), None)
        return (batch,) + shape

    def _align(self, xs):
        xp = self.xp
        rank = max(x.ndim for x in xs)
        out = []
        for x in xs:
            while x.ndim < rank:
                x = xp.expand_dims(x, axis=1)
            out.append(x)
        return out

    def _unbroadcast(self, g, x_shape, aligned_shape):
        """Sum ``g`` (of the broadcast output shape) back to an input's shape."""
        xp = self.xp
        axes = tuple(i for i, (a, b) in enumerate(zip(aligned_shape, g.shape)) if a == 1 and b != 1)
        if axes:
            g = xp.sum(g, axis=axes, keepdims=True)
        if tuple(g.shape) != tuple(x_shape):
            g = xp.reshape(g, tuple(x_shape))
        return g

    def forward(self, inputs, training=False):
        if not isinstance(inputs, (list, tuple)):
            raise ValueError(f"{type(self).__name__} {self.name!r}: expected a list of inputs")
        xs = list(inputs)
        shapes = [tuple(x.shape) for x in xs]
        aligned = self._align(xs)
        y = self._merge(aligned)
        out_shape = tuple(y.shape)

        def backward(dy):
            grads = self._merge_grads(aligned, y, dy)
            return [self._unbroadcast(self._full(g, out_shape), s, tuple(a.shape))
                    for g, s, a in zip(grads, shapes, aligned)]
        return y, backward

    def _full(self, g, shape):
        # A gradient that does not depend on the other inputs may have the input's own
        # (smaller) shape; give it the output's so unbroadcasting treats every input alike.
        if tuple(g.shape) == shape:
            return g
        return self.xp.broadcast_to(g, shape)

    def compute_mask(self, inputs, mask=None):
        if mask is None:
            return None
        masks = [m for m in (mask if isinstance(mask, (list, tuple)) else [mask]) if m is not None]
        if not masks:
            return None
        xp = self.xp
        out = masks[0]
        for m in masks[1:]:
            out = xp.logical_and(out, m)
        return out


class Add(_Merge):
    """Adds a list of inputs element-wise: ``Add()([x1, x2])`` (broadcasting as Keras).

    Input shape: a list of tensors of compatible shapes. Output shape: the broadcast shape.

    Example:
        >>> y = pn.layers.Add()([pn.layers.Dense(4)(a), pn.layers.Dense(4)(b)])
    """

    def _merge(self, xs):
        y = xs[0]
        for x in xs[1:]:
            y = y + x
        return y

    def _merge_grads(self, xs, y, dy):
        return [dy] * len(xs)


class Subtract(_Merge):
    """Subtracts two inputs: ``Subtract()([x1, x2]) = x1 - x2``.

    Input shape: exactly two tensors of compatible shapes. Output shape: the broadcast shape.
    """

    _min_inputs = 2
    _max_inputs = 2

    def _merge(self, xs):
        return xs[0] - xs[1]

    def _merge_grads(self, xs, y, dy):
        return [dy, -dy]


class Multiply(_Merge):
    """Multiplies a list of inputs element-wise.

    Input shape: a list of tensors of compatible shapes. Output shape: the broadcast shape.
    """

    def _merge(self, xs):
        y = xs[0]
        for x in xs[1:]:
            y = y * x
        return y

    def _merge_grads(self, xs, y, dy):
        grads = []
        for i in range(len(xs)):
            g = dy
            for j, x in enumerate(xs):
                if j != i:
                    g = g * x
            grads.append(g)
        return grads


class Average(_Merge):
    """Averages a list of inputs element-wise.

    Input shape: a list of tensors of compatible shapes. Output shape: the broadcast shape.
    """

    def _merge(self, xs):
        y = xs[0]
        for x in xs[1:]:
            y = y + x
        return y / len(xs)

    def _merge_grads(self, xs, y, dy):
        return [dy / len(xs)] * len(xs)


class _Extremum(_Merge):
    _pick = None

    def _merge(self, xs):
        pick = getattr(self.xp, self._pick)
        y = xs[0]
        for x in xs[1:]:
            y = pick(y, x)
        return y

    def _merge_grads(self, xs, y, dy):
        # The gradient goes to the input holding the extremum; on a tie, to the first such
        # input (as TensorFlow's maximum/minimum gradient along a chain of pairs).
        xp = self.xp
        taken = None
        grads = []
        for x in xs:
            hit = x == y
            if taken is not None:
                hit = xp.logical_and(hit, xp.logical_not(taken))
            taken = hit if taken is None else xp.logical_or(taken, hit)
            grads.append(dy * xp.astype(hit, dy.dtype))
        return grads


class Maximum(_Extremum):
    """Element-wise maximum of a list of inputs (the gradient goes to the largest input).

    Input shape: a list of tensors of compatible shapes. Output shape: the broadcast shape.
    """

    _pick = "maximum"


class Minimum(_Extremum):
    """Element-wise minimum of a list of inputs (the gradient goes to the smallest input).

    Input shape: a list of tensors of compatible shapes. Output shape: the broadcast shape.
    """

    _pick = "minimum"


class Concatenate(Layer):
    """Concatenates a list of inputs along ``axis``.

    Args:
        axis: the concatenation axis (default -1). The batch axis (0) cannot be used.

    Input shape: a list of tensors whose shapes agree except along ``axis``.
    Output shape: the same, with the sizes along ``axis`` summed.

    Example:
        >>> y = pn.layers.Concatenate()([a, b])      # (None, 3) and (None, 5) -> (None, 8)
    """

    supports_masking = True

    def __init__(self, axis=-1, **kwargs):
        if isinstance(axis, bool) or not isinstance(axis, int):
            raise TypeError(f"Concatenate: axis={axis!r}; expected an integer")
        super().__init__(**kwargs)
        self.axis = axis

    def _axis(self, rank):
        axis = self.axis % rank if -rank <= self.axis < rank else None
        if axis is None or axis == 0:
            raise ValueError(f"Concatenate {self.name!r}: axis={self.axis} is not a valid non-batch axis "
                             f"for inputs of rank {rank}")
        return axis

    def compute_output_shape(self, input_shape):
        if not _is_shape_list(input_shape) or len(input_shape) < 1:
            raise ValueError(f"Concatenate {self.name!r}: must be called on a list of at least 1 input; "
                             f"got input shape {input_shape!r}")
        ranks = {len(s) for s in input_shape}
        if len(ranks) != 1:
            raise ValueError(f"Concatenate {self.name!r}: inputs must have the same rank; got shapes "
                             f"{[tuple(s) for s in input_shape]}")
        rank = ranks.pop()
        axis = self._axis(rank)
        out = list(input_shape[0])
        for s in input_shape[1:]:
            for i in range(rank):
                if i == axis:
                    continue
                a, b = out[i], s[i]
                if a is not None and b is not None and a != b:
                    raise ValueError(f"Concatenate {self.name!r}: inputs must match except along axis "
                                     f"{self.axis}; got shapes {[tuple(t) for t in input_shape]}")
                if a is None:
                    out[i] = b
        sizes = [s[axis] for s in input_shape]
        out[axis] = None if any(v is None for v in sizes) else sum(sizes)
        return tuple(out)

    def build(self, input_shape):
        self.compute_output_shape(input_shape)
        self.built = True

    def forward(self, inputs, training=False):
        xp = self.xp
        xs = list(inputs)
        axis = self._axis(xs[0].ndim)
        y = xp.concat(xs, axis=axis)
        sizes = [x.shape[axis] for x in xs]
        rank = y.ndim

        def backward(dy):
            grads = []
            start = 0
            for size in sizes:
                index = tuple(slice(start, start + size) if i == axis else slice(None) for i in range(rank))
                grads.append(dy[index])
                start += size
            return grads
        return y, backward

    def compute_mask(self, inputs, mask=None):
        # As Keras: a missing mask counts as all-true; masks of lower rank than the inputs
        # gain a trailing axis, are concatenated along ``axis`` and reduced with any().
        if mask is None or all(m is None for m in mask):
            return None
        xp = self.xp
        full = []
        for x, m in zip(inputs, mask):
            if m is None:
                m = xp.ones_like(x, dtype=xp.bool)
            elif m.ndim < x.ndim:
                m = xp.broadcast_to(xp.expand_dims(m, axis=-1), x.shape)
            full.append(m)
        return xp.any(xp.concat(full, axis=self._axis(inputs[0].ndim)), axis=-1)

    def get_config(self):
        config = super().get_config()
        config["axis"] = self.axis
        return config


class Dot(Layer):
    """Dot product between samples of two tensors, along the given axes (Keras's batch_dot).

    Args:
        axes: int or tuple of two ints, the axis of each input to contract (not 0, the
            batch axis). Negative values count from the end.
        normalize: L2-normalize each input along its dot axis first, so the result is the
            cosine similarity.

    Input shape: two tensors, e.g. (batch, n) and (batch, n), or (batch, m, n) and (batch, n, k).
    Output shape: the first input's shape without the batch and dot axes, followed by the
    second's; (batch, 1) when nothing remains.

    Example:
        >>> sim = pn.layers.Dot(axes=1, normalize=True)([a, b])   # (None, 1)
    """

    def __init__(self, axes, normalize=False, **kwargs):
        if isinstance(axes, (list, tuple)):
            if len(axes) != 2 or not all(isinstance(a, int) and not isinstance(a, bool) for a in axes):
                raise ValueError(f"Dot: axes={axes!r}; expected an int or a tuple of two ints")
            axes = tuple(axes)
        elif isinstance(axes, bool) or not isinstance(axes, int):
            raise TypeError(f"Dot: axes={axes!r}; expected an int or a tuple of two ints")
        super().__init__(**kwargs)
        self.axes = axes
        self.normalize = bool(normalize)

    def _resolve_axes(self, shape1, shape2):
        axes = (self.axes, self.axes) if isinstance(self.axes, int) else self.axes
        out = []
        for a, shape in zip(axes, (shape1, shape2)):
            rank = len(shape)
            if not -rank <= a < rank or a % rank == 0:
                raise ValueError(f"Dot {self.name!r}: axes={self.axes!r} is not a valid non-batch axis for "
                                 f"an input of shape {tuple(shape)}")
            out.append(a % rank)
        return out

    def compute_output_shape(self, input_shape):
        if not _is_shape_list(input_shape) or len(input_shape) != 2:
            raise ValueError(f"Dot {self.name!r}: must be called on a list of exactly 2 inputs; got "
                             f"input shape {input_shape!r}")
        s1, s2 = (tuple(s) for s in input_shape)
        a1, a2 = self._resolve_axes(s1, s2)
        if s1[a1] is not None and s2[a2] is not None and s1[a1] != s2[a2]:
            raise ValueError(f"Dot {self.name!r}: incompatible input shapes {s1} and {s2}: dimension "
                             f"{a1} of the first ({s1[a1]}) must equal dimension {a2} of the second ({s2[a2]})")
        rest = [d for i, d in enumerate(s1) if i not in (0, a1)] + [d for i, d in enumerate(s2) if i not in (0, a2)]
        batch = s1[0] if s1[0] is not None else s2[0]
        return (batch,) + (tuple(rest) if rest else (1,))

    def build(self, input_shape):
        self.compute_output_shape(input_shape)
        self.built = True

    def _l2_normalize(self, x, axis):
        """x·rsqrt(max(Σx², 1e-12)) along axis (Keras's l2_normalize) and its backward."""
        xp = self.xp
        square_sum = xp.sum(x * x, axis=axis, keepdims=True)
        floor = xp.asarray(1e-12, dtype=x.dtype)
        inv = 1.0 / xp.sqrt(xp.maximum(square_sum, floor))
        y = x * inv
        active = xp.astype(square_sum > floor, x.dtype)

        def backward(dy):
            return inv * dy - y * (inv * active) * xp.sum(dy * y, axis=axis, keepdims=True)
        return y, backward

    def forward(self, inputs, training=False):
        xp = self.xp
        x1, x2 = inputs
        a1, a2 = self._resolve_axes(x1.shape, x2.shape)
        norm1 = norm2 = None
        if self.normalize:
            x1, norm1 = self._l2_normalize(x1, a1)
            x2, norm2 = self._l2_normalize(x2, a2)
        # Move the contracted axis last in x1 and first (after the batch) in x2, flatten the
        # rest, and use one batched matmul: (b, R1, n) @ (b, n, R2) -> (b, R1, R2).
        perm1 = [0] + [i for i in range(1, x1.ndim) if i != a1] + [a1]
        perm2 = [0, a2] + [i for i in range(1, x2.ndim) if i != a2]
        t1 = xp.permute_dims(x1, tuple(perm1))
        t2 = xp.permute_dims(x2, tuple(perm2))
        b, n = x1.shape[0], x1.shape[a1]
        rest1, rest2 = tuple(t1.shape[1:-1]), tuple(t2.shape[2:])
        m1 = xp.reshape(t1, (b, _prod(rest1), n))
        m2 = xp.reshape(t2, (b, n, _prod(rest2)))
        z = m1 @ m2
        out_shape = (b,) + (rest1 + rest2 if rest1 + rest2 else (1,))
        y = xp.reshape(z, out_shape)
        inv1, inv2 = _inverse(perm1), _inverse(perm2)

        def backward(dy):
            dz = xp.reshape(dy, tuple(z.shape))
            dm1 = dz @ xp.matrix_transpose(m2)
            dm2 = xp.matrix_transpose(m1) @ dz
            d1 = xp.permute_dims(xp.reshape(dm1, tuple(t1.shape)), inv1)
            d2 = xp.permute_dims(xp.reshape(dm2, tuple(t2.shape)), inv2)
            if norm1 is not None:
                d1, d2 = norm1(d1), norm2(d2)
            return [d1, d2]
        return y, backward

    def compute_mask(self, inputs, mask=None):
        return None

    def get_config(self):
        config = super().get_config()
        config.update({"axes": list(self.axes) if isinstance(self.axes, tuple) else self.axes,
                       "normalize": self.normalize})
        return config


def _prod(shape):
    n = 1
    for s in shape:
        n *= s
    return n


def _inverse(perm):
    inv = [0] * len(perm)
    for i, p in enumerate(perm):
        inv[p] = i
    return tuple(inv)


def add(inputs, **kwargs):
    """Functional form of ``Add``: ``add([x1, x2])``."""
    return Add(**kwargs)(inputs)


def subtract(inputs, **kwargs):
    """Functional form of ``Subtract``: ``subtract([x1, x2])``."""
    return Subtract(**kwargs)(inputs)


def multiply(inputs, **kwargs):
    """Functional form of ``Multiply``."""
    return Multiply(**kwargs)(inputs)


def average(inputs, **kwargs):
    """Functional form of ``Average``."""
    return Average(**kwargs)(inputs)


def maximum(inputs, **kwargs):
    """Functional form of ``Maximum``."""
    return Maximum(**kwargs)(inputs)


def minimum(inputs, **kwargs):
    """Functional form of ``Minimum``."""
    return Minimum(**kwargs)(inputs)


def concatenate(inputs, axis=-1, **kwargs):
    """Functional form of ``Concatenate``: ``concatenate([x1, x2], axis=-1)``."""
    return Concatenate(axis=axis, **kwargs)(inputs)


def dot(inputs, axes=-1, normalize=False, **kwargs):
    """Functional form of ``Dot``: ``dot([x1, x2], axes=-1)``."""
    return Dot(axes=axes, normalize=normalize, **kwargs)(inputs)
