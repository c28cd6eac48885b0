"""Name → object lookup shared by the activation, initializer, loss and optimizer tables."""
from .errors import BuildError


def lookup(table, identifier, kind):
    """``identifier`` itself if it is callable, else ``table[identifier]``; an unknown name is a BuildError
    that lists the choices."""
    if callable(identifier):
        return identifier
    try:
        return table[identifier]
    except (KeyError, TypeError):
        names = sorted(str(k) for k in table if k is not None)
        raise BuildError(f"unknown {kind} {identifier!r}; choose from {names} or pass a function") from None
