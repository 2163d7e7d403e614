"""Normalization layers: BatchNormalization and LayerNormalization (Keras 3 formulas).

Both are written against the Array API standard with explicit backward passes. The
statistics follow Keras exactly (KERAS_REFERENCE.md §5): batch normalization uses the
biased variance E[x²] − μ² in training and updates its moving statistics without a
Bessel correction; layer normalization uses the biased variance over ``axis``.
"""

from ..backend import replicas as _replicas
from ..validation import check_number
from .base import Layer
from .input_spec import InputSpec

__all__ = ["BatchNormalization", "LayerNormalization"]

# keras.backend.epsilon(): guards the masked mean's denominator, as Keras does.
_KERAS_EPSILON = 1e-7


def _normalize_axes(axes, rank, owner):
    out = []
    for a in axes:
        if not -rank <= a < rank:
            raise ValueError(f"{owner}: axis={a} is out of range for inputs of rank {rank}")
        out.append(a % rank)
    if len(set(out)) != len(out):
        raise ValueError(f"{owner}: axis={list(axes)} names an axis twice")
    return sorted(out)


class BatchNormalization(Layer):
    """Normalizes over the batch (and every other axis but ``axis``), as Keras 3.

    In training (``training=True`` and ``layer.trainable``) the layer uses the batch
    mean μ and biased variance σ² = mean(x²) − μ², and updates
    ``moving_mean ← moving_mean·momentum + μ·(1 − momentum)`` (same for the variance,
    no Bessel correction). Otherwise it uses the moving statistics.
    ``y = (x − μ)/sqrt(σ² + epsilon)·gamma + beta``.

    Args:
        axis: int, the features axis (default -1, channels_last); 1 for channels_first.
        momentum: float in [0, 1], the moving average's momentum (default 0.99).
        epsilon: small positive float added to the variance (default 1e-3).
        center: whether to add the offset ``beta``.
        scale: whether to multiply by ``gamma``.
        beta_initializer / gamma_initializer: default "zeros" / "ones".
        moving_mean_initializer / moving_variance_initializer: default "zeros" / "ones".
        beta_regularizer / gamma_regularizer, beta_constraint / gamma_constraint.
        synchronized: in a data-parallel run (``pn.distributed``), compute the batch
            statistics over every process's rows (one all-reduce forward, one backward), so
            that ``mpirun -n P`` at batch B trains as one process at batch P·B; in a single
            process it has no effect (as Keras).

    A mask of shape ``inputs.shape[:-1]`` (from Embedding/Masking) makes training
    statistics ignore masked positions, as Keras does.

    Input shape: any, rank >= 2. Output shape: same as the input.
    Weights (Keras order): gamma, beta, moving_mean, moving_variance, each of shape
    ``(input_shape[axis],)``; the moving statistics are non-trainable.

    Example:
        >>> layer = pn.layers.BatchNormalization()
    """

    # Under a mixed policy Keras computes this layer in float32 (float32 weights, inputs cast
    # to float32) and casts its output to the compute dtype.
    _mixed_precision_float32 = True

    supports_masking = True

    def __init__(self, axis=-1, momentum=0.99, epsilon=1e-3, center=True, scale=True,
                 beta_initializer="zeros", gamma_initializer="ones",
                 moving_mean_initializer="zeros", moving_variance_initializer="ones",
                 beta_regularizer=None, gamma_regularizer=None, beta_constraint=None,
                 gamma_constraint=None, synchronized=False, renorm=False, renorm_clipping=None,
                 renorm_momentum=0.99, **kwargs):
        if renorm:
            raise ValueError(f"BatchNormalization: renorm={renorm!r}; batch renormalization is not "
                             "supported (use False)")
        super().__init__(**kwargs)
        if isinstance(axis, bool) or not isinstance(axis, int):
            raise TypeError(f"BatchNormalization: axis={axis!r}; expected an int")
        # Keras's renormalization arguments, kept for the config (renorm itself is refused).
        self.renorm, self.renorm_clipping, self.renorm_momentum = False, renorm_clipping, renorm_momentum
        self.axis = axis
        self.momentum = check_number(momentum, "momentum", "BatchNormalization", 0, 1)
        self.epsilon = check_number(epsilon, "epsilon", "BatchNormalization", 0, low_open=True)
        self.center = bool(center)
        self.scale = bool(scale)
        self.synchronized = bool(synchronized)
        self._set_weight_options(beta_initializer=beta_initializer,
                                 gamma_initializer=gamma_initializer,
                                 moving_mean_initializer=moving_mean_initializer,
                                 moving_variance_initializer=moving_variance_initializer,
                                 beta_regularizer=beta_regularizer,
                                 gamma_regularizer=gamma_regularizer,
                                 beta_constraint=beta_constraint,
                                 gamma_constraint=gamma_constraint)

    def build(self, input_shape):
        rank = len(input_shape)
        if rank < 2:
            raise ValueError(f"BatchNormalization {self.name!r}: expected inputs of rank >= 2; "
                             f"got input shape {tuple(input_shape)}")
        (self._axis,) = _normalize_axes([self.axis], rank, f"BatchNormalization {self.name!r}")
        dim = input_shape[self._axis]
        if dim is None:
            raise ValueError(f"BatchNormalization {self.name!r}: axis {self.axis} of the input "
                             f"must have a known size; got input shape {tuple(input_shape)}")
        shape = (dim,)
        self.gamma = (self.add_weight("gamma", shape, self.gamma_initializer, self.gamma_regularizer,
                                      self.gamma_constraint) if self.scale else None)
        self.beta = (self.add_weight("beta", shape, self.beta_initializer, self.beta_regularizer,
                                     self.beta_constraint) if self.center else None)
        self.moving_mean = self.add_weight("moving_mean", shape, self.moving_mean_initializer,
                                           trainable=False)
        self.moving_variance = self.add_weight("moving_variance", shape,
                                               self.moving_variance_initializer, trainable=False)
        self._rank = rank
        self.input_spec = InputSpec(ndim=rank, axes={self.axis: dim})
        self.built = True

    def _broadcast(self, v):
        if self._axis == self._rank - 1:
            return v
        shape = [1] * self._rank
        shape[self._axis] = v.shape[0]
        return self.xp.reshape(v, tuple(shape))

    def forward(self, x, training=False, mask=None):
        xp = self.xp
        if x.ndim != self._rank:
            raise ValueError(f"BatchNormalization {self.name!r}: built for inputs of rank "
                             f"{self._rank}; got shape {tuple(x.shape)}")
        axes = tuple(a for a in range(x.ndim) if a != self._axis)
        gamma = self._broadcast(self.gamma.value) if self.scale else None
        beta = self._broadcast(self.beta.value) if self.center else None
        if mask is not None and mask.ndim != x.ndim - 1:
            raise ValueError(f"BatchNormalization {self.name!r}: the mask must have one axis less "
                             f"than the inputs; got mask shape {tuple(mask.shape)} for inputs of "
                             f"shape {tuple(x.shape)}")
        use_batch_stats = bool(training) and self.trainable
        weights = None
        if use_batch_stats and mask is not None and self._axis == x.ndim - 1:
            weights = xp.astype(mask, x.dtype)[..., None]

        sync = use_batch_stats and self.synchronized and _replicas.active()
        if sync and weights is not None:
            raise ValueError(f"BatchNormalization {self.name!r}: synchronized=True with a mask is not "
                             "supported in a data-parallel run; drop the mask (Masking/mask_zero) before "
                             "this layer or use synchronized=False")
        if sync:
            mean, var, count, share = self._synchronized_moments(x, axes)
            m = self.momentum
            flat = (x.shape[self._axis],)
            self.moving_mean.value = self.moving_mean.value * m + xp.reshape(mean, flat) * (1.0 - m)
            self.moving_variance.value = (self.moving_variance.value * m
                                          + xp.reshape(var, flat) * (1.0 - m))
        elif use_batch_stats:
            if weights is None:
                count = 1
                for a in axes:
                    count *= x.shape[a]
                mean = xp.mean(x, axis=axes, keepdims=True)
                # E[x²] − μ², the biased variance exactly as Keras computes it.
                var = xp.mean(x * x, axis=axes, keepdims=True) - mean * mean
            else:
                # Keras's masked moments: weighted sums over the unmasked positions.
                weights = weights * xp.ones_like(x)
                count = xp.sum(weights, axis=axes, keepdims=True) + _KERAS_EPSILON
                mean = xp.sum(weights * x, axis=axes, keepdims=True) / count
                diff = weights * x - mean
                var = xp.sum(weights * diff * diff, axis=axes, keepdims=True) / count
            m = self.momentum
            flat = (x.shape[self._axis],)
            self.moving_mean.value = self.moving_mean.value * m + xp.reshape(mean, flat) * (1.0 - m)
            self.moving_variance.value = (self.moving_variance.value * m
                                          + xp.reshape(var, flat) * (1.0 - m))
        else:
            mean = self._broadcast(self.moving_mean.value)
            var = self._broadcast(self.moving_variance.value)

        inv = 1.0 / xp.sqrt(var + self.epsilon)
        centered = x - mean
        xhat = centered * inv
        y = xhat
        if gamma is not None:
            y = y * gamma
        if beta is not None:
            y = y + beta

        def backward(dy):
            if self.scale:
                self.gamma.add_grad(xp.reshape(xp.sum(dy * xhat, axis=axes), (-1,)))
            if self.center:
                self.beta.add_grad(xp.reshape(xp.sum(dy, axis=axes), (-1,)))
            g = dy * gamma if gamma is not None else dy
            if not use_batch_stats:
                return g * inv
            d_inv = xp.sum(g * centered, axis=axes, keepdims=True)
            sum_g = xp.sum(g, axis=axes, keepdims=True)
            if sync:
                d_inv, sum_g = self._synchronized_sums(d_inv, sum_g, share)
                scale = 0.0 if share == 0 else 1.0 / share
                d_var = -0.5 * d_inv * inv * inv * inv
                return g * inv + (d_var * 2.0 * centered - sum_g * inv) * (scale / count)
            d_var = -0.5 * d_inv * inv * inv * inv
            d_mean = -sum_g * inv
            if weights is None:
                # var = E[x²] − μ²: d var/dx = 2(x − μ)/N, d μ/dx = 1/N.
                return g * inv + (d_var * 2.0 * centered + d_mean) / count
            d_mean = d_mean - d_var * 2.0 * xp.sum(weights * diff, axis=axes, keepdims=True) / count
            return (g * inv + d_var * 2.0 * weights * weights * diff / count
                    + d_mean * weights / count)
        return y, backward

    # ---- synchronized=True: statistics over every data-parallel process (Keras's
    # synchronized moments: all-reduced sums of x and x², and of the row count).
    def _synchronized_moments(self, x, axes):
        """(mean, var, global count, this process's share of the rows) over every process,
        with one all-reduce of [Σx, Σx², n]."""
        xp = self.xp
        local = 1
        for a in axes:
            local *= x.shape[a]
        c = x.shape[self._axis]
        packed = xp.concat([xp.reshape(xp.sum(x, axis=axes), (-1,)), xp.reshape(xp.sum(x * x, axis=axes), (-1,)),
                            xp.full((1,), float(local), dtype=x.dtype)])
        total = _replicas.cross_replica_sum(packed, self.backend)
        count = float(self.backend.to_numpy(total[2 * c:])[0])
        if count == 0:
            raise ValueError(f"BatchNormalization {self.name!r}: every process got an empty batch")
        mean = self._broadcast(total[:c] / count)
        var = self._broadcast(total[c:2 * c] / count) - mean * mean
        return mean, var, count, local / count

    def _synchronized_sums(self, d_inv, sum_g, share):
        """Σ_q share_q·(Σ g·(x − μ)) and Σ_q share_q·(Σ g) over the processes (one all-reduce):
        the data-parallel step averages each process's gradient weighted by its share of the
        rows, so these weighted sums make that average the gradient of the global loss."""
        xp = self.xp
        c = d_inv.size
        packed = xp.concat([xp.reshape(d_inv, (-1,)) * share, xp.reshape(sum_g, (-1,)) * share])
        total = _replicas.cross_replica_sum(packed, self.backend)
        return xp.reshape(total[:c], d_inv.shape), xp.reshape(total[c:], sum_g.shape)

    def synchronize_empty_forward(self):
        """An empty shard's part of the forward all-reduce (zeros), so that the processes'
        collectives stay matched when this process has no rows in a short last batch."""
        if self.synchronized and self.trainable and _replicas.active():
            xp = self.xp
            c = self.moving_mean.value.shape[0]
            total = _replicas.cross_replica_sum(xp.zeros((2 * c + 1,), dtype=self.moving_mean.value.dtype),
                                                self.backend)
            count = float(self.backend.to_numpy(total[2 * c:])[0])
            mean = total[:c] / count
            var = total[c:2 * c] / count - mean * mean
            m = self.momentum
            self.moving_mean.value = self.moving_mean.value * m + mean * (1.0 - m)
            self.moving_variance.value = self.moving_variance.value * m + var * (1.0 - m)

    def synchronize_empty_backward(self):
        """An empty shard's part of the backward all-reduce (zeros)."""
        if self.synchronized and self.trainable and _replicas.active():
            c = self.moving_mean.value.shape[0]
            _replicas.cross_replica_sum(self.xp.zeros((2 * c,), dtype=self.moving_mean.value.dtype), self.backend)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update({
            "axis": self.axis,
            "momentum": self.momentum,
            "epsilon": self.epsilon,
            "center": self.center,
            "scale": self.scale,
            **self._weight_options_config("beta_initializer", "gamma_initializer",
                                          "moving_mean_initializer",
                                          "moving_variance_initializer", "beta_regularizer",
                                          "gamma_regularizer", "beta_constraint",
                                          "gamma_constraint"),
            "synchronized": self.synchronized,
            "renorm": self.renorm,
            "renorm_clipping": self.renorm_clipping,
            "renorm_momentum": self.renorm_momentum,
        })
        return config


class LayerNormalization(Layer):
    """Normalizes each sample over ``axis`` (Ba et al., 2016), as Keras 3.

    ``y = (x − μ)/sqrt(σ² + epsilon)·gamma + beta`` with the biased mean and variance
    over ``axis``. With ``rms_scaling=True``, ``center`` and ``scale`` are ignored and
    ``y = x/sqrt(σ² + epsilon)·gamma``: Keras 3.15 scales by the variance, not the mean
    square (it deprecates the argument for that reason); kept identical for parity.

    Args:
        axis: int or list of ints, the axes normalized over (default -1).
        epsilon: small positive float added to the variance (default 1e-3).
        center: whether to add ``beta``.
        scale: whether to multiply by ``gamma``.
        rms_scaling: scale only, by the variance (see above).
        beta_initializer / gamma_initializer: default "zeros" / "ones".
        beta_regularizer / gamma_regularizer, beta_constraint / gamma_constraint.

    Input shape: any. Output shape: same as the input.
    Weights (Keras order): gamma, beta, of shape ``input_shape[axis]``; for several
    axes, the sizes of the axes in sorted order (Keras sorts the list, negative entries
    first, at build time).

    Example:
        >>> layer = pn.layers.LayerNormalization(axis=[1, 2])
    """

    # Under a mixed policy Keras computes this layer in float32 (float32 weights, inputs cast
    # to float32) and casts its output to the compute dtype.
    _mixed_precision_float32 = True

    supports_masking = True

    def __init__(self, axis=-1, epsilon=1e-3, center=True, scale=True, rms_scaling=False,
                 beta_initializer="zeros", gamma_initializer="ones", beta_regularizer=None,
                 gamma_regularizer=None, beta_constraint=None, gamma_constraint=None, **kwargs):
        super().__init__(**kwargs)
        if isinstance(axis, (list, tuple)):
            if not axis or any(isinstance(a, bool) or not isinstance(a, int) for a in axis):
                raise TypeError(f"LayerNormalization: axis={axis!r}; expected an int or a "
                                "non-empty list of ints")
            self.axis = list(axis)
        elif isinstance(axis, int) and not isinstance(axis, bool):
            self.axis = axis
        else:
            raise TypeError(f"LayerNormalization: axis={axis!r}; expected an int or a list of ints")
        self.epsilon = check_number(epsilon, "epsilon", "LayerNormalization", 0, low_open=True)
        self.center = bool(center)
        self.scale = bool(scale)
        self.rms_scaling = bool(rms_scaling)
        self._set_weight_options(beta_initializer=beta_initializer,
                                 gamma_initializer=gamma_initializer,
                                 beta_regularizer=beta_regularizer,
                                 gamma_regularizer=gamma_regularizer,
                                 beta_constraint=beta_constraint,
                                 gamma_constraint=gamma_constraint)

    def build(self, input_shape):
        rank = len(input_shape)
        if isinstance(self.axis, list):
            # Keras sorts the list as given (so [-1, 1] stays in that order) and takes
            # the weight shape from it.
            self.axis = sorted(self.axis)
        axes = self.axis if isinstance(self.axis, list) else [self.axis]
        self._axes = _normalize_axes(axes, rank, f"LayerNormalization {self.name!r}")
        shape = tuple(input_shape[a % rank] for a in axes)
        if any(s is None for s in shape):
            raise ValueError(f"LayerNormalization {self.name!r}: the normalized axes {self.axis} "
                             f"must have known sizes; got input shape {tuple(input_shape)}")
        self.gamma = (self.add_weight("gamma", shape, self.gamma_initializer, self.gamma_regularizer,
                                      self.gamma_constraint)
                      if self.scale or self.rms_scaling else None)
        self.beta = (self.add_weight("beta", shape, self.beta_initializer, self.beta_regularizer,
                                     self.beta_constraint)
                     if self.center and not self.rms_scaling else None)
        self._rank = rank
        self._input_dims = tuple(input_shape)
        self._weight_shape = shape
        self.built = True

    def _broadcast(self, v):
        if self._axes == [self._rank - 1]:
            return v
        # Keras reshapes (it does not transpose) the weight to the broadcast shape, so a
        # weight for axis=[-1, 1] is read in memory order; done the same way for parity.
        shape = [1] * self._rank
        for a in self._axes:
            shape[a] = self._input_dims[a]
        return self.xp.reshape(v, tuple(shape))

    def _unbroadcast(self, g, reduce_axes):
        """Sum a full-shape gradient down to the weight's shape."""
        xp = self.xp
        g = xp.sum(g, axis=reduce_axes) if reduce_axes else g
        return xp.reshape(g, self._weight_shape)

    def forward(self, x, training=False):
        xp = self.xp
        axes = tuple(self._axes)
        other = tuple(a for a in range(x.ndim) if a not in axes)
        gamma = self._broadcast(self.gamma.value) if self.gamma is not None else None
        beta = self._broadcast(self.beta.value) if self.beta is not None else None

        if self.rms_scaling:
            centered = x - xp.mean(x, axis=axes, keepdims=True)
            inv = 1.0 / xp.sqrt(xp.mean(centered * centered, axis=axes, keepdims=True)
                                + self.epsilon)
            xhat = x * inv
            y = xhat * gamma

            def backward(dy):
                self.gamma.add_grad(self._unbroadcast(dy * xhat, other))
                g = dy * gamma
                return inv * g - centered * inv * inv * inv * xp.mean(g * x, axis=axes,
                                                                      keepdims=True)
            return y, backward

        fused = (self.backend.fused("layer_norm")
                 if self._axes == [self._rank - 1] and x.ndim == self._rank else None)
        out = None if fused is None else fused(x, gamma, beta, self.epsilon)
        if out is not None:
            # One compiled pass each way over the last axis (numba; the portable path below
            # is the reference the tests compare it with).
            y, fused_backward = out

            def backward(dy):
                dx, dgamma, dbeta = fused_backward(dy)
                if dgamma is not None:
                    self.gamma.add_grad(dgamma)
                if dbeta is not None:
                    self.beta.add_grad(dbeta)
                return dx
            return y, backward

        mean = xp.mean(x, axis=axes, keepdims=True)
        centered = x - mean
        var = xp.mean(centered * centered, axis=axes, keepdims=True)
        inv = 1.0 / xp.sqrt(var + self.epsilon)
        xhat = centered * inv
        y = xhat
        if gamma is not None:
            y = y * gamma
        if beta is not None:
            y = y + beta

        def backward(dy):
            if self.gamma is not None:
                self.gamma.add_grad(self._unbroadcast(dy * xhat, other))
            if self.beta is not None:
                self.beta.add_grad(self._unbroadcast(dy, other))
            g = dy * gamma if gamma is not None else dy
            return inv * (g - xp.mean(g, axis=axes, keepdims=True)
                          - xhat * xp.mean(g * xhat, axis=axes, keepdims=True))
        return y, backward

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update({
            # Keras 3 writes the axis as a list ([-1] for the default -1).
            "axis": list(self.axis) if isinstance(self.axis, (list, tuple)) else [self.axis],
            "epsilon": self.epsilon,
            "center": self.center,
            "scale": self.scale,
            "rms_scaling": self.rms_scaling,
            **self._weight_options_config("beta_initializer", "gamma_initializer",
                                          "beta_regularizer", "gamma_regularizer",
                                          "beta_constraint", "gamma_constraint"),
        })
        return config
