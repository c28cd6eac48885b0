"""TfIdfVectorizer over integer token ids, composed from comparisons and sums.

Its n-grams are the pool's (``pool_int64s``, grouped by size through ``ngram_counts``) with sizes in
[``min_gram_length``, ``max_gram_length``]; a gram of size n with skip distance d (1 … ``max_skip_count`` + 1)
is x[s], x[s + d], …, x[s + (n − 1)·d]. Unigrams count once, not once per skip distance, as onnx's reference
counts them. For each size and distance, the windows of the row are compared with every pooled gram of that
size at once (broadcast ``==``, all along the gram), summed over positions, and the per-gram counts placed
in the output columns ``ngram_indexes`` gives by a 0/1 matrix product. ``mode`` TF gives the counts, IDF the
weights where a count is positive, TFIDF counts × weights (weights default to 1).
"""
import numpy as np

import graphcore as gc

from .import_registry import importer


def _grams(node):
    """{size: (grams (G, n) array, their pool positions)} for the sizes the node counts."""
    pool = node.attr("pool_int64s")
    if pool is None:
        raise node.error("only integer pools (pool_int64s) are supported: graphcore tensors hold numbers")
    starts = list(node.attr("ngram_counts")) + [len(pool)]
    low, high = node.attr("min_gram_length"), node.attr("max_gram_length")
    grams, position = {}, 0
    for size, (begin, end) in enumerate(zip(starts, starts[1:]), start=1):
        count = (end - begin) // size
        if low <= size <= high and count:
            grams[size] = (np.asarray(pool[begin:end], np.int64).reshape(count, size),
                           range(position, position + count))
        position += count
    return grams


@importer("TfIdfVectorizer")
def _tfidf(ctx, node, inputs):
    x = ctx.tensor(inputs[0])
    if x.dtype.kind not in "iu":
        raise node.error(f"TfIdfVectorizer takes integer token ids here, got {x.dtype.name}")
    rows = x if x.ndim == 2 else gc.reshape(x, (1, -1))
    length = rows.shape[1]
    if length is None:
        raise node.error("TfIdfVectorizer needs a known row length")
    rows = gc.cast(rows, gc.int64)
    indexes = list(node.attr("ngram_indexes"))
    width = max(indexes) + 1
    ctx.check_size([len(indexes), width], np.float32, f"TfIdfVectorizer '{node.name}' output columns")
    skips = node.attr("max_skip_count")
    counts = []
    for size, (grams, positions) in _grams(node).items():
        total = None
        for distance in range(1, skips + 2) if size > 1 else (1,):
            span = (size - 1) * distance
            if span >= length:
                break
            windows = gc.concat([gc.expand_dims(rows[:, k * distance:length - span + k * distance], -1)
                                 for k in range(size)], -1)                     # (B, S, n)
            hits = gc.equal(gc.expand_dims(windows, 2), ctx.tensor(grams))      # (B, S, G, n)
            found = gc.reduce_min(gc.cast(hits, gc.float32), -1)               # all n match
            per_gram = gc.reduce_sum(found, 1)                                   # (B, G)
            total = per_gram if total is None else total + per_gram
        if total is not None:
            placement = np.zeros((len(grams), width), np.float32)
            placement[np.arange(len(grams)), [indexes[p] for p in positions]] = 1
            counts.append(gc.matmul(total, ctx.tensor(placement)))
    if counts:
        frequency = gc.add_n(counts)
    else:   # nothing in the pool can match: zeros of (rows, width)
        frequency = gc.cast(rows[:, :1], gc.float32) * ctx.tensor(np.zeros((1, width), np.float32))
    weights = node.attr("weights")
    weights = ctx.tensor(np.asarray(weights if weights else np.ones(width), np.float32))
    mode = node.attr("mode")
    if mode == "TF":
        y = frequency
    elif mode == "IDF":
        y = gc.where(frequency > 0.0, weights * gc.ones_like(frequency), gc.zeros_like(frequency))
    else:
        y = frequency * weights
    return [y if x.ndim == 2 else gc.reshape(y, (width,))]
