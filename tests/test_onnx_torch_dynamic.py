"""Today's models as PyTorch exports them with dynamic axes (``torch.onnx.export(..., dynamo=False,
dynamic_axes=...)``, and torch's current exporter, ``dynamo=True`` with ``dynamic_shapes``): a TransformerEncoderLayer, a GPT-style block (causal mask sliced to the sequence length,
GELU), Embedding + LSTM and a CNN with batch normalisation. Each file is imported once and then, at two batch
sizes and two lengths (image sizes for the CNN), matches torch's outputs (1e-5) and the gradients of a loss
with respect to every imported weight (1e-4, torch's gradients read in the file's layouts); five SGD steps
fine-tune graphcore and torch alike, and the tuned graph exports again with its axes still symbolic and
runs in onnxruntime at both sizes.

torch's TorchScript exporter bakes nn.MultiheadAttention's sequence length into a Reshape target (onnxruntime
fails that file at another length just as graphcore does), so the TransformerEncoderLayer is exported with
torch's dynamo exporter (it needs onnxscript, in the test extra), whose file keeps batch and length symbolic;
the other three are exported both ways."""
import io
import math
import warnings

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

import graphcore as gc
from graphcore import export

SIZES = [(2, 5), (3, 7)]   # (batch, length)
LR = 0.002


class GPTBlock(torch.nn.Module):
    """Pre-norm attention with a causal mask buffer sliced to the run's length, then a GELU MLP."""

    def __init__(self, width=16, heads=2, max_len=16):
        super().__init__()
        self.ln1, self.ln2 = torch.nn.LayerNorm(width), torch.nn.LayerNorm(width)
        self.qkv, self.proj = torch.nn.Linear(width, 3 * width), torch.nn.Linear(width, width)
        self.fc, self.out = torch.nn.Linear(width, 2 * width), torch.nn.Linear(2 * width, width)
        self.heads = heads
        self.register_buffer("mask", torch.tril(torch.ones(max_len, max_len)).view(1, 1, max_len, max_len))

    def forward(self, x):
        b, t, c = x.size()
        q, k, v = (z.view(b, t, self.heads, c // self.heads).transpose(1, 2)
                   for z in self.qkv(self.ln1(x)).split(c, dim=2))
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(k.size(-1)))
        att = torch.softmax(att.masked_fill(self.mask[:, :, :t, :t] == 0, float("-inf")), dim=-1)
        x = x + self.proj((att @ v).transpose(1, 2).contiguous().view(b, t, c))
        return x + self.out(torch.nn.functional.gelu(self.fc(self.ln2(x))))


class EncoderLayer(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.layer = torch.nn.TransformerEncoderLayer(16, 2, 32, dropout=0.0, batch_first=True)

    def forward(self, x):
        return self.layer(x, src_mask=None, is_causal=False)   # explicit: the tracer cannot take a default bool


class EmbeddingLSTM(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.embedding, self.lstm = torch.nn.Embedding(20, 8), torch.nn.LSTM(8, 12, batch_first=True)
        self.head = torch.nn.Linear(12, 3)

    def forward(self, tokens):
        return self.head(self.lstm(self.embedding(tokens))[0])


class BatchNormCNN(torch.nn.Module):
    """Batch norm after the ReLU, so torch's exporter cannot fold it into the convolution."""

    def __init__(self):
        super().__init__()
        self.net = torch.nn.Sequential(torch.nn.Conv2d(3, 6, 3, padding=1), torch.nn.ReLU(), torch.nn.BatchNorm2d(6),
                                       torch.nn.Conv2d(6, 6, 3, stride=2, padding=1), torch.nn.ReLU(),
                                       torch.nn.BatchNorm2d(6), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(),
                                       torch.nn.Linear(6, 4))

    def forward(self, x):
        return self.net(x)


def _inputs(kind, batch, length, seed):
    g = torch.Generator().manual_seed(seed)
    if kind == "lstm":
        return torch.randint(0, 20, (batch, length), generator=g)
    if kind == "cnn":
        return torch.randn(batch, 3, length + 1, length, generator=g)
    return torch.randn(batch, length, 16, generator=g)


def _module(kind):
    torch.manual_seed(0)
    module = {"encoder": EncoderLayer, "gpt": GPTBlock, "lstm": EmbeddingLSTM, "cnn": BatchNormCNN}[kind]()
    with torch.no_grad():   # distinct values everywhere: no two initializers equal (torch's exporter merges those)
        for p in module.parameters():
            p.add_(torch.randn_like(p) * 0.1)
        for m in module.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
    return module.eval()


def _export(module, kind, length, dynamo=False):
    if dynamo:
        return _export_dynamo(module, kind, length)
    axes = {0: "batch", 2: "height", 3: "width"} if kind == "cnn" else {0: "batch", 1: "length"}
    out_axes = {0: "batch"} if kind == "cnn" else axes
    f = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, (_inputs(kind, 2, length, 0),), f, dynamo=False, input_names=["x"],
                          output_names=["y"], dynamic_axes={"x": axes, "y": out_axes},
                          training=torch.onnx.TrainingMode.PRESERVE)
    return onnx.load_from_string(f.getvalue())


def _export_dynamo(module, kind, length):
    """The file torch's current exporter writes, with the batch and the length (image sizes) symbolic."""
    names = ("batch", "height", "width") if kind == "cnn" else ("batch", "length")
    dims = [torch.export.Dim(name, min=1 if name == "batch" else 2, max=256) for name in names]
    axes = dict(zip((0, 2, 3) if kind == "cnn" else (0, 1), dims))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        program = torch.onnx.export(module, (_inputs(kind, 2, length, 0),), dynamo=True, input_names=["x"],
                                    output_names=["y"], dynamic_shapes=(axes,), verbose=False)
    return program.model_proto


def _torch_layouts(module):
    """(value, gradient) pairs in every layout torch's exporter writes a parameter in: as is, transposed
    (MatMul weights), and an LSTM's gate blocks reordered from torch's i, f, g, o to ONNX's i, o, f, c with
    the two biases concatenated."""
    pairs = []
    for p in module.parameters():
        pairs.append((p.detach().numpy(), p.grad.numpy()))
        if p.ndim == 2:
            pairs.append((p.detach().numpy().T, p.grad.numpy().T))
    for lstm in (m for m in module.modules() if isinstance(m, torch.nn.LSTM)):
        def onnx_gates(t):
            return torch.cat([t.chunk(4)[i] for i in (0, 3, 1, 2)])[None]
        for kind in ("weight_ih_l0", "weight_hh_l0"):
            p = getattr(lstm, kind)
            pairs.append((onnx_gates(p.detach()).numpy(), onnx_gates(p.grad).numpy()))
        b_ih, b_hh = lstm.bias_ih_l0, lstm.bias_hh_l0
        pairs.append((torch.cat([onnx_gates(b_ih.detach()), onnx_gates(b_hh.detach())], 1).numpy(),
                      torch.cat([onnx_gates(b_ih.grad), onnx_gates(b_hh.grad)], 1).numpy()))
    return pairs


def _parameter_initializers(proto, module):
    """The file's initializers that hold one of the module's parameters, as is or transposed."""
    values = [p.detach().numpy() for p in module.parameters()]
    values += [v.T for v in values if v.ndim == 2]
    return [t.name for t in proto.graph.initializer
            if any(v.shape == a.shape and np.array_equal(v, a) for a in [onnx.numpy_helper.to_array(t)]
                   for v in values)]


def _torch_gradient(pairs, value, name):
    for candidate, grad in pairs:
        if candidate.shape == value.shape and np.array_equal(candidate, value):
            return grad
    raise AssertionError(f"no torch parameter has the value of the imported weight {name}")


class Imported:
    """An imported file with its loss ``Σ y·r`` (r fed), the loss's gradients and one SGD step."""

    def __init__(self, proto, parameters=None):
        self.model = export.from_onnx(proto, trainable=parameters)
        trainable = {n: v for n, v in self.model.variables.items() if v.trainable}
        with self.model.graph.as_default():
            y = self.model.outputs["y"]
            self.weights = gc.placeholder(gc.float32, (None,) * y.ndim, name="weights")
            self.loss = gc.reduce_sum(y * self.weights)
            grads = gc.gradients(self.loss, list(trainable.values()))
            # A float buffer (the GPT block's mask) is an initializer like a weight, but no gradient reaches it.
            self.trainable = {n: v for (n, v), g in zip(trainable.items(), grads) if g is not None}
            self.grads = [g for g in grads if g is not None]
            self.step = gc.train.SGD(LR).minimize(self.loss, var_list=list(self.trainable.values()))

    def feeds(self, x, weights):
        return {self.model.inputs["x"]: x.numpy(), self.weights: weights}


def _weights(shape, seed):
    return np.random.default_rng(seed).normal(size=shape).astype(np.float32)


def _check_outputs_and_gradients(module, imported, kind, batch, length, seed):
    x = _inputs(kind, batch, length, seed)
    module.zero_grad()
    want = module(x)
    weights = _weights(tuple(want.shape), seed)
    (want * torch.from_numpy(weights)).sum().backward()
    feeds = imported.feeds(x, weights)
    got, *grads = imported.model.session.run([imported.model.outputs["y"]] + imported.grads, feeds)
    np.testing.assert_allclose(got, want.detach().numpy(), rtol=1e-5, atol=1e-5, err_msg=f"{kind} {batch}×{length}")
    pairs = _torch_layouts(module)
    values = imported.model.session.run(list(imported.trainable.values()))
    for (name, _), value, grad in zip(imported.trainable.items(), values, grads):
        np.testing.assert_allclose(grad, _torch_gradient(pairs, value, name), rtol=1e-4, atol=1e-4,
                                   err_msg=f"{kind} {batch}×{length}: d loss / d {name}")


def _fine_tune_and_reexport(module, imported, kind, sizes, tmp_path):
    probe = _inputs(kind, *sizes[-1], 200)
    before = imported.model.run({"x": probe.numpy()})["y"]
    optimizer = torch.optim.SGD(module.parameters(), lr=LR)
    for step in range(5):
        batch, length = sizes[step % len(sizes)]
        x = _inputs(kind, batch, length, 100 + step)
        optimizer.zero_grad()
        y = module(x)
        weights = _weights(tuple(y.shape), 100 + step)
        (y * torch.from_numpy(weights)).sum().backward()
        optimizer.step()
        imported.model.session.run(imported.step, imported.feeds(x, weights))
    moved = np.abs(imported.model.run({"x": probe.numpy()})["y"] - before).max()
    assert moved > 1e-3, f"{kind}: five steps moved the outputs by {moved} only"
    path = tmp_path / f"{kind}-tuned.onnx"
    proto = export.to_onnx(imported.model, path)
    dims = [d.dim_param or d.dim_value for d in proto.graph.input[0].type.tensor_type.shape.dim]
    assert dims[0] == "batch" and sum(isinstance(d, str) for d in dims) == (3 if kind == "cnn" else 2), dims
    runtime = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for batch, length in sizes:
        x = _inputs(kind, batch, length, 200)
        tuned = imported.model.run({"x": x.numpy()})["y"]
        np.testing.assert_allclose(tuned, module(x).detach().numpy(), rtol=1e-4, atol=1e-4,
                                   err_msg=f"{kind}: fine-tuned alike")
        np.testing.assert_allclose(runtime.run(None, {"x": x.numpy()})[0], tuned, rtol=1e-5, atol=1e-5,
                                   err_msg=f"{kind}: re-exported file at {batch}×{length}")


@pytest.mark.parametrize("kind, dynamo", [("gpt", False), ("lstm", False), ("cnn", False), ("encoder", True),
                                          ("gpt", True), ("cnn", True)])
def test_dynamic_axes_import_runs_differentiates_fine_tunes_and_exports_again(kind, dynamo, tmp_path):
    module = _module(kind)
    proto = _export(module, kind, SIZES[0][1], dynamo)
    # torch's dynamo exporter stores folded constants (attention's scale) as initializers: name the parameters.
    imported = Imported(proto, _parameter_initializers(proto, module) if dynamo else None)
    for i, (batch, length) in enumerate(SIZES):
        _check_outputs_and_gradients(module, imported, kind, batch, length, seed=i)
    _fine_tune_and_reexport(module, imported, kind, SIZES, tmp_path)


class Idiom(torch.nn.Module):
    """Shape idioms of today's code, each on a (batch, length, 8) input whose length is symbolic."""

    def __init__(self, kind):
        super().__init__()
        self.kind, self.positions = kind, torch.nn.Embedding(16, 8)

    def forward(self, x):
        b, t, c = x.shape
        if self.kind == "arange":      # learned positions: Range up to the run's length
            return x + self.positions(torch.arange(t))[None]
        if self.kind == "triu":        # a causal mask built for the run's length (Trilu of a run-time size)
            mask = torch.triu(torch.ones(t, t), diagonal=1).bool()
            return (x @ x.transpose(1, 2)).masked_fill(mask, float("-inf")).softmax(-1) @ x
        if self.kind == "expand":      # a class token expanded to the batch, then repeat
            return torch.cat([torch.zeros(1, 1, c).expand(b, 1, c), x], 1).repeat(1, 2, 1)
        if self.kind == "pad":         # padding to a multiple of 8 (Pad amounts computed from the length)
            return torch.nn.functional.pad(x, (0, 0, 0, 8 - t % 8), value=-1.0)
        return torch.nn.functional.interpolate(x.transpose(1, 2), scale_factor=2.0, mode="linear").transpose(1, 2)


@pytest.mark.parametrize("kind", ["arange", "triu", "expand", "pad", "interpolate"])
def test_shape_idioms_run_and_differentiate_at_any_length(kind):
    module = Idiom(kind).eval()
    f = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, (torch.randn(2, 5, 8),), f, dynamo=False, input_names=["x"], output_names=["y"],
                          dynamic_axes={"x": {0: "batch", 1: "length"}, "y": {0: "batch", 1: "length"}})
    imported = export.from_onnx(onnx.load_from_string(f.getvalue()))
    with imported.graph.as_default():
        weights = gc.placeholder(gc.float32, (None, None, 8))
        (grad,) = gc.gradients(gc.reduce_sum(imported.outputs["y"] * weights), [imported.inputs["x"]])
    for batch, length in SIZES:
        x = torch.randn(batch, length, 8, requires_grad=True)
        want = module(x)
        r = _weights(tuple(want.shape), length)
        (want * torch.from_numpy(r)).sum().backward()
        got, g = imported.session.run([imported.outputs["y"], grad], {imported.inputs["x"]: x.detach().numpy(),
                                                                       weights: r})
        np.testing.assert_allclose(got, want.detach().numpy(), rtol=1e-5, atol=1e-5, err_msg=f"{kind} {length}")
        np.testing.assert_allclose(g, x.grad.numpy(), rtol=1e-4, atol=1e-5, err_msg=f"{kind} {length}")
