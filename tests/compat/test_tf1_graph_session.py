"""TF1 idioms for graphs, sessions, tensors and variables, written as TensorFlow 1.x's own guides write them
(r1.15: tensorflow/docs site/en/r1/guide and api_guides/python), with ``gc`` for ``tf``. Each test cites
the guide section it comes from and checks values against hand-computed numbers.

Where graphcore deliberately differs (a placeholder without a rank, ``tf.get_variable``), the test asserts
the GraphcoreError that says so; where TF1's idiom needs a name graphcore spells differently, the comment
says which.
"""
import numpy as np
import pytest

import graphcore as gc


@pytest.fixture
def graph():
    g = gc.Graph()
    with g.as_default():
        yield g


# ----- "Introduction to low-level APIs" (guide/low_level_intro) ------------------------------------------------

def test_constants_add_and_session_run(graph):
    # guide/low_level_intro, "Graph" and "Session": a = tf.constant(3.0, dtype=tf.float32); b = tf.constant(4.0)
    a = gc.constant(3.0, dtype=gc.float32)
    b = gc.constant(4.0)
    total = a + b
    assert b.dtype == gc.float32
    sess = gc.Session()
    assert sess.run(total) == 7.0


def test_run_handles_tuples_and_dicts(graph):
    # guide/low_level_intro, "Session": print(sess.run({'ab':(a, b), 'total':total}))
    a, b = gc.constant(3.0), gc.constant(4.0)
    total = a + b
    with gc.Session() as sess:
        out = sess.run({"ab": (a, b), "total": total})
    assert out == {"ab": (3.0, 4.0), "total": 7.0} and isinstance(out["ab"], tuple)


def test_a_tensor_has_one_value_per_run(graph):
    # guide/low_level_intro, "Session": vec = tf.random_uniform(shape=(3,)); out1 = vec + 1; out2 = vec + 2
    vec = gc.random_uniform(shape=(3,))
    out1, out2 = vec + 1, vec + 2
    with gc.Session() as sess:
        first, second = sess.run(vec), sess.run(vec)
        o1, o2 = sess.run((out1, out2))
    assert not np.array_equal(first, second)
    np.testing.assert_allclose(o2 - o1, np.ones(3), rtol=1e-6)   # out1 and out2 saw one draw
    assert np.all((o1 >= 1) & (o1 < 2))


def test_feeding_placeholders(graph):
    # guide/low_level_intro, "Feeding": x = tf.placeholder(tf.float32); z = x + y;
    # sess.run(z, feed_dict={x: 3, y: 4.5}). graphcore needs the rank: shape=[None] takes both feeds below.
    x = gc.placeholder(gc.float32, shape=[None])
    y = gc.placeholder(gc.float32, shape=[None])
    z = x + y
    with gc.Session() as sess:
        np.testing.assert_array_equal(sess.run(z, feed_dict={x: [3], y: [4.5]}), [7.5])
        np.testing.assert_array_equal(sess.run(z, feed_dict={x: [1, 3], y: [2, 4]}), [3.0, 7.0])


def test_placeholder_without_a_rank_is_refused_with_the_difference(graph):
    # guide/low_level_intro, "Feeding": tf.placeholder(tf.float32) (any shape) — graphcore checks shapes when
    # building, so it asks for a rank instead of silently guessing one.
    with pytest.raises(gc.BuildError, match=r"needs a rank.*shape=\(\) for a scalar"):
        gc.placeholder(gc.float32)


def test_feed_dict_can_overwrite_any_tensor(graph):
    # guide/low_level_intro, "Feeding": "the feed_dict argument can be used to overwrite any tensor in the graph"
    a = gc.add(2.0, 5.0)
    b = gc.multiply(a, 3.0)
    with gc.Session() as sess:
        assert sess.run(b) == 21.0
        assert sess.run(b, feed_dict={a: 15.0}) == 45.0


def test_placeholder_with_a_list_shape(graph):
    # api_guides/python/io_ops, "Placeholders": x = tf.placeholder(tf.float32, shape=[None, 784])
    x = gc.placeholder(gc.float32, shape=[None, 784])
    assert x.shape == (None, 784)
    with gc.Session() as sess:
        assert sess.run(gc.reduce_sum(x, 1), {x: np.ones((3, 784))}).tolist() == [784.0] * 3


def test_running_an_operation_returns_none(graph):
    # guide/low_level_intro, "Session": "The result of calling run on an Operation is None"
    v = gc.Variable(0.0)
    init = gc.global_variables_initializer()
    step = gc.group(v.assign_add(1.0))
    with gc.Session() as sess:
        assert sess.run(init) is None
        assert sess.run(step) is None
        assert sess.run(v) == 1.0


# ----- "Graphs and Sessions" (guide/graphs) ----------------------------------------------------------------

def test_graph_as_default_and_session_graph():
    # guide/graphs, "Programming with multiple graphs": g_1 = tf.Graph(); with g_1.as_default(): ...
    # sess_1 = tf.Session(graph=g_1)
    g_1 = gc.Graph()
    with g_1.as_default():
        c = gc.constant(5.0)
        assert c.graph is g_1
    g_2 = gc.Graph()
    with g_2.as_default():
        d = gc.constant(6.0)
    assert gc.get_default_graph() not in (g_1, g_2)
    sess_2 = gc.Session(graph=g_2)
    assert sess_2.graph is g_2 and sess_2.run(d) == 6.0
    with pytest.raises(gc.FetchError, match="another graph"):
        sess_2.run(c)


def test_name_scopes_name_operations(graph):
    # guide/graphs, "Naming operations": with tf.name_scope("outer"): c_2 = tf.constant(2, name="c")
    c_0 = gc.constant(0, name="c")
    with gc.name_scope("outer"):
        c_1 = gc.constant(2, name="c")
        with gc.name_scope("inner"):
            c_2 = gc.constant(3, name="c")
        c_3 = gc.constant(4, name="c")
    with gc.name_scope("outer"):
        c_4 = gc.constant(5, name="c")
    assert [t.op.name for t in (c_0, c_1, c_2, c_3, c_4)] == ["c", "outer/c", "outer/inner/c", "outer/c_1",
                                                              "outer_1/c"]


def test_get_tensor_by_name_and_get_operation_by_name(graph):
    # api_docs tf.Graph.get_tensor_by_name / get_operation_by_name; saver.py's docstring runs
    # sess.run("v4:0", feed_dict={"v1:0": 12.0, "v2:0": 3.3})
    v1 = gc.placeholder(gc.float32, shape=(), name="v1")
    v2 = gc.placeholder(gc.float32, shape=(), name="v2")
    v3 = gc.multiply(v1, v2)
    vx = gc.Variable(10.0, name="vx")
    v4 = gc.add(v3, vx, name="v4")
    assert graph.get_tensor_by_name("v4:0") is v4
    assert graph.get_operation_by_name("v4") is v4.op
    assert v4.op in graph.get_operations()
    with gc.Session() as sess:
        np.testing.assert_allclose(sess.run("v4:0", feed_dict={"v1:0": 12.0, "v2:0": 3.3}), 12.0 * 3.3 + 10.0,
                                   rtol=1e-6)
    with pytest.raises(gc.FetchError, match="no operation named 'v5'"):
        graph.get_tensor_by_name("v5:0")


def test_interactive_session_eval_and_run():
    # guide/graphs, "Executing a graph in a tf.Session" / api_docs tf.InteractiveSession:
    # sess = tf.InteractiveSession(); print(c.eval()); ... sess.close()
    g = gc.Graph()
    with g.as_default():
        a = gc.constant(5.0)
        b = gc.constant(6.0)
        c = a * b
        v = gc.Variable(1.0)
        inc = v.assign_add(1.0)
    sess = gc.InteractiveSession(graph=g)
    try:
        assert c.eval() == 30.0
        inc.op.run()
        assert v.eval() == 2.0
        assert gc.get_default_session() is sess
    finally:
        sess.close()
    with pytest.raises(gc.GraphcoreError, match="no default session"):
        c.eval()


def test_with_session_makes_it_the_default(graph):
    # guide/variables, "Using variables": with tf.Session() as sess: ... assignment.eval()
    v = gc.Variable(0.0)
    assignment = v.assign_add(1.0)
    with gc.Session():
        gc.global_variables_initializer().run()
        assert assignment.eval() == 1.0
        assert assignment.eval() == 2.0


# ----- Variables (guide/variables) -------------------------------------------------------------------------

def test_global_variables_initializer_resets_variables(graph):
    # guide/variables, "Initializing variables": session.run(tf.global_variables_initializer())
    v = gc.Variable(np.zeros(3, np.float32), name="v")
    w = gc.Variable(gc.ones([2, 2]), name="w")
    bump = gc.group(v.assign_add(np.ones(3, np.float32)), w.assign(w * 3.0))
    init = gc.global_variables_initializer()
    with gc.Session() as sess:
        sess.run(init)
        sess.run(bump)
        np.testing.assert_array_equal(sess.run(v), [1, 1, 1])
        np.testing.assert_array_equal(sess.run(w), np.full((2, 2), 3.0))
        sess.run(init)
        np.testing.assert_array_equal(sess.run(v), [0, 0, 0])
        np.testing.assert_array_equal(sess.run(w), np.ones((2, 2)))


def test_variables_initializer_and_variable_initializer(graph):
    # guide/variables, "Initializing variables": session.run(my_variable.initializer);
    # tf.variables_initializer(var_list)
    a = gc.Variable(5.0, name="a")
    b = gc.Variable(7.0, name="b")
    with gc.Session() as sess:
        sess.run([a.assign(0.0), b.assign(0.0)])
        sess.run(a.initializer)
        assert sess.run([a, b]) == [5.0, 0.0]
        sess.run(gc.variables_initializer([b]))
        assert sess.run([a, b]) == [5.0, 7.0]


def test_trainable_and_global_variables(graph):
    # guide/variables, "Variable collections": tf.trainable_variables(), tf.global_variables()
    w = gc.Variable(np.zeros((2, 2), np.float32), name="w")
    step = gc.Variable(0, trainable=False, name="step")
    with gc.name_scope("layer"):
        b = gc.Variable(np.zeros(2, np.float32), name="b")
    assert gc.trainable_variables() == [w, b]
    assert gc.global_variables() == [w, step, b]
    assert gc.trainable_variables(scope="layer") == [b]
    assert gc.get_collection(gc.GraphKeys.TRAINABLE_VARIABLES) == [w, b]


def test_named_collections(graph):
    # guide/variables, "Variable collections": tf.add_to_collection("my_collection_name", my_local);
    # tf.get_collection("my_collection_name")
    l1, l2 = gc.constant(1.5), gc.constant(2.5)
    gc.add_to_collection("losses", l1)
    gc.add_to_collection("losses", l2)
    total = gc.add_n(gc.get_collection("losses"))
    with gc.Session() as sess:
        assert sess.run(total) == 4.0
    assert gc.get_collection("nothing_here") == []


def test_read_value_after_an_assignment_sees_the_new_value(graph):
    # guide/variables, "Using variables": with tf.control_dependencies([assignment]): w = v.read_value()
    # ("w is guaranteed to reflect v's value after the assign_add operation"); get_variable is spelled
    # gc.Variable here.
    v = gc.Variable(0.0, name="v")
    assignment = v.assign_add(1.0)
    with gc.control_dependencies([assignment]):
        w = v.read_value()
    with gc.Session() as sess:
        assert sess.run(w) == 1.0
        assert sess.run(w) == 2.0
        assert sess.run(v) == 2.0


def test_identity_under_control_dependencies_reads_after_the_assign(graph):
    # Regression (issue 20): api_docs tf.control_dependencies; the classic TF1 idiom
    # with tf.control_dependencies([x_plus_1]): y = tf.identity(x) — prints 1, 2, 3 (the read runs after).
    x = gc.Variable(0.0)
    x_plus_1 = gc.assign_add(x, 1.0)
    with gc.control_dependencies([x_plus_1]):
        y = gc.identity(x)
        doubled = x * 2.0            # any op made inside reads after the dependencies
    outside = gc.identity(x)         # outside: the value at the start of the run
    with gc.Session() as sess:
        assert [float(sess.run(y)) for _ in range(3)] == [1.0, 2.0, 3.0]
        assert sess.run(doubled) == 8.0
        assert sess.run([outside, y]) == [4.0, 5.0]   # y reads after the increment; outside at the start
        assert sess.run(outside) == 5.0


def test_assignments_chained_by_control_dependencies(graph):
    # api_docs tf.control_dependencies: ops created in the block run after the listed ones; a write made
    # inside updates the value the dependency left (TF1's in-place assignment)
    v = gc.Variable(1.0)
    doubled = v.assign(v * 2.0)
    with gc.control_dependencies([doubled]):
        plus_ten = v.assign_add(10.0)
    with gc.Session() as sess:
        assert sess.run(plus_ten) == 12.0
        assert sess.run(v) == 12.0


def test_control_dependencies_none_clears_them(graph):
    # api_docs tf.Graph.control_dependencies: "control_inputs ... Can also be None to clear the control
    # dependencies"
    v = gc.Variable(0.0)
    inc = v.assign_add(1.0)
    with gc.control_dependencies([inc]):
        with gc.control_dependencies(None):
            free = gc.identity(v)
        bound = gc.identity(v)
    assert free.op.control_inputs == () and inc.op in bound.op.control_inputs
    with gc.Session() as sess:
        assert sess.run(free) == 0.0
        assert sess.run(bound) == 1.0


def test_variable_load(graph):
    # api_docs tf.Variable.load: v.load([2, 3], sess)
    v = gc.Variable([1.0, 2.0])
    with gc.Session() as sess:
        v.load([2.0, 3.0], sess)
        np.testing.assert_array_equal(sess.run(v), [2.0, 3.0])
        with pytest.raises(gc.FeedError, match=r"cannot feed shape \(3,\)"):
            v.load([1.0, 2.0, 3.0], sess)


def test_get_variable_is_refused_with_the_reason():
    # guide/variables, "Creating a Variable": tf.get_variable("my_variable", [1, 2, 3]) — graphcore has no
    # variable store; the error names what to write instead
    with pytest.raises(gc.NotSupportedError, match=r"gc\.get_variable: graphcore has no variable store.*gc\.Variable"):
        gc.get_variable("my_variable", [1, 2, 3])
    with pytest.raises(AttributeError):   # still an AttributeError, so hasattr() works
        gc.variable_scope
    assert not hasattr(gc, "while_loop")


def test_tf1_names_spelled_otherwise_say_so():
    # api_docs tf.shape: tf.shape(x) is gc.shape_of(x)
    with pytest.raises(gc.NotSupportedError, match=r"TF1's tf\.shape is gc\.shape_of"):
        gc.shape


# ----- Constants, sequences and random values (api_guides/python/constant_op) ---------------------------------

def test_constant_with_shape_fills_reshapes_and_pads(graph):
    # api_docs tf.constant (r1.15): tf.constant(-1.0, shape=[2, 3]); "the last element in the list will be used
    # to fill the remaining entries"
    fill = gc.constant(-1.0, shape=[2, 3])
    reshaped = gc.constant([1, 2, 3, 4, 5, 6], shape=(2, 3))
    padded = gc.constant([1, 2, 3], shape=[2, 3])
    with gc.Session() as sess:
        np.testing.assert_array_equal(sess.run(fill), np.full((2, 3), -1.0))
        np.testing.assert_array_equal(sess.run(reshaped), [[1, 2, 3], [4, 5, 6]])
        np.testing.assert_array_equal(sess.run(padded), [[1, 2, 3], [3, 3, 3]])
    with pytest.raises(gc.BuildError, match="too many values for shape"):
        gc.constant([1, 2, 3, 4], shape=[3])
    with pytest.raises(gc.BuildError, match="verify_shape=True"):
        gc.constant([1, 2, 3], shape=[3, 1], verify_shape=True)


def test_zeros_ones_fill_and_likes(graph):
    # api_guides/python/constant_op, "Constant Value Tensors": tf.zeros([3, 4], tf.int32); tf.ones_like(t);
    # tf.fill([2, 3], 9)
    x = gc.placeholder(gc.float32, [None, 3])
    z = gc.zeros([3, 4], gc.int32)
    o = gc.ones_like(x)
    zl = gc.zeros_like(x, dtype=gc.int64)
    f = gc.fill([2, 3], 9)
    dynamic = gc.zeros(gc.shape_of(x))
    with gc.Session() as sess:
        vz, vo, vzl, vf, vd = sess.run([z, o, zl, f, dynamic], {x: np.full((2, 3), 5.0)})
    assert vz.dtype == np.int32 and vz.shape == (3, 4) and not vz.any()
    np.testing.assert_array_equal(vo, np.ones((2, 3)))
    assert vzl.dtype == np.int64 and vzl.shape == (2, 3)
    np.testing.assert_array_equal(vf, np.full((2, 3), 9))
    assert vd.shape == (2, 3) and not vd.any() and dynamic.shape == (None, 3)


def test_random_values_with_tf1_signatures(graph):
    # api_guides/python/constant_op, "Random Tensors": tf.random_normal([2, 3], mean=-1, stddev=4);
    # tf.truncated_normal(shape, stddev=0.1); tf.random_uniform([2, 3], minval=0, maxval=10);
    # tf.set_random_seed(1234)
    gc.set_random_seed(1234)
    norm = gc.random_normal([200, 300], mean=-1, stddev=4)
    trunc = gc.truncated_normal([200, 300], stddev=0.1)
    unif = gc.random_uniform([200, 300], minval=0, maxval=10)
    with gc.Session() as sess:
        n, t, u = sess.run([norm, trunc, unif])
    with gc.Session() as again:
        np.testing.assert_array_equal(again.run(norm), n)   # the graph seed replays the same numbers
    assert abs(n.mean() + 1) < 0.1 and abs(n.std() - 4) < 0.1
    assert np.abs(t).max() <= 0.2 and 0.07 < t.std() < 0.1   # truncated at 2σ: σ·0.88 ≈ 0.088
    assert u.min() >= 0 and u.max() < 10 and abs(u.mean() - 5) < 0.1


def test_random_shape_given_as_tf_shape(graph):
    # api_docs tf.random_normal: shape "A 1-D integer Tensor or Python array", e.g. tf.shape(x)
    x = gc.placeholder(gc.float32, [None, 4])
    noise = gc.random_normal(gc.shape_of(x), stddev=0.5)
    assert noise.shape == (None, 4)
    with gc.Session() as sess:
        assert sess.run(noise, {x: np.zeros((5, 4))}).shape == (5, 4)


# ----- Math and array idioms whose defaults are TF1's -----------------------------------------------------

def test_argmax_split_and_integer_mean_use_tf1_defaults(graph):
    # api_docs tf.argmax ("axis ... defaults to 0"), tf.split (axis=0), tf.reduce_mean (integer inputs give an
    # integer mean: "tf.reduce_mean(x) ... 1" for [[1, 1], [2, 2]] cast to int)
    m = gc.constant([[1.0, 9.0, 2.0], [7.0, 0.0, 3.0]])
    a, b = gc.split(gc.constant(np.arange(8).reshape(4, 2)), 2)
    with gc.Session() as sess:
        np.testing.assert_array_equal(sess.run(gc.argmax(m)), [1, 0, 1])
        np.testing.assert_array_equal(sess.run(gc.argmax(m, 1)), [1, 0])
        np.testing.assert_array_equal(sess.run(a), [[0, 1], [2, 3]])
        assert sess.run(gc.reduce_mean(gc.constant([[1, 1], [2, 2]]))) == 1
        assert sess.run(gc.reduce_mean(gc.constant([[1.0, 1.0], [2.0, 2.0]]))) == 1.5


# ----- Gradients (api_guides/python/train, "Gradient Computation") ----------------------------------------

def test_gradients_returns_a_list_even_for_one_x(graph):
    # Regression (issue 20): api_guides/python/train, "Gradient Computation": tf.gradients(ys, xs) "returns a
    # list of Tensor of length len(xs)"; tf.gradients(loss, x)[0] is the gradient, not its first row.
    x = gc.placeholder(gc.float32, [2, 3])
    loss = gc.reduce_sum(gc.square(x))
    grads = gc.gradients(loss, x)
    assert isinstance(grads, list) and len(grads) == 1
    value = np.arange(6, dtype=np.float32).reshape(2, 3)
    with gc.Session() as sess:
        np.testing.assert_array_equal(sess.run(gc.gradients(loss, x)[0], {x: value}), 2 * value)


def test_gradients_of_several_ys_with_grad_ys_and_stop_gradient(graph):
    # api_docs tf.gradients: "grad_ys is a list of tensors of the same length as ys"; tf.stop_gradient
    a = gc.constant(0.0)
    b = 2 * a
    g = gc.gradients(a + gc.stop_gradient(b), [a, b])
    with gc.Session() as sess:
        assert sess.run(g[0]) == 1.0   # the path through b is stopped
    x = gc.placeholder(gc.float32, ())
    (gx,) = gc.gradients([x * 3.0, x * x], [x], grad_ys=[gc.constant(2.0), gc.constant(1.0)])
    with gc.Session() as sess:
        assert sess.run(gx, {x: 4.0}) == 2.0 * 3.0 + 1.0 * 8.0


def test_hessians(graph):
    # api_guides/python/train, "Gradient Computation": tf.hessians(ys, xs) — a list of x.shape + x.shape blocks
    x = gc.placeholder(gc.float32, [2])
    y = gc.reduce_sum(x[0] ** 2 * x[1] + x[1] ** 3)
    (h,) = gc.hessians(y, x)
    with gc.Session() as sess:
        value = sess.run(h, {x: [1.0, 2.0]})
    # ∂²/∂x0² = 2·x1, ∂²/∂x0∂x1 = 2·x0, ∂²/∂x1² = 6·x1
    np.testing.assert_allclose(value, [[4.0, 2.0], [2.0, 12.0]])


# ----- Control flow (api_guides/python/control_flow_ops) --------------------------------------------------

def test_cond_picks_a_branch(graph):
    # api_docs tf.cond: z = tf.multiply(a, b); result = tf.cond(x < y, lambda: tf.add(x, z),
    # lambda: tf.square(y))
    x = gc.placeholder(gc.float32, ())
    y = gc.placeholder(gc.float32, ())
    z = gc.multiply(x, y)
    result = gc.cond(x < y, lambda: gc.add(x, z), lambda: gc.square(y))
    with gc.Session() as sess:
        assert sess.run(result, {x: 2.0, y: 5.0}) == 12.0
        assert sess.run(result, {x: 5.0, y: 2.0}) == 4.0


def test_cond_runs_only_the_taken_branch(graph):
    # api_docs tf.cond: "Note that the conditional execution applies only to the operations defined in true_fn
    # and false_fn": the untaken branch's ops do not run, so its NaNs never reach values or gradients
    x = gc.placeholder(gc.float32, ())
    safe = gc.cond(x > 0.0, lambda: gc.sqrt(x), lambda: gc.constant(0.0))
    (grad,) = gc.gradients(safe, [x])
    draws = gc.cond(x > 0.0, lambda: gc.random_uniform((2,), seed=1), lambda: gc.zeros([2]))
    with gc.Session() as sess:
        assert sess.run([safe, grad], {x: 0.0}) == [0.0, 0.0]                  # a where() would give NaN
        np.testing.assert_allclose(sess.run([safe, grad], {x: 4.0}), [2.0, 0.25])
        assert not sess.run(draws, {x: -1.0}).any()


def test_cond_with_several_outputs_and_a_python_bool(graph):
    # api_docs tf.cond: "true_fn and false_fn both return lists of output tensors ... must have the same
    # (possibly nested) structure"; a Python bool predicate is refused, as TF1 refuses it
    flag = gc.placeholder(gc.bool_, ())
    a, b = gc.cond(flag, lambda: (gc.constant(1.0), gc.constant([1, 2])), lambda: (gc.constant(2.0),
                                                                                  gc.constant([3, 4])))
    with gc.Session() as sess:
        assert sess.run([a, b], {flag: False})[0] == 2.0
        np.testing.assert_array_equal(sess.run(b, {flag: True}), [1, 2])
    with pytest.raises(gc.BuildError, match="not a Python bool"):
        gc.cond(True, lambda: a, lambda: a)
    with pytest.raises(gc.BuildError, match="different structures"):
        gc.cond(flag, lambda: [a, a], lambda: [a])
