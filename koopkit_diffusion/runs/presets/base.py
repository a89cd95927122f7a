"""What a preset is (:class:`Preset`) and how string overrides apply to it (``--set``)."""

from __future__ import annotations

import dataclasses
import json
import math
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from koopkit_diffusion.data import DataConfig
from koopkit_diffusion.students import KDMConfig
from koopkit_diffusion.teacher import TeacherConfig
from koopkit_diffusion.trainer import TrainerConfig

__all__ = ["PRESET_KINDS", "Preset", "apply_overrides", "parse_value"]

PRESET_KINDS = ("teacher", "student")


@dataclass
class Preset:
    """A named configuration of a teacher or of a student (KDM and the KD baseline).

    Parameters
    ----------
    name : str
    description : str
    model : TeacherConfig or KDMConfig
    train : TrainerConfig
    data : DataConfig or None
        The teacher's training data; ``None`` for students (they train on a pair set).
    """

    name: str
    description: str
    model: TeacherConfig | KDMConfig
    train: TrainerConfig = field(default_factory=TrainerConfig)
    data: DataConfig | None = None

    def __post_init__(self) -> None:
        self.validate()

    @property
    def kind(self) -> str:
        """``"teacher"`` or ``"student"``."""
        return "teacher" if isinstance(self.model, TeacherConfig) else "student"

    def validate(self) -> None:
        """Check that the sections agree (a teacher's data matches its network)."""
        if self.kind == "teacher":
            if self.data is None:
                raise ValueError(f"teacher preset {self.name!r} needs a data section")
            if self.data.shape != self.model.shape:
                raise ValueError(
                    f"preset {self.name!r}: data {self.data.name!r} has samples of shape "
                    f"{self.data.shape} but model.shape is {self.model.shape}"
                )
            if self.data.label_dim != self.model.label_dim:
                raise ValueError(
                    f"preset {self.name!r}: model.label_dim={self.model.label_dim} but the data "
                    f"gives {self.data.label_dim} classes (set data.labels and model.label_dim "
                    "together)"
                )
            if self.data.augment_dim != self.model.augment_dim:
                raise ValueError(
                    f"preset {self.name!r}: model.augment_dim={self.model.augment_dim} but the "
                    f"data gives {self.data.augment_dim} augmentation labels (data.augment="
                    f"{self.data.augment}; set model.augment_dim=9 with augmentation, 0 without)"
                )
        elif self.data is not None:
            raise ValueError(f"student preset {self.name!r} trains on pairs: no data section")

    def sections(self) -> dict[str, Any]:
        """``{"model": ..., "train": ...[, "data": ...]}``: the configs by override section."""
        out: dict[str, Any] = {"model": self.model, "train": self.train}
        if self.data is not None:
            out["data"] = self.data
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready ``{"name", "description", "kind", "model", "train"[, "data"]}``."""
        return {
            "name": self.name,
            "description": self.description,
            "kind": self.kind,
            **{key: cfg.to_dict() for key, cfg in self.sections().items()},
        }


_TRUE, _FALSE = {"true", "1", "yes", "on"}, {"false", "0", "no", "off"}


def parse_value(text: str, annotation: Any, key: str = "value") -> Any:
    """Convert the string ``text`` to a value of the type ``annotation``.

    Supports ``int``, ``float`` (finite), ``bool`` (true/false/1/0/yes/no/on/off), ``str``,
    ``X | None`` (``none`` or ``null``), ``tuple[int, ...]`` / ``tuple[float, float]``
    (``"1,2,2"`` or ``"[1, 2, 2]"``; ``""`` or ``"()"`` for empty) and ``dict`` (JSON).

    Raises
    ------
    ValueError
        Naming ``key``, the expected type and the text.
    """
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in args if a is not type(None)]
        if text.strip().lower() in ("none", "null"):
            return None
        return parse_value(text, inner[0], key)
    try:
        if annotation is bool:
            low = text.strip().lower()
            if low in _TRUE | _FALSE:
                return low in _TRUE
            raise ValueError
        if annotation is int:
            return int(text)
        if annotation is float:
            value = float(text)
            if not math.isfinite(value):
                raise ValueError
            return value
        if annotation is str:
            return text
        if origin is tuple:
            body = text.strip().strip("()[]").strip()
            parts = [p.strip() for p in body.split(",") if p.strip()] if body else []
            elem = args[0] if args else str
            return tuple(parse_value(p, elem, key) for p in parts)
        if origin is dict or annotation is dict:
            value = json.loads(text)
            if not isinstance(value, dict):
                raise ValueError
            return value
    except ValueError:
        pass
    name = getattr(annotation, "__name__", str(annotation))
    raise ValueError(f"bad value for {key}: {text!r} is not a valid {name}")


def apply_overrides(preset: Preset, overrides: Mapping[str, str]) -> Preset:
    """Return a copy of ``preset`` with ``{"SECTION.FIELD": "text"}`` applied.

    Sections are ``model``, ``train`` and, for teacher presets, ``data``.

    Raises
    ------
    ValueError
        For an unknown section or field (listing the valid ones) or a value that does not parse
        or does not validate.
    """
    sections = preset.sections()
    changes: dict[str, dict[str, Any]] = {key: {} for key in sections}
    for key, text in overrides.items():
        section, _, name = key.partition(".")
        if section not in sections or not name:
            valid = " or ".join(f"'{s}.FIELD'" for s in sections)
            raise ValueError(f"override key {key!r} must be {valid} (preset {preset.name!r})")
        cfg = sections[section]
        hints = typing.get_type_hints(type(cfg))
        fields = [f.name for f in dataclasses.fields(cfg)]
        if name not in fields:
            raise ValueError(
                f"unknown {section} field {name!r} in override {key!r}; valid: {', '.join(fields)}"
            )
        changes[section][name] = parse_value(str(text), hints[name], key)
    try:
        replaced = {key: dataclasses.replace(cfg, **changes[key]) for key, cfg in sections.items()}
        return Preset(preset.name, preset.description, **replaced)
    except (TypeError, ValueError) as err:
        raise ValueError(f"invalid override for preset {preset.name!r}: {err}") from err
