"""The teacher wing: teachers behind one protocol, the EDM teacher, its configuration, imports.

* :mod:`~koopkit_diffusion.teacher.protocol` — what every teacher offers (``shape``,
  ``label_dim``, its noise range and its one sampler ``integrate``); :class:`DenoiserTeacher`
  makes a denoiser function of your own a teacher;
* :class:`TeacherConfig`, :class:`Teacher`, :func:`build_teacher` — a preconditioned EDM network
  that knows its ``shape``, ``label_dim``, ``sigma_data`` and noise range, and trains through
  :class:`koopkit_diffusion.trainer.loop.Trainer` on the EDM loss;
* :func:`sample_teacher` — seeded samples in batches (35 network evaluations for 18 Heun steps);
* :func:`import_edm` — NVIDIA's published EDM networks as teachers, read with a restricted
  unpickler (:mod:`~koopkit_diffusion.teacher.edm_pickle`) that executes nothing from the file.

Teacher runs (train, load) are opened by :mod:`koopkit_diffusion.runs`.
"""

from .edm_import import ImportedEDM, import_edm
from .model import NETWORKS, Teacher, TeacherConfig, build_teacher
from .protocol import DenoiserTeacher, EDMSampling, SamplingTeacher
from .sampling import sample_teacher

__all__ = [
    "NETWORKS",
    "DenoiserTeacher",
    "EDMSampling",
    "SamplingTeacher",
    "ImportedEDM",
    "Teacher",
    "TeacherConfig",
    "build_teacher",
    "import_edm",
    "sample_teacher",
]
