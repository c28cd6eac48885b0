"""Nested structures of values (lists, tuples, dicts of them): the shape of what ``Session.run`` fetches and
what a ``cond`` branch returns, recorded by a ``flatten`` and filled in again by ``rebuild``.

A structure is None for a leaf, or ``(kind, items)``: ``(dict, [(key, structure), ...])`` or
``(list | tuple, [structure, ...])``.
"""


def rebuild(structure, values):
    """The nesting ``structure`` with its leaves taken, in order, from the iterator ``values``."""
    if structure is None:
        return next(values)
    kind, items = structure
    if kind is dict:
        return {k: rebuild(s, values) for k, s in items}
    return kind(rebuild(s, values) for s in items)
