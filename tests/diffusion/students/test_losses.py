"""Reconstruction losses, LPIPS from local files, and the adversarial term."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from koopkit_diffusion.students import discriminators as D
from koopkit_diffusion.students import losses as L
from koopkit_diffusion.students import lpips as P


@pytest.fixture(scope="module")
def lpips_dir(tmp_path_factory):
    """Randomly initialised LPIPS weights saved in the documented file format."""
    return P.write_random_weights(tmp_path_factory.mktemp("lpips"))


@given(st.integers(1, 5), st.integers(1, 6), st.integers(0, 2**31 - 1))
def test_mse_and_pseudo_huber_are_zero_on_equal_inputs_and_positive_otherwise(b, d, seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(b, d, generator=g)
    y = x + 0.1 + torch.rand(b, d, generator=g)
    assert L.mse(x, x) == 0
    assert L.pseudo_huber(x, x) == 0
    assert L.mse(x, y) > 0
    assert L.pseudo_huber(x, y) > 0


def test_pseudo_huber_default_c_and_limits():
    x = torch.zeros(2, 4)
    y = torch.full((2, 4), 100.0)
    c = 0.00054 * math.sqrt(4)
    expected = math.sqrt(4 * 100.0**2 + c * c) - c
    assert torch.isclose(L.pseudo_huber(x, y), torch.tensor(expected))
    # quadratic regime: ≈ ‖δ‖²/(2c) for small errors
    small = torch.full((2, 4), 1e-6)
    assert torch.isclose(L.pseudo_huber(x, small, c=1.0), torch.tensor(4e-12 / 2), rtol=1e-3)
    with pytest.raises(ValueError, match="positive"):
        L.pseudo_huber(x, y, c=0.0)


def test_losses_reject_mismatched_shapes():
    with pytest.raises(ValueError, match="same shape"):
        L.mse(torch.zeros(2, 3), torch.zeros(2, 4))


def test_unknown_loss_kind_is_named():
    with pytest.raises(ValueError, match="pseudo_huber"):
        L.ReconstructionLoss("l1")


def test_lpips_missing_files_names_expected_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="vgg16_features.pth.*lpips_vgg.pth"):
        P.LPIPS(tmp_path)
    with pytest.raises(ValueError, match="lpips_weights"):
        L.ReconstructionLoss("lpips")


def test_lpips_loads_weights_is_zero_on_equal_images_and_passes_gradients(lpips_dir):
    loss = L.ReconstructionLoss("lpips", lpips_weights=lpips_dir, lpips_resize=32)
    x = torch.rand(3, 3, 16, 16) * 2 - 1
    y = (torch.rand(3, 3, 16, 16) * 2 - 1).requires_grad_(True)
    assert loss(x, x).item() == pytest.approx(0.0, abs=1e-7)
    value = loss(x, y)
    assert value > 0
    value.backward()
    assert y.grad is not None and y.grad.abs().sum() > 0
    # grayscale images are repeated to three channels
    assert P.LPIPS(lpips_dir, resize=16)(x[:, :1], y[:, :1].detach()).shape == (3,)
    # the frozen VGG is not part of a model's state dict
    assert not loss.state_dict()


@pytest.mark.parametrize("kind", ["mse", "pseudo_huber", "lpips"])
def test_against_matches_separate_losses_in_value_and_gradient(kind, lpips_dir):
    loss = L.ReconstructionLoss(kind, lpips_weights=lpips_dir, lpips_resize=16)
    g = torch.Generator().manual_seed(0)
    y = torch.rand(4, 3, 8, 8, generator=g) * 2 - 1
    xs = [(torch.rand(4, 3, 8, 8, generator=g) * 2 - 1).requires_grad_(True) for _ in range(2)]
    shared = loss.against(xs, y)
    grads = torch.autograd.grad(shared[0] + 3 * shared[1], xs)
    # reference: one loss at a time, with the target in the graph (the single-pass path)
    y_graph = y.clone().requires_grad_(True)
    separate = [loss(x, y_graph) for x in xs]
    ref = torch.autograd.grad(separate[0] + 3 * separate[1], xs)
    for a, b in zip(shared, separate, strict=True):
        assert a.item() == pytest.approx(b.item(), rel=1e-5) and a.item() > 0
    for a, b in zip(grads, ref, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-7)
        assert a.abs().sum() > 0


def test_lpips_distances_to_rejects_bad_input(lpips_dir):
    lpips = P.LPIPS(lpips_dir, resize=16)
    y = torch.zeros(2, 3, 8, 8)
    with pytest.raises(ValueError, match="at least one batch"):
        lpips.distances_to([], y)
    with pytest.raises(ValueError, match="same shape"):
        lpips.distances_to([torch.zeros(3, 3, 8, 8)], y)


def test_lpips_accepts_full_torchvision_state_dict_and_rejects_bad_heads(lpips_dir, tmp_path):
    trunk = torch.load(lpips_dir / P.LPIPS_TRUNK_FILE, weights_only=True)
    torch.save({f"features.{k}": v for k, v in trunk.items()}, tmp_path / P.LPIPS_TRUNK_FILE)
    torch.save({"lin0.model.1.weight": torch.rand(1, 3, 1, 1)}, tmp_path / P.LPIPS_LINEAR_FILE)
    with pytest.raises(ValueError, match="lin0.model.1.weight"):
        P.LPIPS(tmp_path)


def test_discriminators_shapes_and_non_saturating_losses():
    d_img = D.make_discriminator((3, 32, 32), channels=8)
    assert isinstance(d_img, D.PatchDiscriminator)
    assert d_img(torch.randn(2, 3, 32, 32)).shape == (2, 1, 4, 4)
    d_flat = D.make_discriminator((2,), channels=8)
    assert d_flat(torch.randn(5, 2)).shape == (5, 1)
    confident_real = torch.full((4, 1), 20.0)
    confident_fake = torch.full((4, 1), -20.0)
    # a discriminator that separates perfectly has ~zero loss; the generator then has a large one
    assert D.discriminator_adversarial_loss(confident_real, confident_fake) < 1e-6
    assert D.generator_adversarial_loss(confident_fake) > 10
    assert D.generator_adversarial_loss(confident_real) < 1e-6
