"""Teacher runs made from networks trained elsewhere: NVIDIA's published EDM pickles.

:func:`import_edm_run` turns an EDM pickle into a normal teacher run directory — the record
``run.json`` (kind ``teacher``, source ``imported:edm-pickle``, where the file came from) and the
network's weights as the trainer's step-0 checkpoint
(:func:`~koopkit_diffusion.trainer.save_weights`, which claims no training settings) — so that
``teacher sample``, ``pairs generate``, ``evaluate`` and
:func:`~koopkit_diffusion.runs.training.load_teacher` take it as they take a teacher trained here.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from koopkit_diffusion.teacher import import_edm
from koopkit_diffusion.trainer import save_weights

from .record import RunRecord, claim_directory

__all__ = ["import_edm_run"]


def import_edm_run(
    edm_pickle: str | os.PathLike,
    out: str | os.PathLike,
    *,
    data: dict[str, Any] | None = None,
) -> RunRecord:
    """Import an EDM network pickle into the teacher run directory ``out``.

    The pickle is read by :func:`koopkit_diffusion.teacher.import_edm` (restricted unpickling:
    nothing from the file runs).

    Parameters
    ----------
    edm_pickle : path-like
        ``edm-cifar10-32x32-cond-vp.pkl`` or any ``network-snapshot-*.pkl`` of EDM's DDPM++.
    out : path-like
        New run directory (refused if it holds any run or pair set).
    data : dict, optional
        What the network was trained on, as a :class:`~koopkit_diffusion.data.DataConfig` dict
        (e.g. ``{"name": "cifar10", "root": "/data/cifar-10-python.tar.gz", "labels": True}``);
        recorded so that evaluation picks the data's scores.

    Returns
    -------
    RunRecord
        The record written to ``out/run.json``.
    """
    out = Path(out)
    if claim_directory(out, "teacher") is not None:
        raise FileExistsError(f"{out} already holds a teacher run; import into a new directory")
    imported = import_edm(edm_pickle)
    teacher = imported.teacher
    record = RunRecord(
        "teacher",
        config={
            "model": imported.config.to_dict(),
            "edm": {**imported.info, "imported_from": str(Path(edm_pickle).resolve())},
        },
        data=data,
        source="imported:edm-pickle",
    )
    out.mkdir(parents=True, exist_ok=True)
    save_weights(out, teacher.state_dict(), step=0)
    record.write(out)
    return record
