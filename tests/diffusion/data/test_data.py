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
    archive = tmp_path / "cifar-10-tiny.tar.gz"  # the official name would be checked by md5
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
    bad = tmp_path / "other" / "self-made.tar.gz"
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


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_cifar10_batches_of_every_pickle_protocol_load(tmp_path, protocol):
    folder, batches = _write_cifar_dir(tmp_path)
    for name, batch in batches.items():
        (folder / name).write_bytes(pickle.dumps(batch, protocol=protocol))
    x, y = data.cifar10(folder, "test", uint8=True)
    assert x.flatten(1).numpy().tolist() == batches["test_batch"][b"data"].tolist()
    assert y.tolist() == batches["test_batch"][b"labels"]


class _Payload:
    """Pickles as a call of ``os.system`` (what a crafted batch does)."""

    def __init__(self, command):
        self.command = command

    def __reduce__(self):
        import os

        return os.system, (self.command,)


def test_cifar10_refuses_a_crafted_batch_and_runs_nothing(tmp_path):
    folder, _ = _write_cifar_dir(tmp_path)
    marker = tmp_path / "pwned"
    batch = _batch(3, 1)
    batch[b"labels"] = _Payload(f"touch {marker}")
    (folder / "data_batch_2").write_bytes(pickle.dumps(batch, protocol=2))
    with pytest.raises(
        data_errors(), match=r"data_batch_2: refused to load the global \w+\.system"
    ):
        data.cifar10(tmp_path)
    assert not marker.exists()
    # The same file as a tar member: the error names the archive and the member.
    archive = tmp_path / "crafted.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(folder, arcname="cifar-10-batches-py")
    with pytest.raises(data_errors(), match=r"crafted.tar.gz:cifar-10-batches-py/data_batch_2"):
        data.cifar10(archive)
    assert not marker.exists()


def data_errors():
    from koopkit_diffusion.safe_pickle import UnsafePickleError

    return UnsafePickleError


def test_cifar10_refuses_object_arrays_and_foreign_containers(tmp_path):
    folder, _ = _write_cifar_dir(tmp_path)
    batch = _batch(3, 1)
    batch[b"data"] = batch[b"data"].astype(object)
    (folder / "data_batch_1").write_bytes(pickle.dumps(batch))
    with pytest.raises(ValueError, match="data_batch_1: b'data' is object, not a uint8 array"):
        data.cifar10(folder)
    (folder / "data_batch_1").write_bytes(pickle.dumps(torch.zeros(3)))
    with pytest.raises(data_errors(), match="data_batch_1: refused to load the global torch"):
        data.cifar10(folder)


def test_cifar10_checks_the_md5_of_a_file_named_like_the_official_archive(tmp_path):
    folder, _ = _write_cifar_dir(tmp_path)
    archive = tmp_path / data.CIFAR10_ARCHIVE
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(folder, arcname="cifar-10-batches-py")
    with pytest.raises(
        ValueError, match=f"md5 is [0-9a-f]{{32}}, not the published {data.CIFAR10_ARCHIVE_MD5}"
    ):
        data.cifar10(archive)
    # Through the parent folder too (the archive is found by its name there).
    (folder / "data_batch_1").unlink()
    with pytest.raises(ValueError, match="md5"):
        data.cifar10(tmp_path)


def test_fid_stats_on_a_folder_with_a_crafted_batch_fails_cleanly_and_runs_nothing(
    tmp_path, capsys
):
    from koopkit_diffusion.cli import main

    folder, _ = _write_cifar_dir(tmp_path)
    marker = tmp_path / "pwned"
    batch = _batch(3, 1)
    batch[b"data"] = _Payload(f"touch {marker}")
    (folder / "data_batch_1").write_bytes(pickle.dumps(batch))
    code = main(
        ["fid-stats", "--data", str(tmp_path), "--out", str(tmp_path / "s.npz"),
         "--inception-weights", str(tmp_path / "absent.pth")]
    )  # fmt: skip
    assert code == 2
    assert "data_batch_1: refused to load the global" in capsys.readouterr().err
    assert not marker.exists()


def test_image_dataset_keeps_uint8_and_converts_per_batch():
    images = torch.randint(0, 256, (6, 3, 4, 4), dtype=torch.uint8)
    labels = torch.arange(6) % 3
    ds = data.ImageDataset(images, labels)
    assert ds.images.dtype == torch.uint8 and len(ds) == 6 and ds.shape == (3, 4, 4)
    batch = ds.get_batch(np.array([4, 1]))
    assert set(batch) == {"sample", "label"}
    torch.testing.assert_close(batch["sample"], data.to_float(images[[4, 1]]))
    assert batch["label"].tolist() == [1, 1]
    torch.testing.assert_close(ds[2]["sample"], data.to_float(images[2]))
    with pytest.raises(ValueError, match="uint8"):
        data.ImageDataset(images.float())


def test_image_dataset_augments_the_same_batch_the_same_way():
    images = torch.randint(0, 256, (8, 3, 8, 8), dtype=torch.uint8)
    ds = data.ImageDataset(images, augment=0.5, seed=3)
    a, b = ds.get_batch([0, 2, 5]), ds.get_batch([0, 2, 5])
    assert a["augment_labels"].shape == (3, data.AUGMENT_DIM)
    torch.testing.assert_close(a, b)
    other = data.ImageDataset(images, augment=0.5, seed=4).get_batch([0, 2, 5])
    assert not torch.equal(a["augment_labels"], other["augment_labels"])


def test_image_dataset_from_a_config_with_augmentation(tmp_path):
    folder, _ = _write_cifar_dir(tmp_path)
    config = data.DataConfig(name="cifar10", root=str(folder), labels=True, augment=0.12)
    ds = data.image_dataset(config)
    assert len(ds) == 15 and ds.labels is not None and config.augment_dim == data.AUGMENT_DIM
    assert set(ds.get_batch([0, 1])) == {"sample", "label", "augment_labels"}
    with pytest.raises(ValueError, match="data.augment applies to"):
        data.DataConfig(name="digits", augment=0.1)
    with pytest.raises(ValueError, match=r"data.augment must lie in \[0, 1\]"):
        data.DataConfig(name="cifar10", root="x", augment=1.5)


def test_augment_flips_only_with_p_zero_and_labels_say_which():
    x = torch.randn(64, 3, 8, 8)
    out, labels = data.edm_augment(x, 0.0, torch.Generator().manual_seed(0))
    assert labels.shape == (64, 9) and (labels[:, 1:] == 0).all()
    flipped = labels[:, 0] == 1
    assert 10 < int(flipped.sum()) < 54  # a fair coin per image
    torch.testing.assert_close(out[flipped], x[flipped].flip(3))
    torch.testing.assert_close(out[~flipped], x[~flipped])


def test_augment_keeps_constant_images_constant():
    x = torch.full((16, 3, 8, 8), 0.3)
    out, labels = data.edm_augment(x, 1.0, torch.Generator().manual_seed(1))
    assert (labels[:, 2:] != 0).any(dim=1).all()  # every image was warped
    torch.testing.assert_close(out, x)


def test_augment_warp_is_the_affine_map_its_labels_describe():
    # On a linear ramp f(x, y) = x (pixel units, centred) bilinear resampling is exact, so the
    # centre pixel of the output must hold the x coordinate of its source point G⁻¹·(0 − t)
    # (negated when the image was x-flipped first).
    size = 33
    coords = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    ramp = coords.expand(size, size)[None, None].repeat(200, 1, 1, 1)
    out, labels = data.edm_augment(ramp, 1.0, torch.Generator().manual_seed(2))
    labels = labels.double()

    def rot(a):
        return torch.stack(
            [torch.stack([a.cos(), -a.sin()], -1), torch.stack([a.sin(), a.cos()], -1)], -2
        )

    s_iso = torch.exp2(-0.2 * labels[:, 2])
    theta = torch.atan2(labels[:, 4], labels[:, 3] + 1)
    a, phi = labels[:, 5].hypot(labels[:, 6]), torch.atan2(labels[:, 6], labels[:, 5])
    t = torch.stack([labels[:, 7], labels[:, 8]], -1) * 0.125 * size
    centre = out[:, 0, size // 2, size // 2]
    best = torch.full_like(centre, float("inf"))
    for sign, shift in ((1, 0.0), (-1, torch.pi)):  # (a, φ) and (−a, φ + π) give the same labels
        s = torch.exp2(0.2 * sign * a)
        d = torch.diag_embed(torch.stack([1 / s, s], -1))
        g = s_iso[:, None, None] * rot(theta) @ rot(-(phi + shift)) @ d @ rot(phi + shift)
        x_src = -(g @ t[:, :, None])[:, 0, 0]
        x_src = torch.where(labels[:, 0] == 1, -x_src, x_src)  # the x-flip comes first
        best = torch.minimum(best, (centre - x_src).abs())
    inside = centre.abs() < (size - 1) / 2 - 1  # away from the reflected border
    assert inside.sum() > 100
    assert float(best[inside].max()) < 1e-3
