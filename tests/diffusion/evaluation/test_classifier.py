"""koopkit_diffusion.evaluation.classifier: the digits CNN, classifier-FID and class coverage."""

import numpy as np
import pytest
import torch

from koopkit_diffusion.data import digits
from koopkit_diffusion.evaluation.classifier import (
    DigitsClassifier,
    class_coverage,
    classifier_features,
    classifier_fid,
    load_digits_classifier,
)
from koopkit_diffusion.teacher import DenoiserTeacher


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("koopkit-cache")


@pytest.fixture(scope="module")
def classifier(cache):
    return load_digits_classifier(cache_dir=cache, seed=0, progress=False)


def test_classifier_reaches_97_percent_test_accuracy(classifier):
    images, labels = digits("test")
    with torch.no_grad():
        accuracy = float((classifier(images).argmax(1) == labels).float().mean())
    assert accuracy >= 0.97
    assert classifier.test_accuracy == pytest.approx(accuracy)


def test_classifier_is_cached_atomically_and_reloaded_unchanged(classifier, cache):
    files = sorted(p.name for p in cache.iterdir())
    assert files == ["digits-classifier-v1-seed0.pt"]  # no temporary file left over
    again = load_digits_classifier(cache_dir=cache, seed=0, progress=False)
    for (name, a), b in zip(
        classifier.state_dict().items(), again.state_dict().values(), strict=True
    ):
        torch.testing.assert_close(a, b, rtol=0, atol=0, msg=name)
    assert again.test_accuracy == classifier.test_accuracy


def test_features_are_64_dimensional_and_accept_flat_numpy(classifier):
    images, _ = digits("test")
    feats = classifier_features(classifier, images[:10])
    assert feats.shape == (10, 64)
    flat = classifier_features(classifier, images[:10].reshape(10, 64).numpy())
    torch.testing.assert_close(flat, feats)
    with pytest.raises(ValueError, match=r"\(n, 1, 8, 8\)"):
        classifier_features(classifier, torch.zeros(3, 1, 4, 4))


def test_classifier_fid_is_small_between_splits_and_grows_with_corruption(classifier):
    train, _ = digits("train")
    test, _ = digits("test")
    same = classifier_fid(classifier, test, train)
    noisy = classifier_fid(classifier, (test + 0.5 * torch.randn_like(test)).clamp(-1, 1), train)
    blurred = classifier_fid(classifier, test.mean(dim=(2, 3), keepdim=True).expand_as(test), train)
    assert same < noisy and same < blurred
    assert classifier_fid(classifier, train, train) == pytest.approx(0.0, abs=1e-6)
    # Precomputed (mu, sigma) give the same number as reference images. Dead ReLU features make
    # the covariances singular; the square roots of their round-off eigenvalues (~1e-16) move the
    # trace term by ~1e-6, so the two routes agree to that, not to machine precision.
    feats = classifier_features(classifier, train).double().numpy()
    stats = (feats.mean(0), np.cov(feats, rowvar=False))
    assert classifier_fid(classifier, test, stats) == pytest.approx(same, rel=1e-4)


def test_coverage_counts_classes_of_real_and_collapsed_samples(classifier):
    images, labels = digits("test")
    real = class_coverage(classifier, images)
    assert real["n_covered"] == 10 and real["classified"] > 0.95
    assert sum(real["fractions"]) == pytest.approx(1.0)
    collapsed = class_coverage(classifier, images[labels == 3], min_fraction=0.05)
    assert collapsed["n_covered"] == 1 and collapsed["fractions"][3] > 0.9


def test_untrained_classifier_has_no_accuracy_yet():
    assert np.isnan(DigitsClassifier().test_accuracy)


def test_compare_and_analyze_digits_generators_with_the_classifier(classifier, tmp_path):
    from koopkit_diffusion.edm import exact_gaussian_denoiser
    from koopkit_diffusion.evaluation import analyze_model, compare_digits
    from koopkit_diffusion.students import KDM, KDMConfig

    torch.manual_seed(0)
    config = KDMConfig(
        shape=(1, 8, 8),
        network="unet",
        latent_dim=None,
        model_channels=8,
        channel_mult=(1,),
        num_blocks=1,
        attn_resolutions=(),
    )
    model = KDM(config)
    teacher = DenoiserTeacher(exact_gaussian_denoiser(0.0, 0.5), shape=(1, 8, 8))
    reference = digits("train")[0]
    results = compare_digits({"KDM": model}, teacher, classifier, reference, n=120)
    assert set(results) == {"teacher", "KDM"}
    assert results["teacher"]["nfe"] == 35 and results["KDM"]["nfe"] == 1
    assert all(r["classifier_fid"] > 0 for r in results.values())
    report = analyze_model(model, teacher, tmp_path, classifier=classifier, n=80, n_flow=70, k=5)
    assert report["latent_semantic"]["n"] == 80 and not report["conditional"]
    assert (tmp_path / "latent_embedding.png").is_file()
    assert len(report["representability"]["dims"]) == len(
        report["representability"]["residual_latent"][0]
    )
