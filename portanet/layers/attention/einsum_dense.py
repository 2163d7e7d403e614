"""EinsumDense (keras/src/layers/core/einsum_dense.py): a dense layer written as an einsum.

The Array API has no einsum: the equation is analysed once (as Keras's
``_analyze_einsum_string``) into a permutation of the input, one matrix product with the
reshaped kernel and a permutation of the result; the backward pass runs the same steps
in reverse.
"""

import re

from ... import activations as _activations
from ..base import Layer
from ..input_spec import InputSpec

__all__ = ["EinsumDense"]

_FRESH = "ZYXWVUTSRQPONMLKJIHGFEDCBA"   # letters for the dimensions "..." stands for


def _as_list(output_shape):
    if isinstance(output_shape, int):
        return [output_shape]
    return list(output_shape)


def _analyze_split_string(split_string, bias_axes, input_shape, output_shape, left_elided=False):
    """Keras's _analyze_split_string: (kernel shape, bias shape, full output shape)."""
    input_spec, weight_spec, output_spec = split_string.group(1), split_string.group(2), \
        split_string.group(3)
    elided = len(input_shape) - len(input_spec)
    output_shape = _as_list(output_shape)
    output_shape.insert(0, input_shape[0])
    if elided > 0 and left_elided:
        for i in range(1, elided):
            output_shape.insert(1, input_shape[i])
    elif elided > 0 and not left_elided:
        for i in range(len(input_shape) - elided, len(input_shape)):
            output_shape.append(input_shape[i])
    if left_elided:
        input_dim_map = {d: (i + elided) - len(input_shape) for i, d in enumerate(input_spec)}
        output_dim_map = {d: (i + elided) - len(output_shape) for i, d in enumerate(output_spec)}
    else:
        input_dim_map = {d: i for i, d in enumerate(input_spec)}
        output_dim_map = {d: i for i, d in enumerate(output_spec)}
    for dim in input_spec:
        in_size = input_shape[input_dim_map[dim]]
        if dim in output_dim_map:
            out_size = output_shape[output_dim_map[dim]]
            if out_size is not None and out_size != in_size:
                raise ValueError(f"EinsumDense: input shape {tuple(input_shape)} and output_shape "
                                 f"{tuple(output_shape)} disagree on dimension {dim!r} "
                                 f"({in_size} vs {out_size})")
    for dim in output_spec:
        if dim not in input_spec and dim not in weight_spec:
            raise ValueError(f"EinsumDense: output dimension {dim!r} appears neither in the input "
                             f"spec {input_spec!r} nor in the weight spec {weight_spec!r}")
    weight_shape = []
    for dim in weight_spec:
        if dim in input_dim_map:
            weight_shape.append(input_shape[input_dim_map[dim]])
        elif dim in output_dim_map:
            weight_shape.append(output_shape[output_dim_map[dim]])
        else:
            raise ValueError(f"EinsumDense: weight dimension {dim!r} appears neither in the input "
                             f"spec {input_spec!r} nor in the output spec {output_spec!r}")
    bias_shape = None
    if bias_axes is not None:
        for char in bias_axes:
            if char not in output_spec:
                raise ValueError(f"EinsumDense: bias_axes={bias_axes!r}; {char!r} is not in the "
                                 f"output spec {output_spec!r}")
        idx_map = {c: output_shape[output_dim_map[c]] for c in output_spec}
        first = min(output_spec.find(c) for c in bias_axes)
        bias_shape = [idx_map[c] if c in bias_axes else 1 for c in output_spec[first:]]
        if not left_elided:
            bias_shape.extend([1] * elided)
    return weight_shape, bias_shape, output_shape


def _split_equation(equation):
    """(match, left_elided) as Keras's _analyze_einsum_string, or ValueError."""
    dotted = re.sub(r"\.\.\.", "0", equation)
    m = re.match(r"^([a-zA-Z]+),([a-zA-Z]+)->([a-zA-Z]+)$", dotted)
    if m:
        return m, False
    m = re.match(r"^0([a-zA-Z]+),([a-zA-Z]+)->0([a-zA-Z]+)$", dotted)
    if m:
        return m, True
    m = re.match(r"^([a-zA-Z]{2,})0,([a-zA-Z]+)->([a-zA-Z]+)0$", dotted)
    if m:
        return m, False
    raise ValueError(f"EinsumDense: equation={equation!r}; expected the form 'ab,bc->ac', "
                     "'...ab,bc->...ac' or 'abc...,cd->abd...'")


def analyze_einsum_string(equation, bias_axes, input_shape, output_shape):
    """Keras's _analyze_einsum_string: (kernel shape, bias shape or None, full output shape)."""
    m, left = _split_equation(equation)
    return _analyze_split_string(m, bias_axes, list(input_shape), output_shape, left_elided=left)


def _explicit_specs(equation, input_rank):
    """The equation with "..." replaced by fresh letters for an input of ``input_rank``."""
    m, left = _split_equation(equation)
    ins, ws, outs = m.group(1), m.group(2), m.group(3)
    elided = input_rank - len(ins)
    if "..." in equation and elided < 0:
        raise ValueError(f"EinsumDense: equation {equation!r} needs inputs of rank >= {len(ins)}; "
                         f"got rank {input_rank}")
    fresh = "".join(c for c in _FRESH if c not in equation)[:max(elided, 0)]
    if "..." not in equation:
        if elided != 0:
            raise ValueError(f"EinsumDense: equation {equation!r} expects inputs of rank {len(ins)}; "
                             f"got rank {input_rank}")
        return ins, ws, outs
    if left:
        return fresh + ins, ws, fresh + outs
    return ins + fresh, ws, outs + fresh


class _Plan:
    """How one equation runs as permute -> matmul -> permute.

    Every letter is free (input and output), contracted (input and kernel) or new (kernel
    and output); other combinations are outside what EinsumDense's equations use.
    """

    def __init__(self, equation, ins, ws, outs):
        for c in set(ins + ws + outs):
            where = (c in ins, c in ws, c in outs)
            if where not in ((True, False, True), (True, True, False), (False, True, True)):
                raise ValueError(f"EinsumDense: equation {equation!r}: dimension {c!r} must appear in "
                                 "exactly two of input, kernel and output (free, contracted or new)")
        if len(set(ins)) != len(ins) or len(set(ws)) != len(ws) or len(set(outs)) != len(outs):
            raise ValueError(f"EinsumDense: equation {equation!r} repeats a dimension in one operand")
        self.free = [c for c in ins if c not in ws]
        self.contracted = [c for c in ws if c in ins]
        self.new = [c for c in ws if c not in ins]
        self.x_perm = tuple(ins.index(c) for c in self.free + self.contracted)
        self.x_inv = _inverse(self.x_perm)
        self.w_perm = tuple(ws.index(c) for c in self.contracted + self.new)
        self.w_inv = _inverse(self.w_perm)
        mid = self.free + self.new           # order of the product's axes
        self.y_perm = tuple(mid.index(c) for c in outs)
        self.y_inv = _inverse(self.y_perm)


def _inverse(perm):
    inv = [0] * len(perm)
    for i, p in enumerate(perm):
        inv[p] = i
    return tuple(inv)


def _is_identity(perm):
    return tuple(perm) == tuple(range(len(perm)))


def _permute(xp, a, perm):
    if _is_identity(perm):
        return a
    return xp.permute_dims(a, perm)


def _prod(values):
    n = 1
    for v in values:
        n *= v
    return n


class EinsumDense(Layer):
    """A dense layer of any rank: ``output = activation(einsum(equation, inputs, kernel) + bias)``.

    Args:
        equation: Keras's einsum string "input,kernel->output", e.g. "abc,cde->abde" (a 3D
            input projected to heads) or "...b,bc->...c"; "..." may lead the input or
            trail it.
        output_shape: int or tuple, the output shape without the batch axis (and without
            the dimensions "..." stands for); None for a dimension taken from the input.
        activation: name or function; default None.
        bias_axes: letters of the output that get a bias (e.g. "de"); None: no bias.
        kernel_initializer / bias_initializer: default "glorot_uniform" / "zeros".
        kernel_regularizer / bias_regularizer / activity_regularizer, kernel_constraint /
        bias_constraint: as Dense.

    Input shape: as the equation's input spec. Output shape: ``(batch,) + output_shape``
    (with the elided dimensions). Weights: ``kernel`` (its shape from the equation, as
    Keras), then ``bias``.

    Example:
        >>> layer = pn.layers.EinsumDense("abc,cde->abde", output_shape=(None, 4, 8), bias_axes="de")
    """

    def __init__(self, equation, output_shape, activation=None, bias_axes=None,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, lora_rank=None, lora_alpha=None,
                 gptq_unpacked_column_size=None, quantization_config=None, **kwargs):
        if not isinstance(equation, str):
            raise TypeError(f"EinsumDense: equation={equation!r}; expected a string")
        _split_equation(equation)
        if isinstance(output_shape, int):
            output_shape = (output_shape,)
        try:
            output_shape = tuple(None if s is None else int(s) for s in output_shape)
        except (TypeError, ValueError):
            raise TypeError(f"EinsumDense: output_shape={output_shape!r}; expected an int or a tuple "
                            "of ints/None") from None
        if bias_axes is not None and not isinstance(bias_axes, str):
            raise TypeError(f"EinsumDense: bias_axes={bias_axes!r}; expected a string of letters or None")
        for arg, value in (("lora_rank", lora_rank), ("gptq_unpacked_column_size",
                                                       gptq_unpacked_column_size),
                           ("quantization_config", quantization_config)):
            if value:
                raise ValueError(f"EinsumDense: {arg}={value!r}; LoRA and quantization are not "
                                 "supported (use None)")
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        self.equation = equation
        self.partial_output_shape = output_shape
        self.bias_axes = bias_axes
        self.activation = _activations.get(activation)
        self._set_weight_options(kernel_initializer=kernel_initializer,
                                 bias_initializer=bias_initializer,
                                 kernel_regularizer=kernel_regularizer,
                                 bias_regularizer=bias_regularizer,
                                 kernel_constraint=kernel_constraint,
                                 bias_constraint=bias_constraint)

    def build(self, input_shape):
        input_shape = tuple(input_shape)
        kernel_shape, bias_shape, full = analyze_einsum_string(
            self.equation, self.bias_axes, input_shape, self.partial_output_shape)
        if any(s is None for s in kernel_shape):
            raise ValueError(f"EinsumDense {self.name!r}: kernel shape {tuple(kernel_shape)} has an "
                             f"unknown dimension (input shape {input_shape}, output_shape "
                             f"{self.partial_output_shape})")
        self.full_output_shape = tuple(full)
        self._plan = _Plan(self.equation, *_explicit_specs(self.equation, len(input_shape)))
        self.kernel = self.add_weight("kernel", tuple(kernel_shape), self.kernel_initializer,
                                      self.kernel_regularizer, self.kernel_constraint)
        self.bias = (self.add_weight("bias", tuple(bias_shape), self.bias_initializer,
                                     self.bias_regularizer, self.bias_constraint)
                     if bias_shape is not None else None)
        self.input_spec = InputSpec(ndim=len(input_shape))
        self.built = True

    def compute_output_shape(self, input_shape):
        """Keras's full output shape, with a None of ``output_shape`` filled from the input
        dimension of the same letter (as the einsum itself would give)."""
        input_shape = tuple(input_shape)
        full = analyze_einsum_string(self.equation, self.bias_axes, input_shape,
                                     self.partial_output_shape)[2]
        ins, _, outs = _explicit_specs(self.equation, len(input_shape))
        return tuple(input_shape[ins.index(c)] if s is None and c in ins else s
                     for c, s in zip(outs, full))

    def forward(self, x, training=False):
        xp = self.xp
        plan = self._plan
        if x.ndim != len(plan.x_perm):
            raise ValueError(f"EinsumDense {self.name!r}: built for inputs of rank {len(plan.x_perm)}; "
                             f"got shape {tuple(x.shape)}")
        kernel = self.kernel.value
        nf = len(plan.free)
        xt = _permute(xp, x, plan.x_perm)
        free_shape = tuple(xt.shape[:nf])
        contracted_shape = tuple(xt.shape[nf:])
        wt = _permute(xp, kernel, plan.w_perm)
        new_shape = tuple(wt.shape[len(plan.contracted):])
        f, c, n = _prod(free_shape), _prod(contracted_shape), _prod(new_shape)
        x2 = xp.reshape(xt, (f, c))
        w2 = xp.reshape(wt, (c, n))
        mid_shape = free_shape + new_shape
        z = _permute(xp, xp.reshape(x2 @ w2, mid_shape), plan.y_perm)
        fused = self.backend.fused("bias_activation") if self.bias is not None else None
        out = None if fused is None else fused(z, self.bias.value, self.activation)
        if out is not None:
            # z is the fresh product: the bias (and relu) may be written into it.
            y, act_backward = out
        else:
            if self.bias is not None:
                z = z + self.bias.value
            y, act_backward = _activations.apply(self.activation, z)
        bias_shape = None if self.bias is None else self.bias.shape

        def backward(dy):
            dz = act_backward(dy)
            dz2 = xp.reshape(_permute(xp, dz, plan.y_inv), (f, n))
            if bias_shape is not None:
                if (_is_identity(plan.y_inv) and _prod(bias_shape) == n
                        and tuple(bias_shape) == tuple(dz.shape[dz.ndim - len(bias_shape):])):
                    # The bias covers every output axis of the product: a sum over dz2's
                    # rows (a ones-vector GEMM on NumPy, threaded with BLAS).
                    self.bias.add_grad(xp.reshape(self.backend.sum_rows(dz2), bias_shape))
                else:
                    lead = dz.ndim - len(bias_shape)
                    axes = tuple(range(lead)) + tuple(lead + i for i, s in enumerate(bias_shape)
                                                      if s == 1 and dz.shape[lead + i] != 1)
                    self.bias.add_grad(xp.reshape(xp.sum(dz, axis=axes), bias_shape))
            dw = xp.reshape(xp.matrix_transpose(x2) @ dz2, contracted_shape + new_shape)
            self.kernel.add_grad(_permute(xp, dw, plan.w_inv))
            dx = xp.reshape(dz2 @ xp.matrix_transpose(w2), free_shape + contracted_shape)
            return _permute(xp, dx, plan.x_inv)
        return y, backward

    def get_config(self):
        config = super().get_config()
        config.update({
            "output_shape": list(self.partial_output_shape),
            "equation": self.equation,
            "activation": _activations.serialize(self.activation),
            "bias_axes": self.bias_axes,
            "quantization_config": None,
            **self._weight_options_config("kernel_initializer", "bias_initializer",
                                          "kernel_regularizer", "bias_regularizer",
                                          "kernel_constraint", "bias_constraint"),
        })
        return self._keras_config_always(config, "activity_regularizer")
