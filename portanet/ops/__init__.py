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
from .numpy_extra import *  # noqa: F401,F403
from .linalg_extra import *  # noqa: F401,F403
from .signal import *  # noqa: F401,F403
from .core_extra import *  # noqa: F401,F403
from .math import abs, all, any, max, min, round, sum  # noqa: F401,A004 - Keras's names
from .core import map, slice  # noqa: F401,A004
from .tape import GradientTape, Tensor, TracedConversionError  # noqa: F401

from . import array as _array, core as _core, creation as _creation, linalg as _linalg
from . import math as _math, nn as _nn
from . import numpy_extra as _numpy_extra, linalg_extra as _linalg_extra, signal as _signal
from . import core_extra as _core_extra

ALL = sorted(set().union(*(m.__all__ for m in (_array, _core, _creation, _linalg, _math, _nn,
                                          _numpy_extra, _linalg_extra, _signal, _core_extra))))

# Each public op also takes symbolic tensors (pn.Input): it then records a graph node;
# so do the same functions reached through ops.nn, ops.linalg, ops.core, ops.math.
from .symbolic_hook import wrap_namespace as _wrap_namespace  # noqa: E402
_wrap_namespace(globals(), ALL)
for _module in (_nn, _linalg, _core, _math):
    _wrap_namespace(vars(_module), _module.__all__)

# keras.ops.numpy: the numpy-style functions as one namespace (``ops.numpy.abs``...).
import types as _types

numpy = _types.ModuleType("portanet.ops.numpy", "keras.ops.numpy's functions (the same objects as in portanet.ops).")
for _name in ALL:
    setattr(numpy, _name, globals()[_name])
numpy.__all__ = list(ALL)
del _name

# keras.ops.image: the image functions as one namespace (``ops.image.resize``...).
from . import image  # noqa: E402,F401
_wrap_namespace(vars(image), image.__all__)
