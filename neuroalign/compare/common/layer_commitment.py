"""Layer commitment: choose a model's best layer on some stimuli, score it on others.

Reporting the maximum of a layer sweep (:func:`~neuroalign.compare.rsa`,
:func:`~neuroalign.compare.cka_sweep`) as "the model's score" selects and
scores the layer on the same data.  The maximum of several noisy scores is
biased upwards: with many layers it stays well above zero even when no layer
is related to the brain.  Brain-Score avoids this by *committing* each model
to one layer chosen on separate data before scoring it.

:func:`commit_layer` does the same within one data set, cross-validated over
random splits of the stimuli.  In each split the stimuli are divided into a
selection set and a held-out set; every layer is scored on the selection set
(each side's summaries restricted to those stimuli: no pair of stimuli crosses
the two sets), the best layer is chosen there, and only that layer is scored on
the held-out set.  The committed score is the mean of the held-out scores over
splits.  Because the held-out stimuli play no part in the choice, the
committed score of a model whose layers are all unrelated to the brain is
centred on zero.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from ...data.layers import LAYER
from ...data.schema import label_index
from ...errors import ConfigError, DataError, UnknownNameError
from ...score import Score
from .bootstrap import RESAMPLE
from .layer_sweep import _cka_family, _prepare, _rsa_family

__all__ = ["commit_layer", "COMMIT_METRICS"]

#: Valid values of ``metric`` in :func:`commit_layer`.
COMMIT_METRICS = ("rsa", "cka")

SPLIT = "split"
#: Fewest stimuli on either side of a split (linear CKA needs 4; an RDM of 4 stimuli has 6 pairs).
MIN_STIMULI = 4


def commit_layer(
    model_data,
    brain_data,
    *,
    metric: str = "rsa",
    n_splits: int = 10,
    test_size: float = 0.5,
    seed: int | np.random.Generator = 0,
    subject: str = "subject",
    rdm_method: str = "correlation",
    comparison: str = "corr",
) -> Score:
    """Choose the best layer on one set of stimuli and score it on held-out stimuli, over random splits.

    Parameters
    ----------
    model_data : mapping of str to xarray.DataArray, or xarray.DataArray
        The layers, as for :func:`~neuroalign.compare.rsa` (patterns, or RDMs
        for ``metric="rsa"``).
    brain_data : xarray.DataArray or mapping
        As for :func:`~neuroalign.compare.rsa` / :func:`~neuroalign.compare.cka_sweep`.
    metric : {"rsa", "cka"}
        RSA (``rdm_method``, ``comparison``) or linear CKA, each averaged over
        subjects as in the sweeps.
    n_splits : int
        Random splits of the stimuli.
    test_size : float
        Fraction of the stimuli held out in each split (0 < test_size < 1).
    seed : int or numpy.random.Generator
        Seeds the splits.
    subject : str
        The neuroid coordinate (patterns) or dim (RDMs) naming subjects.
    rdm_method, comparison : str
        For ``metric="rsa"``: passed to :func:`compute_rdm` and :func:`compare_rdms`.

    Returns
    -------
    Score
        A single value: the mean over splits of the held-out score of the
        layer chosen on that split's selection set.  ``error`` is the standard
        deviation of the held-out scores across splits (the splits share
        stimuli, so it is not a standard error of the mean).  ``raw`` holds,
        per split, ``chosen_layer``, ``committed`` (the held-out score of the
        chosen layer), ``selection`` and ``held_out`` (every layer's score on
        the two sets), and ``full_data`` (every layer on all stimuli; its
        maximum is the naive, selection-biased "best layer" score).
        ``params["layer"]`` is the layer chosen most often.  No ceiling: the
        ceilings of the sweeps are computed on all stimuli, and the committed
        score is computed on fewer.

    Raises
    ------
    UnknownNameError
        Unknown ``metric``.
    ConfigError
        ``n_splits`` below 1, or ``test_size`` outside (0, 1).
    DataError
        Fewer than 4 stimuli on either side of a split.

    Examples
    --------
    >>> from neuroalign.compare import commit_layer
    >>> from neuroalign.datasets.synthetic import make_synthetic_study
    >>> from neuroalign.extract import extract
    >>> study = make_synthetic_study(seed=0, n_stimuli=32, n_voxels=30)
    >>> acts = extract(study.network, study.stimuli, ["block1", "block3"], progress=False)
    >>> score = commit_layer(acts, study.brain, n_splits=4, seed=0)
    >>> score.raw["chosen_layer"].values.tolist()
    ['block3', 'block3', 'block3', 'block3']
    """
    if metric not in COMMIT_METRICS:
        raise UnknownNameError(metric, COMMIT_METRICS, what="metric", source="metric")
    if int(n_splits) != n_splits or n_splits < 1:
        raise ConfigError(f"n_splits must be a positive integer, got {n_splits!r}", source="n_splits",
                          fix="pass e.g. n_splits=10")
    if not 0 < test_size < 1:
        raise ConfigError(f"test_size must lie strictly between 0 and 1, got {test_size!r}", source="test_size",
                          fix="pass e.g. test_size=0.5 (half of the stimuli held out)")
    family = _rsa_family(rdm_method, comparison) if metric == "rsa" else _cka_family()
    prepared = _prepare(family, model_data, brain_data, subject)
    n = prepared.n_stimuli
    n_test = int(round(test_size * n))
    n_select = n - n_test
    if min(n_test, n_select) < MIN_STIMULI:
        raise DataError(f"{n} stimuli split {n_select}/{n_test} leave fewer than {MIN_STIMULI} on one side",
                        source="brain_data", fix="use more stimuli, or a test_size closer to 0.5")
    rng = np.random.default_rng(seed)
    order = np.stack([rng.permutation(n) for _ in range(int(n_splits))])
    select_idx, test_idx = np.sort(order[:, :n_select], axis=1), np.sort(order[:, n_select:], axis=1)

    def on(indices: np.ndarray) -> xr.DataArray:
        scores = family.compare_subsets(prepared.model, prepared.data, indices).mean(subject)
        return scores.rename({RESAMPLE: SPLIT}).transpose(SPLIT, LAYER)

    selection, held_out = on(select_idx), on(test_idx)
    if selection.isnull().any() or held_out.isnull().any():
        raise DataError("a layer's score is undefined on some split (e.g. a representation constant over the "
                        "stimuli of a split)", source="model_data", fix="use more stimuli, or check the layers")
    chosen = selection.argmax(LAYER)
    committed = held_out.isel({LAYER: chosen}).drop_vars(LAYER)
    picked = np.asarray(selection[LAYER].values)[chosen.values]
    chosen_layer = xr.DataArray(picked.astype(object), dims=(SPLIT,))
    names, counts = np.unique(picked.astype(str), return_counts=True)
    full_data = family.compare(prepared.model, prepared.data).mean(subject)
    raw = xr.Dataset({"chosen_layer": chosen_layer, "committed": committed,
                      "selection": selection, "held_out": held_out, "full_data": full_data},
                     coords={SPLIT: label_index(range(int(n_splits)), SPLIT)})
    params = {"metric": metric, "n_splits": int(n_splits), "test_size": float(test_size),
              "n_selection": n_select, "n_held_out": n_test, "seed": seed if isinstance(seed, int) else None,
              "layer": str(names[np.argmax(counts)]), "brain_hash": prepared.brain_hash}
    if metric == "rsa":
        params.update(rdm_method=rdm_method, comparison=comparison)
    error = committed.std(SPLIT, ddof=1) if n_splits > 1 else None
    return Score(committed.mean(SPLIT), error=error, raw=raw,
                 metric=f"{family.metric(prepared)}-committed", params=params)
