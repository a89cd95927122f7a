"""Teachers train through the one trainer: a tiny run gives a loadable EMA teacher; exact resume."""

import argparse
import json

import numpy as np
import pytest
import torch

from koopkit_diffusion.commands.teacher import register
from koopkit_diffusion.edm import EDMPrecond, class_labels
from koopkit_diffusion.runs import RunRecord, get_preset, load_teacher, train_run
from koopkit_diffusion.teacher import Teacher, TeacherConfig, build_teacher, sample_teacher
from koopkit_diffusion.trainer import load_run

TINY = {
    "model.hidden": "16",
    "model.depth": "1",
    "train.steps": "6",
    "train.batch_size": "32",
    "train.lr_warmup_steps": "2",
    "train.log_every": "2",
    "train.checkpoint_every": "3",
    "train.keep_last": "none",
    "train.progress": "false",
    "data.n": "1000",
}


def test_tiny_run_writes_record_metrics_and_loadable_ema_teacher(tmp_path):
    run = tmp_path / "run"
    result = train_run("teacher-checkerboard", run, overrides=TINY)
    record = RunRecord.read(run)
    assert record.kind == "teacher" and record.preset == "teacher-checkerboard"
    assert record.config["model"]["hidden"] == 16 and record.data["name"] == "checkerboard"
    assert record.overrides == TINY
    assert [line["step"] for line in result.history] == [2, 4, 6]
    assert all(np.isfinite(line["total"]) and line["samples_per_s"] > 0 for line in result.history)
    assert load_run(run).step == 6
    teacher = load_teacher(run)
    assert isinstance(teacher, EDMPrecond) and not teacher.training
    assert teacher.shape == (2,) and teacher.sigma_max == 80.0 and teacher.sigma_data == 2.5
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


def test_resumed_teacher_equals_uninterrupted_teacher(tmp_path):
    preset = get_preset("teacher-checkerboard", TINY)
    straight = train_run(preset, tmp_path / "straight")
    # Stop at step 3 (as a kill after the checkpoint would), then resume through train_run.
    from koopkit_diffusion.data import training_set
    from koopkit_diffusion.runs.training import build_model
    from koopkit_diffusion.trainer import TensorDictDataset, Trainer

    model = build_model(preset.model, "teacher", seed=preset.train.seed)
    data = TensorDictDataset(**training_set(preset.data))
    RunRecord("teacher", preset.name, TINY, {k: c.to_dict() for k, c in preset.sections().items()},
              data=preset.data.to_dict()).write(tmp_path / "resumed")  # fmt: skip
    with Trainer(model, data, preset.train, tmp_path / "resumed") as trainer:
        trainer.train(stop_at=3)
    resumed = train_run(preset, tmp_path / "resumed", resume=True)
    assert [r["step"] for r in resumed.history] == [2, 4, 6]
    for a, b in zip(
        straight.ema.state_dict().values(), resumed.ema.state_dict().values(), strict=True
    ):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_teacher_run_refuses_a_different_config_or_an_unasked_restart(tmp_path):
    train_run("teacher-checkerboard", tmp_path / "run", overrides=TINY)
    with pytest.raises(ValueError, match=r"train\.lr: 0\.001 → 0\.1"):
        train_run(
            "teacher-checkerboard", tmp_path / "run", overrides={**TINY, "train.lr": "0.1"},
            resume=True,
        )  # fmt: skip
    with pytest.raises(FileExistsError, match="already holds checkpoints"):
        train_run("teacher-checkerboard", tmp_path / "run", overrides=TINY)


def test_teacher_config_validation_and_round_trip():
    cfg = get_preset("teacher-digits").model
    assert TeacherConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    assert cfg.label_dim == 10 and cfg.shape == (1, 8, 8)
    with pytest.raises(ValueError, match="network='mlp' takes vectors"):
        TeacherConfig(shape=(1, 8, 8), network="mlp")
    with pytest.raises(ValueError, match="embedding_type"):
        TeacherConfig(embedding_type="sinusoidal")
    with pytest.raises(ValueError, match="sigma_data must be a positive finite"):
        TeacherConfig(sigma_data=float("inf"))
    with pytest.raises(ValueError, match="unknown TeacherConfig"):
        TeacherConfig.from_dict({"widht": 3})
    with pytest.raises(ValueError, match="unknown preset"):
        get_preset("teacher-cifar")
    with pytest.raises(ValueError, match="model.label_dim=0 but the data gives 10"):
        get_preset("teacher-digits", {"model.label_dim": "0"})


def test_teacher_losses_are_the_edm_loss_and_check_the_batch():
    torch.manual_seed(0)
    teacher = build_teacher(TeacherConfig(hidden=8, depth=1))
    assert isinstance(teacher, Teacher)
    x = torch.randn(64, 2)
    torch.manual_seed(1)
    total = teacher.losses({"sample": x})["total"]
    from koopkit_diffusion.edm import edm_loss

    torch.manual_seed(1)
    expected = edm_loss(teacher, x, None, teacher.P_mean, teacher.P_std, teacher.sigma_data)
    torch.testing.assert_close(total, expected.mean())
    with pytest.raises(ValueError, match=r"shape \(batch, \*\(2,\)\)"):
        teacher.losses({"sample": torch.randn(4, 3)})


def main(argv):
    """Parse and run ``koopkit-diffusion teacher ...`` with only this command group registered."""
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


def test_cli_trains_and_samples_a_conditional_digits_teacher(tmp_path, capsys):
    run = tmp_path / "digits"
    sets = ["train.steps=2", "train.batch_size=8", "model.model_channels=8", "train.progress=false"]
    argv = ["teacher", "train", "--preset", "teacher-digits", "--out", str(run)]
    assert main([*argv, *(a for s in sets for a in ("--set", s))]) == 0
    assert "trained teacher to step 2" in capsys.readouterr().out
    out = tmp_path / "s.npz"
    sample = ["teacher", "sample", "--n", "20", "--steps", "2", "--out", str(out)]
    assert main([*sample, "--run", str(run)]) == 0
    saved = np.load(out)
    assert saved["samples"].shape == (20, 1, 8, 8)
    # classes uniform at random from the seed, as every sampler of the package draws them
    assert saved["labels"].tolist() == class_labels(20, 10, seed=0).tolist()
    assert out.with_suffix(".png").stat().st_size > 0
    assert json.loads(capsys.readouterr().out)["nfe"] == 3
    with pytest.raises(FileNotFoundError, match="run.json"):
        main([*sample, "--run", str(tmp_path / "nope")])


def test_plot_samples_writes_png_for_points_and_images_and_rejects_other_shapes(tmp_path):
    from koopkit_diffusion.evaluation.plots import plot_samples

    assert plot_samples(torch.randn(500, 2), tmp_path / "a.png").stat().st_size > 0
    assert plot_samples(torch.rand(12, 3, 8, 8) * 2 - 1, tmp_path / "b.png").stat().st_size > 0
    with pytest.raises(ValueError, match=r"\(n, 2\) or \(n, C, H, W\)"):
        plot_samples(torch.randn(5, 3), tmp_path / "c.png")


def test_teacher_trains_under_torchrun_with_two_processes(tmp_path):
    """The teacher goes through the one trainer, so it gets DDP: `torchrun ... teacher train`."""
    import os
    import socket
    import subprocess
    import sys

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    sets = [f"{k}={v}" for k, v in {**TINY, "train.device": "cpu"}.items()]
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--nnodes", "1", "--nproc_per_node", "2",
        "--master_addr", "127.0.0.1", "--master_port", str(port), "-m", "koopkit_diffusion.cli",
        "teacher", "train", "--preset", "teacher-checkerboard", "--out", str(tmp_path / "run"),
        *(a for s in sets for a in ("--set", s)),
    ]  # fmt: skip
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-4000:]
    state = load_run(tmp_path / "run")
    assert state.step == 6 and state.world_size == 2
    assert load_teacher(tmp_path / "run").shape == (2,)
