"""``keras.mixed_precision``: the legacy names of the dtype policy API, plus LossScaleOptimizer.

    pn.mixed_precision.set_global_policy("mixed_float16")   # = pn.config.set_dtype_policy
    model = ...                                             # layers compute in float16,
    model.compile("adam", "mse")                            # float32 weights; the optimizer
                                                            # is wrapped in LossScaleOptimizer
"""

from .dtype_policies import DTypePolicy, dtype_policy, set_dtype_policy
from .optimizers.loss_scale_optimizer import LossScaleOptimizer

Policy = DTypePolicy
global_policy = dtype_policy
set_global_policy = set_dtype_policy

__all__ = ["DTypePolicy", "Policy", "LossScaleOptimizer", "dtype_policy", "global_policy",
           "set_dtype_policy", "set_global_policy"]
