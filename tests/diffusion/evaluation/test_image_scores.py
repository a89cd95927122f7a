"""Inception Score, precision/recall and FID in one pass; FID during training with the best EMA."""

import json

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from koopkit_diffusion.evaluation.image_scores import (
    frechet_distance_of_features,
    image_scores,
    inception_logits,
    inception_score,
    inception_semantics,
)
from koopkit_diffusion.evaluation.inception import (
    inception_features,
    load_inception,
    write_random_inception_weights,
)
from koopkit_diffusion.evaluation.metrics import frechet_distance, save_stats


def test_inception_score_is_one_for_a_single_class_and_k_for_k_confident_classes():
    same = torch.tensor([[5.0, 0.0, 0.0]]).repeat(6, 1)
    assert inception_score(same, splits=2)[0] == pytest.approx(1.0)
    confident = torch.eye(4).repeat(3, 1) * 60.0  # p(y|x) one-hot, p(y) uniform over 4
    mean, std = inception_score(confident, splits=3)
    assert mean == pytest.approx(4.0, rel=1e-6) and std == pytest.approx(0.0, abs=1e-6)


@settings(max_examples=20)
@given(
    logits=st.lists(st.lists(st.floats(-20, 20), min_size=5, max_size=5), min_size=4, max_size=12),
    shift=st.floats(-50, 50),
)
def test_inception_score_lies_in_one_to_k_and_ignores_a_shift_of_the_logits(logits, shift):
    x = torch.tensor(logits, dtype=torch.float64)
    mean, _ = inception_score(x, splits=2)
    assert 1.0 - 1e-9 <= mean <= 5.0 + 1e-9
    assert inception_score(x + shift, splits=2)[0] == pytest.approx(mean, rel=1e-9, abs=1e-9)


@settings(max_examples=10)
@given(n=st.integers(2, 9), d=st.integers(1, 12), seed=st.integers(0, 1000))
def test_fid_of_few_features_equals_the_full_frechet_distance(n, d, seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d)) * rng.uniform(0.1, 3.0, size=d)
    b = rng.normal(size=(d, d))
    mu, sigma = rng.normal(size=d), b @ b.T / d
    full = frechet_distance(x.mean(0), np.cov(x.T).reshape(d, d), mu, sigma)
    assert frechet_distance_of_features(x, mu, sigma) == pytest.approx(full, rel=1e-7, abs=1e-9)


def test_inception_score_rejects_bad_input():
    with pytest.raises(ValueError, match=r"\(n, n_classes >= 2\)"):
        inception_score(torch.zeros(4))
    with pytest.raises(ValueError, match="splits"):
        inception_score(torch.zeros(3, 4), splits=5)
    with pytest.raises(ValueError, match="NaN"):
        inception_score(torch.full((3, 4), float("nan")))


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    return write_random_inception_weights(tmp_path_factory.mktemp("inc") / "inception.pth")


@pytest.fixture(scope="module")
def model(weights):
    return load_inception(weights)


def _images(n, seed):
    return torch.rand(n, 3, 8, 8, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def test_image_scores_agree_with_their_parts(model, tmp_path):
    samples, reference = _images(6, 0), _images(5, 1)
    feats = inception_features(model, samples).double()
    ref_feats = inception_features(model, reference).double()
    ref = save_stats(tmp_path / "ref.npz", ref_feats.mean(0), torch.cov(ref_feats.T))
    scores = image_scores(samples, model, ref_stats=ref, reference=reference, k=2, splits=2,
                          batch_size=4, progress=False)  # fmt: skip
    expected_is = inception_score(inception_logits(model, feats), splits=2)
    assert (scores["inception_score"], scores["inception_score_std"]) == pytest.approx(expected_is)
    fid = frechet_distance(
        feats.mean(0), torch.cov(feats.T), ref_feats.mean(0), torch.cov(ref_feats.T)
    )
    assert scores["fid"] == pytest.approx(fid, rel=1e-4)
    assert scores["n"] == 6 and 0.0 <= scores["precision"] <= 1.0
    # A set against itself: every point inside the other's manifold.
    same = image_scores(samples, model, reference=samples, k=2, splits=2, progress=False)
    assert (same["precision"], same["recall"]) == (1.0, 1.0)
    # The unbiased logits of the Inception Score: pool3 · Wᵀ, no bias.
    torch.testing.assert_close(
        inception_logits(model, feats[:2]), feats[:2] @ model.fc.weight.double().T
    )


def test_inception_semantics_give_features_and_classes(weights):
    features, classes = inception_semantics(weights)(_images(3, 2))
    assert features.shape == (3, 2048) and classes.shape == (3,)
    assert np.all((0 <= classes) & (classes < 1008))


def test_latent_semantic_analysis_on_inception_features(weights, tmp_path):
    from koopkit_diffusion.evaluation import analyze_model
    from koopkit_diffusion.students import KDM, KDMConfig

    torch.manual_seed(0)
    config = KDMConfig(
        shape=(3, 8, 8), network="unet", latent_dim=None, model_channels=8, channel_mult=(1,),
        num_blocks=1, attn_resolutions=(), loss="mse",
    )  # fmt: skip
    kdm = KDM(config)
    report = analyze_model(kdm.eval(), None, tmp_path, semantics=inception_semantics(weights),
                           n=12, k=3)  # fmt: skip
    assert report["semantic_space"] == "inception"
    proximity = report["latent_semantic"]
    assert proximity["n"] == 12 and np.isfinite(proximity["spearman_latent"])
    assert proximity["knn_agreement_chance"] is not None


TINY = {
    "model.model_channels": "8",
    "model.channel_mult": "1,1",
    "model.num_blocks": "1",
    "model.attn_resolutions": "",
    "data.augment": "0",
    "model.augment_dim": "0",
    "train.batch_size": "4",
    "train.steps": "4",
    "train.lr_warmup_steps": "1",
    "train.log_every": "1",
    "train.checkpoint_every": "1",
    "train.keep_last": "none",
    "train.sample_every": "0",  # no sample figures: only the FID measurements
    "train.progress": "false",
    "train.loss_figure": "false",
}


def test_fid_during_training_keeps_the_best_ema_weights_and_resumes(weights, tmp_path):
    from image_files import write_cifar_folder

    from koopkit_diffusion.runs import load_teacher, train_run
    from koopkit_diffusion.trainer import load_run

    folder = write_cifar_folder(tmp_path / "data", n=4)
    rng = np.random.default_rng(0)
    ref = save_stats(tmp_path / "ref.npz", rng.normal(size=2048), np.eye(2048))
    overrides = {**TINY, "data.root": str(folder)}
    fid = {"fid_every": 8, "fid_ref": ref, "inception_weights": weights, "fid_n": 3}
    run = tmp_path / "teacher"
    train_run("teacher-cifar10-uncond", run, overrides=overrides, **fid)
    records = [json.loads(line) for line in (run / "fid.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [2, 4] and [r["images"] for r in records] == [8, 16]
    best = json.loads((run / "best.json").read_text())
    assert best["fid"] == min(r["fid"] for r in records)
    # best.pt holds the EMA weights of the best step and loads as a checkpoint of the run.
    teacher = load_teacher(run, checkpoint=run / "best.pt")
    expected = load_run(run, checkpoint=run / "checkpoints" / f"ckpt-{best['step']:08d}.pt")
    for name, value in teacher.state_dict().items():
        assert torch.equal(value, expected.ema_state[name]), name

    # An interrupted run's records past the checkpoint are dropped and measured again.
    with open(run / "fid.jsonl", "a") as f:
        f.write(json.dumps({"step": 6, "images": 24, "fid": -1.0}) + "\n")
    (run / "best.json").write_text(json.dumps({"step": 6, "fid": -1.0}))
    resumed = {**overrides, "train.steps": "6"}
    train_run("teacher-cifar10-uncond", run, overrides=resumed, resume=True, **fid)
    steps = [json.loads(line)["step"] for line in (run / "fid.jsonl").read_text().splitlines()]
    assert steps == [2, 4, 6]
    assert json.loads((run / "best.json").read_text())["fid"] >= 0


def test_fid_during_training_needs_its_files(tmp_path):
    from koopkit_diffusion.runs import train_run

    with pytest.raises(ValueError, match="fid_ref"):
        train_run("teacher-cifar10-uncond", tmp_path / "r", fid_every=100)
    with pytest.raises(FileNotFoundError, match="absent.npz"):
        train_run("teacher-cifar10-uncond", tmp_path / "r", fid_every=100,
                  fid_ref=tmp_path / "absent.npz", inception_weights=tmp_path)  # fmt: skip
