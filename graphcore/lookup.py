"""Name → object lookup shared by the activation, initializer, loss and optimizer tables, and the answer a
public module gives for a name it does not have."""
from .errors import BuildError, NotSupportedError


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


def missing_names(module, notes):
    """A module ``__getattr__`` for Keras's or TF1's names that ``module`` (``gc.layers``) leaves out: an
    ``NotSupportedError`` saying what to use instead (``notes``: name → words), or listing what there is."""
    def __getattr__(name):
        if name.startswith("__"):
            raise AttributeError(name)
        spelling = module.__name__.replace("graphcore", "gc", 1)
        if name in notes:
            raise NotSupportedError(f"{spelling}.{name}: {notes[name]}")
        public = sorted(k for k in vars(module) if not k.startswith("_") and k[0].isupper())
        raise NotSupportedError(f"{spelling} has no {name!r}; it has {', '.join(public)}")
    return __getattr__
