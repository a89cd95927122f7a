"""Typed configurations: a dataclass with a JSON form and a strict reader.

A configuration of the project is a dataclass (fields with types and defaults, checked in
``__post_init__``); :class:`ConfigMixin` gives it the two conversions every record and command
line needs, the same way for every configuration::

    @dataclass
    class MyConfig(ConfigMixin):
        steps: int = 100
        betas: tuple[float, float] = (0.9, 0.999)

    MyConfig().to_dict()                 # {"steps": 100, "betas": [0.9, 0.999]}
    MyConfig.from_dict({"steps": 5})     # unknown keys raise ValueError, naming the valid ones
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, TypeVar

__all__ = ["ConfigMixin"]

C = TypeVar("C", bound="ConfigMixin")


def _json_ready(value: Any) -> Any:
    if isinstance(value, (tuple, list)):
        return [_json_ready(v) for v in value]
    if isinstance(value, dict):
        return {k: _json_ready(v) for k, v in value.items()}
    return value


class ConfigMixin:
    """``to_dict`` / ``from_dict`` for a configuration dataclass."""

    def to_dict(self) -> dict[str, Any]:
        """The fields as a JSON-ready dict (tuples become lists).

        Returns
        -------
        dict of str to Any
        """
        return {f.name: _json_ready(getattr(self, f.name)) for f in dataclasses.fields(self)}

    @classmethod
    def from_dict(cls: type[C], values: Mapping[str, Any]) -> C:
        """Build a configuration from a mapping (e.g. a record's section, or parsed overrides).

        Parameters
        ----------
        values : mapping of str to Any
            Field names to values; missing fields take their defaults.

        Returns
        -------
        ConfigMixin
            An instance of the class it is called on (its ``__post_init__`` checks the values).

        Raises
        ------
        ValueError
            On a key that is not a field (the message lists the valid ones) or a bad value.
        """
        if not isinstance(values, Mapping):
            raise ValueError(
                f"{cls.__name__} needs a mapping of field names to values, got "
                f"{type(values).__name__}"
            )
        names = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(values) - set(names))
        if unknown:
            raise ValueError(f"unknown {cls.__name__} field(s) {unknown}; valid fields: {names}")
        return cls(**dict(values))
