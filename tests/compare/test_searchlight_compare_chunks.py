"""``searchlight_compare`` checks and orders the model RDMs once and records its inputs once, not per chunk.

Reference: ``compare_rdms`` of all spheres in one call (the chunked map must give its values and the same
errors on bad model RDMs); the provenance is that of the whole inputs (``neuroalign.data.provenance``).
"""

from __future__ import annotations

import numpy as np
import pytest

from neuroalign.compare import as_rdm, compare_rdms
from neuroalign.compare.common.searchlight_grid import searchlight_spheres
from neuroalign.compare.rsa import searchlight as searchlight_module
from neuroalign.compare.rsa.searchlight import searchlight_compare, searchlight_rdms
from neuroalign.data import create_assembly, provenance
from neuroalign.errors import AlignmentError, DataError

STIMULI = [f"s{i}" for i in range(6)]


@pytest.fixture
def sphere_rdms(monkeypatch):
    monkeypatch.setenv("TQDM_DISABLE", "1")
    mask = np.ones((5, 5, 4), bool)
    ijk = np.argwhere(mask)
    values = np.random.default_rng(0).normal(size=(len(STIMULI), len(ijk)))
    patterns = create_assembly(values, stimulus_id=STIMULI,
                               neuroid={"voxel_i": ijk[:, 0], "voxel_j": ijk[:, 1], "voxel_k": ijk[:, 2]})
    return searchlight_rdms(patterns, searchlight_spheres(mask, 2))


def _models(order=STIMULI):
    rng = np.random.default_rng(1)
    models = as_rdm(rng.random((2, 15)), STIMULI, form="vector", dims=["model"]).assign_coords(model=["m0", "m1"])
    if list(order) != STIMULI:  # the same RDMs, the stimuli listed in another order
        from neuroalign.compare import to_square, to_vector
        square = to_square(models).sel(stimulus_id_a=list(order), stimulus_id_b=list(order))
        models = to_vector(square)
    return models


@pytest.mark.parametrize("method", ["corr", "spearman", "tau-a"])
def test_chunked_map_equals_one_comparison_of_all_spheres(monkeypatch, sphere_rdms, method):
    monkeypatch.setattr(searchlight_module, "_COMPARE_BUDGET", 15 * 5)  # chunks of 5 spheres
    expected = compare_rdms(sphere_rdms, _models(), method)
    for models in (_models(), _models(STIMULI[::-1])):
        out = searchlight_compare(sphere_rdms, models, method)
        np.testing.assert_allclose(out.values, expected.values, rtol=0, atol=1e-14)
        assert out.dims == ("neuroid", "model") and list(out["model"].values) == ["m0", "m1"]


def test_the_map_records_its_whole_inputs_once(monkeypatch, sphere_rdms):
    monkeypatch.setattr(searchlight_module, "_COMPARE_BUDGET", 15 * 5)
    models = _models()
    out = searchlight_compare(sphere_rdms, models, "corr")
    expected = provenance({"method": "corr", "ceiling": False, "subject": "subject"},
                          {"sphere_rdms": sphere_rdms, "model_rdms": models.values})
    assert out.attrs["input_hashes"] == expected["input_hashes"]
    assert out.attrs["parameters"] == expected["parameters"] and out.attrs["n_pairs"] == 15


def test_bad_model_rdms_are_still_refused(sphere_rdms):
    other = as_rdm(np.random.default_rng(2).random(15), [f"t{i}" for i in range(6)], form="vector")
    with pytest.raises(AlignmentError):
        searchlight_compare(sphere_rdms, other, "corr")
    bad = _models().copy()
    bad.values[0, 3] = np.inf
    with pytest.raises(DataError):
        searchlight_compare(sphere_rdms, bad, "corr")
    with pytest.raises(DataError):
        compare_rdms(sphere_rdms, bad, "corr")
