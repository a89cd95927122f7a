"""Image teachers: EDM's DDPM++ presets, training on CIFAR-format data with augmentation, resume."""

import pytest
import torch
from image_files import write_cifar_folder

from koopkit_diffusion.runs import get_preset, load_teacher, train_run
from koopkit_diffusion.teacher import build_teacher


def n_params(module):
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize(
    ("name", "params"),
    [("teacher-cifar10-uncond", 55_733_891), ("teacher-cifar10-cond", 55_735_299)],
)
def test_cifar10_teachers_are_edm_ddpmpp_with_its_parameter_count(name, params):
    preset = get_preset(name)
    # NVlabs/edm train.py --arch=ddpmpp defaults: batch 512, lr 1e-3, dropout 0.13, augment 0.12,
    # 200 Mimg, lr ramp-up 10 Mimg, EMA half-life 0.5 Mimg.
    assert (preset.train.batch_size, preset.train.lr, preset.model.dropout) == (512, 1e-3, 0.13)
    assert preset.data.augment == 0.12 and preset.model.augment_dim == 9
    assert preset.train.steps * 512 == 200_000_000
    assert abs(preset.train.lr_warmup_steps * 512 - 10_000_000) < 512
    assert preset.train.ema_decay ** (500_000 / 512) == pytest.approx(0.5)
    assert preset.train.grad_clip is None
    assert n_params(build_teacher(preset.model)) == params  # EDM's SongUNet, augment_dim 9


@pytest.mark.parametrize(
    ("name", "dropout"), [("teacher-ffhq64", 0.05), ("teacher-afhqv2-64", 0.25)]
)
def test_64px_teachers_are_edm_ddpmpp_at_64(name, dropout):
    preset = get_preset(name)
    # EDM's table: --batch=256 --cres=1,2,2,2 --lr=2e-4 --dropout=... --augment=0.15.
    assert preset.model.shape == (3, 64, 64) and preset.model.channel_mult == (1, 2, 2, 2)
    assert (preset.train.batch_size, preset.train.lr, preset.model.dropout) == (256, 2e-4, dropout)
    assert preset.data.augment == 0.15 and preset.data.name == "image_folder"
    assert preset.train.ema_decay ** (500_000 / 256) == pytest.approx(0.5)


def test_augmentation_needs_the_augmentation_labels():
    with pytest.raises(ValueError, match="model.augment_dim=0 but the data gives 9"):
        get_preset("teacher-cifar10-uncond", {"model.augment_dim": "0"})
    preset = get_preset("teacher-cifar10-uncond", {"model.augment_dim": "0", "data.augment": "0"})
    assert preset.data.augment_dim == 0


TINY = {
    "model.model_channels": "8",
    "model.channel_mult": "1,1",
    "model.num_blocks": "1",
    "model.attn_resolutions": "16",
    "train.batch_size": "4",
    "train.steps": "2",
    "train.lr_warmup_steps": "1",
    "train.log_every": "1",
    "train.checkpoint_every": "1",
    "train.sample_every": "0",
    "train.progress": "false",
    "train.loss_figure": "false",
}


def test_cifar_teacher_trains_with_augmentation_and_resumes_exactly(tmp_path):
    folder = write_cifar_folder(tmp_path / "data")
    overrides = {**TINY, "data.root": str(folder)}
    straight = train_run("teacher-cifar10-cond", tmp_path / "a", overrides=overrides)
    assert straight.step == 2 and straight.bad_steps == 0
    # Stop after one step, then resume: the same weights as the uninterrupted run.
    from koopkit_diffusion.trainer import Trainer

    preset = get_preset("teacher-cifar10-cond", overrides)
    from koopkit_diffusion.data import image_dataset
    from koopkit_diffusion.runs import build_model

    model = build_model(preset.model, "teacher", seed=preset.train.seed)
    with Trainer(model, image_dataset(preset.data), preset.train, tmp_path / "b") as trainer:
        trainer.train(stop_at=1)
    resumed = train_run("teacher-cifar10-cond", tmp_path / "b", overrides=overrides, resume=True)
    for (name, a), b in zip(straight.ema.state_dict().items(), resumed.ema.state_dict().values(),
                            strict=True):  # fmt: skip
        assert torch.equal(a, b), name
    teacher = load_teacher(tmp_path / "a")
    assert teacher.net.augment_dim == 9 and teacher.shape == (3, 32, 32)
