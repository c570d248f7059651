"""One-call layer sweeps: score every layer of a model against every subject.

Both :func:`rsa` and :func:`cka_sweep` follow one recipe:

1. average the brain data's repetitions and align both sides on ``stimulus_id``
   (an exact match is required);
2. summarise each layer and each subject (an RDM, or a Gram matrix);
3. score every layer against every subject and average over subjects;
4. bootstrap stimuli (the same resample for model and brain) for the error
   and percentile CI, vectorised over resamples, layers and subjects (an RDM
   resample is scored as a weighted comparison of the original pairs,
   ``compare_rdms(..., weights=pair_weights(indices))``, without building
   resampled RDMs);
5. ceil with the split-half Spearman–Brown reliability of each subject's
   summary, averaged over subjects.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import xarray as xr

from ..data.align import align, average_repetitions
from ..data.provenance import hash_array
from ..data.schema import NEUROID, PRESENTATION, label_index, validate
from ..errors import ConfigError, SchemaError
from ..score import Score
from .bootstrap import RESAMPLE, bootstrap_indices, resample_gram, resample_rdm
from .ceiling import split_half_ceiling
from .cka import cka_from_grams, linear_gram
from .rdm import compute_rdm
from .rdm_comparison import compare_rdms, pair_weights

__all__ = ["rsa", "cka_sweep"]

LAYER = "layer"


@dataclass(frozen=True)
class _Family:
    """How one metric summarises data, compares summaries and resamples them."""

    name: str
    summarise: Callable[[xr.DataArray], xr.DataArray]  # (…, presentation, neuroid) → summary
    compare: Callable[[xr.DataArray, xr.DataArray], xr.DataArray]
    resample: Callable[[xr.DataArray, np.ndarray], xr.DataArray]
    #: compare(resample(a), resample(b)) in one step, when a faster route exists
    compare_resampled: Callable[[xr.DataArray, xr.DataArray, np.ndarray], xr.DataArray] | None = None


def _gram(data: xr.DataArray) -> xr.DataArray:
    batch = [d for d in data.dims if d not in (PRESENTATION, NEUROID)]
    values = linear_gram(data.transpose(*batch, PRESENTATION, NEUROID).values)
    coords = {d: data[d] for d in batch if d in data.coords}
    return xr.DataArray(values, dims=(*batch, "stimulus_a", "stimulus_b"), coords=coords)


def _compare_grams(a: xr.DataArray, b: xr.DataArray) -> xr.DataArray:
    return xr.apply_ufunc(cka_from_grams, a, b, input_core_dims=[["stimulus_a", "stimulus_b"]] * 2)


def _resample_gram(gram: xr.DataArray, indices: np.ndarray) -> xr.DataArray:
    batch = [d for d in gram.dims if d not in ("stimulus_a", "stimulus_b")]
    values = resample_gram(gram.transpose(*batch, "stimulus_a", "stimulus_b").values, indices)
    coords = {d: gram[d] for d in batch if d in gram.coords}
    return xr.DataArray(values, dims=(RESAMPLE, *batch, "stimulus_a", "stimulus_b"), coords=coords)


def _by_subject(summarise, data: xr.DataArray, subject: str) -> xr.DataArray:
    labels, parts = [], []
    for label, part in data.groupby(subject):
        labels.append(label)
        parts.append(summarise(part))
    return xr.concat(parts, dim=label_index(labels, subject))


def _sweep(
    family: _Family,
    layers: Mapping[str, xr.DataArray],
    brain: xr.DataArray,
    *,
    subject: str,
    n_bootstrap: int,
    n_splits: int,
    seed: int,
    params: dict,
) -> Score:
    if not layers:
        raise ConfigError("no layers to score", source="model_data", fix="pass a mapping of layer name → array")
    validate(brain, dims=(PRESENTATION, NEUROID), name="brain_data")
    if subject not in brain.coords or brain[subject].dims != (NEUROID,):
        raise SchemaError(f"brain_data has no {subject!r} coordinate on 'neuroid'", source="brain_data",
                          fix="add one (a single subject is fine) or pass subject='<coord name>'")
    rng = np.random.default_rng(seed)
    brain_mean = average_repetitions(brain, name="brain_data")
    summaries = []
    for name, activations in layers.items():
        _, aligned = align(brain_mean, activations, names=("brain_data", f"layer {name}"))  # brain's order
        summaries.append(family.summarise(aligned))
    model = xr.concat(summaries, dim=label_index(layers, LAYER))
    data = _by_subject(family.summarise, brain_mean, subject)
    point = family.compare(model, data).mean(subject)

    indices = bootstrap_indices(brain_mean.sizes[PRESENTATION], n_bootstrap, rng)
    if family.compare_resampled is not None:
        resampled = family.compare_resampled(model, data, indices)
    else:
        resampled = family.compare(family.resample(model, indices), family.resample(data, indices))
    resamples = resampled.mean(subject)

    def consistency(half_a: xr.DataArray, half_b: xr.DataArray) -> xr.DataArray:
        return family.compare(_by_subject(family.summarise, half_a, subject),
                              _by_subject(family.summarise, half_b, subject))

    ceiling = split_half_ceiling(brain, consistency, n_splits=n_splits, seed=rng, metric=f"{family.name}-ceiling")
    params = {**params, "n_bootstrap": n_bootstrap, "n_splits": n_splits, "seed": seed,
              "brain_hash": hash_array(brain)}
    score = Score.from_resamples(point, resamples.transpose(RESAMPLE, ...), dim=RESAMPLE,
                                 ceiling=ceiling.values.mean(subject), metric=family.name, params=params)
    score.raw = xr.Dataset({"resamples": resamples, "per_subject": family.compare(model, data),
                            "ceiling_per_split": ceiling.raw})
    return score


def rsa(
    model_data: Mapping[str, xr.DataArray],
    brain_data: xr.DataArray,
    *,
    rdm_method: str = "correlation",
    comparison: str = "spearman",
    subject: str = "subject",
    n_bootstrap: int = 1000,
    n_splits: int = 10,
    seed: int = 0,
) -> Score:
    """Representational similarity analysis of every layer against every subject.

    Parameters
    ----------
    model_data : mapping of str to xarray.DataArray
        Layer name → ``(presentation, neuroid)`` activations (e.g. from
        :func:`neuroalign.extract.extract`).
    brain_data : xarray.DataArray
        ``(presentation, neuroid)`` responses with repetitions, and a
        ``subject`` coordinate on ``neuroid``.
    rdm_method, comparison : str
        Passed to :func:`compute_rdm` and :func:`compare_rdms`.
    subject : str
        The neuroid coordinate naming subjects.
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
        ceiling, bootstrap error and CI.  ``raw`` is a Dataset with the
        resamples, the per-subject scores and the per-split ceilings.

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
    """
    family = _Family(
        name=f"rsa-{rdm_method}-{comparison}",
        summarise=lambda data: compute_rdm(data, rdm_method),
        compare=lambda a, b: compare_rdms(a, b, comparison),
        resample=resample_rdm,
        compare_resampled=lambda a, b, indices: compare_rdms(a, b, comparison, weights=pair_weights(indices)),
    )
    return _sweep(family, model_data, brain_data, subject=subject, n_bootstrap=n_bootstrap, n_splits=n_splits,
                  seed=seed, params={"rdm_method": rdm_method, "comparison": comparison})


def cka_sweep(
    model_data: Mapping[str, xr.DataArray],
    brain_data: xr.DataArray,
    *,
    subject: str = "subject",
    n_bootstrap: int = 1000,
    n_splits: int = 10,
    seed: int = 0,
) -> Score:
    """Linear CKA of every layer against every subject, with ceiling and bootstrap CI.

    Same inputs and outputs as :func:`rsa`.  The ceiling applies the
    Spearman–Brown correction to split-half CKA; this is exact for
    correlations and an approximation for CKA (documented in
    ``docs/tutorial-demo.md``).

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
    family = _Family(name="cka-linear", summarise=_gram, compare=_compare_grams, resample=_resample_gram)
    return _sweep(family, model_data, brain_data, subject=subject, n_bootstrap=n_bootstrap, n_splits=n_splits,
                  seed=seed, params={"kernel": "linear"})
