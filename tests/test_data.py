"""Data sources: toy distributions, digits, CIFAR-10 in the official format, image folders."""

import io
import pickle
import tarfile

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from koopkit_diffusion import data


@pytest.mark.parametrize("name", sorted(data.TOY_2D))
def test_toy_2d_shape_dtype_and_seed(name):
    a = data.toy_2d(name, 500, seed=3)
    assert a.shape == (500, 2) and a.dtype == torch.float32
    torch.testing.assert_close(a, data.toy_2d(name, 500, seed=3))
    assert not torch.equal(a, data.toy_2d(name, 500, seed=4))


def test_toy_2d_rejects_unknown_name_and_bad_n():
    with pytest.raises(ValueError, match="checkerboard"):
        data.toy_2d("spiral", 10)
    with pytest.raises(ValueError, match="positive integer"):
        data.checkerboard(0)


@given(seed=st.integers(0, 2**31 - 1))
def test_checkerboard_lies_on_the_black_squares(seed):
    x = data.checkerboard(200, seed=seed).double() * 0.45
    assert (x[:, 0].abs() <= 2).all() and (x[:, 1].abs() <= 2).all()
    # Black squares: floor(x1) + floor(x2) is even.
    parity = (torch.floor(x[:, 0]) + torch.floor(x[:, 1])) % 2
    assert (parity == 0).all()


def test_checkerboard_fills_all_eight_squares_evenly():
    x = data.checkerboard(40_000).double() * 0.45
    cells = (torch.floor(x[:, 0]) + 2) * 4 + torch.floor(x[:, 1]) + 2
    counts = torch.bincount(cells.long(), minlength=16)
    assert (counts > 0).sum() == 8
    assert counts[counts > 0].min() > 0.9 * 40_000 / 8


def test_checkerboard_denoiser_is_the_posterior_mean():
    denoise = data.checkerboard_denoiser()
    y = data.checkerboard(200_000, seed=5).double()
    x = torch.tensor([[0.3, 0.2], [1.0, -2.0], [4.0, 4.0], [-1.0, 3.0]], dtype=torch.float64)
    for sigma in (0.05, 0.5, 2.0, 20.0):
        # Monte Carlo E[y | x]: weights exp(-|x - y|^2 / (2 sigma^2)) over data samples.
        w = torch.softmax(-((x[:, None] - y[None]) ** 2).sum(-1) / (2 * sigma**2), dim=1)
        torch.testing.assert_close(denoise(x, torch.full((4,), sigma)), w @ y, rtol=0, atol=0.03)
    # Far inside a square at tiny noise the clean sample is x itself.
    inside = torch.tensor([[1.0, 1.0]], dtype=torch.float64)
    torch.testing.assert_close(denoise(inside, torch.tensor([1e-3])), inside)
    assert torch.isfinite(denoise(torch.full((1, 2), 50.0), torch.tensor([1e-3]))).all()


def test_digits_fixed_stratified_split_in_unit_range():
    x_train, y_train = data.digits("train")
    x_test, y_test = data.digits("test")
    assert x_train.shape == (1437, 1, 8, 8) and x_test.shape == (360, 1, 8, 8)
    assert y_train.dtype == torch.int64 and set(y_test.tolist()) == set(range(10))
    assert x_train.min() == -1.0 and x_train.max() == 1.0
    torch.testing.assert_close(data.digits("train")[0], x_train)
    # 'all' holds both splits.
    assert len(data.digits("all")[0]) == 1797
    with pytest.raises(ValueError, match="split"):
        data.digits("validation")


def _batch(n, seed):
    rng = np.random.default_rng(seed)
    return {
        b"batch_label": b"test",
        b"labels": rng.integers(0, 10, n).tolist(),
        b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
        b"filenames": [b"x.png"] * n,
    }


def _write_cifar_dir(root):
    folder = root / "cifar-10-batches-py"
    folder.mkdir()
    batches = {f"data_batch_{i}": _batch(3, i) for i in range(1, 6)}
    batches["test_batch"] = _batch(2, 9)
    for name, batch in batches.items():
        (folder / name).write_bytes(pickle.dumps(batch))
    (folder / "batches.meta").write_bytes(pickle.dumps({b"label_names": [b"airplane"] * 10}))
    return folder, batches


def test_cifar10_reads_extracted_batches_and_archive(tmp_path):
    folder, batches = _write_cifar_dir(tmp_path)
    archive = tmp_path / "cifar-10-python.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(folder, arcname="cifar-10-batches-py")
    for root in (tmp_path, folder, archive):
        x, y = data.cifar10(root, "train")
        assert x.shape == (15, 3, 32, 32) and x.dtype == torch.float32
        assert y.tolist() == sum((batches[f"data_batch_{i}"][b"labels"] for i in range(1, 6)), [])
        first = batches["data_batch_1"][b"data"][0].reshape(3, 32, 32)
        torch.testing.assert_close(x[0], torch.from_numpy(first).float() / 127.5 - 1)
    x_test, y_test = data.cifar10(archive, "test", uint8=True)
    assert x_test.shape == (2, 3, 32, 32) and x_test.dtype == torch.uint8
    torch.testing.assert_close(data.to_float(x_test), data.cifar10(folder, "test")[0])


def test_cifar10_errors_name_the_path_and_format(tmp_path):
    with pytest.raises(FileNotFoundError, match="cifar-10-python.tar.gz"):
        data.cifar10(tmp_path)
    folder, _ = _write_cifar_dir(tmp_path)
    (folder / "data_batch_3").unlink()
    with pytest.raises(FileNotFoundError, match="data_batch_3"):
        data.cifar10(tmp_path)
    (folder / "data_batch_3").write_bytes(
        pickle.dumps({b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]})
    )
    with pytest.raises(ValueError, match=r"data_batch_3.*\(N, 3072\)"):
        data.cifar10(tmp_path)
    (folder / "data_batch_3").write_bytes(b"not a pickle")
    with pytest.raises(ValueError, match="data_batch_3: malformed"):
        data.cifar10(tmp_path)
    bad = tmp_path / "other" / "cifar-10-python.tar.gz"
    bad.parent.mkdir()
    bad.write_bytes(b"\x1f\x8b garbage")
    with pytest.raises(ValueError, match="tar archive"):
        data.cifar10(bad)


def _png(path, rgb, size):
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", size, rgb).save(buf, format="PNG" if path.suffix == ".png" else "JPEG")
    path.write_bytes(buf.getvalue())


def test_image_folder_reads_resizes_and_crops(tmp_path):
    (tmp_path / "cat").mkdir()
    (tmp_path / "dog").mkdir()
    _png(tmp_path / "cat" / "a.png", (255, 0, 0), (16, 16))
    _png(tmp_path / "dog" / "b.jpg", (0, 0, 255), (20, 12))
    (tmp_path / "notes.txt").write_text("ignored")
    x, paths = data.image_folder(tmp_path, 8)
    assert paths == ["cat/a.png", "dog/b.jpg"]
    assert x.shape == (2, 3, 8, 8) and x.dtype == torch.float32
    torch.testing.assert_close(x[0, :, 0, 0], torch.tensor([1.0, -1.0, -1.0]))
    assert x[1, 2].mean() > 0.9 and x[1, 0].mean() < -0.9
    assert data.image_folder(tmp_path, 8, limit=1, uint8=True)[0].dtype == torch.uint8


def test_image_folder_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        data.image_folder(tmp_path / "missing", 8)
    with pytest.raises(FileNotFoundError, match="no .png"):
        data.image_folder(tmp_path, 8)
    (tmp_path / "broken.png").write_bytes(b"\x89PNG not really")
    with pytest.raises(ValueError, match="broken.png"):
        data.image_folder(tmp_path, 8)
