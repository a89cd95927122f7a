"""The one preset system: paper parameter counts, teacher presets, typed overrides, errors."""

from __future__ import annotations

import pytest
import torch

from koopkit_diffusion.runs.presets import get_preset, parse_value, preset_names
from koopkit_diffusion.runs.training import build_model
from koopkit_diffusion.students import KDM
from koopkit_diffusion.students.discriminators import DCGANDiscriminator


def _generator_parameters(model: torch.nn.Module) -> int:
    return sum(p.numel() for n, p in model.named_parameters() if not n.startswith("discriminator."))


def _fields(config, names):
    return {name: getattr(config, name) for name in names}


# What the authors' trainer/trainer.py does for every image configuration.
AUTHORS_IMAGE_TRAIN = {
    "steps": 800_000,
    "batch_size": 128,
    "lr": 3e-4,
    "betas": (0.9, 0.999),
    "disc_betas": (0.9, 0.999),
    "disc_first": True,
    "grad_clip": None,
    "ema_decay": 0.9999,
    "ema_warmup": False,
    "lr_warmup_steps": 0,
    "lr_decay": "none",
    "weight_decay": 0.0,
}
# configs/koopman/cifar_uncond.py with models/koopman_model.py's SongUNet defaults.
AUTHORS_CIFAR_MODEL = {
    "shape": (3, 32, 32),
    "network": "unet",
    "sigma_max": 80.0,
    "noise_scaling": "none",
    "time_input": True,
    "latent_channels": 1,
    "latent_dim": None,
    "model_channels": 64,
    "channel_mult": (1, 2, 2, 2),
    "num_blocks": 4,
    "attn_resolutions": (16,),
    "dropout": 0.10,
    "sigma_z": 0.4,
    "loss": "lpips",
    "lpips_resize": None,
    "lpips_pooling": "avg",
    "w_latent": 1.0,
    "w_rec": 1.0,
    "w_push": 1.0,
    "w_adv": 1.0,
    "discriminator": "dcgan",
    "discriminator_channels": 64,
    "label_dim": 0,
}


def _authors_counts(name, overrides=None):
    preset = get_preset(name, {"model.loss": "mse", **(overrides or {})})  # LPIPS files: not needed
    model = KDM(preset.model)
    return (
        preset,
        model,
        _generator_parameters(model),
        sum(p.numel() for p in model.discriminator.parameters()),
    )


def test_checkerboard_is_the_authors_configuration():
    """configs/koopman/checkerboard_uncond.py, models/koopman_model_checkerboard.py."""
    preset = get_preset("checkerboard")
    model = _fields(
        preset.model,
        ["network", "mlp_width", "mlp_depth", "latent_dim", "activation", "latent_activation",
         "time_input", "noise_scaling", "operator", "operator_bias", "operator_init", "sigma_z",
         "loss", "w_latent", "w_rec", "w_push", "w_adv"],
    )  # fmt: skip
    assert model == {
        "network": "mlp", "mlp_width": 256, "mlp_depth": 4, "latent_dim": 256,
        "activation": "silu", "latent_activation": True, "time_input": True,
        "noise_scaling": "unit", "operator": "dense", "operator_bias": True,
        "operator_init": "linear", "sigma_z": 0.4, "loss": "mse", "w_latent": 1.0,
        "w_rec": 1.0, "w_push": 0.0, "w_adv": 0.0,
    }  # fmt: skip
    train = _fields(
        preset.train,
        ["steps", "batch_size", "lr", "betas", "grad_clip", "ema_decay", "ema_warmup",
         "lr_decay", "lr_warmup_steps"],
    )  # fmt: skip
    assert train == {
        "steps": 20_000, "batch_size": 4096, "lr": 3e-4, "betas": (0.9, 0.999),
        "grad_clip": None, "ema_decay": 0.9999, "ema_warmup": False, "lr_decay": "none",
        "lr_warmup_steps": 0,
    }  # fmt: skip
    kdm, kd = build_model(preset.model, "kdm"), build_model(preset.model, "kd")
    assert sum(p.numel() for p in kdm.parameters()) == 858_114  # the authors' model, counted
    assert kdm.sampling_parameters() == kd.sampling_parameters() == 593_922
    # five linear layers per network; the encoders end in SiLU, the decoder in a linear layer
    linears = [sum(isinstance(m, torch.nn.Linear) for m in net.modules()) for net in
               (kdm.encoder_noise, kdm.encoder_data, kdm.decoder)]  # fmt: skip
    assert linears == [5, 5, 5]
    assert isinstance(kdm.encoder_noise.net[-1], torch.nn.SiLU)


@pytest.mark.parametrize(
    ("name", "extra", "params", "sampling"),
    [
        ("cifar10-uncond", {}, 47_476_165, 32_000_644),
        ("cifar10-cond", {"label_dim": 10, "conditioning": "control"}, 47_489_541, 32_013_316),
        (
            "cifar10-uncond-decomposed",
            {"operator": "complex-eigendecomposed", "operator_bias": False,
             "eigenvalue_targets": "uniform"},
            50_622_917,
            35_147_396,
        ),
    ],
)  # fmt: skip
def test_cifar_presets_are_the_authors_configuration(name, extra, params, sampling):
    """configs/koopman/cifar_uncond.py, cifar_cond.py, cifar_uncond_decomposed.py."""
    preset = get_preset(name)
    expected = {**AUTHORS_CIFAR_MODEL, **extra}
    assert _fields(preset.model, expected) == expected
    if preset.model.operator == "dense":
        assert (preset.model.operator_bias, preset.model.operator_init) == (True, "linear")
    assert _fields(preset.train, AUTHORS_IMAGE_TRAIN) == AUTHORS_IMAGE_TRAIN
    _, model, generator, disc = _authors_counts(name)
    assert (generator, model.sampling_parameters(), disc) == (params, sampling, 663_745)
    assert isinstance(model.discriminator, DCGANDiscriminator)


@pytest.mark.parametrize("name", ["ffhq64", "afhqv2-64"])
def test_64px_presets_are_the_authors_configuration(name):
    """configs/koopman/ffhq_uncond.py and afhq_uncond.py: 32 channels, latent projected to 512."""
    preset = get_preset(name)
    expected = {
        **AUTHORS_CIFAR_MODEL,
        "shape": (3, 64, 64),
        "model_channels": 32,
        "latent_dim": 512,
    }
    assert _fields(preset.model, expected) == expected
    assert _fields(preset.train, AUTHORS_IMAGE_TRAIN) == AUTHORS_IMAGE_TRAIN
    _, model, generator, disc = _authors_counts(name)
    assert (generator, model.sampling_parameters(), disc) == (18_203_365, 12_224_324, 663_745)
    assert model.operator.matrix().shape == (512, 512)
    assert model.decode(torch.zeros(1, 512)).shape == (1, 3, 64, 64)
    assert model.discriminator(torch.zeros(2, 3, 64, 64)).shape == (2, 25)


def test_variants_differ_from_the_authors_only_where_they_say():
    fast, authors = get_preset("checkerboard-fast"), get_preset("checkerboard")
    assert (fast.model.mlp_width, fast.model.latent_dim, fast.model.activation) == (128, 64, "relu")
    assert (fast.model.sigma_z, fast.model.w_rec, fast.model.w_push) == (0.02, 0.1, 1.0)
    assert (fast.train.steps, fast.train.batch_size, fast.train.lr) == (3000, 1024, 2e-3)
    assert fast.train.ema_warmup and not authors.train.ema_warmup
    for name in ("cifar10-uncond", "cifar10-cond"):
        base, variant = get_preset(name), get_preset(f"{name}+lpips224")
        changed = {k for k, v in variant.model.to_dict().items() if base.model.to_dict()[k] != v}
        assert changed == {"lpips_resize", "lpips_pooling"}
        assert (variant.model.lpips_resize, variant.model.lpips_pooling) == (224, "max")
        assert variant.train == base.train


def test_digits_preset_builds_and_steps():
    preset = get_preset("digits")  # the authors' image-model options at digits scale
    assert _fields(preset.model, ["dropout", "noise_scaling", "time_input", "operator_init"]) == {
        "dropout": 0.10, "noise_scaling": "none", "time_input": True, "operator_init": "linear",
    }  # fmt: skip
    assert (preset.model.sigma_z, preset.model.w_push, preset.train.grad_clip) == (0.4, 1.0, None)
    model = KDM(preset.model)  # class-conditional, like the digits teacher
    batch = {"noise": torch.randn(2, 1, 8, 8), "sample": torch.randn(2, 1, 8, 8)}
    out = model.losses({**batch, "label": torch.tensor([3, 7])})
    assert torch.isfinite(out["total"])
    unconditional = KDM(get_preset("digits", {"model.label_dim": "0"}).model)
    assert torch.isfinite(unconditional.losses(batch)["total"])


def test_lpips_preset_without_weights_names_the_expected_files(tmp_path):
    preset = get_preset("cifar10-uncond", {"model.lpips_weights": str(tmp_path)})
    with pytest.raises(FileNotFoundError, match="vgg16_features.pth"):
        KDM(preset.model)


def test_overrides_are_typed_field_by_field():
    p = get_preset(
        "checkerboard",
        {
            "model.latent_dim": "128",
            "train.lr": "1e-3",
            "model.channel_mult": "1,2",
            "model.huber_c": "none",
            "model.operator_bias": "false",
            "train.grad_clip": "0.5",
        },
    )
    assert p.model.latent_dim == 128 and p.train.lr == 1e-3
    assert p.model.channel_mult == (1, 2) and p.model.huber_c is None
    assert p.model.operator_bias is False and p.train.grad_clip == 0.5
    assert get_preset("checkerboard").model.latent_dim == 256  # presets are fresh instances


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        ({"model.nope": "1"}, "unknown model field 'nope'.*latent_dim"),
        ({"train.nope": "1"}, "unknown train field 'nope'.*batch_size"),
        ({"latent_dim": "1"}, "model.FIELD"),
        ({"train.lr": "fast"}, "train.lr.*'fast'.*float"),
        ({"train.lr": "-1"}, "lr must be a positive"),
        ({"model.operator_bias": "maybe"}, "operator_bias"),
        ({"model.operator": "nope"}, "operator must be one of"),
    ],
)
def test_unknown_key_or_bad_value_gets_a_clear_error(overrides, match):
    with pytest.raises(ValueError, match=match):
        get_preset("checkerboard", overrides)


def test_unknown_preset_lists_valid_names():
    with pytest.raises(ValueError, match="cifar10-uncond"):
        get_preset("cifar100")
    assert set(preset_names("student")) == {
        "checkerboard",
        "checkerboard-fast",
        "digits",
        "cifar10-uncond",
        "cifar10-cond",
        "cifar10-uncond-decomposed",
        "ffhq64",
        "afhqv2-64",
        "cifar10-uncond+lpips224",
        "cifar10-cond+lpips224",
    }
    assert all(name.startswith("teacher-") for name in preset_names("teacher"))
    assert set(preset_names()) == set(preset_names("teacher")) | set(preset_names("student"))


def test_teacher_presets_take_a_data_section_and_students_do_not():
    teacher = get_preset("teacher-checkerboard", {"data.n": "1000", "train.steps": "5"})
    assert teacher.kind == "teacher" and teacher.data.n == 1000 and teacher.train.steps == 5
    assert teacher.to_dict()["data"]["name"] == "checkerboard"
    with pytest.raises(ValueError, match="'model.FIELD' or 'train.FIELD'"):
        get_preset("checkerboard", {"data.n": "10"})
    with pytest.raises(ValueError, match="data name must be one of"):
        get_preset("teacher-checkerboard", {"data.name": "mnist"})


@pytest.mark.parametrize("value", ["inf", "nan", "-inf"])
def test_non_finite_floats_are_refused(value):
    with pytest.raises(ValueError, match="train.lr"):
        get_preset("checkerboard", {"train.lr": value})


def test_parse_value_round_trips_tuples_and_optionals():
    assert parse_value("[16, 8]", tuple[int, ...]) == (16, 8)
    assert parse_value("()", tuple[int, ...]) == ()
    assert parse_value("null", int | None) is None
    assert parse_value("7", int | None) == 7
