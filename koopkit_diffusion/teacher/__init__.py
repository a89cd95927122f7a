"""The teacher wing: the EDM teacher model, its configuration and its sampler.

* :class:`TeacherConfig`, :class:`Teacher`, :func:`build_teacher` — a preconditioned EDM network
  that knows its ``shape``, ``label_dim``, ``sigma_data`` and noise range, and trains through
  :class:`koopkit_diffusion.trainer.loop.Trainer` on the EDM loss;
* :func:`sample_teacher` — seeded Heun sampling (35 network evaluations for 18 steps);
* :func:`import_edm` — NVIDIA's published EDM networks as teachers, read with a restricted
  unpickler (:mod:`~koopkit_diffusion.teacher.edm_pickle`) that executes nothing from the file.

Teacher runs (train, load) are opened by :mod:`koopkit_diffusion.runs`.
"""

from .edm_import import ImportedEDM, import_edm
from .model import NETWORKS, Teacher, TeacherConfig, build_teacher
from .sampling import sample_teacher

__all__ = [
    "NETWORKS",
    "ImportedEDM",
    "Teacher",
    "TeacherConfig",
    "build_teacher",
    "import_edm",
    "sample_teacher",
]
