"""StackedRNNCells (Keras 3's ``keras/src/layers/rnn/stacked_rnn_cells.py``): several
cells acting as one, so that ``RNN(StackedRNNCells([c1, c2]))`` runs a stack of
recurrences inside one time loop."""

from ..base import Layer
from ._helpers import output_size, serialize_layer, state_sizes
from ..serialization import deserialize

__all__ = ["StackedRNNCells"]


class StackedRNNCells(Layer):
    """Wrapper allowing a stack of RNN cells to behave as a single cell.

    At each timestep the input goes through the cells in order, each cell's output being
    the next cell's input. The result equals stacking ``RNN`` layers with
    ``return_sequences=True`` (the last one as requested).

    Args:
        cells: list of cell instances (Layers with ``state_size`` and a one-step
            ``forward(inputs, states, training)``).

    States: one flat list, cell by cell (e.g. ``[h1, c1, h2, c2]`` for two LSTMCells);
    ``state_size`` is that flat list of sizes (Keras nests it per cell; ``RNN`` returns
    the states flattened either way). Input shape: (batch, features) per step; output:
    the last cell's output.
    Weights: every cell's, in order.

    Example:
        >>> cells = [pn.layers.LSTMCell(64), pn.layers.LSTMCell(32)]
        >>> layer = pn.layers.RNN(pn.layers.StackedRNNCells(cells))
    """

    def __init__(self, cells, **kwargs):
        if not isinstance(cells, (list, tuple)) or not cells:
            raise ValueError(f"StackedRNNCells: cells={cells!r}; expected a non-empty list of cells")
        for cell in cells:
            if not isinstance(cell, Layer) or not hasattr(cell, "state_size"):
                raise ValueError(f"StackedRNNCells: {cell!r} is not a cell; expected Layers with a "
                                 "`state_size` attribute and a one-step forward(inputs, states, "
                                 "training)")
        super().__init__(**kwargs)
        self.cells = list(cells)
        self._layers = list(cells)

    @property
    def state_size(self):
        return [s for cell in self.cells for s in state_sizes(cell)]

    @property
    def output_size(self):
        return output_size(self.cells[-1])

    def build(self, input_shape):
        batch, features = input_shape[0], input_shape[-1]
        for cell in self.cells:
            if cell.backend is None:
                cell.backend = self.backend
            cell._maybe_build((batch, features))
            features = output_size(cell)
        self.built = True

    def get_initial_state(self, batch_size=None):
        """The cells' initial states, flattened (zeros for a cell without the method)."""
        states = []
        for cell in self.cells:
            initial = getattr(cell, "get_initial_state", None)
            if initial is not None:
                states.extend(initial(batch_size=batch_size))
            else:
                dtype = self.backend.dtype(self.dtype)
                states.extend(self.xp.zeros((batch_size, s), dtype=dtype)
                              for s in state_sizes(cell))
        return states

    def reset_dropout_mask(self):
        for cell in self.cells:
            reset = getattr(cell, "reset_dropout_mask", None)
            if reset is not None:
                reset()

    def reset_recurrent_dropout_mask(self):
        for cell in self.cells:
            reset = getattr(cell, "reset_recurrent_dropout_mask", None)
            if reset is not None:
                reset()

    def forward(self, inputs, states, training=False):
        """One timestep through every cell: ``((output, new_states), backward)``."""
        states = list(states)
        counts = [len(state_sizes(cell)) for cell in self.cells]
        new_states, backs = [], []
        start = 0
        for cell, n in zip(self.cells, counts):
            (inputs, cell_states), back = cell.forward(inputs, states[start:start + n],
                                                       training=training)
            new_states.extend(cell_states)
            backs.append(back)
            start += n
        total = start

        def backward(d_output, d_new_states):
            d_new = list(d_new_states) if d_new_states is not None else [None] * total
            d_prev = [None] * total
            d_in = d_output
            end = total
            for back, n in zip(reversed(backs), reversed(counts)):
                begin = end - n
                d_in, d_cell = back(d_in, d_new[begin:end])
                d_prev[begin:end] = list(d_cell)
                end = begin
            return d_in, d_prev
        return (inputs, new_states), backward

    def get_config(self):
        config = super().get_config()
        config["cells"] = [serialize_layer(cell) for cell in self.cells]
        return config

    @classmethod
    def from_config(cls, config):
        # The layer registry lives in portanet.layers, which imports this module.
        config = dict(config)
        cells = [deserialize(c) for c in config.pop("cells")]
        return cls(cells, **config)
