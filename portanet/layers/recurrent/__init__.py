"""Recurrent layers in Keras 3's structure (``keras/src/layers/rnn/``).

- ``rnn.py``: ``RNN(cell)``, which runs any cell over the time axis.
- ``simple_rnn.py``, ``lstm.py``, ``gru.py``: ``SimpleRNNCell``/``SimpleRNN``,
  ``LSTMCell``/``LSTM``, ``GRUCell``/``GRU``; each layer is a thin ``RNN`` holding its cell.
- ``stacked_rnn_cells.py``: ``StackedRNNCells``.
- ``bidirectional.py``, ``time_distributed.py``: the wrappers.
- ``cell_base.py`` and ``sequence.py``: what the built-in cells share, and their
  whole-sequence path (one input-projection matmul, BPTT with one weight-gradient matmul).

Weight layouts, gate orders and defaults are Keras 3's, so ``get_weights``/``set_weights``
exchange weights with Keras: SimpleRNN kernel (in, u), recurrent_kernel (u, u), bias (u,);
LSTM kernel (in, 4u), recurrent_kernel (u, 4u), bias (4u,), gates [i, f, c, o]; GRU
(reset_after=True) kernel (in, 3u), recurrent_kernel (u, 3u), bias (2, 3u), gates [z, r, h].

**Dropout** (training only): ``dropout`` on the inputs and ``recurrent_dropout`` on the
recurrent state, with masks drawn once per call and reused at every timestep. As Keras 3,
LSTM and GRU draw one mask per gate when ``recurrent_dropout > 0`` or ``implementation=1``
(a keyword Keras accepts) and a single shared mask otherwise.
"""

from .bidirectional import Bidirectional
from .gru import GRU, GRUCell
from .lstm import LSTM, LSTMCell
from .rnn import RNN
from .simple_rnn import SimpleRNN, SimpleRNNCell
from .stacked_rnn_cells import StackedRNNCells
from .time_distributed import TimeDistributed

__all__ = ["RNN", "SimpleRNNCell", "SimpleRNN", "LSTMCell", "LSTM", "GRUCell", "GRU",
           "StackedRNNCells", "Bidirectional", "TimeDistributed"]
