"""The students: one-step generators distilled offline from noise→sample pairs, on one base.

Every student is a :class:`OneStepGenerator` (``shape``, ``label_dim``, ``sigma_max``,
``sample(n | noise, labels)``, ``sample_batches``, ``losses(batch)``) and one file of this wing;
:data:`STUDENTS` lists them by run kind. Today:

* :class:`KDMConfig` — the typed configuration (networks, operator, latent noise, losses);
* :class:`KDM` — the Koopman Distillation Model (Berman, Naiman, Eliasof, Zisling, Azencot
  2025), ``x0 = D(K(E_T(σmax·ε)))``: encode the noise, advance it with one linear Koopman operator
  (plus a control term ``B·y`` when conditional), decode;
* :class:`KDBaseline` — the knowledge-distillation baseline (Luhman & Luhman 2021) with the same
  sampling path; :data:`STUDENTS` — the students by run kind;
* :mod:`~koopkit_diffusion.students.networks` — encoder, decoder and operator builders;
* :mod:`~koopkit_diffusion.students.losses`, :mod:`~koopkit_diffusion.students.lpips`,
  :mod:`~koopkit_diffusion.students.discriminators` — reconstruction losses and the adversary.
"""

from .base import OneStepGenerator, OneStepSampling
from .config import KDMConfig
from .kd import KDBaseline
from .kdm import KDM

#: The one-step students by run kind: ``train --model KIND`` builds ``STUDENTS[KIND](config)``.
STUDENTS: dict[str, type[OneStepGenerator]] = {"kdm": KDM, "kd": KDBaseline}

__all__ = ["KDM", "STUDENTS", "KDBaseline", "KDMConfig", "OneStepGenerator", "OneStepSampling"]
