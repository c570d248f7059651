"""The schema of a study config: pydantic models of its stimuli, data, models, analyses and outputs.

A study file (YAML, read by :func:`neuroalign.pipelines.study_files.load_study`)
is checked here: every mapping accepts only its own keys, each analysis's
``params`` are checked against its kind's parameters
(:mod:`neuroalign.pipelines.analysis_kinds`), and every name an analysis uses
must be defined in the study.  Build a config with
:func:`~neuroalign.pipelines.study_files.study_from_dict` to get errors that
name the key path; :meth:`StudyConfig.model_validate` raises pydantic's
``ValidationError``.

Examples
--------
>>> from neuroalign.pipelines.study_schema import StudyConfig
>>> study = StudyConfig.model_validate({
...     "name": "tiny",
...     "stimuli": {"synthetic": {"loader": "synthetic_stimuli"}},
...     "data": {"brain": {"loader": "synthetic_brain"}},
...     "models": {"net": {"factory": "neuroalign.models:ReferenceNet", "layers": ["block1", "fc"]}},
...     "analyses": [{"name": "rsa", "kind": "rsa", "model": "net", "stimuli": "synthetic", "brain": "brain",
...                   "params": {"n_bootstrap": 50}}],
... })
>>> study.analyses[0].params.n_bootstrap, study.analyses[0].params.n_splits
(50, 10)
>>> study.outputs.dir
'neuroalign-results/tiny'
"""

from __future__ import annotations

import importlib
import logging
import re
from typing import Any, Optional

from pydantic import (BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_serializer,
                      model_validator)

from ..errors import ConfigError, UnknownNameError
from .analysis_kinds import analysis_kind

__all__ = ["StudyConfig", "StimulusSpec", "DataSpec", "ModelSpec", "PreprocessingSpec", "NormalizeSpec",
           "AnalysisSpec", "OutputSpec", "REFERENCES"]

log = logging.getLogger(__name__)

#: The fields of an analysis that name entries of the study: field -> the study's section holding them.
REFERENCES = {"model": "models", "stimuli": "stimuli", "brain": "data", "candidates": "data",
              "reference_model": "models"}

_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid")


def loader_registry(attribute: str) -> dict | None:
    """``neuroalign.pipelines.sources.<attribute>``, or None while that module does not exist."""
    try:
        module = importlib.import_module("neuroalign.pipelines.sources")
    except ModuleNotFoundError as exc:
        if exc.name != "neuroalign.pipelines.sources":
            raise
        log.debug("neuroalign.pipelines.sources is missing: loader names are not checked")
        return None
    return getattr(module, attribute)


def _one_of(spec: BaseModel, keys: tuple[str, ...], what: str) -> None:
    given = [key for key in keys if getattr(spec, key) is not None]
    if len(given) != 1:
        found = f"got {', '.join(given)}" if given else "got none of them"
        raise ConfigError(f"a {what} needs exactly one of {', '.join(keys)} ({found})",
                          fix=f"keep one of {', '.join(keys)}" if given else f"add one of {', '.join(keys)}")
    if spec.args and getattr(spec, "loader") is None:
        raise ConfigError("args go with a loader only", fix=f"remove args, or use a loader instead of {given[0]}")


def _check_loader(name: str | None, attribute: str, what: str) -> str | None:
    registry = loader_registry(attribute)
    if name is not None and registry is not None and name not in registry:
        raise UnknownNameError(name, registry, what=what)
    return name


class StimulusSpec(_Spec):
    """A stimulus set: a registered ``loader`` with ``args``, a ``folder`` of images or a ``table`` (CSV)."""

    loader: Optional[str] = Field(None, description="a name of neuroalign.pipelines.sources.STIMULUS_LOADERS")
    folder: Optional[str] = Field(None, description="a folder of images (StimulusSet.from_folder)")
    table: Optional[str] = Field(None, description="a CSV table with stimulus_id and path (StimulusSet.from_table)")
    args: dict[str, Any] = Field(default_factory=dict, description="keyword arguments of the loader")

    @field_validator("loader")
    @classmethod
    def _known_loader(cls, name: str | None) -> str | None:
        return _check_loader(name, "STIMULUS_LOADERS", "stimulus loader")

    @model_validator(mode="after")
    def _exactly_one(self) -> StimulusSpec:
        _one_of(self, ("loader", "folder", "table"), "stimulus set")
        return self


class DataSpec(_Spec):
    """A data source (one array): a registered ``loader`` with ``args``, or a saved array ``file`` (.nc/.zarr)."""

    loader: Optional[str] = Field(None, description="a name of neuroalign.pipelines.sources.DATA_LOADERS")
    file: Optional[str] = Field(None, description="an array saved by neuroalign.data.save (.nc or .zarr)")
    args: dict[str, Any] = Field(default_factory=dict, description="keyword arguments of the loader")

    @field_validator("loader")
    @classmethod
    def _known_loader(cls, name: str | None) -> str | None:
        return _check_loader(name, "DATA_LOADERS", "data loader")

    @model_validator(mode="after")
    def _exactly_one(self) -> DataSpec:
        _one_of(self, ("loader", "file"), "data source")
        return self


class NormalizeSpec(_Spec):
    """Per-channel normalisation: one positive ``std`` per ``mean``."""

    mean: list[float] = Field(min_length=1)
    std: list[float] = Field(min_length=1)

    @model_validator(mode="after")
    def _paired(self) -> NormalizeSpec:
        if len(self.mean) != len(self.std) or any(s <= 0 for s in self.std):
            raise ValueError(f"normalize needs one positive std per mean (got mean {self.mean}, std {self.std})")
        return self


class PreprocessingSpec(_Spec):
    """Image preprocessing, applied in this order: ``rgb``, ``resize``, ``center_crop``, ``normalize``."""

    rgb: bool = Field(False, description="convert to 3 channels first (greyscale → RGB, RGBA → RGB)")
    resize: Optional[int] = Field(None, gt=0, description="resize the shorter side to this many pixels")
    center_crop: Optional[int] = Field(None, gt=0, description="centre-crop to this many pixels (after resizing)")
    normalize: Any = Field(None, description="'imagenet', or {mean: [...], std: [...]}")

    @field_validator("normalize", mode="before")
    @classmethod
    def _normalize(cls, value: Any) -> Any:
        if value is None or value == "imagenet":
            return value
        if isinstance(value, dict):
            return NormalizeSpec.model_validate(value)
        if isinstance(value, NormalizeSpec):
            return value
        raise ValueError(f"normalize must be 'imagenet' or {{mean: [...], std: [...]}}, got {value!r}")


class ModelSpec(_Spec):
    """A network: a factory, its arguments, optional weights, the layers to read, preprocessing, batch size."""

    factory: str = Field(description="'package.module:callable' or 'path/file.py:callable' returning an nn.Module")
    args: dict[str, Any] = Field(default_factory=dict, description="keyword arguments of the factory")
    weights: Optional[str] = Field(None, description="a state_dict file, read with torch.load(weights_only=True)")
    layers: list[str] = Field(min_length=1, description="layer names or patterns (extract.layers.resolve_layers)")
    preprocessing: Optional[PreprocessingSpec] = None
    batch_size: int = Field(64, gt=0)

    @field_validator("factory")
    @classmethod
    def _factory(cls, value: str) -> str:
        module, sep, name = value.rpartition(":")
        if not sep or not module or not name.isidentifier():
            raise ValueError(f"factory {value!r} is not 'package.module:callable' or 'path/file.py:callable'")
        return value

    def preprocess(self) -> Any:
        """The composed preprocessing transform (:mod:`neuroalign.extract.preprocessing`), or None.

        Examples
        --------
        >>> from neuroalign.pipelines.study_schema import ModelSpec
        >>> spec = ModelSpec(factory="neuroalign.models:ReferenceNet", layers=["fc"],
        ...                  preprocessing={"resize": 32, "normalize": "imagenet", "rgb": True})
        >>> spec.preprocess()
        Compose([ToRGB(), Resize(size=32, interpolation='bilinear'), Normalize(mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))])
        >>> ModelSpec(factory="m:f", layers=["fc"]).preprocess() is None
        True
        """
        spec = self.preprocessing
        if spec is None:
            return None
        from ..extract.preprocessing import IMAGENET_MEAN, IMAGENET_STD, image_preprocessing

        mean = std = None
        if spec.normalize == "imagenet":
            mean, std = IMAGENET_MEAN, IMAGENET_STD
        elif isinstance(spec.normalize, NormalizeSpec):
            mean, std = spec.normalize.mean, spec.normalize.std
        transform = image_preprocessing(spec.resize, crop=spec.center_crop, mean=mean, std=std, rgb=spec.rgb)
        return transform if transform.transforms else None


#: Kinds that compare candidate model RDMs (data entries) and/or a model's layer RDMs with the brain.
MODEL_RDM_KINDS = ("rsa_models", "triplets_rdm")


class AnalysisSpec(_Spec):
    """One analysis: its ``kind`` (a key of ``ANALYSIS_KINDS``), the study entries it uses, its ``params``.

    ``params`` holds an instance of the kind's parameter model (defaults filled in).
    """

    name: str
    kind: str
    model: Optional[str] = None
    stimuli: Optional[str] = None
    brain: Optional[str] = None
    candidates: list[str] = Field(default_factory=list)
    reference_model: Optional[str] = Field(None, description="a second model, for kinds comparing two models")
    params: Any = Field(default_factory=dict, validate_default=True)

    @model_serializer(mode="wrap")
    def _dump(self, handler: Any) -> dict:
        """Without ``reference_model`` where it is unset: the resolved config (and its hash) of a study whose
        analyses compare no second model stays as it was before the field existed."""
        dumped = handler(self)
        if dumped.get("reference_model") is None:
            dumped.pop("reference_model", None)
        return dumped

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError(f"analysis name {value!r} may use only letters, digits, '_', '.' and '-'")
        return value

    @field_validator("kind")
    @classmethod
    def _kind(cls, value: str) -> str:
        analysis_kind(value)
        return value

    @field_validator("params", mode="before")
    @classmethod
    def _params(cls, value: Any, info: ValidationInfo) -> Any:
        if "kind" not in info.data:  # the kind is wrong: reported on its own
            return value
        model = analysis_kind(info.data["kind"]).params
        if isinstance(value, model):
            return value
        return model.model_validate({} if value is None else value)

    @model_validator(mode="after")
    def _required(self) -> AnalysisSpec:
        requires = analysis_kind(self.kind).requires
        if self.kind in MODEL_RDM_KINDS and not self.candidates and not (self.model and self.stimuli):
            raise ConfigError(f"kind {self.kind!r} needs candidates (data entries of model RDMs), "
                              "or a model and stimuli, or both",
                              fix="add 'candidates: [<data entry>]' or 'model: <model>' and 'stimuli: <stimuli>'")
        if self.reference_model and "reference_model" not in requires:
            raise ConfigError(f"kind {self.kind!r} compares no second model, and reference_model is set",
                              fix="remove reference_model, or use a kind that compares two models "
                                  "(neuron_matching, relative_stitching)")
        missing = [key for key in requires if not getattr(self, key)]
        if missing:
            raise ConfigError(f"kind {self.kind!r} needs {', '.join(missing)} (the study entries it compares)",
                              fix="add " + ", ".join(f"'{key}: <{REFERENCES[key]} entry>'" for key in missing))
        return self


class OutputSpec(_Spec):
    """Where results go: ``dir`` (default ``neuroalign-results/<name>``), the ``store``, whether to ``report``."""

    dir: Optional[str] = Field(None, description="results folder, relative to the current directory")
    store: Optional[str] = Field(None, description="results store folder (default <dir>/store)")
    report: bool = True


class StudyConfig(_Spec):
    """A whole study: its stimuli, data sources, models, analyses and outputs.

    Every name an analysis uses (``model``, ``stimuli``, ``brain``,
    ``candidates``) must be a key of the matching section; analysis names are
    unique; an analysis's ``params.seed`` defaults to the study's ``seed``.

    Attributes
    ----------
    name : str
        Letters, digits, ``_``, ``.`` and ``-``.
    description : str
    seed : int
        Default seed of every analysis (``>= 0``, default 0).
    stimuli : dict of str to StimulusSpec
    data : dict of str to DataSpec
    models : dict of str to ModelSpec
    analyses : list of AnalysisSpec
        At least one.
    outputs : OutputSpec
        ``outputs.dir`` defaults to ``neuroalign-results/<name>``.
    """

    name: str
    description: str = ""
    seed: int = Field(0, ge=0)
    stimuli: dict[str, StimulusSpec] = Field(default_factory=dict)
    data: dict[str, DataSpec] = Field(default_factory=dict)
    models: dict[str, ModelSpec] = Field(default_factory=dict)
    analyses: list[AnalysisSpec] = Field(min_length=1)
    outputs: OutputSpec = Field(default_factory=OutputSpec)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError(f"study name {value!r} may use only letters, digits, '_', '.' and '-'")
        return value

    @model_validator(mode="after")
    def _references(self) -> StudyConfig:
        seen: set[str] = set()
        for i, analysis in enumerate(self.analyses):
            if analysis.name in seen:
                raise ConfigError(f"two analyses are named {analysis.name!r}", source=f"analyses[{i}].name",
                                  fix="give each analysis its own name")
            seen.add(analysis.name)
            for field, section in REFERENCES.items():
                defined = getattr(self, section)
                names = getattr(analysis, field)
                for j, name in enumerate(names if isinstance(names, list) else [names]):
                    if name is not None and name not in defined:
                        where = f"analyses[{i}].{field}" + (f"[{j}]" if isinstance(names, list) else "")
                        raise UnknownNameError(name, defined, what=f"{section} entry", source=where)
            if getattr(analysis.params, "seed", 0) is None:
                analysis.params.seed = self.seed
        if self.outputs.dir is None:
            self.outputs.dir = f"neuroalign-results/{self.name}"
        return self
