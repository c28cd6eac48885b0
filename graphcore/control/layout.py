"""``LoopLayout``: where a Scan node keeps each kind of value, named once.

A Scan node's inputs and outputs are flat lists in which position means kind. The op, its loop runner, its
backward pass and the ONNX converters all slice them; they do it here, so the order is written down once:

    inputs:  sequences (time-major) | initial states | captures (non-sequences, then captured outer tensors)
    outputs: final states | stacked outputs (T, ...) | stacked states entering each step (T, ...)

The last group is the residuals: what a gradient reads (the state every step started from), one per state.
The body graph mirrors the same kinds with placeholders (``time_in`` for the step index, if any, ``seq_in``,
``state_in``, ``cap_in``) and results (``state_out``, ``out``).
"""
from dataclasses import dataclass


@dataclass(frozen=True)
class LoopLayout:
    """The counts of each kind of Scan input and output (see the module docstring)."""

    sequences: int
    states: int
    captures: int
    outputs: int

    @classmethod
    def of(cls, attrs):
        """The layout of a Scan node's attributes (``node.attrs``)."""
        return cls(len(attrs["seq_in"]), len(attrs["state_in"]), len(attrs["cap_in"]), len(attrs["out"]))

    def split_inputs(self, values):
        """(sequences, initial states, captures) of a list aligned with the node's inputs."""
        s, k = self.sequences, self.states
        return values[:s], values[s:s + k], values[s + k:]

    def split_outputs(self, values):
        """(final states, stacked outputs, entering states) of a list aligned with the node's outputs."""
        k, n = self.states, self.outputs
        return values[:k], values[k:k + n], values[k + n:]

    @property
    def input_count(self):
        return self.sequences + self.states + self.captures

    def state_input(self, k):
        """The input position of initial state k."""
        return self.sequences + k

    def capture_input(self, j):
        """The input position of capture j."""
        return self.sequences + self.states + j

    def stacked_output(self, k):
        """The output position of stacked output k."""
        return self.states + k

    def entering_output(self, k):
        """The output position of the stacked states entering each step, for state k."""
        return self.states + self.outputs + k
