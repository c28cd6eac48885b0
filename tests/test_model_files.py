"""Model files as a user meets them: the suffix ``Model.save`` writes (Keras 3 refuses suffixes it does not
write; so does graphcore), what ``load_model`` says of files that are not model files, and the mode of
every file written atomically (the umask's, as for any new file, not ``mkstemp``'s 0600)."""
import os
import stat

import numpy as np
import pytest

import graphcore as gc
from graphcore import export, models


def _model():
    return models.mlp(input_shape=(4,), hidden=(3,), num_classes=2)


@pytest.mark.parametrize("name", ["cnn.h5", "cnn.keras", "cnn.hdf5", "cnn", "cnn.npz.tmp"])
def test_save_refuses_a_name_that_is_not_npz(tmp_path, name):
    path = tmp_path / name
    with pytest.raises(gc.FileFormatError) as refused:
        _model().save(path)
    message = str(refused.value)
    assert f"name it '{str(path)[:-len(path.suffix) or None]}.npz'" in message
    assert "not Keras's .keras or .h5" in message and "graphcore.export.to_onnx" in message
    assert f"at {__file__}:" in message                           # the user's line
    assert not path.exists() and os.listdir(tmp_path) == []       # nothing written, no temporary file
    with pytest.raises(gc.FileFormatError, match="name it"):      # at construction, as Keras checks
        gc.callbacks.ModelCheckpoint(str(path))


def test_save_writes_npz_whatever_the_case_of_its_suffix(tmp_path):
    model = _model()
    model.save(tmp_path / "m.NPZ")
    np.testing.assert_array_equal(gc.load_model(tmp_path / "m.NPZ").get_weights()[0], model.get_weights()[0])


def test_load_model_points_an_onnx_file_at_from_onnx(tmp_path):
    path = str(tmp_path / "x.onnx")
    export.to_onnx(_model(), path)
    with pytest.raises(gc.FileFormatError) as refused:
        gc.load_model(path)
    assert str(refused.value) == (f"{path} is an ONNX file; gc.load_model reads the .npz files Model.save "
                                  f"writes. Import ONNX with graphcore.export.from_onnx({path!r})")
    assert export.from_onnx(path).run({"input": np.ones((1, 4), np.float32)})      # which does import it
    with pytest.raises(gc.MissingFileError, match="no such file"):
        gc.load_model(tmp_path / "missing.onnx")


@pytest.mark.parametrize("name, content, starts", [
    ("notes.txt", b"hello", b"hell"), ("model.bin", b"\x08\x08\x12\x08graphcore", b"\x08\x08\x12\x08"),
    ("short.npz", b"PK", b"PK"),
])
def test_other_files_are_refused_without_numpys_pickle_hint(tmp_path, name, content, starts):
    path = tmp_path / name
    path.write_bytes(content)
    expected = (f"{path} is not a readable graphcore array archive (an .npz file is a zip archive, starting "
                f"with b'PK'; this one starts with {starts!r})")
    with pytest.raises(gc.FileFormatError) as refused:
        gc.load_model(path)
    assert str(refused.value) == expected and "pickle" not in expected
    g = gc.Graph()
    with g.as_default():
        gc.Variable(np.zeros(2, np.float32), name="w")
    with gc.Session(g) as sess, pytest.raises(gc.CheckpointError) as refused:
        gc.train.Saver().restore(sess, path)
    assert str(refused.value).startswith(expected)


@pytest.fixture
def umask():
    """Set the process's umask for one test, and put the old one back."""
    old = os.umask(0o022)
    yield os.umask
    os.umask(old)


def _mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.mark.skipif(os.name != "posix", reason="file modes and the umask are POSIX's")
@pytest.mark.parametrize("mask, mode", [(0o022, 0o644), (0o027, 0o640), (0o077, 0o600), (0o002, 0o664)],
                         ids=["umask-022", "umask-027", "umask-077", "umask-002"])
def test_atomic_writes_get_the_umasks_mode(tmp_path, umask, mask, mode):
    umask(mask)
    model = _model()
    g = gc.Graph()
    with g.as_default():
        gc.Variable(np.zeros(2, np.float32), name="w")
    with gc.Session(g) as sess:
        gc.train.Saver().save(sess, tmp_path / "ckpt.npz")
    written = [model.save(tmp_path / "model.npz"), tmp_path / "ckpt.npz", tmp_path / "checkpoint",
               tmp_path / "model.onnx"]
    export.to_onnx(model, written[-1])
    assert {_mode(path) for path in written} == {mode}
    open(tmp_path / "plain", "w").close()                        # what open() gives a new file, for reference
    assert _mode(tmp_path / "plain") == mode
    assert sorted(os.listdir(tmp_path)) == ["checkpoint", "ckpt.npz", "model.npz", "model.onnx", "plain"]


@pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX's")
def test_replacing_a_file_keeps_its_mode_as_writing_it_in_place_would(tmp_path, umask):
    path = tmp_path / "model.npz"
    model = _model()
    model.save(path)
    os.chmod(path, 0o600)                     # the owner made it private
    model.save(path)
    assert _mode(path) == 0o600
    os.chmod(path, 0o664)
    model.save(path)
    assert _mode(path) == 0o664
