"""as_rdm's stimulus ids, infinite dissimilarities, and the error for RDMs of different stimuli."""

import numpy as np
import pytest
import scipy.io

from neuroalign.compare import as_rdm, compare_rdms, compute_rdm, evaluate_models, rdm_stimulus_ids, to_square
from neuroalign.data import create_assembly
from neuroalign.errors import AlignmentError, DataError, SchemaError

IDS_92 = [f"img{i + 1:02d}" for i in range(92)]


@pytest.fixture(scope="module")
def brain_92(shared_data):
    """The 8 human IT RDMs (4 subjects × 2 sessions) of Kriegeskorte et al. (2008), as stored."""
    sessions = scipy.io.loadmat(shared_data / "kriegeskorte2008" / "92_brainRDMs.mat", squeeze_me=True,
                                struct_as_record=False)["RDMs"]
    return np.stack([s.RDM for s in sessions.ravel()])


@pytest.fixture(scope="module")
def model_92():
    patterns = np.random.default_rng(0).normal(size=(92, 30))
    return compute_rdm(create_assembly(patterns, stimulus_id=IDS_92))


def test_rdm_from_a_mat_file_against_a_model_names_the_fix(brain_92, model_92):
    with pytest.raises(AlignmentError) as info:
        compare_rdms(model_92, as_rdm(brain_92[0]), method="spearman")
    assert "92 only in a (e.g. ['img01', 'img02', 'img03'])" in info.value.problem
    assert "92 only in b (e.g. ['0', '1', '2'])" in info.value.problem
    assert "as_rdm(b_values, stimulus_ids=ids)" in info.value.fix and "'0' … '91'" in info.value.fix
    data = as_rdm(brain_92, form="square", dims=["subject"])
    with pytest.raises(AlignmentError) as info:
        evaluate_models(model_92, data, bootstrap=None)
    assert "as_rdm(data_rdms_values, stimulus_ids=ids)" in info.value.fix


def test_labelled_rdm_from_a_mat_file_compares(brain_92, model_92):
    brain = as_rdm(brain_92, stimulus_ids=IDS_92, dims=["session"])
    out = compare_rdms(model_92, brain, method="spearman")
    assert out.sizes["session"] == 8 and np.isfinite(out.values).all()
    # relabelling an already labelled RDM gives the same RDM
    relabelled = as_rdm(as_rdm(brain_92[0]), stimulus_ids=IDS_92)
    np.testing.assert_array_equal(relabelled.values, brain.isel(session=0).values)
    assert rdm_stimulus_ids(relabelled).tolist() == IDS_92
    assert float(compare_rdms(model_92, relabelled, method="spearman")) == pytest.approx(float(out.isel(session=0)))


def test_relabelling_keeps_the_order_and_metadata():
    square = np.array([[0, 1, 2], [1, 0, 3], [2, 3, 0.0]])
    rdm = as_rdm(square, ["a", "b", "c"], stimulus_coords={"category": ["x", "y", "y"]})
    renamed = as_rdm(rdm, stimulus_ids=["c1", "c2", "c3"])
    assert renamed.stimulus_id_a.values.tolist() == ["c1", "c1", "c2"]
    assert renamed.category_b.values.tolist() == ["y", "y", "y"]
    np.testing.assert_array_equal(to_square(renamed).values, square)
    from_square = as_rdm(to_square(rdm), stimulus_ids=["c1", "c2", "c3"])
    assert rdm_stimulus_ids(from_square).tolist() == ["c1", "c2", "c3"]
    with pytest.raises(SchemaError, match="2 stimulus ids"):
        as_rdm(rdm, stimulus_ids=["a", "b"])
    with pytest.raises(SchemaError, match="not unique"):
        as_rdm(rdm, stimulus_ids=["a", "a", "b"])


@pytest.mark.parametrize("value", [np.inf, -np.inf])
def test_as_rdm_rejects_infinite_dissimilarities(value):
    square = np.array([[0, 1, 2], [1, 0, 3], [2, 3, 0.0]])
    square[0, 2] = square[2, 0] = value
    with pytest.raises(DataError, match="infinite"):
        as_rdm(square)
    vector = np.array([1.0, value, 3.0])
    with pytest.raises(DataError, match="infinite"):
        as_rdm(vector)
    with pytest.raises(DataError, match="infinite"):
        as_rdm(np.stack([vector, vector]), form="vector")
    labelled = as_rdm(np.array([1.0, 2.0, 3.0]))
    with pytest.raises(DataError, match="infinite"):
        as_rdm(labelled.copy(data=vector))
    with pytest.raises(DataError, match="infinite"):
        compare_rdms(vector, np.array([1.0, 2.0, 3.0]))


def test_as_rdm_keeps_nan_as_missing():
    rdm = as_rdm(np.array([1.0, np.nan, 3.0, 4.0, 5.0, 6.0]))
    assert np.isnan(rdm.values[1])
