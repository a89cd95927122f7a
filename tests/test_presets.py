"""The one preset system: paper parameter counts, teacher presets, typed overrides, errors."""

from __future__ import annotations

import pytest
import torch

from koopkit_diffusion.kdm import KDM
from koopkit_diffusion.runs.presets import get_preset, parse_value, preset_names
from koopkit_diffusion.runs.training import build_model


def _generator_parameters(model: torch.nn.Module) -> int:
    return sum(p.numel() for n, p in model.named_parameters() if not n.startswith("discriminator."))


@pytest.mark.parametrize("name", ["cifar10-uncond", "cifar10-cond"])
def test_cifar_presets_have_the_paper_parameter_counts(name):
    """Three 64-channel UNets + a 1024×1024 operator: ≈ 47.5M trainable, ≈ 32M to sample."""
    preset = get_preset(name, {"model.loss": "mse"})  # LPIPS files are not needed to count
    model = KDM(preset.model)
    assert _generator_parameters(model) / 1e6 == pytest.approx(47.5, abs=0.3)
    assert model.sampling_parameters() / 1e6 == pytest.approx(32.0, abs=0.3)
    assert model.discriminator is not None  # adversary on
    assert preset.model.latent_dim_resolved == 1024
    assert (preset.train.lr, preset.train.batch_size, preset.train.ema_decay) == (3e-4, 128, 0.9999)
    assert preset.train.steps == 800_000
    assert (preset.model.label_dim == 10) == (name == "cifar10-cond")


@pytest.mark.parametrize("name", ["ffhq64", "afhqv2-64"])
def test_highres_presets_project_to_512(name):
    model = KDM(get_preset(name, {"model.loss": "mse"}).model)
    assert model.operator.matrix().shape == (512, 512)
    assert model.decode(torch.zeros(1, 512)).shape == (1, 3, 64, 64)


def test_checkerboard_preset_is_the_paper_2d_configuration():
    preset = get_preset("checkerboard")
    m, t = preset.model, preset.train
    assert (m.network, m.mlp_width, m.latent_dim, m.loss, m.w_adv) == ("mlp", 256, 256, "mse", 0)
    assert (t.batch_size, t.steps) == (4096, 20_000)
    kd, kdm = build_model(m, "kd"), build_model(m, "kdm")
    assert kd.sampling_parameters() == kdm.sampling_parameters()


def test_digits_preset_builds_and_steps():
    model = KDM(get_preset("digits").model)  # class-conditional, like the digits teacher
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
        "digits",
        "cifar10-uncond",
        "cifar10-cond",
        "ffhq64",
        "afhqv2-64",
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
