"""The whole-sequence path of the built-in cells (SimpleRNNCell, LSTMCell, GRUCell).

``run_sequence(cell, rnn, x, ...)`` gives the same result as ``RNN``'s step loop over
``cell.forward`` with fewer, larger array operations: the input projection
``x @ kernel + bias`` of every timestep is one matmul; the recurrence then runs step by
step through the cell's ``_step``, each step keeping what its backward needs, and
backpropagation through time runs ``_step_backward`` in reverse. The kernel's and the
recurrent kernel's gradients, summed over time, are one matmul each at the end.
"""

__all__ = []


def run_sequence(cell, rnn, x, given_states, mask, training, multi):
    """Run ``cell`` over ``x`` (batch, steps, features) with ``rnn``'s options.

    ``given_states`` are the initial states (checked by ``RNN.forward``; empty for zeros)
    and ``mask`` the (batch, steps) mask or None. Returns ``(result, backward)`` as
    ``RNN.forward``: ``backward`` returns dx, or ``[dx, *d_states]`` when ``multi``.
    """
    xp = cell.xp
    batch, steps, features = x.shape
    u = cell.units
    gates = cell._gates
    state_count = cell._state_count
    if rnn.go_backwards:
        x = xp.flip(x, axis=1)
        if mask is not None:
            mask = xp.flip(mask, axis=1)
    step_mask = None
    if mask is not None:
        step_mask = xp.reshape(xp.astype(mask, x.dtype), (batch, steps, 1))

    in_masks, rec_masks = cell._dropout_masks(training, batch, features)
    kernel = cell.kernel.value
    ctx = cell._context(rec_masks)

    # Input projection for every timestep at once (one matmul per distinct mask).
    gu = gates * u
    if in_masks is None:
        x_in = [x]
        projection = x @ kernel
    elif len(in_masks) == 1:
        x_in = [x * in_masks[0][:, None, :]]
        projection = x_in[0] @ kernel
    else:
        x_in = [x * m[:, None, :] for m in in_masks]
        projection = xp.concat([x_in[g] @ kernel[:, g * u:(g + 1) * u]
                                for g in range(gates)], axis=2)
    in_bias = cell._input_bias()
    if in_bias is not None:
        projection = projection + in_bias

    zeros = xp.zeros((batch, u), dtype=x.dtype)
    states = given_states if given_states else [zeros] * state_count
    out = zeros
    outputs = []
    caches = []
    for t in range(steps):
        new_states, cache = cell._step(ctx, projection[:, t, :], states)
        if step_mask is None:
            states = new_states
            out = new_states[0]
        else:
            m = step_mask[:, t, :]
            states = [s + m * (n - s) for n, s in zip(new_states, states)]
            out = m * new_states[0] if rnn.zero_output_for_mask else out + m * (new_states[0] - out)
        caches.append(cache)
        if rnn.return_sequences:
            outputs.append(out)
    y = xp.stack(outputs, axis=1) if rnn.return_sequences else out
    result = [y] + list(states) if rnn.return_state else y

    def backward(dy):
        if rnn.return_state:
            d_out = dy[0]
            d_states = [zeros if d is None else d for d in dy[1:]]
        else:
            d_out = dy
            d_states = [zeros] * state_count
        d_carry = None  # gradient reaching the previous output through a masked step
        d_proj = [None] * steps
        d_recs = [None] * steps
        for t in range(steps - 1, -1, -1):
            if d_out is None:
                d_o = None
            elif rnn.return_sequences:
                d_o = d_out[:, t, :]
            else:
                d_o = d_out if t == steps - 1 else None
            if step_mask is None:
                d_new = list(d_states)
                if d_o is not None:
                    d_new[0] = d_new[0] + d_o
                d_xt, d_rec, d_prev = cell._step_backward(ctx, caches[t], d_new)
                d_states = d_prev
            else:
                m = step_mask[:, t, :]
                if d_carry is not None:
                    d_o = d_carry if d_o is None else d_o + d_carry
                d_new = [m * d for d in d_states]
                if d_o is not None:
                    d_new[0] = d_new[0] + m * d_o
                    if not rnn.zero_output_for_mask:
                        d_carry = d_o - m * d_o
                d_xt, d_rec, d_prev = cell._step_backward(ctx, caches[t], d_new)
                d_states = [d - m * d + p for d, p in zip(d_states, d_prev)]
            d_proj[t] = d_xt
            d_recs[t] = d_rec
        d_projection = xp.stack(d_proj, axis=1)               # (batch, steps, G·u)
        rows = batch * steps
        d_proj2 = xp.reshape(d_projection, (rows, gu))
        # Kernel and input gradients, one matmul per distinct input mask.
        if len(x_in) == 1:
            cell.kernel.add_grad(xp.matrix_transpose(xp.reshape(x_in[0], (rows, features)))
                                 @ d_proj2)
            dx = d_projection @ xp.matrix_transpose(kernel)
            if in_masks is not None:
                dx = dx * in_masks[0][:, None, :]
        else:
            kernel_parts = []
            dx = None
            for g in range(gates):
                d_g = d_projection[:, :, g * u:(g + 1) * u]
                kernel_parts.append(
                    xp.matrix_transpose(xp.reshape(x_in[g], (rows, features)))
                    @ xp.reshape(d_g, (rows, u)))
                part = (d_g @ xp.matrix_transpose(kernel[:, g * u:(g + 1) * u])) \
                    * in_masks[g][:, None, :]
                dx = part if dx is None else dx + part
            cell.kernel.add_grad(xp.concat(kernel_parts, axis=1))
        # Recurrent kernel: Σ_t left_tᵀ · d_rec_t as one matmul per left factor.
        d_rec_all = xp.concat(d_recs, axis=0)                   # (steps·batch, G·u)
        parts = []
        for k, (a, b) in enumerate(cell._rec_slices(ctx)):
            left = xp.concat([c[0][k] for c in caches], axis=0)  # (steps·batch, u)
            block = d_rec_all if (a == 0 and b == gu) else d_rec_all[:, a:b]
            parts.append(xp.matrix_transpose(left) @ block)
        cell.recurrent_kernel.add_grad(parts[0] if len(parts) == 1 else xp.concat(parts, axis=1))
        cell._add_bias_grad(xp.sum(d_proj2, axis=0), xp.sum(d_rec_all, axis=0))
        if rnn.go_backwards:
            dx = xp.flip(dx, axis=1)
        if multi:
            return [dx] + list(d_states)
        return dx
    return result, backward
