"""Teacher training: a tiny run yields a loadable EMA checkpoint; resume equals no interruption."""

import argparse
import dataclasses
import json

import numpy as np
import pytest
import torch

import koopkit_diffusion.teacher as teacher_mod
from koopkit_diffusion.commands.teacher import register
from koopkit_diffusion.edm import EDMPrecond
from koopkit_diffusion.teacher import (
    PRESETS,
    TeacherConfig,
    load_teacher,
    sample_teacher,
    train_teacher,
)

TINY = dataclasses.replace(
    PRESETS["checkerboard"],
    hidden=16,
    depth=1,
    steps=6,
    batch_size=32,
    n_train=1000,
    warmup_steps=2,
    log_every=2,
    checkpoint_every=3,
)


def test_tiny_run_writes_config_metrics_and_loadable_checkpoint(tmp_path):
    run = train_teacher(TINY, tmp_path / "run", progress=False)
    assert json.loads((run / "config.json").read_text())["hidden"] == 16
    lines = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [line["step"] for line in lines] == [2, 4, 6]
    assert all(np.isfinite(line["loss"]) and line["steps_per_s"] > 0 for line in lines)
    state = torch.load(run / "checkpoint.pt", weights_only=True)
    assert state["step"] == 6
    teacher = load_teacher(run)
    assert isinstance(teacher, EDMPrecond) and not teacher.training
    assert teacher.shape == (2,) and teacher.sigma_max == 80.0
    assert all(not p.requires_grad for p in teacher.parameters())
    raw = load_teacher(run, ema=False)
    assert any(
        not torch.equal(a, b) for a, b in zip(raw.parameters(), teacher.parameters(), strict=True)
    )
    samples, labels = sample_teacher(teacher, 10, n_steps=3, batch_size=4)
    assert samples.shape == (10, 2) and samples.dtype == torch.float64 and labels is None
    # Same noise whatever the batch size (float32 network: equal up to rounding).
    again = sample_teacher(teacher, 10, n_steps=3, batch_size=10)[0]
    torch.testing.assert_close(samples, again, rtol=1e-4, atol=1e-4)


def test_resumed_run_equals_uninterrupted_run(tmp_path, monkeypatch):
    train_teacher(TINY, tmp_path / "straight", progress=False)

    calls = {"n": 0}
    original = teacher_mod.edm_loss

    def crashing(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 5:
            raise KeyboardInterrupt
        return original(*args, **kwargs)

    monkeypatch.setattr(teacher_mod, "edm_loss", crashing)
    with pytest.raises(KeyboardInterrupt):
        train_teacher(TINY, tmp_path / "resumed", progress=False)
    assert torch.load(tmp_path / "resumed" / "checkpoint.pt", weights_only=True)["step"] == 3
    monkeypatch.setattr(teacher_mod, "edm_loss", original)
    train_teacher(TINY, tmp_path / "resumed", progress=False)
    a = torch.load(tmp_path / "straight" / "checkpoint.pt", weights_only=True)
    b = torch.load(tmp_path / "resumed" / "checkpoint.pt", weights_only=True)
    for key in ("model", "ema"):
        for name, value in a[key].items():
            torch.testing.assert_close(b[key][name], value, rtol=0, atol=0)


def test_run_directory_refuses_a_different_config(tmp_path):
    train_teacher(TINY, tmp_path / "run", progress=False)
    with pytest.raises(ValueError, match="different teacher config"):
        train_teacher(dataclasses.replace(TINY, lr=0.1), tmp_path / "run", progress=False)
    with pytest.raises(FileExistsError, match="checkpoint.pt"):
        train_teacher(TINY, tmp_path / "run", progress=False, resume=False)


def test_config_validation_and_round_trip():
    cfg = PRESETS["digits"]
    assert TeacherConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    assert cfg.num_classes == 10 and cfg.sample_shape == (1, 8, 8)
    with pytest.raises(ValueError, match="network='mlp'"):
        TeacherConfig(data="digits", network="mlp")
    with pytest.raises(ValueError, match="steps"):
        TeacherConfig(steps=0)
    with pytest.raises(ValueError, match="embedding_type"):
        TeacherConfig(embedding_type="sinusoidal")
    with pytest.raises(ValueError, match="unknown TeacherConfig"):
        TeacherConfig.from_dict({"widht": 3})
    with pytest.raises(ValueError, match="unknown preset"):
        train_teacher("cifar", "/nonexistent")


def main(argv):
    """Parse and run ``koopkit-diffusion teacher ...`` with only this command group registered."""
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


def test_cli_trains_and_samples_a_conditional_digits_teacher(tmp_path, capsys):
    run = tmp_path / "digits"
    train = "teacher train --preset digits --steps 2 --batch-size 8 --model-channels 8"
    assert main([*train.split(), "--num-blocks", "1", "--no-progress", "--out", str(run)]) == 0
    out = tmp_path / "s.npz"
    sample = ["teacher", "sample", "--n", "20", "--steps", "2", "--out", str(out)]
    assert main([*sample, "--run", str(run)]) == 0
    saved = np.load(out)
    assert saved["samples"].shape == (20, 1, 8, 8)
    assert saved["labels"].tolist() == [i % 10 for i in range(20)]
    assert out.with_suffix(".png").stat().st_size > 0
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["nfe"] == 3
    with pytest.raises(FileNotFoundError, match="config.json"):
        main([*sample, "--run", str(tmp_path / "nope")])


def test_plot_samples_writes_png_for_points_and_images_and_rejects_other_shapes(tmp_path):
    from koopkit_diffusion.sample_plots import plot_samples

    assert plot_samples(torch.randn(500, 2), tmp_path / "a.png").stat().st_size > 0
    assert plot_samples(torch.rand(12, 3, 8, 8) * 2 - 1, tmp_path / "b.png").stat().st_size > 0
    with pytest.raises(ValueError, match=r"\(n, 2\) or \(n, C, H, W\)"):
        plot_samples(torch.randn(5, 3), tmp_path / "c.png")
