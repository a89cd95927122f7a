"""The quickstart pipeline and the KDM command line, in a reduced form."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from koopkit_diffusion.cli import main
from koopkit_diffusion.evaluation.metrics import sliced_wasserstein
from koopkit_diffusion.pairs import PairDataset
from koopkit_diffusion.runs import load_generator
from koopkit_diffusion.runs.quickstart import QuickstartConfig, format_table, run_quickstart

TINY = QuickstartConfig(
    teacher_hidden=16,
    teacher_depth=1,
    teacher_steps=20,
    teacher_batch=128,
    heun_steps=10,
    n_pairs=1024,
    n_eval=512,
    kdm_overrides={
        "model.mlp_width": "16",
        "model.latent_dim": "8",
        "model.mlp_depth": "2",
        "train.batch_size": "256",
        "train.steps": "8",
        "train.log_every": "4",
        "train.checkpoint_every": "100",
    },
    progress=False,
)


@pytest.mark.slow
def test_quickstart_writes_figure_metrics_and_runs_that_sample_from_the_cli(tmp_path, capsys):
    metrics = run_quickstart(tmp_path / "qs", config=TINY)
    out = tmp_path / "qs"
    for name in ("quickstart.png", "metrics.json", "kdm/run.json", "kd/metrics.jsonl"):
        assert (out / name).is_file(), name
    saved = json.loads((out / "metrics.json").read_text())
    for model in ("kdm", "kd"):
        for key in ("sw_vs_teacher", "sw_vs_true", "w1_vs_teacher", "w1_vs_true"):
            assert np.isfinite(saved[model][key]) and saved[model][key] >= 0
    assert saved["quickstart_config"]["heun_steps"] == TINY.heun_steps == 10
    assert saved["teacher"]["nfe"] == 19 and saved["kdm"]["nfe"] == saved["kd"]["nfe"] == 1
    # the teacher is scored against the truth (never against itself), beside the floor
    assert "sw_vs_teacher" not in saved["teacher"]
    ratio = saved["teacher"]["sw_vs_true"] / saved["floor_sw_measured"]
    assert saved["teacher"]["sw_vs_true_over_floor"] == pytest.approx(ratio)
    assert f"{ratio:.1f}x the sampling floor" in saved["teacher"]["note"]
    assert all(saved["timings_s"][k] > 0 for k in ("teacher_train_s", "pairs_s", "evaluate_s"))
    # the per-pair distillation error is the distance to the teacher's sample of the same noise
    pairs = PairDataset(out / "eval-pairs")[:]
    student = load_generator(out / "kdm").model
    x = student.sample(noise=pairs["noise"])
    rmse = torch.sqrt(torch.mean(torch.sum((x - pairs["sample"]) ** 2, dim=1)))
    assert saved["kdm"]["rmse_same_noise"] == pytest.approx(float(rmse), rel=1e-5)
    assert saved["kdm"]["sw_same_noise"] == pytest.approx(sliced_wasserstein(x, pairs["sample"]))
    assert saved["kd"]["rmse_same_noise"] > 0
    # SW1 of the same noises is at most the mean projected per-pair distance (a coupling)
    for kind in ("kdm", "kd"):
        assert 0 < saved[kind]["sw_same_noise"] <= saved[kind]["rmse_same_noise"]
    assert saved["floor_sw_stated"] == 0.0096
    assert "KDM" in capsys.readouterr().out
    assert format_table(metrics).count("\n") == 4 and "floor" in format_table(metrics)

    # a rerun reuses every finished stage: nothing is retrained, nothing deleted
    stamps = {p: p.stat().st_mtime_ns for p in out.rglob("ckpt-*.pt")}
    again = run_quickstart(out, config=TINY)
    assert {p: p.stat().st_mtime_ns for p in out.rglob("ckpt-*.pt")} == stamps
    assert again["kdm"]["rmse_same_noise"] == saved["kdm"]["rmse_same_noise"]
    capsys.readouterr()

    # the CLI samples from the trained run: npz + png, deterministic for a seed
    for seed_file in ("a.npz", "b.npz"):
        assert (
            main(
                [
                    "sample",
                    "--run",
                    str(out / "kdm"),
                    "--n",
                    "300",
                    "--out",
                    str(tmp_path / seed_file),
                ]
            )
            == 0
        )
    a, b = np.load(tmp_path / "a.npz")["samples"], np.load(tmp_path / "b.npz")["samples"]
    assert a.shape == (300, 2) and np.array_equal(a, b)
    assert (tmp_path / "a.png").is_file()

    # and trains from a preset with overrides; a bad override fails with exit code 2
    args = ["train", "--preset", "checkerboard", "--pairs", str(out / "pairs"), "--out"]
    small = ["--set", "model.mlp_width=8", "--set", "model.latent_dim=4", "--set", "train.steps=2"]
    small += ["--set", "train.batch_size=64", "--set", "train.progress=false"]
    assert main([*args, str(tmp_path / "cli-run"), *small, "--model", "kd"]) == 0
    assert main([*args, str(tmp_path / "bad"), "--set", "model.width=3"]) == 2
    assert "unknown model field 'width'" in capsys.readouterr().err
