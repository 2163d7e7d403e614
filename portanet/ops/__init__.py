"""``portanet.ops``: the ``keras.ops`` namespace over the Array API, and the tape that
differentiates it.

Every function takes and returns tensors of the active backend (NumPy, CuPy,
array-api-strict arrays), so ``from portanet import ops`` code runs on each of them::

    from portanet import ops
    y = ops.relu(ops.matmul(x, w) + b)

Outside a trace an op is the array library's own call (no recording). Inside a trace
(a layer's ``call()``, a custom loss, or a ``GradientTape`` block) ops on traced tensors and
Variables are recorded and differentiated in reverse (see ``portanet.ops.tape`` and
docs/ARCHITECTURE.md). Custom training loop::

    with pn.GradientTape() as tape:
        loss = ops.mean(ops.square(model(x, training=True) - y))
    grads = tape.gradient(loss, model.trainable_weights)
    model.optimizer.apply(grads, model.trainable_weights)

Names, argument names and defaults are Keras 3's (keras/src/ops/numpy.py, nn.py, core.py,
math.py); ``ops.ALL`` lists them.
"""

from . import tape
from .array import *  # noqa: F401,F403
from .core import *  # noqa: F401,F403
from .creation import *  # noqa: F401,F403
from .linalg import *  # noqa: F401,F403
from .math import *  # noqa: F401,F403
from .nn import *  # noqa: F401,F403
from .math import abs, all, any, max, min, round, sum  # noqa: F401,A004 - Keras's names
from .core import map, slice  # noqa: F401,A004
from .tape import GradientTape, Tensor, TracedConversionError  # noqa: F401

from . import array as _array, core as _core, creation as _creation, linalg as _linalg
from . import math as _math, nn as _nn

ALL = sorted(set().union(*(m.__all__ for m in (_array, _core, _creation, _linalg, _math, _nn))))
