"""What the Bidirectional and TimeDistributed wrappers share."""

__all__ = []


def run_inner(layer, x, training, mask=None):
    """Call a wrapped layer's forward (with the mask when it takes one)."""
    if layer._forward_takes_mask():
        return layer.forward(x, training=training, mask=mask)
    return layer.forward(x, training=training)
