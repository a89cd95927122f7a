"""Student presets: a KDM (or KD baseline) config plus a training config.

The presets named after the paper's experiments are the authors' published configuration
(azencot-group/KDM: ``configs/koopman/*.py``, ``models/``, ``trainer/trainer.py``), field for
field; each docstring names the file it follows:

- ``checkerboard``: 2-D, SiLU MLPs of width 256 (encoders of five layers ending in SiLU, a
  five-layer decoder), latent 256, loss = reconstruction + latent (no push), σz 0.4, Adam 3e-4,
  EMA 0.9999, batch 4096, 20k steps;
- ``cifar10-uncond``, ``cifar10-cond``, ``cifar10-uncond-decomposed``: three UNets (64 channels,
  mult (1, 2, 2, 2), 4 blocks, attention at 16, dropout 0.1), one latent channel, LPIPS as piq
  computes it (average pooling, native 32×32) and the authors' discriminator, stepped first;
- ``ffhq64``, ``afhqv2-64``: 64×64, 32 channels, latent projected linearly to 512.

The project's own choices are named variants:

- ``checkerboard-fast``: the quickstart's, a configuration that trains in minutes on two cores;
- ``cifar10-uncond+lpips224``, ``cifar10-cond+lpips224``: LPIPS at 224×224 with max pooling (the
  original LPIPS trunk, at the resolution consistency models use for 32×32 images);
- ``digits``: 8×8 digits (no published configuration): the authors' image-model options at a
  small scale, with a budget of ours.

The KDM guide tabulates every difference with its measured effect.
"""

from __future__ import annotations

from collections.abc import Callable

from koopkit_diffusion.students import KDMConfig
from koopkit_diffusion.trainer import TrainerConfig

from .base import Preset

__all__ = ["PRESETS"]

#: What every image model of the authors shares (``models/koopman_model.py``, ``SongUNet``
#: defaults; ``configs/koopman/cifar_uncond.py``).
_AUTHORS_IMAGE_MODEL = dict(
    shape=(3, 32, 32),
    network="unet",
    latent_dim=None,
    latent_channels=1,
    model_channels=64,
    channel_mult=(1, 2, 2, 2),
    num_blocks=4,
    attn_resolutions=(16,),
    dropout=0.10,
    noise_scaling="none",  # x_T = 80·ε enters the UNet as is
    time_input=True,  # the placeholder noise labels: 1 for E_T, 0 for E_0 and D
    operator="dense",
    operator_bias=True,
    operator_init="linear",  # torch.nn.Linear
    sigma_z=0.4,
    loss="lpips",
    lpips_weights="weights/lpips",
    lpips_resize=None,  # piq's LPIPS(replace_pooling=True) at the native resolution
    lpips_pooling="avg",
    w_adv=1.0,
    discriminator="dcgan",
)
#: ``trainer/trainer.py``: Adam (0.9, 0.999) for both players at the same lr, the discriminator
#: stepped before the generator, no clipping, EMA 0.9999 from the first step. ``iterations``
#: 800001: the last model saved (and evaluated) is the one at step 800,000.
_AUTHORS_IMAGE_TRAIN = dict(
    steps=800_000,
    batch_size=128,
    lr=3e-4,
    betas=(0.9, 0.999),
    disc_betas=(0.9, 0.999),
    disc_first=True,
    grad_clip=None,
    ema_decay=0.9999,
    # Execution settings, not part of the authors' configuration (they train in float32):
    amp="bf16",
    channels_last=True,  # bf16 convolutions without it are slower than fp32 (training guide)
    cudnn_benchmark=True,  # the setting the H200 measurements of this step were taken with
    log_every=100,
    checkpoint_every=10_000,
    sample_every=10_000,
)
_LPIPS_224 = dict(lpips_resize=224, lpips_pooling="max")


def checkerboard() -> Preset:
    """The authors' 2-D checkerboard, ``configs/koopman/checkerboard_uncond.py``.

    With ``models/koopman_model_checkerboard.py`` and ``utils/loading_models.py``: encoders of
    five linear layers of width 256, each followed by SiLU, with the placeholder time as one
    more input (1 for ``E_T``, 0 for ``E_0``); a decoder of five linear layers (SiLU between,
    time 0); a ``torch.nn.Linear(256, 256)`` operator; latent noise 0.4 on both latents; loss
    = ``‖x0 − D(z0 + σz·n)‖² + ‖z0 − K(zT + σz·n)‖²`` — no push term, which the authors compute
    without gradient for their logs only. Their flow-matching teacher starts from unit noise:
    ``noise_scaling="unit"``. Adam 3e-4 (0.9, 0.999), no clipping, EMA 0.9999, batch 4096;
    ``iterations`` 20001, the model saved (and evaluated: the raw weights, not the EMA) last at
    step 20,000. 858,114 parameters.
    """
    return Preset(
        "checkerboard",
        "2-D checkerboard, the authors' configuration: SiLU MLPs 256 (5+5 layers), latent 256, "
        "recon + latent loss, σz 0.4, Adam 3e-4, EMA 0.9999, 20k × 4096",
        KDMConfig(
            shape=(2,),
            network="mlp",
            noise_scaling="unit",
            latent_dim=256,
            mlp_width=256,
            mlp_depth=4,
            activation="silu",
            latent_activation=True,
            time_input=True,
            operator="dense",
            operator_bias=True,
            operator_init="linear",
            sigma_z=0.4,
            loss="mse",
            w_push=0.0,
        ),
        TrainerConfig(
            steps=20_000,
            batch_size=4096,
            lr=3e-4,
            betas=(0.9, 0.999),
            grad_clip=None,
            ema_decay=0.9999,
            log_every=100,
            checkpoint_every=2000,
            sample_every=5000,
        ),
    )


def checkerboard_fast() -> Preset:
    """The quickstart's checkerboard configuration: minutes on two CPU cores.

    Smaller ReLU networks (width 128, three hidden layers, latent 64, linear latent, no
    placeholder time), batch 1024, 3000 steps at lr 2e-3 with an EMA of 0.999 and its warm-up,
    the noise encoder's input scaled by EDM's ``c_in(σmax)``, an
    identity-initialised operator, and KDM's loss with the push term, little latent noise
    (σz 0.02) and a light reconstruction term (``w_rec`` 0.1). The KDM guide measures each
    difference from ``checkerboard``.
    """
    return Preset(
        "checkerboard-fast",
        "2-D checkerboard, the quickstart's: ReLU MLPs 128, latent 64, σz 0.02, w_rec 0.1, "
        "lr 2e-3, 3k × 1024",
        KDMConfig(
            shape=(2,),
            network="mlp",
            latent_dim=64,
            mlp_width=128,
            mlp_depth=3,
            activation="relu",
            operator="dense",
            operator_bias=True,
            sigma_z=0.02,
            loss="mse",
            w_rec=0.1,
        ),
        TrainerConfig(
            steps=3000,
            batch_size=1024,
            lr=2e-3,
            grad_clip=None,
            ema_decay=0.999,
            ema_warmup=True,
            log_every=50,
            checkpoint_every=100_000,
            sample_every=5000,
        ),
    )


def digits() -> Preset:
    """8×8 digits, class-conditional; no published configuration.

    The authors' image-model options at digits scale: UNets of 32 channels over two levels,
    dropout 0.1, the placeholder time, ``x_T`` unscaled, a ``torch.nn.Linear`` operator and
    control term, σz 0.4, all loss weights 1, no gradient clipping. The loss is MSE (LPIPS needs
    16×16 at native resolution) and there is no adversary (the authors' discriminator needs
    32×32). The budget is ours: 4000 steps of 256 at lr 1e-3, EMA 0.999 with warm-up (example
    05's ``--quick`` trains 600 steps, where an EMA without it keeps ~55 % of the initial
    weights). Use ``model.label_dim=0`` for unconditional pairs.
    """
    return Preset(
        "digits",
        "8×8 digits, class-conditional: small UNets (32 ch, 2 levels, 1 latent channel), MSE",
        KDMConfig(
            shape=(1, 8, 8),
            label_dim=10,
            network="unet",
            latent_dim=None,
            latent_channels=1,
            model_channels=32,
            channel_mult=(1, 2),
            num_blocks=1,
            attn_resolutions=(),
            dropout=0.10,
            noise_scaling="none",
            time_input=True,
            operator_init="linear",
            loss="mse",
        ),
        TrainerConfig(
            steps=4000,
            batch_size=256,
            lr=1e-3,
            grad_clip=None,
            ema_decay=0.999,
            ema_warmup=True,
            log_every=50,
            checkpoint_every=1000,
            sample_every=1000,
        ),
    )


def cifar10_uncond() -> Preset:
    """CIFAR-10 unconditional, ``configs/koopman/cifar_uncond.py``: 47,476,165 parameters."""
    return Preset(
        "cifar10-uncond",
        "CIFAR-10 unconditional, the authors' configuration (3 UNets 64 ch, LPIPS native + "
        "adversary, 800k steps)",
        KDMConfig(**_AUTHORS_IMAGE_MODEL),
        TrainerConfig(**_AUTHORS_IMAGE_TRAIN),
    )


def cifar10_cond() -> Preset:
    """CIFAR-10 class-conditional, ``configs/koopman/cifar_cond.py``.

    Labels (one-hot) enter the three UNets' embeddings and a control term ``B·y + c`` (a
    ``torch.nn.Linear(10, 1024)``) is added to ``K z``: the authors' ``KoopmanMatrixAddition``.
    47,489,541 parameters.
    """
    return Preset(
        "cifar10-cond",
        "CIFAR-10 class-conditional, the authors' configuration (labels in the UNets + control "
        "term B·y + c)",
        KDMConfig(**_AUTHORS_IMAGE_MODEL, label_dim=10, conditioning="control"),
        TrainerConfig(**_AUTHORS_IMAGE_TRAIN),
    )


def cifar10_uncond_decomposed() -> Preset:
    """CIFAR-10 unconditional, decomposed operator: ``configs/koopman/cifar_uncond_decomposed.py``.

    The operator is ``FastKoopmanMatrix``
    (:class:`koopkit.operators.ComplexEigendecomposedOperator`, no bias), trained with the
    authors' ``Uniform`` eigenvalue loss: ``mean|λ − t|`` towards targets drawn once from
    ``U(−1, 1) + i·U(−1, 1)``, plus the averaged inverse penalty, weight 1. 50,622,917
    parameters.
    """
    model = dict(
        _AUTHORS_IMAGE_MODEL,
        operator="complex-eigendecomposed",
        operator_bias=False,
        eigenvalue_targets="uniform",
    )
    return Preset(
        "cifar10-uncond-decomposed",
        "CIFAR-10 unconditional, the authors' decomposed operator Re(PΛQ) with uniform "
        "eigenvalue targets",
        KDMConfig(**model),
        TrainerConfig(**_AUTHORS_IMAGE_TRAIN),
    )


def _highres(name: str, config_file: str) -> Callable[[], Preset]:
    def preset() -> Preset:
        model = dict(_AUTHORS_IMAGE_MODEL, shape=(3, 64, 64), model_channels=32, latent_dim=512)
        return Preset(
            name,
            f"{name}: 64×64, 3 UNets 32 ch, latent projected to 512, LPIPS native + adversary "
            f"(the authors' {config_file})",
            KDMConfig(**model),
            TrainerConfig(**_AUTHORS_IMAGE_TRAIN),
        )

    preset.__doc__ = (
        f"{name}, ``configs/koopman/{config_file}``: 64×64, UNets of 32 channels, the latent "
        "projected linearly to 512 (Xavier-uniform, zero bias), 18,203,365 parameters."
    )
    return preset


def _lpips224(base: Callable[[], Preset]) -> Callable[[], Preset]:
    def preset() -> Preset:
        authors = base()
        name = f"{authors.name}+lpips224"
        return Preset(
            name,
            f"{authors.description}; LPIPS at 224×224 with max pooling",
            KDMConfig(**{**authors.model.to_dict(), **_LPIPS_224}),
            authors.train,
        )

    preset.__doc__ = f"``{base.__name__}`` with LPIPS at 224×224 and max pooling."
    return preset


#: Student presets by name.
PRESETS: dict[str, Callable[[], Preset]] = {
    "checkerboard": checkerboard,
    "checkerboard-fast": checkerboard_fast,
    "digits": digits,
    "cifar10-uncond": cifar10_uncond,
    "cifar10-cond": cifar10_cond,
    "cifar10-uncond-decomposed": cifar10_uncond_decomposed,
    "ffhq64": _highres("ffhq64", "ffhq_uncond.py"),
    "afhqv2-64": _highres("afhqv2-64", "afhq_uncond.py"),
    "cifar10-uncond+lpips224": _lpips224(cifar10_uncond),
    "cifar10-cond+lpips224": _lpips224(cifar10_cond),
}
