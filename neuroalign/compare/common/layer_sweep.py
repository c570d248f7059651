"""One-call layer sweeps: score every layer of a model against every subject.

Both :func:`rsa` and :func:`cka_sweep` follow one recipe:

1. average the repetitions of each side (patterns with one presentation per
   stimulus are used as they are) and match both sides on ``stimulus_id``
   (an exact match is required), in the brain data's stimulus order;
2. summarise each layer and each subject (an RDM, or a Gram matrix);
   :func:`rsa` also takes RDMs computed elsewhere, for the layers, the
   subjects or both;
3. score every layer against every subject and average over subjects;
4. bootstrap stimuli (the same resample for model and brain) for the error
   and percentile CI, vectorised over resamples, layers and subjects (an RDM
   resample is scored as a weighted comparison of the original pairs,
   ``compare_rdms(..., weights=pair_weights(indices))``, without building
   resampled RDMs);
5. ceil the score (``ceiling=``): ``"split-half"``, the Spearman–Brown
   corrected split-half reliability of each subject's summary averaged over
   subjects (needs repeated presentations), or ``"subjects"``, the
   leave-one-subject-out bounds across subjects (rsatoolbox's definition,
   needs several subjects), or ``None``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
import xarray as xr

from ...data.align import align, average_repetitions
from ...data.layers import LAYER, as_layer_mapping
from ...data.provenance import hash_array
from ...data.schema import NEUROID, PRESENTATION, STIMULUS_ID, label_index, validate
from ...errors import AlignmentError, ConfigError, DataError, SchemaError, UnknownNameError
from ...score import Score
from .bootstrap import RESAMPLE, bootstrap_indices, resample_gram, resample_rdm
from .ceiling import split_half_ceiling
from ..cka.core import cka_from_grams, linear_gram
from ..rsa.noise_ceiling import _as_rdms, cka_noise_ceiling, noise_ceiling
from ..rsa.rdm import ID_A, ID_B, PAIR, as_rdm, compute_rdm, rdm_stimulus_ids
from ..rsa.rdm_comparison import RDM_COMPARISONS, _matched, compare_rdms, pair_weights
from .unit_scale import unit_scale

__all__ = ["rsa", "cka_sweep", "CEILINGS"]

#: Valid values of ``ceiling`` in :func:`rsa` and :func:`cka_sweep`.
CEILINGS = ("split-half", "subjects", None)


@dataclass(frozen=True)
class _Family:
    """How one metric summarises data, compares summaries, resamples them and ceils them."""

    name: str
    summarise: Callable[[xr.DataArray], xr.DataArray]  # (…, presentation, neuroid) → summary
    compare: Callable[[xr.DataArray, xr.DataArray], xr.DataArray]
    resample: Callable[[xr.DataArray, np.ndarray], xr.DataArray]
    #: the bounds (dim ``bound``) across subjects of the data summaries (subject, …)
    subjects_ceiling: Callable[[xr.DataArray, str], xr.DataArray]
    #: compare(resample(a), resample(b)) in one step, when a faster route exists
    compare_resampled: Callable[[xr.DataArray, xr.DataArray, np.ndarray], xr.DataArray] | None = None
    #: whether precomputed summaries (RDMs) are accepted in place of patterns
    takes_rdms: bool = False
    caller: str = "rsa"
    #: the name when both sides are given as RDMs (``rdm_method`` played no part)
    rdm_name: str = ""

    def metric(self, prepared: "_Prepared") -> str:
        return self.name if prepared.from_patterns or not self.rdm_name else self.rdm_name

    def compare_subsets(self, model: xr.DataArray, data: xr.DataArray, indices: np.ndarray) -> xr.DataArray:
        """Scores ``(resample, layer, subject)`` on the stimuli ``indices[r]`` of each resample."""
        if self.compare_resampled is not None:
            return self.compare_resampled(model, data, indices)
        return self.compare(self.resample(model, indices), self.resample(data, indices))


def _gram(data: xr.DataArray) -> xr.DataArray:
    batch = [d for d in data.dims if d not in (PRESENTATION, NEUROID)]
    values = np.asarray(data.transpose(*batch, PRESENTATION, NEUROID).values, dtype=float)
    # CKA ignores each representation's scale, but X Xᵀ overflows (or underflows) far from unit scale:
    # rescale every (presentation, neuroid) slice exactly
    values = linear_gram(unit_scale(values, axis=(-2, -1)))
    coords = {d: data[d] for d in batch if d in data.coords}
    return xr.DataArray(values, dims=(*batch, "stimulus_a", "stimulus_b"), coords=coords)


def _compare_grams(a: xr.DataArray, b: xr.DataArray) -> xr.DataArray:
    return xr.apply_ufunc(cka_from_grams, a, b, input_core_dims=[["stimulus_a", "stimulus_b"]] * 2)


def _resample_gram(gram: xr.DataArray, indices: np.ndarray) -> xr.DataArray:
    batch = [d for d in gram.dims if d not in ("stimulus_a", "stimulus_b")]
    values = resample_gram(gram.transpose(*batch, "stimulus_a", "stimulus_b").values, indices)
    coords = {d: gram[d] for d in batch if d in gram.coords}
    return xr.DataArray(values, dims=(RESAMPLE, *batch, "stimulus_a", "stimulus_b"), coords=coords)


def _rsa_family(rdm_method: str, comparison: str) -> _Family:
    if comparison not in RDM_COMPARISONS:
        raise UnknownNameError(comparison, RDM_COMPARISONS, what="RDM comparison method", source="comparison")
    weighted = RDM_COMPARISONS[comparison].weights

    def compare_resampled(a: xr.DataArray, b: xr.DataArray, indices: np.ndarray) -> xr.DataArray:
        weights = pair_weights(indices, len(rdm_stimulus_ids(a)))
        return compare_rdms(a, b, comparison, weights=weights)

    return _Family(
        name=f"rsa-{rdm_method}-{comparison}",
        summarise=lambda data: _ids_only(compute_rdm(data, rdm_method)),
        compare=lambda a, b: compare_rdms(a, b, comparison),
        resample=resample_rdm,
        subjects_ceiling=lambda data, subject: noise_ceiling(data, comparison, subject=subject),
        compare_resampled=compare_resampled if weighted else None,
        takes_rdms=True,
        caller="rsa",
        rdm_name=f"rsa-{comparison}",
    )


def _cka_family() -> _Family:
    return _Family(name="cka-linear", summarise=_gram, compare=_compare_grams, resample=_resample_gram,
                   subjects_ceiling=lambda data, subject: cka_noise_ceiling(data, subject=subject),
                   caller="cka_sweep")


def _ids_only(rdm: xr.DataArray) -> xr.DataArray:
    """An RDM with only its stimulus ids on ``pair`` (other metadata would clash between layers)."""
    drop = [c for c in rdm.coords if PAIR in rdm[c].dims and c not in (ID_A, ID_B)]
    return rdm.drop_vars(drop)


def _by_subject(summarise, data: xr.DataArray, subject: str) -> xr.DataArray:
    labels, parts = [], []
    for label, part in data.groupby(subject):
        labels.append(label)
        parts.append(summarise(part))
    return xr.concat(parts, dim=label_index(labels, subject))


def _is_rdm(value: object) -> bool:
    return isinstance(value, xr.DataArray) and (PAIR in value.dims or ID_A in value.dims)


def _reference(ids: np.ndarray) -> xr.DataArray:
    """A stand-in for brain patterns with the stimulus order ``ids`` (to align model patterns to RDMs)."""
    return xr.DataArray(np.zeros(len(ids)), dims=(PRESENTATION,), coords={STIMULUS_ID: (PRESENTATION, np.asarray(ids))})


@dataclass
class _Prepared:
    """Both sides summarised, in the brain data's stimulus order."""

    model: xr.DataArray  # (layer, …summary)
    data: xr.DataArray  # (subject, …summary)
    n_stimuli: int
    patterns: xr.DataArray | None  # the brain patterns with their repetitions; None for RDMs
    brain_hash: str
    from_patterns: bool  # whether either side was summarised from patterns


def _prepare(family: _Family, model_data, brain_data, subject: str) -> _Prepared:
    layers = as_layer_mapping(model_data, argument="model_data")
    patterns = None
    if _is_rdm(brain_data) or (isinstance(brain_data, Mapping) and not isinstance(brain_data, xr.DataArray)):
        if not family.takes_rdms:
            raise SchemaError(f"{family.caller} compares patterns, and brain_data holds RDMs", source="brain_data",
                              fix="pass the (presentation, neuroid) responses, or score RDMs with "
                                  "neuroalign.compare.rsa(model_data, brain_rdms)")
        data = _ids_only(_as_rdms(brain_data, subject, "brain_data"))
        extra = [d for d in data.dims if d not in (subject, PAIR)]
        if extra:
            raise SchemaError(f"brain_data has extra dims {extra}", source="brain_data",
                              fix=f"select one element of them first, e.g. brain_data.sel({extra[0]}=...)")
        data = data.transpose(subject, PAIR)
        reference = _reference(rdm_stimulus_ids(data))
    elif isinstance(brain_data, xr.DataArray) and PRESENTATION in brain_data.dims:
        validate(brain_data, dims=(PRESENTATION, NEUROID), name="brain_data")
        if subject not in brain_data.coords or brain_data[subject].dims != (NEUROID,):
            raise SchemaError(f"brain_data has no {subject!r} coordinate on 'neuroid'", source="brain_data",
                              fix="add one (a single subject is fine) or pass subject='<coord name>'")
        patterns = brain_data
        reference = average_repetitions(brain_data, name="brain_data")
        data = _by_subject(family.summarise, reference, subject)
    else:
        kind = type(brain_data).__name__ if not isinstance(brain_data, xr.DataArray) \
            else f"DataArray with dims {tuple(brain_data.dims)}"
        takes = "(presentation, neuroid) patterns or RDMs" if family.takes_rdms else "(presentation, neuroid) patterns"
        raise SchemaError(f"brain_data must hold {takes}, got a {kind}", source="brain_data",
                          fix="wrap patterns with neuroalign.data.create_assembly(values, stimulus_id=ids, "
                              "subject=...)" + (", RDMs with neuroalign.compare.as_rdm(values, stimulus_ids=ids, "
                                                "dims=['subject'])" if family.takes_rdms else ""))
    summaries = []
    for name, activations in layers.items():
        label = f"model_data[{name!r}]"
        if _is_rdm(activations):
            if not family.takes_rdms:
                raise SchemaError(f"{family.caller} compares patterns, and {label} is an RDM", source=label,
                                  fix="pass the layer's (presentation, neuroid) activations, or score RDMs with "
                                      "neuroalign.compare.rsa(model_rdms, brain_data)")
            rdm = as_rdm(activations)
            if rdm.dims != (PAIR,):
                raise SchemaError(f"{label} holds several RDMs (dims {rdm.dims})", source=label,
                                  fix="pass one RDM per layer, e.g. a mapping of layer name → RDM, or a "
                                      "(layer, pair) DataArray")
            try:
                summaries.append(_ids_only(_matched(data, rdm)))
            except AlignmentError as err:
                raise AlignmentError(err.problem, source=f"brain_data/{label}", fix=err.fix) from None
        else:
            _, aligned = align(reference, average_repetitions(validate(activations, name=label), name=label),
                               names=("brain_data", label))  # brain's order
            summaries.append(family.summarise(aligned))
    model = xr.concat(summaries, dim=label_index(layers, LAYER))
    n_stimuli = len(rdm_stimulus_ids(data)) if PAIR in data.dims else data.sizes["stimulus_a"]
    brain_hash = hash_array(patterns if patterns is not None else data)
    from_patterns = patterns is not None or not all(_is_rdm(a) for a in layers.values())
    return _Prepared(model=model, data=data, n_stimuli=n_stimuli, patterns=patterns, brain_hash=brain_hash,
                     from_patterns=from_patterns)


def _check_ceiling(ceiling, prepared: _Prepared, subject: str, caller: str) -> None:
    """Raise, naming the option or function that handles the input, when ``ceiling`` cannot be computed."""
    n_subjects = prepared.data.sizes[subject]
    if ceiling == "subjects" and n_subjects < 2:
        alternative = "ceiling='split-half' (needs repeated presentations)" if prepared.patterns is not None \
            else "the (presentation, neuroid) responses with repetitions and ceiling='split-half'"
        raise DataError("brain_data holds one subject: ceiling='subjects' needs several", source="brain_data",
                        fix=f"pass several subjects, or use {alternative}, or ceiling=None")
    if ceiling != "split-half":
        return
    other = f"ceiling='subjects' ({n_subjects} subjects given) or " if n_subjects > 1 else ""
    if prepared.patterns is None:
        raise ConfigError("brain_data holds RDMs, and ceiling='split-half' needs the repeated patterns they were "
                          "computed from", source="ceiling",
                          fix=f"pass {other}ceiling=None, or pass the (presentation, neuroid) responses with "
                              f"repetitions to {caller}()")
    counts = pd.Index(prepared.patterns[STIMULUS_ID].values).value_counts(sort=False)
    if counts.min() < 2:
        once = counts.index[counts < 2][:3].tolist()
        raise DataError(f"{int((counts < 2).sum())} stimuli of brain_data are presented once (e.g. {once}), and "
                        "ceiling='split-half' needs repetitions of every stimulus", source="brain_data",
                        fix=f"pass {other}ceiling=None, or the data with repetitions")


def _ceil(family: _Family, prepared: _Prepared, ceiling, subject: str, n_splits: int,
          rng: np.random.Generator) -> tuple[xr.DataArray | None, dict, dict]:
    """(ceiling value or bounds, raw entries, params) of the chosen ceiling."""
    if ceiling is None:
        return None, {}, {}
    if ceiling == "subjects":
        bounds = family.subjects_ceiling(prepared.data, subject)
        return bounds, {"noise_ceiling": bounds}, {}

    def consistency(half_a: xr.DataArray, half_b: xr.DataArray) -> xr.DataArray:
        return family.compare(_by_subject(family.summarise, half_a, subject),
                              _by_subject(family.summarise, half_b, subject))

    split_half = split_half_ceiling(prepared.patterns, consistency, n_splits=n_splits, seed=rng,
                                    metric=f"{family.metric(prepared)}-ceiling")
    return split_half.values.mean(subject), {"ceiling_per_split": split_half.raw}, {"n_splits": n_splits}


def _sweep(family: _Family, model_data, brain_data, *, ceiling, subject: str, n_bootstrap: int, n_splits: int,
           seed: int, params: dict) -> Score:
    if ceiling not in CEILINGS:  # the cheap checks before any RDM or Gram matrix is computed
        raise ConfigError(f"unknown ceiling {ceiling!r}", source="ceiling", fix=f"use one of {CEILINGS}")
    if n_bootstrap < 2:
        raise ConfigError(f"n_bootstrap must be at least 2, got {n_bootstrap}", source="n_bootstrap",
                          fix="use e.g. n_bootstrap=1000")
    prepared = _prepare(family, model_data, brain_data, subject)
    _check_ceiling(ceiling, prepared, subject, family.caller)
    rng = np.random.default_rng(seed)
    per_subject = family.compare(prepared.model, prepared.data)
    point = per_subject.mean(subject)
    indices = bootstrap_indices(prepared.n_stimuli, n_bootstrap, rng)
    resamples = family.compare_subsets(prepared.model, prepared.data, indices).mean(subject)
    value, raw, ceiling_params = _ceil(family, prepared, ceiling, subject, n_splits, rng)
    params = {**params, "ceiling": str(ceiling), **ceiling_params, "n_bootstrap": n_bootstrap, "seed": seed,
              "brain_hash": prepared.brain_hash}
    score = Score.from_resamples(point, resamples.transpose(RESAMPLE, ...), dim=RESAMPLE, ceiling=value,
                                 metric=family.metric(prepared), params=params)
    score.raw = xr.Dataset({"resamples": resamples, "per_subject": per_subject, **raw})
    return score


def rsa(
    model_data,
    brain_data,
    *,
    rdm_method: str = "correlation",
    comparison: str = "corr",
    ceiling: str | None = "split-half",
    subject: str = "subject",
    n_bootstrap: int = 1000,
    n_splits: int = 10,
    seed: int = 0,
) -> Score:
    """Representational similarity analysis of every layer against every subject.

    Parameters
    ----------
    model_data : mapping of str to xarray.DataArray, or xarray.DataArray
        Layer name → ``(presentation, neuroid)`` activations (e.g. from
        :func:`neuroalign.extract.extract`; repetitions are averaged) or
        layer name → RDM (:func:`compute_rdm`, :func:`as_rdm`).  One
        DataArray is one layer, or one layer per label of a ``layer`` dim
        (see :func:`neuroalign.data.as_layer_mapping`).
    brain_data : xarray.DataArray or mapping
        ``(presentation, neuroid)`` responses (with or without repetitions)
        with a ``subject`` coordinate on ``neuroid``; or RDMs with a
        ``subject`` dim (a single RDM is one subject; a mapping of subject →
        RDM works too).
    rdm_method : str
        Passed to :func:`compute_rdm` for the sides given as patterns.
    comparison : str
        Passed to :func:`compare_rdms` (default ``"corr"``, as every RSA
        function of neuroalign; see ``docs/compare-rsa.md``).
    ceiling : {"split-half", "subjects", None}
        ``"split-half"``: split-half reliability of each subject's RDM,
        Spearman–Brown corrected and averaged over subjects (needs repeated
        presentations of every stimulus); ``"subjects"``: the noise ceiling
        across subjects (:func:`noise_ceiling`, rsatoolbox's
        leave-one-subject-out lower and all-subject upper bound; needs at
        least 2 subjects); None: no ceiling.
    subject : str
        The neuroid coordinate (patterns) or the dim (RDMs) naming subjects.
    n_bootstrap : int
        Stimulus bootstrap resamples for the error and 95% CI.
    n_splits : int
        Random splits for the split-half ceiling.
    seed : int
        Seeds the bootstrap and the splits.

    Returns
    -------
    Score
        Dim ``layer``: the mean over subjects of the RDM comparison, with
        ceiling, bootstrap error and CI.  For ``"subjects"`` the ceiling has
        two bounds: ``ceiling`` is the upper one (what ``ceiled`` divides
        by), ``ceiling_lower`` the lower one.  ``raw`` is a Dataset with the resamples, the per-subject scores
        and the ceiling's own values: ``ceiling_per_split`` (split-half) or
        ``noise_ceiling`` (both bounds, dim ``bound``).

    Raises
    ------
    SchemaError
        Inputs that are neither patterns nor RDMs.
    DataError, ConfigError
        A ceiling the input cannot give (e.g. ``"subjects"`` with one
        subject); the message names the option that works.
    AlignmentError
        The two sides describe different stimuli.

    Examples
    --------
    >>> from neuroalign.compare import rsa
    >>> from neuroalign.datasets.synthetic import make_synthetic_study
    >>> from neuroalign.extract import extract
    >>> study = make_synthetic_study(seed=0, n_stimuli=24, n_voxels=30)
    >>> acts = extract(study.network, study.stimuli, ["block1", "block3"], progress=False)
    >>> score = rsa(acts, study.brain, n_bootstrap=20, n_splits=2)
    >>> score.dims
    ('layer',)
    >>> across = rsa(acts, study.brain, ceiling="subjects", n_bootstrap=20)
    >>> across.raw["noise_ceiling"].bound.values.tolist()
    ['lower', 'upper']
    """
    family = _rsa_family(rdm_method, comparison)
    return _sweep(family, model_data, brain_data, ceiling=ceiling, subject=subject, n_bootstrap=n_bootstrap,
                  n_splits=n_splits, seed=seed, params={"rdm_method": rdm_method, "comparison": comparison})


def cka_sweep(
    model_data,
    brain_data: xr.DataArray,
    *,
    ceiling: str | None = "split-half",
    subject: str = "subject",
    n_bootstrap: int = 1000,
    n_splits: int = 10,
    seed: int = 0,
) -> Score:
    """Linear CKA of every layer against every subject, with ceiling and bootstrap CI.

    Same inputs and outputs as :func:`rsa`, for patterns only (CKA compares
    Gram matrices of patterns; RDMs raise an error naming :func:`rsa`).
    ``ceiling="split-half"`` applies the Spearman–Brown correction to
    split-half CKA (exact for correlations, an approximation for CKA,
    documented in ``docs/tutorial-demo.md``); ``ceiling="subjects"`` is the
    leave-one-subject-out noise ceiling of :func:`cka_noise_ceiling`.

    Examples
    --------
    >>> from neuroalign.compare import cka_sweep
    >>> from neuroalign.datasets.synthetic import make_synthetic_study
    >>> from neuroalign.extract import extract
    >>> study = make_synthetic_study(seed=0, n_stimuli=24, n_voxels=30)
    >>> acts = extract(study.network, study.stimuli, ["block1", "block3"], progress=False)
    >>> float(cka_sweep(acts, study.brain, n_bootstrap=20, n_splits=2).values.max()) <= 1
    True
    """
    return _sweep(_cka_family(), model_data, brain_data, ceiling=ceiling, subject=subject, n_bootstrap=n_bootstrap,
                  n_splits=n_splits, seed=seed, params={"kernel": "linear"})
