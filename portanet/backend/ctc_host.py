"""CTC decoding on the host (NumPy), as Keras 3.15.1's NumPy backend decodes
(keras/src/backend/numpy/nn.py ``_ctc_greedy_decode`` and ``_ctc_beam_search_decode``,
Apache License 2.0): greedy and beam-search decoding are data-dependent searches, not
differentiated, so ``portanet.ops.ctc_decode`` runs them here on host copies of the scores
and moves the result back to the device.
"""

import numpy as np


def _log_softmax(x):
    m = np.max(x, axis=-1, keepdims=True)
    return x - m - np.log(np.sum(np.exp(x - m), axis=-1, keepdims=True))


def greedy_decode(inputs, sequence_lengths, merge_repeated=True, mask_index=None):
    """(paths (1, batch, max_length) int32 padded with -1, scores (batch, 1))."""
    inputs = np.asarray(inputs)
    if not np.issubdtype(inputs.dtype, np.floating) or inputs.dtype == np.float16:
        inputs = inputs.astype(np.float32)
    sequence_lengths = np.asarray(sequence_lengths).astype(np.int32)
    batch_size, max_length, num_classes = inputs.shape
    if mask_index is None:
        mask_index = num_classes - 1
    indices = np.argmax(inputs, axis=-1).astype("int32")
    scores = np.max(inputs, axis=-1)
    seqlen_mask = np.arange(max_length)[None, :] >= sequence_lengths[:, None]
    indices = np.where(seqlen_mask, mask_index, indices)
    scores = np.where(seqlen_mask, 0.0, scores)
    if merge_repeated:
        repeat_mask = indices[:, 1:] == indices[:, :-1]
        repeat_mask = np.pad(repeat_mask, ((0, 0), (1, 0)))
        indices = np.where(repeat_mask, mask_index, indices)
    invalid_mask = indices == mask_index
    indices = np.where(invalid_mask, -1, indices)
    order = np.tile(np.expand_dims(np.arange(max_length), axis=0), (batch_size, 1))
    order = np.where(invalid_mask, max_length, order)
    order = np.argsort(order, axis=-1)
    indices = np.take_along_axis(indices, order, axis=-1)
    scores = -np.sum(scores, axis=1)[:, None]
    return np.expand_dims(indices, axis=0).astype(np.int32), scores.astype(inputs.dtype)


def beam_search_decode(inputs, sequence_lengths, beam_width=100, top_paths=1, mask_index=None):
    """(paths (top_paths, batch, max_length) int32 padded with -1, scores (batch, top_paths))."""
    inputs = np.asarray(inputs)
    if not np.issubdtype(inputs.dtype, np.floating) or inputs.dtype == np.float16:
        inputs = inputs.astype(np.float32)
    sequence_lengths = np.asarray(sequence_lengths)
    batch_size, max_seq_len, num_classes = inputs.shape
    inputs = _log_softmax(inputs)
    seqlen_mask = np.arange(max_seq_len)[None, :] >= sequence_lengths[:, None]
    if mask_index is None:
        mask_index = num_classes - 1
    # Keras flips the classes so that argsort breaks ties as TensorFlow does.
    inputs = np.flip(inputs, axis=2)
    mask_index = num_classes - mask_index - 1
    _pad = -1
    init_paths = np.full((batch_size, 2 * beam_width, max_seq_len), _pad, dtype=np.int32)
    num_init_paths = min(num_classes, beam_width)
    max_classes = np.argsort(inputs[:, 0], axis=1)[:, -num_init_paths:]
    init_classes = np.where(max_classes == mask_index, _pad, max_classes)
    init_paths[:, :num_init_paths, 0] = init_classes
    init_scores = np.full((batch_size, 2 * beam_width), -np.inf, dtype=inputs.dtype)
    init_scores[:, :num_init_paths] = np.take_along_axis(inputs[:, 0], max_classes, axis=1)
    init_masked = init_paths[:, :, 0] == _pad

    def _extend_paths(paths, scores, masked, x):
        paths = np.repeat(paths, num_classes, axis=0)
        scores = np.repeat(scores, num_classes)
        masked = np.repeat(masked, num_classes)
        path_tail_index = np.argmax(paths == _pad, axis=1)
        paths_arange = np.arange(2 * beam_width * num_classes)
        path_tails = paths[paths_arange, path_tail_index - 1]
        path_tails = np.where(path_tail_index == 0, _pad, path_tails)
        classes = np.arange(num_classes)
        classes[mask_index] = _pad
        classes = np.tile(classes, 2 * beam_width)
        prev_masked = masked
        masked = classes == _pad
        masked_repeat = ~prev_masked & (path_tails == classes)
        classes = np.where(masked_repeat, _pad, classes)
        paths[paths_arange, path_tail_index] = classes
        x = np.tile(x, 2 * beam_width)
        return paths, scores + x, masked

    def _merge_scores(unique_inverse, scores):
        scores_max = np.max(scores)
        scores_exp = np.exp(scores - scores_max)
        new_scores = np.zeros_like(scores)
        np.add.at(new_scores, unique_inverse, scores_exp)
        with np.errstate(divide="ignore"):
            return np.log(new_scores) + scores_max

    def _unique(paths):
        paths, unique_inverse = np.unique(paths, return_inverse=True, axis=0)
        pad_size = (2 * num_classes * beam_width) - len(paths)
        if pad_size > 0:
            paths = np.pad(paths, [[0, pad_size], [0, 0]], constant_values=_pad)
        paths = paths[: 2 * num_classes * beam_width]
        return paths, np.reshape(unique_inverse, (-1,))

    def _prune_paths(paths, scores, masked):
        paths, unique_inverse = _unique(paths)
        emit_scores = _merge_scores(unique_inverse, np.where(masked, -np.inf, scores))
        mask_scores = _merge_scores(unique_inverse, np.where(masked, scores, -np.inf))
        total_scores = np.logaddexp(emit_scores, mask_scores)
        top_indices = np.argsort(total_scores, kind="stable")[-beam_width:]
        paths = np.tile(paths[top_indices], (2, 1))
        scores = np.concatenate([emit_scores[top_indices], mask_scores[top_indices]])
        masked = np.concatenate([np.zeros(beam_width, bool), np.ones(beam_width, bool)])
        return paths, scores, masked

    def _decode_batch(paths, scores, masked, x_seq, mask_seq):
        for x, stop in zip(x_seq[1:], mask_seq[1:]):
            if not stop:
                paths, scores, masked = _extend_paths(paths, scores, masked, x)
                paths, scores, masked = _prune_paths(paths, scores, masked)
        paths, unique_inverse = _unique(paths)
        scores = _merge_scores(unique_inverse, scores)
        top_indices = np.argsort(scores)[-top_paths:][::-1]
        return paths[top_indices], scores[top_indices]

    with np.errstate(invalid="ignore"):
        results = [_decode_batch(p, s, m, i, sm) for p, s, m, i, sm in
                   zip(init_paths, init_scores, init_masked, inputs, seqlen_mask)]
    paths = np.stack([r[0] for r in results])
    scores = np.stack([r[1] for r in results])
    paths = np.where(paths == _pad, _pad, num_classes - paths - 1)
    return np.transpose(paths, [1, 0, 2]).astype(np.int32), scores
