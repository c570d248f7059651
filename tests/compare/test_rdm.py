import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy.spatial.distance import pdist, squareform

from neuroalign.compare import compute_rdm, rdm_stimulus_ids, to_square, to_vector
from neuroalign.data import create_assembly
from neuroalign.errors import DataError, SchemaError, UnknownNameError


def patterns(rng, n=6, p=9, reps=1):
    values = rng.normal(size=(n, p))
    ids = [f"s{i}" for i in range(n)]
    return create_assembly(np.tile(values, (reps, 1)), stimulus_id=ids * reps), values


def test_correlation_rdm_matches_scipy_pdist(rng):
    # reference: scipy.spatial.distance.pdist(metric="correlation") = 1 - Pearson r, same upper-triangle order
    data, values = patterns(rng)
    rdm = compute_rdm(data)
    np.testing.assert_allclose(rdm.values, pdist(values, "correlation"), atol=1e-12)
    assert rdm.attrs["method"] == "correlation"
    assert rdm.stimulus_id_a.values[:2].tolist() == ["s0", "s0"]
    assert rdm.stimulus_id_b.values[:2].tolist() == ["s1", "s2"]


def test_repetitions_are_averaged_first(rng):
    data, values = patterns(rng, reps=3)
    np.testing.assert_allclose(compute_rdm(data).values, pdist(values, "correlation"), atol=1e-12)


def test_groupby_gives_one_rdm_per_subject(rng):
    values = rng.normal(size=(5, 8))
    data = create_assembly(values, stimulus_id=list("abcde"), neuroid={"subject": ["A"] * 4 + ["B"] * 4})
    rdm = compute_rdm(data, groupby="subject")
    assert rdm.dims == ("subject", "pair")
    np.testing.assert_allclose(rdm.sel(subject="B").values, pdist(values[:, 4:], "correlation"), atol=1e-12)


def test_square_round_trip(rng):
    data, values = patterns(rng)
    rdm = compute_rdm(data)
    square = to_square(rdm)
    np.testing.assert_allclose(square.values, squareform(pdist(values, "correlation")), atol=1e-12)
    back = to_vector(square)
    np.testing.assert_allclose(back.values, rdm.values)
    assert rdm_stimulus_ids(back).tolist() == [f"s{i}" for i in range(6)]


def test_plain_square_and_errors():
    d = squareform(np.arange(1.0, 7.0))
    assert to_vector(d).values.tolist() == [1, 2, 3, 4, 5, 6]
    with pytest.raises(DataError, match="not symmetric"):
        to_vector(d + np.triu(np.ones_like(d)))
    with pytest.raises(SchemaError, match="not a vector-form RDM"):
        rdm_stimulus_ids(to_square(to_vector(d)))


def test_constant_pattern_and_unknown_method(rng):
    data = create_assembly(np.ones((3, 4)), stimulus_id=list("abc"))
    with pytest.raises(DataError, match="same value in every neuroid"):
        compute_rdm(data)
    with pytest.raises(UnknownNameError, match="did you mean 'correlation'"):
        compute_rdm(data, method="corelation")


@settings(max_examples=25, deadline=None)
@given(arrays(np.float64, (5, 7), elements=st.floats(-10, 10, allow_nan=False, width=64)))
def test_square_rdm_is_symmetric_with_zero_diagonal(values):
    values = values + np.arange(7) * 1e-3  # keep patterns non-constant
    if np.any(np.ptp(values, axis=1) < 1e-6):
        return
    square = to_square(compute_rdm(create_assembly(values, stimulus_id=list("abcde")))).values
    np.testing.assert_allclose(square, square.T)
    np.testing.assert_allclose(np.diag(square), 0)
    assert np.all(square >= -1e-12) and np.all(square <= 2 + 1e-12)
