"""End-to-end tests of ``koopkit-diffusion evaluate | analyze | fid | fid-stats`` on tiny runs."""

import json

import numpy as np
import pytest
import torch
from tiny_runs import tiny_checkerboard_teacher

from koopkit_diffusion.cli import main
from koopkit_diffusion.evaluation.inception import WEIGHTS_FILENAME
from koopkit_diffusion.evaluation.metrics import load_stats, save_stats
from koopkit_diffusion.runs import evaluate_run, generate_pair_set, load_generator, train_run


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A tiny teacher, 64 pairs generated from it and a KDM trained on them, all with records."""
    root = tmp_path_factory.mktemp("eval-cli")
    teacher = tiny_checkerboard_teacher(root / "teacher")
    generate_pair_set(teacher, root / "pairs", 64, n_steps=2, shard_size=32, progress=False)
    tiny = {
        "model.latent_dim": "8",
        "model.mlp_width": "16",
        "model.mlp_depth": "1",
        "train.steps": "2",
        "train.batch_size": "16",
        "train.log_every": "1",
        "train.checkpoint_every": "2",
        "train.sample_every": "0",
        "train.progress": "false",
    }
    train_run("checkerboard", root / "kdm", pairs=root / "pairs", overrides=tiny)
    return root / "kdm", teacher


def test_load_generator_restores_the_kdm_with_its_ema_weights(runs):
    run_dir, teacher = runs
    loaded = load_generator(run_dir)
    assert loaded.record.kind == "kdm" and loaded.step == 2
    assert loaded.record.data["name"] == "checkerboard"
    assert loaded.record.teacher_run == str(teacher) and not loaded.model.training
    assert loaded.model.sample(5).shape == (5, 2)


def test_evaluate_writes_scores_of_model_and_teacher(runs, capsys):
    run_dir, _ = runs
    assert main(["evaluate", "--run", str(run_dir), "--n", "300"]) == 0
    report = json.loads((run_dir / "evaluation.json").read_text())
    assert json.loads(capsys.readouterr().out) == report
    # the teacher samples with the steps that made the run's pairs (2 here: 3 evaluations)
    assert report["model"]["nfe"] == 1 and report["teacher"]["nfe"] == 3
    assert {"sw_teacher", "sw_true", "marginal_w1_true"} <= set(report["model"])
    assert report["sw_floor"] > 0 and report["model"]["sw_true"] > 0
    assert 0 < report["sw_floor_std"] < report["sw_floor"]  # four pairs of true sets
    assert main(["evaluate", "--run", str(run_dir), "--n", "300", "--heun-steps", "4"]) == 0
    assert json.loads((run_dir / "evaluation.json").read_text())["teacher"]["nfe"] == 7
    with pytest.raises(SystemExit):  # argparse refuses it before anything runs
        main(["evaluate", "--run", str(run_dir), "--n", "300", "--heun-steps", "0"])
    assert "--heun-steps" in capsys.readouterr().err
    with pytest.raises(ValueError, match="heun_steps must be a positive integer"):
        evaluate_run(run_dir, n=300, heun_steps=0)


def test_analyze_writes_figures_and_json(runs, tmp_path):
    run_dir, _ = runs
    out = tmp_path / "analysis"
    argv = ["analyze", "--run", str(run_dir), "--n", "100", "--n-flow", "40", "--out", str(out)]
    assert main(argv) == 0
    report = json.loads((out / "analysis.json").read_text())
    assert set(report["figures"]) == {
        "latent_embedding.png",
        "operator_spectrum.png",
        "representability.png",
        "noise_partition.png",
    }
    assert all((out / name).stat().st_size > 0 for name in report["figures"])
    assert "knn_agreement_latent" in report["latent_semantic"]
    assert len(report["representability"]["sigmas"]) == 5


def test_fid_stats_and_fid_round_trip_with_local_weights(tmp_path, capsys):
    from koopkit_diffusion.evaluation.inception import FIDInceptionV3

    torch.manual_seed(0)
    weights = tmp_path / WEIGHTS_FILENAME
    torch.save(FIDInceptionV3().state_dict(), weights)
    images = np.random.default_rng(0).uniform(-1, 1, (2, 3, 8, 8)).astype(np.float32)
    np.savez(tmp_path / "samples.npz", samples=images)
    stats = tmp_path / "ref.npz"
    argv = ["fid-stats", "--data", str(tmp_path / "samples.npz"), "--out", str(stats)]
    assert main([*argv, "--inception-weights", str(weights)]) == 0
    mu, sigma = load_stats(stats)
    assert mu.shape == (2048,) and sigma.shape == (2048, 2048)
    capsys.readouterr()
    argv = ["fid", "--samples", str(tmp_path / "samples.npz"), "--ref", str(stats)]
    assert main([*argv, "--inception-weights", str(weights)]) == 0
    assert json.loads(capsys.readouterr().out)["fid"] == pytest.approx(0.0, abs=1e-3)


def test_fid_without_weights_reports_where_to_get_them(tmp_path, capsys):
    save_stats(tmp_path / "ref.npz", np.zeros(3), np.eye(3))
    np.save(tmp_path / "s.npy", np.zeros((2, 3, 8, 8), np.float32))
    argv = ["fid", "--samples", str(tmp_path / "s.npy"), "--ref", str(tmp_path / "ref.npz")]
    assert main([*argv, "--inception-weights", str(tmp_path / "missing.pth")]) == 2
    assert "pytorch-fid" in capsys.readouterr().err
