"""Importing the published pair-set layouts, with the commands ``pairs import --help`` shows."""

import shlex

import numpy as np
import pytest

from koopkit_diffusion.cli import main
from koopkit_diffusion.commands.pairs import _IMPORT_EXAMPLES
from koopkit_diffusion.pairs import PairDataset, import_npz_per_pair

N, SHAPE = 12, (3, 8, 8)


def _pairs(seed=0):
    rng = np.random.default_rng(seed)
    eps = rng.standard_normal((N, *SHAPE)).astype(np.float32)
    x0 = rng.uniform(-1, 1, (N, *SHAPE)).astype(np.float32)
    labels = rng.integers(0, 10, N)
    return eps, x0, labels


def _trajectory(eps, x0, states=5):
    """``states`` states from ``80·eps`` to ``x0`` (what a saved sampler trajectory holds)."""
    t = np.linspace(1.0, 0.0, states)[:, None, None, None]
    return (t * 80.0 * eps + (1 - t) * x0).astype(np.float32)


def _write_layout(name, folder):
    """Files in the layout of a published set; returns the pairs they hold."""
    eps, x0, labels = _pairs()
    folder.mkdir()
    for i in range(N):
        path = folder / f"{i:06d}.npz"
        if name == "cifar10-uncond":  # arr_0 = [noise, ..., sample]
            np.savez(path, arr_0=_trajectory(eps[i], x0[i]))
        elif name == "cifar10-cond":  # endpoints = [sample, noise], one-hot label
            np.savez(path, endpoints=np.stack([x0[i], 80 * eps[i]]),
                     label=np.eye(10, dtype=np.float32)[labels[i]])  # fmt: skip
        elif name == "ffhq64":  # arr_0 = [sample, ..., noise]
            np.savez(path, arr_0=_trajectory(eps[i], x0[i])[::-1])
        elif name == "cifar10-fm":  # arr1 = [sample, noise], noise unscaled
            np.savez(path, arr1=np.stack([x0[i], eps[i]]))
    return eps, x0, labels


def _help_commands():
    """``{out name: argv}`` of the npz-per-pair examples printed by ``pairs import --help``."""
    text = _IMPORT_EXAMPLES.replace("\\\n", " ")
    commands = {}
    for line in text.splitlines():
        if line.strip().startswith("koopkit-diffusion") and "npz-per-pair" in line:
            argv = shlex.split(line)[1:]
            commands[argv[argv.index("--out") + 1].split("/")[-1]] = argv
    return commands


@pytest.mark.parametrize("layout", ["cifar10-uncond", "cifar10-cond", "ffhq64", "cifar10-fm"])
def test_the_help_s_example_imports_its_published_layout(tmp_path, layout):
    argv = _help_commands()[layout]
    src, out = tmp_path / "src", tmp_path / "out"
    eps, x0, labels = _write_layout(layout, src)
    argv[argv.index("--src") + 1] = str(src)
    argv[argv.index("--out") + 1] = str(out)
    assert main(argv) == 0
    batch = PairDataset(out).get_batch(np.arange(N))
    np.testing.assert_allclose(batch["noise"].numpy(), eps, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(batch["sample"].numpy(), x0, rtol=1e-5, atol=1e-6)
    if layout == "cifar10-cond":
        np.testing.assert_array_equal(batch["label"].numpy(), labels)
    else:
        assert "label" not in batch


def test_every_npz_layout_of_the_help_is_tested():
    assert set(_help_commands()) == {"cifar10-uncond", "cifar10-cond", "ffhq64", "cifar10-fm"}


def test_trajectory_files_need_the_sample_index_and_a_wrong_noise_end_is_refused(tmp_path):
    _write_layout("cifar10-uncond", tmp_path / "src")
    with pytest.raises(ValueError, match="trajectory of 5 states: state sample_index"):
        import_npz_per_pair(tmp_path / "src", tmp_path / "a", noise_index=0, noise_scale=80)
    with pytest.raises(ValueError, match="not those of N\\(0, 1\\)"):
        import_npz_per_pair(tmp_path / "src", tmp_path / "b", noise_index=-1, sample_index=0,
                            noise_scale=80, progress=False)  # fmt: skip
    assert not (tmp_path / "b").exists()  # a refused import leaves nothing behind


def test_labels_are_integers_or_one_hot_and_nothing_else(tmp_path):
    eps, x0, _ = _pairs()
    for i, label in enumerate([3, np.array([7]), np.eye(10)[5], np.array([0.0, 1.0, 1.0])]):
        np.savez(tmp_path / f"{i}.npz", endpoints=np.stack([x0[i], eps[i]]), label=label)
    files = sorted(tmp_path.glob("*.npz"))
    out = import_npz_per_pair(files[:3], tmp_path / "ok", noise_index=1, noise_scale=1,
                              label_dim=10, progress=False)  # fmt: skip
    assert out["count"] == 3
    np.testing.assert_array_equal(
        PairDataset(tmp_path / "ok").get_batch([0, 1, 2])["label"], [3, 7, 5]
    )
    with pytest.raises(ValueError, match="3.npz: label of shape \\(3,\\) is neither"):
        import_npz_per_pair(files, tmp_path / "bad", noise_index=1, noise_scale=1, label_dim=10)
    with pytest.raises(ValueError, match="has labels: pass label_dim"):
        import_npz_per_pair(files[:1], tmp_path / "c", noise_index=1, noise_scale=1)


def test_an_ambiguous_key_must_be_named(tmp_path):
    eps, x0, _ = _pairs()
    np.savez(tmp_path / "a.npz", arr_0=np.stack([eps[0], x0[0]]), arr1=np.stack([x0[0], eps[0]]))
    with pytest.raises(ValueError, match="pass key="):
        import_npz_per_pair(tmp_path, tmp_path / "o", noise_index=0, noise_scale=1)
    out = import_npz_per_pair(tmp_path, tmp_path / "o", key="arr1", noise_index=1, noise_scale=1,
                              progress=False)  # fmt: skip
    assert "key='arr1'" in out["source"]
