"""Finite differences shared by the tests that check symbolic gradients."""
import numpy as np


def numeric_gradient(f, x, eps=1e-6):
    """Central differences of the scalar ``f()`` with respect to each element of ``x`` (changed in place and
    restored)."""
    grad = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        old = x[idx]
        x[idx] = old + eps
        up = f()
        x[idx] = old - eps
        down = f()
        x[idx] = old
        grad[idx] = (up - down) / (2 * eps)
    return grad
