"""The KDM model and the KD baseline: loss terms, gradients, sampling, conditioning."""

from __future__ import annotations

import pytest
import torch

from koopkit_diffusion.students import KDM, KDMConfig
from koopkit_diffusion.students.kd import KDBaseline

SMALL = dict(mlp_width=16, mlp_depth=2, latent_dim=8)
IMG = dict(
    shape=(1, 8, 8),
    network="unet",
    latent_dim=None,
    model_channels=8,
    channel_mult=(1, 2),
    num_blocks=1,
    attn_resolutions=(),
)


def _batch(n=16, shape=(2,), labels=None, seed=0):
    g = torch.Generator().manual_seed(seed)
    batch = {
        "noise": torch.randn(n, *shape, generator=g),
        "sample": torch.randn(n, *shape, generator=g),
    }
    if labels is not None:
        batch["label"] = torch.randint(labels, (n,), generator=g)
    return batch


def test_losses_return_all_terms_nonnegative_and_total_is_weighted_sum():
    torch.manual_seed(0)
    cfg = KDMConfig(**SMALL, w_latent=2.0, w_rec=0.5, w_push=3.0)
    out = KDM(cfg).losses(_batch())
    assert set(out) == {"latent", "reconstruction", "push", "adversarial", "operator", "total"}
    for v in out.values():
        assert v.ndim == 0 and torch.isfinite(v) and v >= 0
    assert out["adversarial"] == 0 and out["operator"] == 0  # adversary off, dense operator
    expected = 2.0 * out["latent"] + 0.5 * out["reconstruction"] + 3.0 * out["push"]
    assert torch.isclose(out["total"], expected)


def test_latent_and_reconstruction_terms_vanish_when_the_model_is_exact():
    """σz = 0, E_T ≡ E_0 ∘ teacher, K = I: zero latent term; D ≡ E_0⁻¹ zeroes the rest."""
    torch.manual_seed(0)
    cfg = KDMConfig(shape=(2,), latent_dim=2, mlp_width=4, mlp_depth=1, sigma_z=0.0, w_adv=0)
    model = KDM(cfg)
    identity = _IdentityNet()
    model.encoder_noise, model.encoder_data, model.decoder = _ScaledIdentity(), identity, identity
    eps = torch.randn(8, 2)
    batch = {"noise": eps, "sample": eps.clone()}  # teacher = identity map of ε
    with torch.no_grad():
        model.operator.weight.copy_(torch.eye(2))
        model.operator.bias.zero_()
    out = model.losses(batch)
    assert out["latent"] < 1e-12 and out["reconstruction"] < 1e-12 and out["push"] < 1e-12


class _IdentityNet(torch.nn.Module):
    def forward(self, x, labels=None):
        return x


class _ScaledIdentity(torch.nn.Module):
    def forward(self, x, labels=None):  # undoes the σmax scaling of encode_noise
        return x / 80.0


def test_gradients_reach_data_encoder_through_latent_term_only():
    torch.manual_seed(0)
    cfg = KDMConfig(**SMALL, w_rec=0.0, w_push=0.0)
    model = KDM(cfg)
    model.losses(_batch())["total"].backward()
    grads = [p.grad for p in model.encoder_data.parameters()]
    assert all(g is not None for g in grads) and sum(g.abs().sum() for g in grads) > 0
    assert all(p.grad is not None for p in model.encoder_noise.parameters())
    assert all(p.grad is None or not p.grad.any() for p in model.decoder.parameters())


def test_operator_penalty_reaches_the_loss_for_eigendecomposed_operator():
    torch.manual_seed(0)
    model = KDM(KDMConfig(**SMALL, operator="eigendecomposed", w_operator=5.0))
    with torch.no_grad():  # move Q away from P⁻¹ so the inverse penalty is positive
        model.operator.Q.add_(0.3 * torch.randn_like(model.operator.Q))
    out = model.losses(_batch())
    assert out["operator"] > 0
    rest = out["latent"] + out["reconstruction"] + out["push"]
    assert torch.isclose(out["total"], rest + 5.0 * out["operator"])
    out["total"].backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.operator.parameters())


@pytest.mark.parametrize("kind", ["dense", "lowrank", "diagonal"])
def test_every_operator_kind_builds_and_its_parameters_get_a_gradient(kind):
    torch.manual_seed(0)
    model = KDM(KDMConfig(**SMALL, operator=kind, operator_rank=2))
    model.losses(_batch())["total"].backward()
    grads = [p.grad for p in model.operator.parameters()]
    assert grads and all(g is not None and torch.isfinite(g).all() for g in grads)
    assert any(g.abs().sum() > 0 for g in grads)


def test_sampling_is_deterministic_for_a_seed_and_matches_explicit_pipeline():
    torch.manual_seed(0)
    model = KDM(KDMConfig(**SMALL))
    a = model.sample(64, generator=torch.Generator().manual_seed(3))
    b = model.sample(64, generator=torch.Generator().manual_seed(3))
    c = model.sample(64, generator=torch.Generator().manual_seed(4))
    assert torch.equal(a, b) and not torch.equal(a, c)
    eps = torch.randn(64, 2, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        manual = model.decode(model.advance(model.encode_noise(eps)))
    assert torch.allclose(a, manual)
    assert model.encode_noise(eps).shape == (64, 8) and model.encode_data(eps).shape == (64, 8)


def test_encode_noise_scales_by_sigma_max():
    torch.manual_seed(0)
    model = KDM(KDMConfig(**SMALL, sigma_max=10.0))
    eps = torch.randn(5, 2)
    assert torch.allclose(model.encode_noise(eps), model.encoder_noise(10.0 * eps))


def test_conditional_sampling_honours_labels():
    torch.manual_seed(0)
    model = KDM(KDMConfig(**SMALL, label_dim=3))
    with torch.no_grad():
        model.control.weight.copy_(torch.randn_like(model.control.weight) * 5)
    eps = torch.randn(6, 2)
    x0 = model.sample(noise=eps, labels=torch.zeros(6, dtype=torch.long))
    x1 = model.sample(noise=eps, labels=torch.ones(6, dtype=torch.long))
    assert not torch.allclose(x0, x1)
    # same label, same noise: same sample, whatever the rest of the batch
    mixed = model.sample(noise=eps, labels=torch.tensor([0, 1, 0, 1, 0, 1]))
    assert torch.allclose(mixed[0::2], x0[0::2]) and torch.allclose(mixed[1::2], x1[1::2])
    # the control term B·y + c is what advance adds
    z = torch.randn(2, 8)
    y = torch.tensor([2, 2])
    control = model.control.weight[:, 2] + model.control.bias
    assert torch.allclose(model.advance(z, y) - model.operator(z), control.expand(2, -1))
    with pytest.raises(ValueError, match="labels"):
        model.losses({"noise": eps, "sample": eps})


def test_bad_batches_and_configs_are_rejected_with_clear_errors():
    model = KDM(KDMConfig(**SMALL))
    with pytest.raises(ValueError, match="missing"):
        model.losses({"noise": torch.zeros(2, 2)})
    with pytest.raises(ValueError, match="shape"):
        model.losses({"noise": torch.zeros(2, 3), "sample": torch.zeros(2, 3)})
    with pytest.raises(ValueError, match="operator"):
        KDMConfig(operator="nope")
    with pytest.raises(ValueError, match="operator_rank"):
        KDMConfig(operator="lowrank")
    with pytest.raises(ValueError, match="unet"):
        KDMConfig(network="unet", shape=(2,))


def test_image_kdm_with_adversary_trains_both_players():
    torch.manual_seed(0)
    model = KDM(KDMConfig(**IMG, label_dim=10, w_adv=1.0, discriminator_channels=8))
    assert model.discriminator is not None
    batch = _batch(4, (1, 8, 8), labels=10)
    out = model.losses(batch)
    assert out["adversarial"] > 0
    out["total"].backward()
    # the generator's adversarial term does not touch the discriminator
    assert all(p.grad is None for p in model.discriminator.parameters())
    d_loss = model.discriminator_loss(batch)
    d_loss.backward()
    assert all(p.grad is not None for p in model.discriminator.parameters())
    assert model.sample(3, generator=torch.Generator().manual_seed(0)).shape == (3, 1, 8, 8)


def test_unet_projection_to_latent_dim():
    torch.manual_seed(0)
    model = KDM(KDMConfig(**{**IMG, "latent_dim": 12}))
    assert model.encode_data(torch.randn(2, 1, 8, 8)).shape == (2, 12)
    assert model.decode(torch.randn(2, 12)).shape == (2, 1, 8, 8)


def test_kd_baseline_has_kdm_sampling_capacity_and_regresses_on_pairs():
    torch.manual_seed(0)
    cfg = KDMConfig(**SMALL)
    kd, kdm = KDBaseline(cfg), KDM(cfg)
    assert kd.sampling_parameters() == kdm.sampling_parameters()
    batch = _batch()
    out = kd.losses(batch)
    assert set(out) == {"push", "adversarial", "total"}
    assert torch.isclose(
        out["push"], torch.mean((kd.generate(batch["noise"]) - batch["sample"]) ** 2)
    )
    opt = torch.optim.Adam(kd.parameters(), 1e-2)
    first = kd.losses(batch)["total"].item()
    for _ in range(30):
        opt.zero_grad()
        kd.losses(batch)["total"].backward()
        opt.step()
    assert kd.losses(batch)["total"].item() < first
    a = kd.sample(8, generator=torch.Generator().manual_seed(1))
    assert torch.equal(a, kd.sample(8, generator=torch.Generator().manual_seed(1)))
