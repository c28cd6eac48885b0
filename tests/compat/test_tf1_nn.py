"""TF1's ``tf.nn`` idioms as TF 1.x's guides write them (r1.15: api_guides/python/nn, the "Deep MNIST for
Experts" tutorial), with ``gc`` for ``tf``: NHWC images, HWIO filters, strides such as ``[1, 2, 2, 1]`` and
TensorFlow's "SAME" padding (the odd pixel at the end). PyTorch is the oracle: its NCHW functions with the
padding TF1 would add, applied explicitly (``F.pad``), give what TF1 computes.
"""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

import graphcore as gc

RNG = np.random.default_rng(20)


@pytest.fixture(autouse=True)
def fresh_graph():
    with gc.Graph().as_default():
        yield


def _nchw(x):
    return torch.tensor(np.ascontiguousarray(x.transpose(0, 3, 1, 2)), dtype=torch.float64)


def _nhwc(t):
    return t.detach().numpy().transpose(0, 2, 3, 1)


def _same_pads(size, k, s, d=1):
    """TF1's SAME padding along one axis: (before, after), the odd one at the end."""
    out = -(-size // s)
    total = max((out - 1) * s + d * (k - 1) + 1 - size, 0)
    return total // 2, total - total // 2


def _torch_pads(hw, kernel, strides, dilations=(1, 1)):
    (top, bottom), (left, right) = (_same_pads(n, k, s, d) for n, k, s, d in zip(hw, kernel, strides, dilations))
    return (left, right, top, bottom)


def _run(fetches, feeds=None):
    with gc.Session() as sess:
        return sess.run(fetches, feeds)


def _f64(*shape):
    return RNG.normal(size=shape)


# ----- Convolution (api_guides/python/nn, "Convolution") ----------------------------------------------------

@pytest.mark.parametrize("hw, strides", [((7, 7), (1, 1)), ((7, 8), (2, 2)), ((6, 9), (2, 3))])
def test_conv2d_same_with_strides_matches_torch(hw, strides):
    # api_guides/python/nn, "Convolution": tf.nn.conv2d(input, filter, strides=[1, 2, 2, 1], padding='SAME')
    # "output[i] = ceil(input[i] / strides[i])", the extra padding at the bottom and right
    x, w = _f64(2, *hw, 3), _f64(3, 3, 3, 4)
    y = gc.nn.conv2d(gc.constant(x), gc.constant(w), strides=[1, *strides, 1], padding="SAME")
    assert y.shape == (2, -(-hw[0] // strides[0]), -(-hw[1] // strides[1]), 4)
    expected = F.conv2d(F.pad(_nchw(x), _torch_pads(hw, (3, 3), strides)),
                        torch.tensor(w.transpose(3, 2, 0, 1)), stride=strides)
    np.testing.assert_allclose(_run(y), _nhwc(expected), rtol=1e-10)


def test_conv2d_valid_nchw_and_dilations_match_torch():
    # api_docs tf.nn.conv2d(..., padding='VALID', data_format='NCHW', dilations=[1, 1, 2, 2])
    x, w = _f64(1, 2, 9, 9), _f64(3, 3, 2, 5)
    y = gc.nn.conv2d(gc.constant(x), gc.constant(w), strides=[1, 1, 1, 1], padding="VALID", data_format="NCHW",
                     dilations=[1, 1, 2, 2])
    expected = F.conv2d(torch.tensor(x), torch.tensor(w.transpose(3, 2, 0, 1)), dilation=2)
    np.testing.assert_allclose(_run(y), expected.numpy(), rtol=1e-10)


def test_conv2d_gradients_match_torch():
    # api_guides/python/train, "Gradient Computation" through tf.nn.conv2d (SAME, stride 2): the gradient for
    # the NHWC input and the HWIO filter, back through the layout change at the boundary
    x, w = _f64(2, 6, 5, 2), _f64(3, 3, 2, 3)
    xt, wt = gc.constant(x), gc.Variable(w)
    loss = gc.reduce_sum(gc.square(gc.nn.conv2d(xt, wt, [1, 2, 2, 1], "SAME")))
    gx, gw = _run(gc.gradients(loss, [xt, wt]))
    tx, tw = _nchw(x).requires_grad_(), torch.tensor(w.transpose(3, 2, 0, 1), requires_grad=True)
    (F.conv2d(F.pad(tx, _torch_pads((6, 5), (3, 3), (2, 2))), tw, stride=2) ** 2).sum().backward()
    np.testing.assert_allclose(gx, _nhwc(tx.grad), rtol=1e-9)
    np.testing.assert_allclose(gw, tw.grad.numpy().transpose(2, 3, 1, 0), rtol=1e-9)


def test_depthwise_conv2d_matches_torch():
    # api_docs tf.nn.depthwise_conv2d(input, filter [kh, kw, in, multiplier], strides, padding): output channel
    # c·multiplier + m
    x, w = _f64(1, 5, 5, 3), _f64(3, 3, 3, 2)
    y = gc.nn.depthwise_conv2d(gc.constant(x), gc.constant(w), [1, 1, 1, 1], "SAME")
    kernel = torch.tensor(w.transpose(2, 3, 0, 1).reshape(6, 1, 3, 3))
    expected = F.conv2d(_nchw(x), kernel, padding=1, groups=3)
    np.testing.assert_allclose(_run(y), _nhwc(expected), rtol=1e-10)


def test_conv2d_transpose_is_the_gradient_of_conv2d():
    # api_docs tf.nn.conv2d_transpose(value, filter [h, w, out, in], output_shape, strides, padding='SAME'):
    # "This operation is sometimes called 'deconvolution' ... actually the transpose (gradient) of conv2d"
    v, w = _f64(2, 4, 4, 5), _f64(3, 3, 2, 5)
    y = gc.nn.conv2d_transpose(gc.constant(v), gc.constant(w), output_shape=[2, 7, 8, 2], strides=[1, 2, 2, 1],
                               padding="SAME")
    assert y.shape == (2, 7, 8, 2)
    tx = torch.zeros(2, 2, 7, 8, dtype=torch.float64, requires_grad=True)
    forward = F.conv2d(F.pad(tx, _torch_pads((7, 8), (3, 3), (2, 2))), torch.tensor(w.transpose(3, 2, 0, 1)),
                       stride=2)
    (forward * _nchw(v)).sum().backward()
    np.testing.assert_allclose(_run(y), _nhwc(tx.grad), rtol=1e-10)
    with pytest.raises(gc.BuildError, match="output_shape has 3 channels"):
        gc.nn.conv2d_transpose(gc.constant(v), gc.constant(w), [2, 7, 8, 3], [1, 2, 2, 1])


def test_strides_over_the_batch_or_channels_are_refused():
    # api_docs tf.nn.conv2d: "Must have strides[0] = strides[3] = 1"
    with pytest.raises(gc.BuildError, match="batch and channel dimensions"):
        gc.nn.conv2d(gc.constant(_f64(1, 4, 4, 1)), gc.constant(_f64(2, 2, 1, 1)), [2, 1, 1, 1], "VALID")


# ----- Pooling (api_guides/python/nn, "Pooling") ----------------------------------------------------------

def test_max_pool_worked_example():
    # The notes' max pooling 2×2 stride 2 (DESIGN §4) with tf.nn.max_pool(value, ksize=[1, 2, 2, 1],
    # strides=[1, 2, 2, 1], padding='VALID')
    image = np.array([[1, 1, 2, 4], [5, 6, 7, 8], [3, 2, 1, 0], [1, 2, 3, 4]], np.float32).reshape(1, 4, 4, 1)
    pooled = gc.nn.max_pool(gc.constant(image), ksize=[1, 2, 2, 1], strides=[1, 2, 2, 1], padding="VALID")
    np.testing.assert_array_equal(_run(pooled)[0, :, :, 0], [[6, 8], [3, 4]])


def test_max_pool_same_matches_torch():
    # api_docs tf.nn.max_pool(..., padding='SAME'): padded cells never win (TF pads with −inf)
    x = _f64(2, 7, 6, 3) - 5.0   # all negative: a zero pad would win
    y = gc.nn.max_pool(gc.constant(x), [1, 3, 3, 1], [1, 2, 2, 1], "SAME")
    expected = F.max_pool2d(F.pad(_nchw(x), _torch_pads((7, 6), (3, 3), (2, 2)), value=-np.inf), 3, 2)
    np.testing.assert_allclose(_run(y), _nhwc(expected), rtol=1e-12)


def test_avg_pool_same_divides_by_the_cells_inside():
    # api_docs tf.nn.avg_pool(..., padding='SAME'): "each entry ... is the mean of the corresponding size ksize
    # window", the window clipped to the image
    x = _f64(1, 5, 5, 2)
    y = gc.nn.avg_pool(gc.constant(x), ksize=[1, 2, 2, 1], strides=[1, 2, 2, 1], padding="SAME")
    pads = _torch_pads((5, 5), (2, 2), (2, 2))
    sums = F.avg_pool2d(F.pad(_nchw(x), pads), 2, 2) * 4
    counts = F.avg_pool2d(F.pad(torch.ones(1, 1, 5, 5, dtype=torch.float64), pads), 2, 2) * 4
    np.testing.assert_allclose(_run(y), _nhwc(sums / counts), rtol=1e-12)


# ----- Activations and normalisation (api_guides/python/nn, "Activation Functions", "Normalization") -------

@pytest.mark.parametrize("name, oracle", [
    ("relu", F.relu), ("relu6", F.relu6), ("leaky_relu", lambda t: F.leaky_relu(t, 0.2)), ("elu", F.elu),
    ("selu", F.selu), ("softsign", F.softsign), ("sigmoid", torch.sigmoid), ("tanh", torch.tanh),
    ("softplus", F.softplus)])
def test_activation_functions_match_torch(name, oracle):
    # api_guides/python/nn, "Activation Functions": tf.nn.relu, relu6, leaky_relu (alpha=0.2), elu, selu,
    # softsign, sigmoid, tanh, softplus
    x = np.linspace(-8.0, 8.0, 33)
    np.testing.assert_allclose(_run(getattr(gc.nn, name)(gc.constant(x))), oracle(torch.tensor(x)).numpy(),
                               rtol=1e-7, atol=1e-12)


def test_softmax_and_log_softmax_axes():
    # api_docs tf.nn.softmax(logits, axis=None) — the last axis by default; dim= is its old name
    x = _f64(2, 3, 4)
    t = torch.tensor(x)
    np.testing.assert_allclose(_run(gc.nn.softmax(gc.constant(x))), F.softmax(t, -1).numpy(), rtol=1e-12)
    np.testing.assert_allclose(_run(gc.nn.log_softmax(gc.constant(x), axis=1)), F.log_softmax(t, 1).numpy(),
                               rtol=1e-12)
    np.testing.assert_allclose(_run(gc.nn.softmax(gc.constant(x), dim=0)), F.softmax(t, 0).numpy(), rtol=1e-12)


def test_moments_and_batch_normalization():
    # api_docs tf.nn.moments(x, axes=[0, 1, 2]) (batch statistics of NHWC images) and
    # tf.nn.batch_normalization(x, mean, variance, offset, scale, variance_epsilon)
    x = _f64(4, 3, 3, 2)
    offset, scale = np.array([0.5, -1.0]), np.array([2.0, 0.5])
    mean, variance = gc.nn.moments(gc.constant(x), axes=[0, 1, 2])
    y = gc.nn.batch_normalization(gc.constant(x), mean, variance, offset, scale, 1e-3)
    m, v, out = _run([mean, variance, y])
    np.testing.assert_allclose(m, x.mean((0, 1, 2)), rtol=1e-12)
    np.testing.assert_allclose(v, x.var((0, 1, 2)), rtol=1e-12)
    expected = F.batch_norm(_nchw(x), torch.tensor(m), torch.tensor(v), torch.tensor(scale), torch.tensor(offset),
                            eps=1e-3)
    np.testing.assert_allclose(out, _nhwc(expected), rtol=1e-10)
    kept, _ = gc.nn.moments(gc.constant(x), [1, 2], keep_dims=True)
    assert kept.shape == (4, 1, 1, 2)


def test_l2_loss_and_l2_normalize():
    # api_docs tf.nn.l2_loss(t) = sum(t ** 2) / 2; tf.nn.l2_normalize(x, axis) = x / sqrt(max(sum(x**2), eps))
    x = _f64(3, 4)
    assert _run(gc.nn.l2_loss(gc.constant(x))) == pytest.approx((x ** 2).sum() / 2)
    np.testing.assert_allclose(_run(gc.nn.l2_normalize(gc.constant(x), axis=1)),
                               F.normalize(torch.tensor(x), dim=1).numpy(), rtol=1e-12)


def test_bias_add_nhwc_and_nchw():
    # api_docs tf.nn.bias_add(value, bias, data_format=None): bias on the last axis, or on C for 'NCHW'
    x, b = _f64(2, 3, 3, 4), np.arange(4.0)
    np.testing.assert_allclose(_run(gc.nn.bias_add(gc.constant(x), gc.constant(b))), x + b)
    xc = _f64(2, 4, 3, 3)
    np.testing.assert_allclose(_run(gc.nn.bias_add(gc.constant(xc), gc.constant(b), data_format="NCHW")),
                               xc + b.reshape(4, 1, 1))
    with pytest.raises(gc.BuildError, match="match the channel axis"):
        gc.nn.bias_add(gc.constant(x), gc.constant(np.arange(3.0)))
    np.testing.assert_allclose(_run(gc.nn.xw_plus_b(gc.constant(x[0, 0]), gc.constant(np.eye(4)), gc.constant(b))),
                               x[0, 0] + b)


# ----- Dropout and embeddings ---------------------------------------------------------------------------

def test_dropout_with_a_fed_keep_prob():
    # "Deep MNIST for Experts", "Dropout": keep_prob = tf.placeholder(tf.float32);
    # h_fc1_drop = tf.nn.dropout(h_fc1, keep_prob) — fed 0.5 to train, 1.0 to evaluate
    h = gc.constant(np.ones((200, 100), np.float32))
    keep_prob = gc.placeholder(gc.float32, ())
    dropped = gc.nn.dropout(h, keep_prob)
    with gc.Session() as sess:
        np.testing.assert_array_equal(sess.run(dropped, {keep_prob: 1.0}), np.ones((200, 100)))
        half = sess.run(dropped, {keep_prob: 0.5})
    assert set(np.unique(half)) == {0.0, 2.0} and abs((half == 0).mean() - 0.5) < 0.02
    by_rate = _run(gc.nn.dropout(h, rate=0.25))
    assert set(np.unique(by_rate)) == {0.0, np.float32(1 / 0.75)}
    columns = _run(gc.nn.dropout(h, 0.5, noise_shape=[1, 100]))   # one mask per column, shared by every row
    assert (columns == columns[0]).all()
    with pytest.raises(gc.BuildError, match="keep_prob must be in"):
        gc.nn.dropout(h, 1.5)


def test_embedding_lookup_and_its_range():
    # api_docs tf.nn.embedding_lookup(params, ids): rows of params; TF1's CPU kernel refuses an id outside
    # [0, rows) — so does graphcore, naming the id and its position
    params = gc.constant(np.arange(12.0).reshape(4, 3))
    ids = gc.placeholder(gc.int64, [None])
    rows = gc.nn.embedding_lookup(params, ids)
    with gc.Session() as sess:
        np.testing.assert_array_equal(sess.run(rows, {ids: [3, 0]}), [[9, 10, 11], [0, 1, 2]])
        with pytest.raises(gc.InvalidValueError, match=r"id value of -1 at index \(1,\).*\[0, 4\)"):
            sess.run(rows, {ids: [2, -1]})


# ----- Losses (api_guides/python/nn, "Classification") -----------------------------------------------------

def test_softmax_cross_entropy_v1_stops_the_label_gradient_and_v2_does_not():
    # api_docs tf.nn.softmax_cross_entropy_with_logits (TF1: "backpropagation will happen only into logits")
    # and ..._v2 ("backpropagation will happen into both logits and labels")
    logits, labels = _f64(4, 5), F.softmax(torch.tensor(_f64(4, 5)), -1).numpy()
    lo, la = gc.constant(logits), gc.constant(labels)
    v1 = gc.nn.softmax_cross_entropy_with_logits(labels=la, logits=lo)
    v2 = gc.nn.softmax_cross_entropy_with_logits_v2(labels=la, logits=lo)
    expected = F.cross_entropy(torch.tensor(logits), torch.tensor(labels), reduction="none").numpy()
    values = _run([v1, v2])
    np.testing.assert_allclose(values[0], expected, rtol=1e-12)
    np.testing.assert_allclose(values[1], expected, rtol=1e-12)
    g1 = gc.gradients(gc.reduce_sum(v1), [la, lo])
    g2 = gc.gradients(gc.reduce_sum(v2), [la])[0]
    assert g1[0] is None
    np.testing.assert_allclose(_run(g2), -F.log_softmax(torch.tensor(logits), -1).numpy(), rtol=1e-12)
    with pytest.raises(gc.BuildError, match="by name"):
        gc.nn.softmax_cross_entropy_with_logits(la, lo)
    with pytest.raises(gc.BuildError, match="same shape"):
        gc.nn.softmax_cross_entropy_with_logits(labels=la[:, :3], logits=lo)


def test_sparse_softmax_cross_entropy_matches_torch_and_refuses_bad_labels():
    # api_docs tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits): labels of shape [batch] in
    # [0, num_classes); TF1 CPU: "Received a label value of 7 which is outside the valid range of [0, 5)"
    logits, labels = _f64(6, 5), np.array([0, 4, 2, 1, 3, 3])
    lab = gc.placeholder(gc.int64, [None])
    loss = gc.nn.sparse_softmax_cross_entropy_with_logits(labels=lab, logits=gc.constant(logits))
    with gc.Session() as sess:
        np.testing.assert_allclose(sess.run(loss, {lab: labels}),
                                   F.cross_entropy(torch.tensor(logits), torch.tensor(labels), reduction="none"),
                                   rtol=1e-12)
        with pytest.raises(gc.InvalidValueError, match=r"label value of 7 at index \(2,\), outside the valid range "
                                                       r"of \[0, 5\)"):
            sess.run(loss, {lab: [0, 1, 7, 1, 1, 1]})
    with pytest.raises(gc.BuildError, match=r"labels of shape \(6, 1\) do not fit logits"):
        gc.nn.sparse_softmax_cross_entropy_with_logits(labels=gc.constant(labels.reshape(6, 1)),
                                                       logits=gc.constant(logits))


def test_sigmoid_cross_entropy_matches_torch():
    # api_docs tf.nn.sigmoid_cross_entropy_with_logits(labels=z, logits=x):
    # max(x, 0) - x * z + log(1 + exp(-abs(x)))
    x, z = np.linspace(-30, 30, 13), RNG.uniform(size=13)
    loss = gc.nn.sigmoid_cross_entropy_with_logits(labels=gc.constant(z), logits=gc.constant(x))
    expected = F.binary_cross_entropy_with_logits(torch.tensor(x), torch.tensor(z), reduction="none")
    np.testing.assert_allclose(_run(loss), expected.numpy(), rtol=1e-12)


# ----- "Deep MNIST for Experts" (the TF1 CNN tutorial), end to end ------------------------------------------

def test_deep_mnist_for_experts_cnn():
    # tutorials "Deep MNIST for Experts": weight_variable = tf.Variable(tf.truncated_normal(shape, stddev=0.1));
    # bias_variable = tf.Variable(tf.constant(0.1, shape=shape)); conv2d = tf.nn.conv2d(x, W,
    # strides=[1, 1, 1, 1], padding='SAME'); max_pool_2x2 = tf.nn.max_pool(x, ksize=[1, 2, 2, 1],
    # strides=[1, 2, 2, 1], padding='SAME'); dropout with keep_prob; tf.train.AdamOptimizer(1e-4);
    # accuracy = tf.reduce_mean(tf.cast(correct_prediction, tf.float32)); train_step.run(feed_dict=...)
    # (filter counts 4 and 8 instead of 32 and 64 and a learning rate of 1e-2, to fit ten images quickly)
    gc.set_random_seed(0)

    def weight_variable(shape):
        return gc.Variable(gc.truncated_normal(shape, stddev=0.1))

    def bias_variable(shape):
        return gc.Variable(gc.constant(0.1, shape=shape))

    def conv2d(x, W):
        return gc.nn.conv2d(x, W, strides=[1, 1, 1, 1], padding="SAME")

    def max_pool_2x2(x):
        return gc.nn.max_pool(x, ksize=[1, 2, 2, 1], strides=[1, 2, 2, 1], padding="SAME")

    x = gc.placeholder(gc.float32, shape=[None, 784])
    y_ = gc.placeholder(gc.float32, shape=[None, 10])
    x_image = gc.reshape(x, [-1, 28, 28, 1])
    h_pool1 = max_pool_2x2(gc.nn.relu(conv2d(x_image, weight_variable([5, 5, 1, 4])) + bias_variable([4])))
    h_pool2 = max_pool_2x2(gc.nn.relu(conv2d(h_pool1, weight_variable([5, 5, 4, 8])) + bias_variable([8])))
    assert h_pool1.shape == (None, 14, 14, 4) and h_pool2.shape == (None, 7, 7, 8)
    h_fc1 = gc.nn.relu(gc.matmul(gc.reshape(h_pool2, [-1, 7 * 7 * 8]), weight_variable([392, 32]))
                       + bias_variable([32]))
    keep_prob = gc.placeholder(gc.float32, ())   # TF1: tf.placeholder(tf.float32) — graphcore needs the rank
    y_conv = gc.matmul(gc.nn.dropout(h_fc1, keep_prob), weight_variable([32, 10])) + bias_variable([10])
    cross_entropy = gc.reduce_mean(gc.nn.softmax_cross_entropy_with_logits(labels=y_, logits=y_conv))
    train_step = gc.train.AdamOptimizer(1e-2).minimize(cross_entropy)
    correct_prediction = gc.equal(gc.argmax(y_conv, 1), gc.argmax(y_, 1))
    accuracy = gc.reduce_mean(gc.cast(correct_prediction, gc.float32))
    images = np.random.default_rng(1).uniform(size=(10, 784)).astype(np.float32)
    labels = np.eye(10, dtype=np.float32)
    with gc.Session() as sess:
        sess.run(gc.global_variables_initializer())
        before = cross_entropy.eval(feed_dict={x: images, y_: labels, keep_prob: 1.0})
        for _ in range(15):
            train_step.run(feed_dict={x: images, y_: labels, keep_prob: 1.0})
        after = cross_entropy.eval(feed_dict={x: images, y_: labels, keep_prob: 1.0})
        fitted = accuracy.eval(feed_dict={x: images, y_: labels, keep_prob: 1.0})
    assert after < 0.5 * before and fitted >= 0.9


def test_named_results_are_found_by_name():
    # guide/graphs, "Naming operations": every function takes name=; the tensor named "conv1:0" is the NHWC
    # result the user sees (not an internal NCHW one), and a composed loss carries its name too
    x = gc.placeholder(gc.float32, [None, 6, 6, 1], name="images")
    h = gc.nn.conv2d(x, gc.Variable(gc.ones([3, 3, 1, 2])), [1, 1, 1, 1], "SAME", name="conv1")
    pooled = gc.nn.max_pool(h, [1, 2, 2, 1], [1, 2, 2, 1], "VALID", name="pool1")
    loss = gc.nn.l2_loss(pooled, name="penalty")
    graph = gc.get_default_graph()
    assert graph.get_tensor_by_name("conv1:0") is h and h.shape == (None, 6, 6, 2)
    assert graph.get_tensor_by_name("pool1:0").shape == (None, 3, 3, 2)
    value = _run("penalty:0", {"images:0": np.ones((1, 6, 6, 1))})
    assert value == pytest.approx(0.5 * 9 * 2 * 81)   # every 2×2 window of the 3×3 sums holds a 9
