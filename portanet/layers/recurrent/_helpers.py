"""Small helpers shared by the recurrent layers, cells and wrappers."""

from ..serialization import serialize as _serialize

__all__ = []


def first_mask(mask):
    """The sequence mask of a layer's (possibly listed) input masks."""
    if isinstance(mask, (list, tuple)):
        return mask[0] if mask else None
    return mask


def serialize_layer(layer):
    """Keras 3's serialized form of a nested layer (``portanet.layers.serialize``: module,
    class_name, config, registered_name and, once built, build_config)."""
    return _serialize(layer)


def state_sizes(cell):
    """A cell's ``state_size`` as a list of ints."""
    size = cell.state_size
    return [int(s) for s in size] if isinstance(size, (list, tuple)) else [int(size)]


def output_size(cell):
    """A cell's ``output_size``, else the size of its first state (Keras's rule)."""
    size = getattr(cell, "output_size", None)
    return int(size) if size is not None else state_sizes(cell)[0]


def cell_property(name):
    """A read-only property reading ``self.cell.<name>`` (LSTM.units -> LSTM.cell.units)."""
    return property(lambda self: getattr(self.cell, name),
                    doc=f"The cell's ``{name}``.")


def run_inner(layer, x, training, mask=None):
    """Call a wrapped layer's forward (with the mask when it takes one)."""
    if layer._forward_takes_mask():
        return layer.forward(x, training=training, mask=mask)
    return layer.forward(x, training=training)


def check_use_cudnn(value, owner):
    # Accepted only for Keras compatibility: the value has no effect here.
    if value not in ("auto", True, False):
        raise ValueError(f"{owner}: use_cudnn={value!r}; expected 'auto', True or False")
    return value
