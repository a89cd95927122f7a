"""The latent analyses of koopkit_diffusion.evaluation and their figures, on small stand-ins."""

import json

import matplotlib.figure
import numpy as np
import pytest
import torch
from torch import nn

from koopkit.operators import DenseOperator
from koopkit_diffusion.edm import exact_gaussian_denoiser, heun_sample
from koopkit_diffusion.evaluation.latent import (
    cluster_labels,
    kdm_latents,
    knn_label_agreement,
    latent_semantic_proximity,
    noise_partition,
)
from koopkit_diffusion.evaluation.plots import (
    plot_latent_embedding,
    plot_noise_partition,
    plot_operator_spectrum,
    plot_representability,
    save_figure,
)
from koopkit_diffusion.evaluation.representability import flow_representability
from koopkit_diffusion.students import KDM, KDMConfig
from koopkit_diffusion.teacher import DenoiserTeacher


class LinearKDM(nn.Module):
    """KDM-like stand-in with linear encoders and decoder: every latent is linear in the state."""

    def __init__(self, data_dim: int = 2, latent_dim: int = 4, sigma_max: float = 80.0):
        super().__init__()
        gen = torch.Generator().manual_seed(0)
        self.sigma_max = sigma_max
        self.w_noise = nn.Parameter(torch.randn(data_dim, latent_dim, generator=gen) / sigma_max)
        self.w_data = nn.Parameter(torch.randn(data_dim, latent_dim, generator=gen))
        self.w_dec = nn.Parameter(torch.linalg.pinv(self.w_data.detach()))
        self.operator = DenseOperator(latent_dim, init="orthogonal")

    def encode_noise(self, noise, labels=None):
        return (noise * self.sigma_max) @ self.w_noise

    def encode_data(self, x0, labels=None):
        return x0 @ self.w_data

    def advance(self, z, labels=None):
        return self.operator(z)

    def decode(self, z, labels=None):
        return z @ self.w_dec


@pytest.fixture(scope="module")
def gaussian_teacher():
    return DenoiserTeacher(exact_gaussian_denoiser(0.0, 0.5), shape=(2,))


def test_knn_agreement_is_one_for_separated_classes_and_near_chance_for_random_ones():
    rng = np.random.default_rng(0)
    classes = np.repeat(np.arange(4), 50)
    points = classes[:, None] * 100.0 + rng.standard_normal((200, 3))
    assert knn_label_agreement(points, classes, k=5) == 1.0
    shuffled = rng.permutation(classes)
    assert abs(knn_label_agreement(points, shuffled, k=5) - 0.25) < 0.1
    with pytest.raises(ValueError, match="k must lie"):
        knn_label_agreement(points, classes, k=200)


def test_proximity_prefers_the_space_whose_geometry_matches_the_semantics():
    rng = np.random.default_rng(1)
    semantic = rng.standard_normal((300, 2))
    classes = (semantic[:, 0] > 0).astype(int) + 2 * (semantic[:, 1] > 0)
    noise = rng.standard_normal((300, 2))  # unrelated to the outputs
    q, _ = np.linalg.qr(rng.standard_normal((6, 2)))
    latents = semantic @ q.T + 3.0  # an isometric image of the semantics
    result = latent_semantic_proximity(latents, noise, semantic, classes, k=5)
    assert result.spearman_latent > 0.999 and abs(result.spearman_noise) < 0.2
    assert result.knn_agreement_latent > 0.8 > 0.4 > result.knn_agreement_noise
    assert result.knn_agreement_chance == pytest.approx(0.25, abs=0.05)
    assert json.loads(json.dumps(result.to_dict()))["n"] == 300
    with pytest.raises(ValueError, match="same n"):
        latent_semantic_proximity(latents[:10], noise, semantic)


def test_within_group_correlation_ignores_what_the_groups_explain():
    # Latents = isometric semantics plus a huge per-group offset (like a control term B·y):
    # the global correlation is dominated by the offset, the within-group one is exact.
    rng = np.random.default_rng(6)
    semantic = rng.standard_normal((240, 2))
    groups = np.repeat(np.arange(3), 80)
    latents = np.hstack([semantic, 1000.0 * groups[:, None]])
    noise = rng.standard_normal((240, 2))
    result = latent_semantic_proximity(latents, noise, semantic, groups=groups)
    assert result.spearman_latent_within_group == pytest.approx(1.0)
    assert abs(result.spearman_noise_within_group) < 0.2
    assert result.spearman_latent < 0.5


def test_linear_flow_in_linear_coordinates_is_exactly_representable(gaussian_teacher):
    # The Gaussian teacher's flow is linear in ε, and so is every latent of the stand-in:
    # all maps between times are exactly affine and compose exactly.
    model = LinearKDM()
    noise = torch.randn(200, 2, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    result = flow_representability(model.double(), gaussian_teacher, noise, n_steps=8)
    assert result.sigmas[0] == 80.0 and result.sigmas[-1] == 0.0 and len(result.sigmas) == 5
    assert result.residual_latent.shape == (4, len(result.dims))
    assert np.all(result.residual_latent[:, result.dims >= 2] < 1e-6)
    assert np.all(result.residual_state < 1e-6)
    assert np.all(result.semigroup_latent_on_data < 1e-6)
    assert np.all(result.semigroup_state < 1e-6)
    assert result.eigenvalues.shape == (4,)
    np.testing.assert_allclose(np.abs(result.eigenvalues), 1.0, atol=1e-6)  # orthogonal K
    summary = json.loads(json.dumps(result.to_dict()))
    assert summary["spectral_radius"] == pytest.approx(1.0, abs=1e-6)


def test_representability_rejects_bad_time_indices(gaussian_teacher):
    with pytest.raises(ValueError, match="start at 0"):
        flow_representability(
            LinearKDM(), gaussian_teacher, torch.randn(10, 2), n_steps=4, time_indices=[1, 4]
        )
    with pytest.raises(ValueError, match="endpoint"):
        flow_representability(LinearKDM(), gaussian_teacher, torch.randn(10, 2), endpoint="x")


def test_analyses_and_figures_run_on_the_kdm_model(gaussian_teacher, tmp_path):
    torch.manual_seed(0)
    model = KDM(KDMConfig(shape=(2,), latent_dim=8, mlp_width=32, mlp_depth=2))
    noise = torch.randn(120, 2, generator=torch.Generator().manual_seed(3))
    latents, samples = kdm_latents(model, noise, batch_size=50)
    assert latents.shape == (120, 8) and samples.shape == (120, 2)
    torch.testing.assert_close(samples, model.sample(noise=noise))
    (cells,) = cluster_labels(samples, n_clusters=4)
    proximity = latent_semantic_proximity(latents, noise, samples, cells, k=5)
    assert -1 <= proximity.spearman_latent <= 1
    rep = flow_representability(model, gaussian_teacher, noise, n_steps=6, dims=[1, 4, 8])
    assert rep.residual_latent.shape == (len(rep.sigmas) - 1, 3)
    assert np.all((rep.residual_latent >= 0) & (rep.residual_latent <= 1 + 1e-9))
    teacher_samples = heun_sample(gaussian_teacher, noise, 6).samples
    partition = noise_partition(noise, teacher_samples, samples, n_clusters=4)
    assert 0 <= partition["agreement"] <= 1
    figures = {
        "embedding.png": plot_latent_embedding(latents, noise, cells),
        "representability.png": plot_representability(rep),
        "spectrum.png": plot_operator_spectrum(rep.eigenvalues),
        "partition.png": plot_noise_partition(noise, partition),
    }
    for name, fig in figures.items():
        assert isinstance(fig, matplotlib.figure.Figure)
        save_figure(fig, tmp_path / name)
        assert (tmp_path / name).stat().st_size > 0


def test_noise_partition_agrees_fully_for_identical_generators():
    rng = np.random.default_rng(4)
    noise = rng.standard_normal((200, 2))
    samples = np.sign(noise) * 2 + 0.1 * rng.standard_normal((200, 2))
    assert noise_partition(noise, samples, samples, n_clusters=4)["agreement"] == 1.0
