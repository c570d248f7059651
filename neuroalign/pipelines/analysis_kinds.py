"""The analyses a study config can run: one registry, each kind with its parameters' schema.

A study's ``analyses:`` entries name a ``kind`` from :data:`ANALYSIS_KINDS`;
its ``params`` are checked against the kind's pydantic model (unknown keys
and wrong types are errors naming the key), and its step function is imported
only when the analysis runs, so reading and checking a config stays fast.

Examples
--------
>>> from neuroalign.pipelines.analysis_kinds import ANALYSIS_KINDS, analysis_kind
>>> sorted(ANALYSIS_KINDS)[:3]
['abstraction', 'activation_codes', 'cka']
>>> analysis_kind("rsa").params().n_bootstrap
1000
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr, create_model, model_validator

from ..alignment.experiment import GUIDANCE_DEFAULTS, check_guidance_settings
from ..errors import UnknownNameError
from ..metamers.study import STUDY_DEFAULTS, check_study_settings
from .graph_pretraining import GRAPH_PRETRAINING_DEFAULTS, _check_settings
from .spike_pretraining import SPIKE_PRETRAINING_DEFAULTS, check_spike_settings

__all__ = ["AnalysisKind", "ANALYSIS_KINDS", "analysis_kind"]


class _Params(BaseModel):
    """Parameters shared by every analysis: an unknown key is an error, ``seed`` defaults to the study's."""

    model_config = ConfigDict(extra="forbid")
    seed: Optional[int] = Field(None, ge=0, description="seed of the resampling (default: the study's seed)")


class RsaParams(_Params):
    rdm_method: str = "correlation"
    comparison: str = "corr"
    ceiling: Optional[Literal["split-half"]] = "split-half"
    n_bootstrap: int = Field(1000, ge=2)
    n_splits: int = Field(10, ge=1)


class CkaParams(_Params):
    ceiling: Optional[Literal["split-half"]] = "split-half"
    n_bootstrap: int = Field(1000, ge=2)
    n_splits: int = Field(10, ge=1)


class EncodingParams(_Params):
    regression: Literal["ridge", "pls", "linear"] = "ridge"
    cv: int = Field(10, ge=2)
    aggregate: Literal["median", "mean"] = "median"
    ceiling: bool = True
    n_ceiling_splits: int = Field(10, ge=1)


class CommitLayerParams(_Params):
    metric: Literal["rsa", "cka"] = "rsa"
    n_splits: int = Field(10, ge=1)
    test_size: float = Field(0.5, gt=0, lt=1)
    rdm_method: str = "correlation"
    comparison: str = "corr"


class RsaModelsParams(_Params):
    rdm_method: str = "correlation"
    method: str = "corr"
    bootstrap: Optional[Literal["stimulus", "subject", "both"]] = "stimulus"
    n_bootstrap: int = Field(1000, ge=2)
    ci_level: float = Field(0.95, gt=0, lt=1)
    pairwise_test: Optional[Literal["t-test", "bootstrap"]] = "t-test"
    correction: Optional[Literal["fdr", "bonferroni"]] = "fdr"
    alpha: float = Field(0.05, gt=0, lt=1)


_SCALAR_TYPES = {bool: StrictBool, int: StrictInt, float: float, str: StrictStr}


def _field_type(default: Any) -> Any:
    """The field type of a setting with this default: its scalar type, a list of its first item's type (of
    strings when empty), or a mapping of strings to strings."""
    if isinstance(default, list):
        return list[_SCALAR_TYPES[type(default[0])]] if default else list[str]
    if isinstance(default, dict):
        return dict[str, str]
    return _SCALAR_TYPES[type(default)]


def _params_from_defaults(name: str, defaults: dict[str, Any], check: Callable[[dict[str, Any]], Any]) -> type:
    """A params model with one field per setting of a family runner's ``defaults`` (same default and type),
    less those the engine owns (``out``, ``progress``, ``overwrite``); ``check`` validates the values together."""
    fields = {key: (_field_type(value), value) for key, value in defaults.items()
              if key not in ("out", "progress", "overwrite", "seed")}

    def checked(self: BaseModel) -> BaseModel:
        check({key: value for key, value in self.model_dump().items() if key != "seed"})
        return self

    return create_model(name, __base__=_Params, __validators__={"_checked": model_validator(mode="after")(checked)},
                        **fields)


MetamersParams = _params_from_defaults("MetamersParams", STUDY_DEFAULTS, check_study_settings)
GraphPretrainingParams = _params_from_defaults(
    "GraphPretrainingParams", GRAPH_PRETRAINING_DEFAULTS,
    lambda values: _check_settings({**GRAPH_PRETRAINING_DEFAULTS, **values}, "params"))
SpikePretrainingParams = _params_from_defaults(
    "SpikePretrainingParams", SPIKE_PRETRAINING_DEFAULTS,
    lambda values: check_spike_settings({**SPIKE_PRETRAINING_DEFAULTS, **values}, "params"))
GuidedTrainingParams = _params_from_defaults(
    "GuidedTrainingParams", GUIDANCE_DEFAULTS, lambda values: check_guidance_settings(values, where="params"))


class TripletsParams(_Params):
    judgements: str = Field(..., description="the triplet judgements file (a table, or a THINGS-style index file)")
    odd_one: Optional[Literal["last", "first"]] = None
    stimulus_ids: Optional[str] = None
    object_base: Optional[Literal[0, 1]] = None
    similarity: Literal["dot", "cosine", "euclidean"] = "dot"
    resample: Optional[Literal["objects", "subjects"]] = "objects"
    n_bootstrap: int = Field(1000, ge=2)
    ci_level: float = Field(0.95, gt=0, lt=1)


class TripletsRdmParams(_Params):
    rdm_method: str = "correlation"
    resample: Optional[Literal["both", "subjects", "images"]] = "both"
    n_bootstrap: int = Field(1000, ge=2)
    ci_level: float = Field(0.95, gt=0, lt=1)


class SparsityParams(_Params):
    measures: list[Literal["zero_fraction", "hoyer", "gini", "kurtosis"]] = Field(
        ["zero_fraction", "hoyer", "gini", "kurtosis"], min_length=1)
    tol: float = Field(0.0, ge=0, description="entries with |a| <= tol count as zeros")
    degenerate: Literal["raise", "nan"] = "raise"


class ActivationCodesParams(_Params):
    threshold: float = 0.0
    label: Optional[str] = Field(None, description="a presentation coord of classes (within/between Hamming)")


class AbstractionParams(_Params):
    factors: list[str] = Field(..., min_length=2, description="binary presentation coords (stimulus metadata)")
    metric: Literal["ccgp", "parallelism", "shattering_dimensionality", "all"] = "all"
    held_out: Literal["auto", "matched", "all"] = "auto"
    n_held_out: int = Field(1, ge=1)
    max_splits: Optional[int] = Field(None, ge=1)
    classifier: Literal["svm", "logistic"] = "svm"
    C: float = Field(1.0, gt=0)
    cv: int = Field(5, ge=2)
    max_dichotomies: Optional[int] = Field(None, ge=1)

    @model_validator(mode="after")
    def _distinct(self) -> "AbstractionParams":
        if len(set(self.factors)) != len(self.factors):
            raise ValueError(f"factors must be distinct coords, got {self.factors}")
        return self


_INFORMATION_OPTIONS = {"binning": ("bins", "value_range"), "adaptive-binning": ("bins",),
                        "kde": ("noise_variance", "bound")}


class InformationParams(_Params):
    label: str = Field("label", description="the presentation coord of class labels Y")
    method: str = Field("binning", description="binning, adaptive-binning or kde")
    units: Literal["nats", "bits"] = "nats"
    bins: Optional[int] = Field(None, ge=2)
    value_range: Optional[tuple[float, float]] = None
    noise_variance: Optional[float] = Field(None, gt=0)
    bound: Optional[Literal["upper", "lower"]] = None

    @model_validator(mode="after")
    def _method(self) -> "InformationParams":
        if self.method == "ksg":
            raise ValueError("method 'ksg' estimates I(X;T) from the stimuli's pixels, which a study step does not "
                             "read; use binning, adaptive-binning or kde here, or call "
                             "neuroalign.geometry.information.layer_information(..., inputs=pixels, method='ksg')")
        if self.method not in _INFORMATION_OPTIONS:
            raise ValueError(f"unknown method {self.method!r}; use one of {sorted(_INFORMATION_OPTIONS)}")
        wrong = [key for options in _INFORMATION_OPTIONS.values() for key in options
                 if getattr(self, key) is not None and key not in _INFORMATION_OPTIONS[self.method]]
        if wrong:
            raise ValueError(f"method {self.method!r} takes no {sorted(set(wrong))}; it takes "
                             f"{list(_INFORMATION_OPTIONS[self.method])}")
        return self


class NeuronMatchingParams(_Params):
    reference_layer: Optional[str] = Field(None, description="the reference model's layer (default: same name)")
    matching: Literal["one_to_one", "semi"] = "one_to_one"
    absolute: bool = False
    n_permutations: int = Field(100, ge=1)
    join: Literal["exact", "inner"] = "exact"
    constant: Literal["raise", "drop"] = "raise"


class RelativeStitchingParams(_Params):
    label: str = Field("label", description="the presentation coord of the classes the readout predicts")
    reference_layer: Optional[str] = Field(None, description="the reference model's layer (default: same name)")
    anchors: int = Field(300, ge=1)
    anchor_method: Literal["random", "farthest"] = "random"
    test_size: float = Field(0.25, gt=0, lt=1)
    relative: bool = True
    center: bool = False
    C: float = Field(1.0, gt=0)


@dataclass(frozen=True)
class AnalysisKind:
    """One kind of analysis: its parameters, what it needs from the study, and the function that runs it."""

    name: str
    params: type[BaseModel]
    requires: tuple[str, ...]
    per_layer: bool
    step: str
    description: str
    fingerprint: str | None = None  # "module:function" of the params: JSON-able content of files they name


ANALYSIS_KINDS: dict[str, AnalysisKind] = {
    kind.name: kind for kind in (
        AnalysisKind("rsa", RsaParams, ("model", "stimuli", "brain"), True, "neuroalign.pipelines.steps_scores:rsa_layer",
                     "RDM of each layer vs the brain's RDMs (compare.rsa): bootstrap CI, split-half ceiling"),
        AnalysisKind("cka", CkaParams, ("model", "stimuli", "brain"), True, "neuroalign.pipelines.steps_scores:cka_layer",
                     "linear CKA of each layer vs the brain's patterns (compare.cka_sweep): bootstrap CI, ceiling"),
        AnalysisKind("encoding", EncodingParams, ("model", "stimuli", "brain"), True,
                     "neuroalign.pipelines.steps_scores:encoding_layer",
                     "cross-validated neural predictivity of each layer (compare.encoding_score), ceiled"),
        AnalysisKind("commit_layer", CommitLayerParams, ("model", "stimuli", "brain"), False,
                     "neuroalign.pipelines.steps_scores:commit",
                     "the layer chosen on half of the stimuli, scored on the other half (compare.commit_layer)"),
        AnalysisKind("triplets", TripletsParams, ("model", "stimuli"), True,
                     "neuroalign.pipelines.steps_triplets:judgements_layer",
                     "each layer's odd-one-out accuracy on human triplet judgements (triplets.score_triplets): "
                     "expected credit for ties, CI over objects or subjects",
                     fingerprint="neuroalign.pipelines.steps_triplets:judgements_fingerprint"),
        AnalysisKind("triplets_rdm", TripletsRdmParams, ("brain",), False,
                     "neuroalign.pipelines.steps_triplets:rdm_implied",
                     "fixed model RDMs and/or a model's layers scored on the RDM-implied odd-one-out choices of "
                     "every subject's similarity-judgement RDM (triplets.score_rdm_implied): leave-one-subject-"
                     "out ceiling, bootstrap over subjects and images"),
        AnalysisKind("rsa_models", RsaModelsParams, ("brain",), False, "neuroalign.pipelines.steps_scores:rsa_models",
                     "fixed model RDMs and/or a model's layer RDMs vs the data RDMs (compare.evaluate_models): "
                     "noise ceiling, bootstrap, pairwise tests"),
        AnalysisKind("metamers", MetamersParams, (), False, "neuroalign.pipelines.steps_families:metamers",
                     "MNIST metamers of a CNN's layers and their recognisability by observers "
                     "(metamers.study.run_metamer_study)"),
        AnalysisKind("graph_pretraining", GraphPretrainingParams, (), False,
                     "neuroalign.pipelines.steps_families:graph_pretraining",
                     "masked graph autoencoder pretraining on connectivity graphs, then a linear probe "
                     "(pipelines.graph_pretraining.run_graph_pretraining)",
                     "neuroalign.pipelines.steps_families:graph_inputs_fingerprint"),
        AnalysisKind("spike_pretraining", SpikePretrainingParams, (), False,
                     "neuroalign.pipelines.steps_families:spike_pretraining",
                     "spike models (masked NDT-style, autoregressive spike tokens) and baselines fitted on "
                     "training trials of binned spikes, scored with the Neural Latents Benchmark metrics "
                     "(pipelines.spike_pretraining.run_spike_pretraining)",
                     "neuroalign.pipelines.steps_families:spike_inputs_fingerprint"),
        AnalysisKind("sparsity", SparsityParams, ("model", "stimuli"), True,
                     "neuroalign.pipelines.steps_representations:sparsity_layer",
                     "each layer's population sparsity (zero fraction, Hoyer, Gini, kurtosis), mean over stimuli "
                     "(geometry.layer_sparsity)"),
        AnalysisKind("activation_codes", ActivationCodesParams, ("model", "stimuli"), True,
                     "neuroalign.pipelines.steps_representations:activation_codes_layer",
                     "each layer's on/off activation patterns as codes: uniqueness, collisions, Hamming distances "
                     "within and between classes (geometry.layer_code_statistics)"),
        AnalysisKind("abstraction", AbstractionParams, ("model", "stimuli"), True,
                     "neuroalign.pipelines.steps_representations:abstraction_layer",
                     "each layer's CCGP, parallelism score and shattering dimensionality for binary stimulus "
                     "factors (geometry.ccgp, parallelism_score, shattering_dimensionality)"),
        AnalysisKind("information", InformationParams, ("model", "stimuli"), True,
                     "neuroalign.pipelines.steps_representations:information_layer",
                     "each layer's I(X;T) and I(T;Y) for a label coord (geometry.information.layer_information)"),
        AnalysisKind("neuron_matching", NeuronMatchingParams, ("model", "stimuli", "reference_model"), True,
                     "neuroalign.pipelines.steps_representations:neuron_matching_layer",
                     "each layer's mean matched unit correlation with a reference model's layer, against a "
                     "stimulus-shuffled baseline (compare.matching.matching_profile)"),
        AnalysisKind("relative_stitching", RelativeStitchingParams, ("model", "stimuli", "reference_model"), True,
                     "neuroalign.pipelines.steps_representations:relative_stitching_layer",
                     "a readout trained on each layer's relative representation, applied zero-shot to a "
                     "reference model's layer (compare.matching.zero_shot_stitching)"),
        AnalysisKind("guided_training", GuidedTrainingParams, (), False,
                     "neuroalign.pipelines.steps_alignment:guided_training",
                     "a deep plain MLP trained on MNIST digits with and without an alignment term to a guide CNN's "
                     "layers: per-epoch losses, held-out accuracy and CKA to the guide "
                     "(alignment.experiment.run_guidance_experiment)"),
    )
}


def analysis_kind(name: str, *, source: str | None = None) -> AnalysisKind:
    """The registered kind ``name``; an unknown name raises with the close matches."""
    try:
        return ANALYSIS_KINDS[name]
    except (KeyError, TypeError):
        raise UnknownNameError(str(name), ANALYSIS_KINDS, what="analysis kind", source=source) from None
