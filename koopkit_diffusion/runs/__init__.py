"""The runs wing: the only layer that knows run directories and presets.

* :mod:`~koopkit_diffusion.runs.presets` — :func:`get_preset`, :class:`Preset`: the one preset
  system for teachers (``teacher-<data>``) and students;
* :mod:`~koopkit_diffusion.runs.record` — :class:`RunRecord` (``run.json``), the one run record;
* :mod:`~koopkit_diffusion.runs.training` — :func:`train_run` (teachers and students through the
  one trainer), :func:`load_teacher`, :func:`load_generator`;
* :mod:`~koopkit_diffusion.runs.best_checkpoint` — :class:`FIDTracker`: FID during training,
  the best EMA weights kept as ``best.pt``;
* :mod:`~koopkit_diffusion.runs.imports` — :func:`import_edm_run`: an EDM pickle as a teacher run;
* :mod:`~koopkit_diffusion.runs.pairs` — :func:`generate_pair_set`, :func:`import_pair_set`,
  :func:`verify_pair_set`, :func:`pair_set_info`;
* :mod:`~koopkit_diffusion.runs.evaluate` — :func:`evaluate_run`, :func:`analyze_run`,
  :func:`sample_run`, :func:`run_fid`, :func:`dataset_fid_stats`;
* :mod:`~koopkit_diffusion.runs.quickstart` — :func:`run_quickstart`, the main job.

The command line (:mod:`koopkit_diffusion.cli`) parses, calls these and prints.
"""

from .evaluate import analyze_run, dataset_fid_stats, evaluate_run, run_fid, sample_run
from .imports import import_edm_run
from .pairs import generate_pair_set, import_pair_set, pair_set_info, verify_pair_set
from .presets import Preset, get_preset, preset_names
from .quickstart import QuickstartConfig, run_quickstart
from .record import RunRecord
from .training import LoadedRun, build_model, load_generator, load_teacher, train_run

__all__ = [
    "LoadedRun",
    "Preset",
    "QuickstartConfig",
    "RunRecord",
    "analyze_run",
    "build_model",
    "dataset_fid_stats",
    "evaluate_run",
    "generate_pair_set",
    "get_preset",
    "import_edm_run",
    "import_pair_set",
    "load_generator",
    "load_teacher",
    "pair_set_info",
    "preset_names",
    "run_fid",
    "run_quickstart",
    "sample_run",
    "train_run",
    "verify_pair_set",
]
