"""A plan as straight-line Python: one generated function per plan, one line per node.

Why: ``run_plan``'s loop spends about a microsecond per node unpacking the step, building the argument list
and walking the slots to free. That is nothing beside a convolution, but a loop body runs its nodes T times
per step: a GRU's backward body is 58 primitive nodes, run fifty times in the benchmark. Generated code
does the same work with none of that bookkeeping:

    def run(s):
        s[4] = k0(s[0], s[1])
        s[5], s[6] = k1(s[4], s[2])
        s[0] = s[4] = None
        ...

The kernels are the plan's own (bound in the function's globals as k0, k1, …), so a compiled plan computes
exactly what the loop does. When a kernel raises, the traceback's line in the generated code names the step,
and the caller reports that node as the loop would. Measured against the loop, interleaved in one process
(median of 15): GRU b32 T50 training step 0.87×, SimpleRNN 0.92×, a chain of tiny ops 0.76× per node; LSTM
and convolutional steps, a few nodes per loop step or milliseconds per node, unchanged.
"""

FILENAME = "<graphcore plan>"


def compile_steps(steps):
    """(run, line_steps): ``run(slots)`` executes ``steps`` (the plan's (kernel, ins, out, frees, node)
    tuples), and ``line_steps[line]`` is the index of the step a line of the generated code belongs to."""
    lines, line_steps, kernels = ["def run(s):"], [None], {}
    for index, (kernel, ins, out, frees, _) in enumerate(steps):
        kernels[f"k{index}"] = kernel
        call = f"k{index}({', '.join(f's[{i}]' for i in ins)})"
        if type(out) is int:
            lines.append(f"    s[{out}] = {call}")
        elif out:
            lines.append(f"    {', '.join(f's[{o}]' for o in out)}, = {call}")
        else:
            lines.append(f"    {call}")
        line_steps.append(index)
        if frees:
            lines.append(f"    {' = '.join(f's[{f}]' for f in frees)} = None")
            line_steps.append(index)
    lines.append("    return")
    exec(compile("\n".join(lines), FILENAME, "exec"), kernels)
    return kernels["run"], line_steps


def failed_step(traceback, line_steps):
    """The index of the step whose line of generated code was running when ``traceback`` was raised."""
    while traceback is not None:
        if traceback.tb_frame.f_code.co_filename == FILENAME:
            return line_steps[traceback.tb_lineno - 1]
        traceback = traceback.tb_next
    raise AssertionError("the exception did not pass through a compiled plan")
