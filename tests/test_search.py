"""Image search as a product: exact and faiss indexes, image files through Pillow, the learned embedding
against raw pixels, and `graphcore search` end to end (the demo, a folder of images, the ONNX encoder)."""
import functools

import numpy as np
import pytest

pytest.importorskip("sklearn")

from graphcore import cli  # noqa: E402
from graphcore.apps import search  # noqa: E402
from graphcore.errors import BuildError  # noqa: E402
from graphcore.models.unsupervised import digits  # noqa: E402

RNG = np.random.default_rng(0)


def test_exact_index_returns_the_nearest_rows_in_order():
    database, queries = RNG.normal(size=(50, 5)), RNG.normal(size=(7, 5))
    index = search.make_index(5)
    assert isinstance(index, search.ExactIndex)
    index.add(database[:20])
    index.add(database[20:])
    distances, neighbours = index.search(queries, 4)
    brute = np.square(queries[:, None] - database[None]).sum(-1)
    np.testing.assert_array_equal(neighbours, np.argsort(brute, 1)[:, :4])
    np.testing.assert_allclose(distances, np.sort(brute, 1)[:, :4], rtol=1e-4, atol=1e-5)
    with pytest.raises(BuildError, match="k must be"):
        index.search(queries, 51)
    with pytest.raises(BuildError, match="5-dimensional"):
        index.search(queries[:, :3], 1)


def test_faiss_index_answers_like_the_exact_one():
    pytest.importorskip("faiss")   # the test extra installs it; a plain install may not have it
    database, queries = RNG.normal(size=(300, 16)), RNG.normal(size=(9, 16))
    exact, large = search.make_index(16, "numpy"), search.make_index(16, "faiss")
    assert search.make_index(16, "auto", size=search.LARGE_INDEX + 1).backend == "faiss"
    for index in (exact, large):
        index.add(database)
    (d1, n1), (d2, n2) = exact.search(queries, 5), large.search(queries, 5)
    np.testing.assert_array_equal(n1, n2)
    np.testing.assert_allclose(d1, d2, rtol=1e-4, atol=1e-4)


def test_image_files_are_read_as_digit_rows(tmp_path):
    Image = pytest.importorskip("PIL.Image")
    data = digits()
    images = data.x_test[:3]
    paths = []
    for i, (image, suffix) in enumerate(zip(images, (".png", ".jpg", ".PNG"))):
        # dark ink on white, 4× larger, as a scan would be: read_images must undo both
        big = np.kron(1.0 - image.reshape(8, 8), np.ones((4, 4)))
        path = tmp_path / "sub" / f"digit{i}{suffix}" if i == 2 else tmp_path / f"digit{i}{suffix}"
        path.parent.mkdir(exist_ok=True)
        Image.fromarray(np.round(255 * big).astype(np.uint8)).save(path, quality=95)
        paths.append(path)
    (tmp_path / "notes.txt").write_text("not an image")
    found = search.image_files(tmp_path)
    assert sorted(found) == sorted(paths)
    rows = search.read_images(paths)
    np.testing.assert_allclose(rows[[0, 2]], images[[0, 2]], atol=1 / 255 + 1e-6)       # PNG: lossless
    np.testing.assert_allclose(rows[1], images[1], atol=0.1)                           # JPEG: close
    np.testing.assert_allclose(search.read_images(paths[:1], dark_ink=False), 1 - rows[:1], atol=1e-6)
    with pytest.raises(BuildError, match="not a readable image"):
        search.read_images([tmp_path / "notes.txt"])


@functools.lru_cache(maxsize=None)
def _embedding():
    return search.train_embedding(digits())


def test_the_learned_embedding_beats_raw_pixels_on_held_out_digits():
    data = digits()
    learned = search.ImageSearch(_embedding(), data.x_train, data.y_train)
    pixels = search.ImageSearch(search.raw_pixels, data.x_train, data.y_train)
    p_learned = learned.precision_at_k(data.x_test, data.y_test, 10)
    p_pixels = pixels.precision_at_k(data.x_test, data.y_test, 10)
    print(f"precision@10: learned {p_learned:.3f}, raw pixels {p_pixels:.3f}")
    assert p_learned > p_pixels + 0.01
    codes = _embedding()(data.x_test[:5])
    np.testing.assert_allclose(np.linalg.norm(codes, axis=1), 1, rtol=1e-5)


def test_results_grid_has_a_row_per_query():
    data = digits()
    neighbours = np.array([[0, 1, 2], [3, 4, 5]])
    grid = search.results_grid(data.x_test[:2], data.x_train, neighbours)
    cell = 8 * 4 + 1
    assert grid.shape == (2 * cell + 1, 5 * cell + 1)
    blank = grid[1:cell, 1 + cell:2 * cell]
    assert (blank == 255).all()                                   # the gap between query and results
    first = grid[1:cell, 1 + 2 * cell:3 * cell]
    np.testing.assert_array_equal(first[::4, ::4], np.round(255 * (1 - data.x_train[0].reshape(8, 8))))


def test_graphcore_search_demo_end_to_end(tmp_path, capsys):
    ort = pytest.importorskip("onnxruntime")
    out = tmp_path / "demo"
    assert cli.main(["search", "--out", str(out), "--queries", "3"]) == 0
    text = capsys.readouterr().out
    learned = float(text.split("learned embedding: ")[1].split()[0])
    pixels = float(text.split("raw pixels: ")[1].split()[0])
    assert learned > pixels
    assert {p.name for p in out.iterdir()} == {"embedding.npz", "encoder.onnx", "results.png"}
    assert sum(line.startswith("held-out digit") for line in text.splitlines()) == 3
    # the exported encoder gives the interpreter's codes
    embed = search.Embedding.load(out / "embedding.npz")
    x = digits().x_test[:4]
    session = ort.InferenceSession(str(out / "encoder.onnx"), providers=["CPUExecutionProvider"])
    (onnx_codes,) = session.run(None, {session.get_inputs()[0].name: x})
    np.testing.assert_allclose(onnx_codes, embed.encoder.predict(x), rtol=1e-4, atol=1e-5)
    # a second run loads the saved embedding instead of training again
    assert cli.main(["search", "--out", str(out), "--queries", "1"]) == 0
    assert "embedding: loaded" in capsys.readouterr().out


def test_graphcore_search_indexes_a_folder_and_answers_file_queries(tmp_path, capsys):
    Image = pytest.importorskip("PIL.Image")
    data = digits()
    folder = tmp_path / "images"
    folder.mkdir()
    for i in range(30):
        pixels = np.round(255 * (1 - data.x_train[i].reshape(8, 8))).astype(np.uint8)
        Image.fromarray(pixels).save(folder / f"{i:02d}_{data.y_train[i]}.png")
    query = tmp_path / "query.png"
    Image.fromarray(np.round(255 * (1 - data.x_train[7].reshape(8, 8))).astype(np.uint8)).save(query)
    _embedding().save(tmp_path / "embedding.npz")
    args = ["search", "--out", str(tmp_path / "out"), "--index", str(folder), "--query", str(query), "--k", "3",
            "--model", str(tmp_path / "embedding.npz")]
    assert cli.main(args) == 0
    line = [line for line in capsys.readouterr().out.splitlines() if line.startswith(str(query))][0]
    assert line.split(": ")[1].split(", ")[0] == str(folder / f"07_{data.y_train[7]}.png")   # itself first
    assert cli.main(["search", "--out", str(tmp_path / "x"), "--index", str(tmp_path / "nowhere")]) == 2
