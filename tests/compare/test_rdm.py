import numpy as np
import pytest
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy.spatial.distance import pdist, squareform
from scipy.stats import entropy

from neuroalign.compare import (
    RDM_METHODS,
    as_rdm,
    compute_rdm,
    estimate_noise_precision,
    rdm_stimulus_ids,
    to_square,
    to_vector,
)
from neuroalign.data import create_assembly
from neuroalign.data.provenance import PROVENANCE_KEYS
from neuroalign.errors import ConfigError, DataError, SchemaError, UnknownNameError


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


# --------------------------------------------------------------------------- methods, batches, forms
NON_CV = [name for name, spec in RDM_METHODS.items() if not spec.cross_validated]


def test_plain_distances_match_scipy_pdist(rng):
    # reference: scipy.spatial.distance.pdist; rsatoolbox's "euclidean" is the squared distance / n_channels
    data, values = patterns(rng, n=7, p=11)
    p = values.shape[1]
    np.testing.assert_allclose(compute_rdm(data, "euclidean").values, pdist(values, "euclidean"), rtol=1e-10)
    np.testing.assert_allclose(compute_rdm(data, "sqeuclidean").values, pdist(values, "sqeuclidean") / p, rtol=1e-10)
    np.testing.assert_allclose(compute_rdm(data, "cosine").values, pdist(values, "cosine"), rtol=1e-10)


def test_mahalanobis_with_a_given_precision_matches_scipy(rng):
    # reference: scipy pdist(metric="mahalanobis", VI=precision) squared, divided by n_channels (rsatoolbox)
    data, values = patterns(rng, n=6, p=4)
    root = rng.normal(size=(4, 4))
    precision = root @ root.T + np.eye(4)
    expected = pdist(values, "mahalanobis", VI=precision) ** 2 / 4
    np.testing.assert_allclose(compute_rdm(data, "mahalanobis", noise=precision).values, expected, rtol=1e-10)
    diagonal = np.array([1.0, 2.0, 0.5, 3.0])
    np.testing.assert_allclose(compute_rdm(data, "mahalanobis", noise=diagonal).values,
                               pdist(values, "mahalanobis", VI=np.diag(diagonal)) ** 2 / 4, rtol=1e-10)
    # no noise is the identity: mahalanobis == sqeuclidean
    np.testing.assert_allclose(compute_rdm(data, "mahalanobis").values, compute_rdm(data, "sqeuclidean").values)


def test_poisson_is_the_symmetrised_kl_divergence(rng):
    # closed form: KL(P_i||P_j) + KL(P_j||P_i) for Poisson rates = (l_i - l_j)(log l_i - log l_j), summed, / p
    counts = rng.poisson(3.0, size=(5, 8)).astype(float)
    data = create_assembly(counts, stimulus_id=list("abcde"))
    rates = (counts + 1.0 * 0.1) / 1.1
    expected = [np.sum((rates[i] - rates[j]) * (np.log(rates[i]) - np.log(rates[j]))) / 8
                for i, j in zip(*np.triu_indices(5, 1))]
    np.testing.assert_allclose(compute_rdm(data, "poisson").values, expected, rtol=1e-12)
    assert entropy([0.5, 0.5], [0.5, 0.5]) == 0  # scipy's KL of identical distributions, the diagonal
    with pytest.raises(DataError, match="non-negative rates"):
        compute_rdm(create_assembly(-np.ones((3, 2)) * 5, stimulus_id=list("abc")), "poisson")


def test_crossnobis_is_unbiased_and_uses_the_run_coordinate(rng):
    # identical conditions: the expected crossnobis distance is 0 (Walther et al. 2016); sqeuclidean is biased up
    n_runs, n, p = 8, 6, 200
    true = np.tile(rng.normal(size=(1, p)), (n, 1))
    values = np.concatenate([true + rng.normal(size=(n, p)) for _ in range(n_runs)])
    ids = [f"s{i}" for i in range(n)] * n_runs
    data = create_assembly(values, stimulus_id=ids, presentation={"run": np.repeat(np.arange(n_runs), n)})
    cv = compute_rdm(data, "crossnobis")
    assert cv.attrs["cv_descriptor"] == "run" and cv.attrs["n_folds"] == n_runs
    assert set(PROVENANCE_KEYS) <= set(cv.attrs) and cv.attrs["parameters"]["method"] == "crossnobis"
    assert abs(float(cv.mean())) < 0.02
    assert float(compute_rdm(data, "sqeuclidean").mean()) > 0.2  # 2 sigma^2 / n_runs = 0.25
    # leave-one-run-out by hand for one pair
    runs = values.reshape(n_runs, n, p)
    folds = [(np.delete(runs, k, 0).mean(0)[0] - np.delete(runs, k, 0).mean(0)[1]) @ (runs[k, 0] - runs[k, 1]) / p
             for k in range(n_runs)]
    assert cv.values[0] == pytest.approx(np.mean(folds), rel=1e-10)


def test_cross_validation_needs_folds_that_hold_every_stimulus(rng):
    data, _ = patterns(rng, n=4, reps=2)
    with pytest.raises(SchemaError, match="cross-validate"):
        compute_rdm(data, "crossnobis")
    data = data.assign_coords(session=("presentation", [0, 0, 0, 1, 1, 1, 1, 1]))
    with pytest.raises(DataError, match="never presented in fold"):
        compute_rdm(data, "poisson_cv", cv_descriptor="session")


def test_time_bins_and_other_dims_are_batch_dims(rng):
    values = rng.normal(size=(5, 6, 3))
    data = create_assembly(values, stimulus_id=list("abcde"), dims=("presentation", "neuroid", "time_bin"),
                           time_bins=[(0, 0.1), (0.1, 0.2), (0.2, 0.3)])
    rdm = compute_rdm(data, "correlation")
    assert rdm.dims == ("time_bin", "pair")
    assert rdm.time_bin_start.values.tolist() == [0, 0.1, 0.2]
    np.testing.assert_allclose(rdm.isel(time_bin=2).values, pdist(values[:, :, 2], "correlation"), atol=1e-12)


@pytest.mark.parametrize("method, noise, unbalanced", [
    ("crossnobis", None, False), ("crossnobis", "shrinkage_diag", False), ("crossnobis", "diag", False),
    ("crossnobis", "diag", True), ("mahalanobis", "shrinkage_eye", False), ("poisson_cv", None, True)])
def test_batched_time_bins_equal_one_call_per_bin(rng, method, noise, unbalanced):
    # every time bin is its own RDM (and its own noise estimate), computed in the same products
    n_bins, ids, runs = 3, list("abcde") * 3, np.repeat([0, 1, 2], 5)
    values = rng.poisson(4.0, size=(15, 6, n_bins)).astype(float)
    if unbalanced:  # stimulus 'a' presented twice in run 0
        values, ids, runs = np.concatenate([values, values[:1] + 1]), ids + ["a"], np.r_[runs, 0]
    bins = [(0.1 * i, 0.1 * i + 0.1) for i in range(n_bins)]
    data = create_assembly(values, stimulus_id=ids, dims=("presentation", "neuroid", "time_bin"), time_bins=bins,
                           presentation={"run": runs})
    options = {} if method == "poisson_cv" else {"noise": noise}
    batched = compute_rdm(data, method, **options)
    assert batched.dims == ("time_bin", "pair")
    for t in range(n_bins):
        single = compute_rdm(data.isel(time_bin=t), method, **options)
        np.testing.assert_allclose(batched.isel(time_bin=t).values, single.values, rtol=1e-10, atol=1e-12)


def test_a_mapping_of_layers_gives_a_layer_dim(rng):
    ids = list("abcd")
    layers = {"conv1": create_assembly(rng.normal(size=(4, 7)), stimulus_id=ids),
              "fc": create_assembly(rng.normal(size=(4, 3)), stimulus_id=ids)}
    rdm = compute_rdm(layers, "euclidean")
    assert rdm.dims == ("layer", "pair") and rdm.layer.values.tolist() == ["conv1", "fc"]
    np.testing.assert_allclose(rdm.sel(layer="fc").values, pdist(layers["fc"].values), rtol=1e-10)


def test_estimated_noise_follows_groupby_by_neuroid_id(rng):
    values = rng.normal(size=(12, 6))
    data = create_assembly(values, stimulus_id=list("abcd") * 3, neuroid={"subject": ["A"] * 3 + ["B"] * 3})
    precision = estimate_noise_precision(data)
    assert precision.dims == ("neuroid_a", "neuroid_b")
    by_group = compute_rdm(data, "mahalanobis", groupby="subject", noise=precision)
    b_only = data.isel(neuroid=slice(3, 6))
    direct = compute_rdm(b_only, "mahalanobis", noise=precision.isel(neuroid_a=slice(3, 6),
                                                                      neuroid_b=slice(3, 6)).values)
    np.testing.assert_allclose(by_group.sel(subject="B").values, direct.values)
    with pytest.raises(ConfigError, match="cannot be split by groupby"):
        compute_rdm(data, "mahalanobis", groupby="subject", noise=precision.values)
    with pytest.raises(ConfigError, match="takes no noise"):
        compute_rdm(data, "correlation", noise="shrinkage_diag")
    with pytest.raises(DataError, match="repeated presentations"):
        compute_rdm(patterns(rng)[0], "mahalanobis", noise="shrinkage_diag")
    with pytest.raises(UnknownNameError, match="shrinkage_diag"):
        compute_rdm(data, "mahalanobis", noise="shrinkage_dag")
    with pytest.raises(DataError, match="must be positive"):
        compute_rdm(data, "mahalanobis", noise=-np.ones(6))
    with pytest.raises(DataError, match="not symmetric"):
        compute_rdm(data, "mahalanobis", noise=np.triu(np.ones((6, 6))))
    with pytest.raises(ConfigError, match="expected \\(6, 6\\)"):
        compute_rdm(data, "mahalanobis", noise=np.ones((2, 3)))


def test_stimulus_metadata_travels_with_the_rdm(rng):
    data = create_assembly(rng.normal(size=(8, 5)), stimulus_id=list("abcd") * 2,
                           presentation={"category": ["x", "x", "y", "y"] * 2, "run": [0] * 4 + [1] * 4})
    rdm = compute_rdm(data)
    assert "category_a" in rdm.coords and "run_a" not in rdm.coords  # run varies within a stimulus
    square = to_square(rdm)
    assert square.category_a.values.tolist() == ["x", "x", "y", "y"]
    assert to_vector(square).category_b.values.tolist() == rdm.category_b.values.tolist()


def test_as_rdm_reads_squares_stacks_and_vectors():
    d = squareform(np.arange(1.0, 11.0))  # 5 stimuli
    assert as_rdm(d).values.tolist() == list(np.arange(1.0, 11.0))
    stack = as_rdm(np.stack([d, 2 * d]), stimulus_ids=list("abcde"))
    assert stack.dims == ("rdm", "pair") and stack.stimulus_id_a.values[0] == "a"
    vectors = as_rdm(np.stack([squareform(d), squareform(d)]), form="vector", dims=["subject"])
    assert vectors.dims == ("subject", "pair")
    labelled = xr.DataArray(np.stack([d, d]), dims=("model", "i", "j"), coords={"model": ["m1", "m2"]})
    assert as_rdm(labelled).model.values.tolist() == ["m1", "m2"]
    assert as_rdm(stack) is not None and rdm_stimulus_ids(as_rdm(stack)).tolist() == list("abcde")
    assert to_square(np.arange(1.0, 4.0)).shape == (3, 3)  # functions taking RDMs take plain arrays
    with pytest.raises(SchemaError, match="form='vector'"):
        as_rdm(np.ones((2, 10)))
    with pytest.raises(DataError, match="diagonal is not zero"):
        as_rdm(np.ones((3, 3)))
    with pytest.raises(SchemaError, match="stimulus ids"):
        as_rdm(d, stimulus_ids=list("abc"))
    with pytest.raises(SchemaError, match="not n\\(n-1\\)/2"):
        as_rdm(np.ones(4))


def test_as_rdm_column_major_order_is_matlab_logical_indexing():
    # MATLAB D(triu(true(n),1)) lists the upper triangle column by column: (1,2), (1,3), (2,3), (1,4), ...
    n = 5
    d = squareform(np.arange(1.0, 11.0))
    column_major = np.array([d[i, j] for j in range(n) for i in range(j)])
    np.testing.assert_array_equal(as_rdm(column_major, order="columnmajor").values, as_rdm(d).values)


@settings(max_examples=20, deadline=None)
@given(arrays(np.float64, (6, 5), elements=st.floats(0.01, 10, allow_nan=False, width=64)),
       st.sampled_from(NON_CV))
def test_non_cross_validated_rdms_are_symmetric_with_zero_diagonal(values, method):
    # property: every non-cross-validated dissimilarity is symmetric, zero on the diagonal and non-negative
    values = values + np.arange(5) * 0.37  # distinct, non-constant patterns
    data = create_assembly(np.concatenate([values, values * 1.01]), stimulus_id=list("abcdef") * 2)
    noise = np.linspace(0.5, 2.0, 5) if method == "mahalanobis" else None  # a diagonal precision
    square = to_square(compute_rdm(data, method, noise=noise)).values
    np.testing.assert_allclose(square, square.T, atol=1e-12)
    np.testing.assert_array_equal(np.diag(square), 0)
    assert np.all(square >= -1e-9)


def test_unknown_method_lists_the_registry(rng):
    with pytest.raises(UnknownNameError, match="crossnobis"):
        compute_rdm(patterns(rng)[0], "crosnobis")
    with pytest.raises(SchemaError, match="groupby"):
        compute_rdm(patterns(rng)[0], groupby="nothing")
    with pytest.raises(ConfigError, match="form"):
        as_rdm(np.zeros(3), form="matrix")
