"""AdamW, as keras/src/optimizers/adamw.py: Adam plus decoupled weight decay."""

from ..validation import check_number
from .adam import Adam


class AdamW(Adam):
    """Adam with decoupled weight decay: before each Adam update w ← w - w·wd·lr
    (the base optimizer's weight-decay step; the gradient is the pre-decay one).

    Args:
        learning_rate: 0.001. weight_decay: 0.004 (a float; required).
        beta_1: 0.9. beta_2: 0.999. epsilon: 1e-7. amsgrad: False.
    """

    def __init__(self, learning_rate=0.001, weight_decay=0.004, beta_1=0.9, beta_2=0.999,
                 epsilon=1e-7, amsgrad=False, name="adamw", **kwargs):
        check_number(weight_decay, "weight_decay", "AdamW", low=0)
        super().__init__(learning_rate=learning_rate, beta_1=beta_1, beta_2=beta_2, epsilon=epsilon,
                         amsgrad=amsgrad, name=name, weight_decay=weight_decay, **kwargs)
