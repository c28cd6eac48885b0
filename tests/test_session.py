"""The interpreter: fetch structures, feeds, planning and freeing, state, numerics checks, errors."""
import numpy as np
import pytest

import graphcore as gc


def _graph():
    g = gc.Graph()
    with g.as_default():
        x = gc.placeholder(gc.float32, (None, 3), name="x")
        v = gc.Variable(np.arange(3, dtype=np.float32), name="v")
        y = x * v
        z = gc.reduce_sum(y)
    return g, x, v, y, z


def test_nested_fetches_come_back_in_the_same_shape():
    g, x, v, y, z = _graph()
    feed = {x: np.ones((2, 3), np.float32)}
    with gc.Session(g) as sess:
        out = sess.run({"a": [y, (z, v)], "b": z}, feed)
    assert isinstance(out["a"], list) and isinstance(out["a"][1], tuple)
    np.testing.assert_allclose(out["a"][1][0], 6.0)
    np.testing.assert_allclose(out["b"], 6.0)


def test_missing_feed_wrong_shape_and_dtype_name_the_placeholder():
    g, x, v, y, z = _graph()
    with gc.Session(g) as sess:
        with pytest.raises(gc.FeedError, match="placeholder 'x'.*must be fed"):
            sess.run(z)
        with pytest.raises(gc.FeedError, match=r"shape \(2, 4\).*'x'.*\(\?, 3\)"):
            sess.run(z, {x: np.ones((2, 4), np.float32)})
        g2 = gc.Graph()
        with g2.as_default():
            i = gc.placeholder(gc.int64, (2,), name="i")
        with pytest.raises(gc.FeedError, match="cannot feed float64 data to 'i' of dtype int64"):
            gc.Session(g2).run(i, {i: np.ones(2, np.float64)})
        # float64 data for a float32 placeholder is a safe, expected conversion (like TensorFlow)
        assert sess.run(y, {x: np.ones((1, 3))}).dtype == np.float32


def test_plan_is_reused_and_frees_intermediates():
    g, x, v, y, z = _graph()
    with gc.Session(g) as sess:
        sess.run(z, {x: np.ones((2, 3), np.float32)})
        sess.run(z, {x: np.zeros((5, 3), np.float32)})
        assert len(sess._plans) == 1
        plan = next(iter(sess._plans.values()))
        freed = {s for step in plan.steps for s in step[3]}
        assert freed, "intermediates must be freed after their last use"
        assert all(step[4].type != "Placeholder" for step in plan.steps)  # fed placeholders are not run


def test_pruning_runs_only_what_is_needed():
    g = gc.Graph()
    with g.as_default():
        a = gc.placeholder(gc.float32, (), name="a")
        b = gc.placeholder(gc.float32, (), name="b")
        out_a = a * 2.0
        _ = b * 3.0
    with gc.Session(g) as sess:
        assert sess.run(out_a, {a: 1.0}) == 2.0  # b is never needed, so never demanded


def test_variables_keep_state_and_reads_are_snapshots():
    g = gc.Graph()
    with g.as_default():
        counter = gc.Variable(np.float32(0.0), name="counter")
        inc = gc.assign_add(counter, 1.0)
        reset = gc.assign(counter, 10.0)
    with gc.Session(g) as sess:
        sess.run(inc)
        sess.run(inc)
        old, new = sess.run([counter, inc])
        assert (old, new) == (2.0, 3.0)   # the read sees the value at the start of the run
        sess.run(reset)
        assert sess.run(counter) == 10.0
        value = sess.run(counter)
        value += 5                         # fetched arrays are copies: state cannot be corrupted
        assert sess.run(counter) == 10.0


def test_each_op_runs_at_most_once_per_run():
    g = gc.Graph()
    with g.as_default():
        noise = gc.random_normal((3,), seed=1)
        a, b = noise + 0.0, noise * 1.0
    with gc.Session(g) as sess:
        va, vb = sess.run([a, b])
    np.testing.assert_array_equal(va, vb)


def test_seeded_random_ops_are_reproducible_across_sessions():
    g = gc.Graph()
    with g.as_default():
        r = gc.random_uniform((4,), seed=7)
    with gc.Session(g) as s1, gc.Session(g) as s2:
        np.testing.assert_array_equal(s1.run(r), s2.run(r))
        assert not np.array_equal(s1.run(r), s1.run(r))  # a fresh draw each run


def test_check_numerics_names_the_first_bad_node():
    g = gc.Graph()
    with g.as_default():
        x = gc.placeholder(gc.float32, (2,), name="x")
        bad = gc.log(x, name="log_of_x")
        out = bad * 2.0
    with gc.Session(g) as sess:
        with np.errstate(all="ignore"):
            assert np.isnan(sess.run(out, {x: np.array([-1.0, 1.0], np.float32)})[0])
            with pytest.raises(gc.NumericsError, match="log_of_x"):
                sess.run(out, {x: np.array([-1.0, 1.0], np.float32)}, check_numerics=True)


def test_kernel_failure_reports_node_and_site_not_a_numpy_traceback():
    g = gc.Graph()
    with g.as_default():
        x = gc.placeholder(gc.float32, (None, 3), name="x")
        y = gc.placeholder(gc.float32, (None, 3), name="y")
        line = __import__("inspect").currentframe().f_lineno + 1
        s = x + y
    with gc.Session(g) as sess:
        with pytest.raises(gc.ExecutionError) as info:
            sess.run(s, {x: np.ones((2, 3), np.float32), y: np.ones((5, 3), np.float32)})
    message = str(info.value)
    assert "Add" in message and "(2, 3)" in message and "(5, 3)" in message and f":{line}" in message
    assert info.value.__suppress_context__


def test_a_compiled_plan_reports_the_failing_node_as_the_first_run_does():
    """A plan runs as straight-line code from its second run on (graphcore/program.py); a kernel failing
    there, in the outer plan or in a loop body, is still reported by its node, shapes and creation site."""
    g = gc.Graph()
    with g.as_default():
        x = gc.placeholder(gc.float32, (None, 3), name="x")
        y = gc.placeholder(gc.float32, (None, 3), name="y")
        sequence = gc.placeholder(gc.float32, (None, None), name="sequence")
        doubled = x * 2.0
        line = __import__("inspect").currentframe().f_lineno + 1
        total = doubled + y
        h, _ = gc.scan(lambda xt, h: (gc.multiply(h, xt, name="body_product"), h), sequence,
                       gc.constant(np.ones(2, np.float32)))
    good = {x: np.ones((2, 3), np.float32), y: np.ones((2, 3), np.float32),
            sequence: np.full((4, 2), 2.0, np.float32)}
    with gc.Session(g) as sess:
        for _ in range(3):
            np.testing.assert_array_equal(sess.run(total, good), np.full((2, 3), 3.0))
            np.testing.assert_array_equal(sess.run(h, good), [16.0, 16.0])
        with pytest.raises(gc.ExecutionError) as info:
            sess.run(total, {**good, y: np.ones((5, 3), np.float32)})
        message = str(info.value)
        assert "Add" in message and "(2, 3)" in message and "(5, 3)" in message and f":{line}" in message
        with pytest.raises(gc.ExecutionError, match="Mul failed at run time") as info:
            sess.run(h, {**good, sequence: np.ones((4, 3), np.float32)})
        assert "body_product" in str(info.value) and "(3,)" in str(info.value)
        np.testing.assert_array_equal(sess.run(total, good), np.full((2, 3), 3.0))   # still usable


def test_feeding_an_intermediate_tensor_overrides_it():
    g, x, v, y, z = _graph()
    with gc.Session(g) as sess:
        assert sess.run(z, {y: np.full((2, 3), 2.0, np.float32)}) == 12.0


def test_placeholder_with_default():
    g = gc.Graph()
    with g.as_default():
        training = gc.placeholder_with_default(False, shape=(), name="training")
        out = gc.where(training, gc.constant(1.0), gc.constant(0.0))
    with gc.Session(g) as sess:
        assert sess.run(out) == 0.0 and sess.run(out, {training: True}) == 1.0


def test_where_never_leaks_nan_from_the_branch_not_taken():
    g = gc.Graph()
    with g.as_default():
        x = gc.placeholder(gc.float32, (3,), name="x")
        safe = gc.where(x > 0, gc.log(gc.where(x > 0, x, 1.0)), 0.0)
        naive = gc.where(x > 0, gc.log(x), 0.0)
        (g_safe,) = gc.gradients(gc.reduce_sum(safe), [x])
    with gc.Session(g) as sess, np.errstate(all="ignore"):
        values = sess.run([naive, g_safe], {x: np.array([-1.0, 0.0, np.e], np.float32)})
    np.testing.assert_allclose(values[0], [0.0, 0.0, 1.0])
    np.testing.assert_allclose(values[1], [0.0, 0.0, 1 / np.e], rtol=1e-6)
