"""The KDM authors' configuration: training order, options of the model, and their laws."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from koopkit_diffusion.students import KDM, KDBaseline, KDMConfig
from koopkit_diffusion.students import discriminators as D
from koopkit_diffusion.students import lpips as P
from koopkit_diffusion.students.losses import ReconstructionLoss, mse
from koopkit_diffusion.students.networks import noise_input_scale
from koopkit_diffusion.trainer import TensorDictDataset, Trainer, TrainerConfig


class _OrderRecorder(nn.Module):
    """A one-parameter generator and discriminator that record what each loss saw."""

    def __init__(self) -> None:
        super().__init__()
        self.gen = nn.Linear(1, 1)
        self.discriminator = nn.Linear(1, 1, bias=False)
        self.log: list[tuple[str, float]] = []

    def losses(self, batch):
        self.log.append(("generator", self.discriminator.weight.item()))
        fake = self.gen(batch["x"])
        return {"total": nn.functional.softplus(-self.discriminator(fake)).mean()}

    def discriminator_loss(self, batch):
        self.log.append(("discriminator", self.discriminator.weight.item()))
        fake = self.gen(batch["x"]).detach()
        real, fake = self.discriminator(batch["x"] + 1), self.discriminator(fake)
        return nn.functional.softplus(-real).mean() + nn.functional.softplus(fake).mean()


def _train(tmp_path, disc_first: bool) -> list[tuple[str, float]]:
    model = _OrderRecorder()
    config = TrainerConfig(
        steps=2, batch_size=4, lr=0.1, disc_first=disc_first, progress=False, loss_figure=False,
        checkpoint_every=100, device="cpu",
    )  # fmt: skip
    data = TensorDictDataset(x=torch.randn(8, 1, generator=torch.Generator().manual_seed(0)))
    Trainer(model, data, config, tmp_path / str(disc_first)).train()
    return model.log


def test_disc_first_steps_the_discriminator_before_the_generator_sees_it(tmp_path):
    first, after = _train(tmp_path, True), _train(tmp_path, False)
    assert [who for who, _ in first] == ["discriminator", "generator"] * 2
    assert [who for who, _ in after] == ["generator", "discriminator"] * 2
    # disc first: the generator's term uses the discriminator of this step's update
    assert first[1][1] != first[0][1]
    # disc after: the generator sees the discriminator its own update left it
    assert after[0][1] == after[1][1]


# ----------------------------------------------------------------------- the model's options

MLP2D = dict(mlp_width=16, mlp_depth=2, latent_dim=8)
IMG = dict(
    shape=(1, 16, 16),
    network="unet",
    latent_dim=None,
    model_channels=8,
    channel_mult=(1, 2),
    num_blocks=1,
    attn_resolutions=(),
)


@pytest.fixture(scope="module")
def lpips_dir(tmp_path_factory):
    return P.write_random_weights(tmp_path_factory.mktemp("lpips"))


def _pairs(n=8, shape=(2,), labels=None, seed=0):
    g = torch.Generator().manual_seed(seed)
    batch = {
        "noise": torch.randn(n, *shape, generator=g),
        "sample": torch.randn(n, *shape, generator=g),
    }
    if labels:
        batch["label"] = torch.randint(labels, (n,), generator=g)
    return batch


@pytest.mark.parametrize("config", [MLP2D, IMG])
def test_placeholder_time_is_one_for_the_noise_encoder_and_zero_elsewhere(config):
    torch.manual_seed(0)
    x = torch.randn(3, *KDMConfig(**config).shape)
    for time_input in (False, True):
        model = KDM(KDMConfig(**config, time_input=time_input, noise_scaling="none"))
        model.encoder_noise.load_state_dict(model.encoder_data.state_dict())
        same = torch.equal(model.encoder_noise(x), model.encoder_data(x))
        assert same != time_input  # equal weights differ only through the time they are given
    if config is MLP2D:  # one more input column per network
        assert model.encoder_noise.net[0].in_features == 3
        assert model.decoder.net[0].in_features == 9


def test_latent_activation_ends_the_mlp_encoders_with_the_activation():
    torch.manual_seed(0)
    model = KDM(KDMConfig(**MLP2D, latent_activation=True, activation="silu"))
    z = model.encode_data(torch.randn(500, 2) * 5)
    assert z.min() >= -0.2785  # SiLU's minimum
    assert isinstance(model.encoder_data.net[-1], nn.SiLU)
    assert isinstance(model.decoder.net[-1], nn.Linear)  # the decoder ends linear


@pytest.mark.parametrize(
    ("scaling", "factor"), [("c_in", 1 / math.sqrt(80**2 + 0.5**2)), ("unit", 1 / 80), ("none", 1)]
)
def test_noise_scaling_sets_what_the_noise_encoder_sees(scaling, factor):
    config = KDMConfig(**MLP2D, noise_scaling=scaling)
    assert noise_input_scale(config) == pytest.approx(factor)
    model = KDM(config)
    eps = torch.randn(4, 2)
    expected = model.encoder_noise.net(eps * 80 * factor)
    assert torch.allclose(model.encode_noise(eps), expected, atol=1e-6)


def test_labels_only_conditioning_has_no_control_term_but_labels_still_matter():
    torch.manual_seed(0)
    model = KDM(KDMConfig(**MLP2D, label_dim=3, conditioning="labels"))
    assert model.control is None
    z = torch.randn(2, 8)
    assert torch.equal(model.advance(z, torch.tensor([1, 2])), model.operator(z))
    eps = torch.randn(4, 2)
    zeros, ones = torch.zeros(4, dtype=torch.long), torch.ones(4, dtype=torch.long)
    assert not torch.allclose(
        model.sample(noise=eps, labels=zeros), model.sample(noise=eps, labels=ones)
    )
    with_control = KDM(KDMConfig(**MLP2D, label_dim=3))
    extra = sum(p.numel() for p in with_control.control.parameters())
    assert extra == 3 * 8 + 8  # B and c, as torch.nn.Linear (the authors' control)


def test_without_push_weight_the_push_term_is_logged_without_gradient():
    torch.manual_seed(0)
    model = KDM(KDMConfig(**MLP2D, w_push=0.0, sigma_z=0.0))
    batch = _pairs()
    out = model.losses(batch)
    assert not out["push"].requires_grad and out["push"] > 0
    z_hat = model.advance(model.encode_noise(batch["noise"]))
    assert torch.allclose(out["push"], mse(model.decode(z_hat), batch["sample"]))
    assert torch.allclose(out["total"], out["latent"] + out["reconstruction"] + out["operator"])


def test_mse_plus_lpips_is_the_sum_of_both(lpips_dir):
    torch.manual_seed(0)
    x, y = torch.rand(3, 3, 16, 16) * 2 - 1, torch.rand(3, 3, 16, 16) * 2 - 1
    both = ReconstructionLoss("mse+lpips", lpips_weights=lpips_dir)
    lpips = ReconstructionLoss("lpips", lpips_weights=lpips_dir)
    assert torch.allclose(both(x, y), mse(x, y) + lpips(x, y))
    assert torch.allclose(both.against([x, y], y)[1], torch.tensor(0.0), atol=1e-6)


def test_lpips_native_average_pooling_is_the_authors_setting(lpips_dir, tmp_path):
    native = P.LPIPS(lpips_dir)  # defaults: no resize, average pooling
    assert native.resize is None and native.pooling == "avg"
    pools = [type(m) for m in native.trunk if "Pool" in type(m).__name__]
    assert pools == [nn.AvgPool2d] * 4
    x, y = torch.rand(2, 3, 16, 16) * 2 - 1, torch.rand(2, 3, 16, 16) * 2 - 1
    d_native = native(x, y)
    assert d_native.shape == (2,) and torch.all(d_native > 0)
    original = P.LPIPS(lpips_dir, resize=32, pooling="max")
    assert not torch.allclose(original(x, y), d_native)
    with pytest.raises(ValueError, match="16×16"):
        native(torch.zeros(1, 3, 8, 8), torch.zeros(1, 3, 8, 8))
    # piq's lpips_weights.pt (a list of the five heads) reads the same as the LPIPS release file
    heads = torch.load(lpips_dir / P.LPIPS_LINEAR_FILE, weights_only=True)
    piq_dir = tmp_path / "piq"
    piq_dir.mkdir()
    (piq_dir / P.LPIPS_TRUNK_FILE).write_bytes((lpips_dir / P.LPIPS_TRUNK_FILE).read_bytes())
    torch.save([heads[f"lin{i}.model.1.weight"] for i in range(5)], piq_dir / P.LPIPS_LINEAR_FILE)
    assert torch.allclose(P.LPIPS(piq_dir)(x, y), d_native)


def test_dcgan_discriminator_gives_one_logit_per_32px_image_and_a_grid_at_64():
    disc = D.make_discriminator((3, 32, 32), kind="dcgan")
    assert isinstance(disc, D.DCGANDiscriminator)
    assert sum(isinstance(m, nn.BatchNorm2d) for m in disc.modules()) == 2
    assert disc(torch.randn(4, 3, 32, 32)).shape == (4, 1)
    assert disc(torch.randn(2, 3, 64, 64)).shape == (2, 25)
    with pytest.raises(ValueError, match="32"):
        disc(torch.randn(2, 3, 16, 16))
    with pytest.raises(ValueError, match="32×32"):
        KDMConfig(**IMG, w_adv=1.0, discriminator="dcgan")
    with pytest.raises(ValueError, match="discriminator must be one of"):
        D.make_discriminator((3, 32, 32), kind="nope")


def test_discriminator_first_draws_fakes_the_way_the_push_term_does():
    torch.manual_seed(0)
    config = KDMConfig(
        **{**IMG, "shape": (3, 32, 32)}, w_adv=1.0, discriminator="dcgan", sigma_z=0.0
    )
    model = KDM(config)
    batch = _pairs(4, (3, 32, 32))
    # no losses() call on this batch before: the fakes are drawn afresh, D(K(E_T(σmax·ε)))
    torch.manual_seed(1)
    d_loss = model.discriminator_loss(batch)
    torch.manual_seed(1)
    real, fake = (
        model.discriminator(batch["sample"]),
        model.discriminator(model.generate(batch["noise"])),
    )
    assert torch.allclose(d_loss, D.discriminator_adversarial_loss(real, fake), atol=1e-5)


@pytest.mark.parametrize(
    ("operator", "n"), [("eigendecomposed", 4), ("complex-eigendecomposed", 8)]
)
def test_uniform_eigenvalue_targets_enter_the_operator_penalty(operator, n):
    torch.manual_seed(0)
    model = KDM(
        KDMConfig(**MLP2D, operator=operator, operator_bias=False, eigenvalue_targets="uniform")
    )
    targets = model.operator.eigenvalue_targets
    assert targets.shape == (n, 2) and targets.abs().max() <= 1 and targets.std() > 0.2
    out = model.losses(_pairs())
    assert torch.allclose(out["operator"], model.operator.penalty())
    assert model.operator.target_penalty() > 0
    with pytest.raises(ValueError, match="eigendecomposed"):
        KDMConfig(**MLP2D, eigenvalue_targets="uniform")


def test_linear_operator_init_is_torch_default_for_kdm_and_kd_alike():
    config = KDMConfig(**MLP2D, operator_init="linear")
    torch.manual_seed(0)
    kdm, kd = KDM(config), KDBaseline(config)
    bound = 1 / math.sqrt(8)
    for op in (kdm.operator, kd.middle):
        assert op.weight.abs().max() <= bound and op.bias.abs().max() <= bound
        assert op.bias.abs().max() > 0  # drawn, not zero
    identity = KDBaseline(KDMConfig(**MLP2D))
    assert torch.equal(identity.middle.weight, torch.eye(8))


# ----------------------------------------------------------------------- the outlier analysis
def _squares(n, seed=0):
    """Points filling two unit squares far apart (DBSCAN-dense at eps 0.15)."""
    g = torch.Generator().manual_seed(seed)
    pts = torch.rand(n, 2, generator=g)
    pts[n // 2 :, 0] += 3.0
    return pts


def test_detect_outliers_flags_isolated_points_by_dbscan_and_far_points_by_zscore():
    from koopkit_diffusion.evaluation.outliers import detect_outliers

    pts = torch.cat([_squares(4000), torch.tensor([[1.7, 0.5], [30.0, 0.5]])])
    found = detect_outliers(pts)
    assert set(found) == {"dbscan", "zscore", "outlier"}
    assert found["dbscan"][-2] and found["dbscan"][-1]  # between the squares, and far away
    assert found["zscore"][-1] and not found["zscore"][-2]  # only the far one is > 3σ
    assert found["outlier"].sum() == 2  # the squares themselves are dense
    assert (found["outlier"] == (found["dbscan"] | found["zscore"])).all()
    with pytest.raises(ValueError, match="shape"):
        detect_outliers(torch.zeros(5))


def test_outlier_analysis_compares_a_model_with_the_teacher_on_the_same_noises(tmp_path):
    from koopkit_diffusion.evaluation.outliers import outlier_analysis

    class Spreader:  # the teacher's samples, plus a few noises thrown between the squares
        def sample(self, noise):
            out = teacher[: len(noise)].clone()
            far = noise.norm(dim=1) > 2.5
            k = int(far.sum())  # on a sparse line between the squares, 0.5 apart
            out[far] = torch.stack([torch.full((k,), 2.0), 0.5 * torch.arange(k)], dim=1)
            return out

    noise = torch.randn(3000, 2, generator=torch.Generator().manual_seed(1))
    teacher = _squares(3000)
    result = outlier_analysis(Spreader(), noise, teacher, out_dir=tmp_path, n_clusters=2)
    far = (noise.norm(dim=1) > 2.5).float().mean().item()
    assert result["teacher"]["fraction"] == 0
    assert result["model"]["fraction"] == pytest.approx(far, abs=1e-9)
    assert result["model_outlier_noise_radius"] > 2.5 > result["inlier_noise_radius"]
    assert (tmp_path / "outliers.png").is_file()
