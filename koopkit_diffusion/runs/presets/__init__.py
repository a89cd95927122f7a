"""The one preset system: named, typed configurations of teachers and students.

A :class:`Preset` is a name, a description, a ``model`` config (:class:`~koopkit_diffusion.teacher.
TeacherConfig` or :class:`~koopkit_diffusion.students.config.KDMConfig`), a ``train`` config
(:class:`~koopkit_diffusion.trainer.config.TrainerConfig`) and, for teachers, a ``data`` config
(:class:`~koopkit_diffusion.data.DataConfig`). Teacher presets are named ``teacher-<data>``;
students (KDM and the KD baseline) train on a pair set. Every field can be overridden by a string,
as on the command line (``--set section.field=value``)::

    get_preset("checkerboard", {"model.latent_dim": "128", "train.lr": "1e-3"})
    get_preset("teacher-checkerboard", {"train.steps": "2000", "data.n": "100000"})

What a preset is: :mod:`~koopkit_diffusion.runs.presets.base`; the definitions:
:mod:`~koopkit_diffusion.runs.presets.teachers` and :mod:`~koopkit_diffusion.runs.presets.students`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from . import students, teachers
from .base import PRESET_KINDS, Preset, apply_overrides, parse_value

__all__ = [
    "PRESET_KINDS",
    "Preset",
    "apply_overrides",
    "get_preset",
    "parse_value",
    "preset_names",
]

#: Every preset by name: a function that builds a fresh one.
PRESETS: dict[str, Callable[[], Preset]] = {**teachers.PRESETS, **students.PRESETS}


def preset_names(kind: str | None = None) -> tuple[str, ...]:
    """Names accepted by :func:`get_preset` (``kind``: only ``"teacher"`` or ``"student"``)."""
    if kind is not None and kind not in PRESET_KINDS:
        raise ValueError(f"kind must be one of {PRESET_KINDS} or None, got {kind!r}")
    if kind is None:
        return tuple(PRESETS)
    return tuple(name for name, build in PRESETS.items() if build().kind == kind)


def get_preset(name: str, overrides: Mapping[str, str] | None = None) -> Preset:
    """A fresh :class:`Preset` by name, with optional string overrides.

    Parameters
    ----------
    name : str
        One of :func:`preset_names`.
    overrides : mapping of str to str, optional
        ``{"model.latent_dim": "128", "train.lr": "1e-3"}`` (see :func:`apply_overrides`).

    Returns
    -------
    Preset

    Raises
    ------
    ValueError
        Unknown preset (the message lists the valid names), unknown field or bad value.
    """
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; valid presets: {', '.join(PRESETS)}")
    preset = PRESETS[name]()
    return apply_overrides(preset, overrides) if overrides else preset
