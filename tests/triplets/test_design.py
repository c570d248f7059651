"""Decorrelated triplet design.

Reference for every Δ: np.corrcoef of the two images' activation vectors, pair by pair, in a Python
loop (match-to-sample: r(root, 1) − r(root, 2); odd-one-out: r(1, 2) − max(r(1, odd), r(2, odd))).
The pool: two feature spaces sharing a component, so that the two similarity matrices correlate at
about 0.6 (the issue's test case).
"""

import numpy as np
import pytest
import xarray as xr
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from neuroalign.data import create_assembly
from neuroalign.errors import AlignmentError, ConfigError, DataError, SchemaError, UnknownNameError
from neuroalign.triplets.design import (
    correlation_similarity,
    decorrelated_design,
    design_diagnostics,
    design_triplets,
)

TASKS = ["match-to-sample", "odd-one-out"]
ITEMS = {"match-to-sample": ["root", "image_1", "image_2"], "odd-one-out": ["image_1", "image_2", "odd"]}


def _features(n, *, seed=0, p=64, shared=1.9):
    """Two spaces sharing a component: their pairwise correlations correlate at about 0.6."""
    rng = np.random.default_rng(seed)
    common = rng.normal(size=(n, p))
    return shared * common + rng.normal(size=(n, p)), shared * common + rng.normal(size=(n, p))


def _pool(n, *, seed=0):
    low, high = _features(n, seed=seed)
    ids = [f"img{k:04d}" for k in range(n)]
    return create_assembly(low, stimulus_id=ids), create_assembly(high, stimulus_id=ids)


def _reference_delta(x, rows, task):
    """Δ per triplet with np.corrcoef per pair (rows: positions in the task's column order)."""
    r = lambda a, b: np.corrcoef(x[a], x[b])[0, 1]  # noqa: E731
    out = []
    for first, second, third in rows:
        if task == "match-to-sample":
            out.append(r(first, second) - r(first, third))
        else:
            out.append(r(first, second) - max(r(first, third), r(second, third)))
    return np.array(out)


@pytest.fixture(scope="module", params=TASKS)
def designed(request):
    low, high = _pool(250)
    return request.param, low, high, decorrelated_design(low, high, task=request.param, bins=6, random_state=3)


def test_pool_similarities_correlate_at_about_0_6():
    low, high = _features(250)
    iu = np.triu_indices(250, 1)
    assert 0.55 < np.corrcoef(np.corrcoef(low)[iu], np.corrcoef(high)[iu])[0, 1] < 0.65


def test_design_is_decorrelated_fills_every_bin_and_uses_each_image_once(designed):
    task, low, high, design = designed
    stats = design_diagnostics(design)
    assert stats["pool_r"] > 0.45  # the pool's Δs are correlated...
    assert abs(stats["r"]) <= 0.05  # ...the chosen set's are not
    assert stats["bins_filled"] == stats["bins_total"] == 36 and stats["min_per_bin"] == 1
    items = design[ITEMS[task]].to_numpy().ravel()
    assert len(set(items)) == len(items) == 3 * 36 == stats["images_used"] and stats["max_image_use"] == 1
    np.testing.assert_allclose(np.corrcoef(design.delta_low, design.delta_high)[0, 1], stats["r"])


def test_bins_hold_their_deltas(designed):
    _, _, _, design = designed
    for axis in ("low", "high"):
        edges = np.asarray(design.attrs[f"edges_{axis}"])
        b = design[f"bin_{axis}"].to_numpy()
        d = design[f"delta_{axis}"].to_numpy()
        assert np.all((edges[b] <= d) & (d < edges[b + 1]))
    # edges: centred on zero, steps of 0.5 SD of the space's pairwise similarities
    low = design.attrs["edges_low"]
    assert low[3] == 0.0 and len(low) == 7


def test_grid_step_is_half_a_similarity_sd(designed):
    _, low, _, design = designed
    iu = np.triu_indices(250, 1)
    sd = np.std(np.corrcoef(low.values)[iu])
    np.testing.assert_allclose(np.diff(design.attrs["edges_low"]), 0.5 * sd, rtol=1e-10)


def test_deltas_equal_a_direct_computation(designed):
    task, low, high, design = designed
    position = {s: k for k, s in enumerate(low.stimulus_id.values)}
    rows = np.vectorize(position.get)(design[ITEMS[task]].to_numpy())
    np.testing.assert_allclose(design.delta_low, _reference_delta(low.values, rows, task), atol=1e-12)
    np.testing.assert_allclose(design.delta_high, _reference_delta(high.values, rows, task), atol=1e-12)


def test_deterministic_for_a_seed():
    low, high = _pool(150, seed=1)
    a = decorrelated_design(low, high, bins=4, random_state=7)
    b = decorrelated_design(low, high, bins=4, random_state=7)
    c = decorrelated_design(low, high, bins=4, random_state=8)
    assert a.equals(b) and a.attrs["pool_delta_low"] == b.attrs["pool_delta_low"]
    assert not a[ITEMS["match-to-sample"]].equals(c[ITEMS["match-to-sample"]])


@pytest.mark.parametrize("task", TASKS)
def test_several_triplets_per_bin(task):
    low, high = _features(200, seed=6)
    design = design_triplets(np.corrcoef(low), np.corrcoef(high), task=task, bins=3, per_bin=3, random_state=1)
    stats = design_diagnostics(design)
    assert stats["min_per_bin"] == stats["max_per_bin"] == 3 and stats["n_triplets"] == 27
    assert stats["max_image_use"] == 1 and abs(stats["r"]) <= 0.05


def test_repetitions_are_averaged_and_order_does_not_matter():
    low, high = _pool(150, seed=2)
    repeated = xr.concat([low, low], dim="presentation")  # every image twice: the average is the image
    a = decorrelated_design(low, high, bins=4, random_state=0)
    b = decorrelated_design(repeated, high.isel(presentation=slice(None, None, -1)), bins=4, random_state=0)
    assert a.equals(b)


def test_provenance_and_pca():
    low, high = _pool(150, seed=4)
    design = decorrelated_design(low, high, bins=4, pca=10, random_state=0)
    assert design.attrs["provenance"]["parameters"]["pca"] == 10
    assert set(design.attrs["provenance"]["input_hashes"]) == {"low", "high"}
    from sklearn.decomposition import PCA

    scores = PCA(n_components=10, svd_solver="full").fit_transform(low.values)
    np.testing.assert_allclose(correlation_similarity(low.values, pca=10), np.corrcoef(scores), atol=1e-12)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**16), task=st.sampled_from(TASKS), bins=st.tuples(st.integers(1, 3), st.integers(1, 3)),
       step=st.tuples(st.floats(0.3, 1.5), st.floats(0.3, 1.5)))
def test_swapping_the_spaces_swaps_the_columns(seed, task, bins, step):
    """Swapping the spaces (and their grids) gives the same triplets with the Δ and bin columns swapped."""
    x_low, x_high = _features(40, seed=seed, p=12, shared=1.0)
    s_low, s_high = np.corrcoef(x_low), np.corrcoef(x_high)
    try:
        straight = design_triplets(s_low, s_high, task=task, bins=bins, step=step, random_state=seed)
    except DataError:  # a grid this pool cannot fill: the swapped one cannot either
        with pytest.raises(DataError):
            design_triplets(s_high, s_low, task=task, bins=bins[::-1], step=step[::-1], random_state=seed)
        return
    swapped = design_triplets(s_high, s_low, task=task, bins=bins[::-1], step=step[::-1], random_state=seed)
    items = ITEMS[task]
    straight, swapped = (d.sort_values(items).reset_index(drop=True) for d in (straight, swapped))
    assert straight[items].equals(swapped[items])
    for a, b in (("low", "high"), ("high", "low")):
        np.testing.assert_array_equal(straight[f"delta_{a}"], swapped[f"delta_{b}"])
        np.testing.assert_array_equal(straight[f"bin_{a}"], swapped[f"bin_{b}"])
        assert straight.attrs[f"edges_{a}"] == swapped.attrs[f"edges_{b}"]
    # and the Δs are those of a direct computation, each image used once
    rows = straight[items].to_numpy()
    np.testing.assert_allclose(straight.delta_low, _reference_delta(x_low, rows, task), atol=1e-12)
    np.testing.assert_allclose(straight.delta_high, _reference_delta(x_high, rows, task), atol=1e-12)
    assert len(np.unique(rows)) == rows.size == 3 * bins[0] * bins[1]


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 2**16), scale=st.floats(0.1, 10), shift=st.floats(-5, 5))
def test_a_positive_affine_change_of_the_activations_changes_nothing(seed, scale, shift):
    """Pearson similarity ignores each image's scale and offset, so the design is the same."""
    x_low, x_high = _features(40, seed=seed, p=12, shared=1.0)
    a = design_triplets(correlation_similarity(x_low), correlation_similarity(x_high), bins=2, step=1.0,
                        random_state=seed)
    b = design_triplets(correlation_similarity(scale * x_low + shift), correlation_similarity(x_high), bins=2,
                        step=1.0, random_state=seed)
    assert a[ITEMS["match-to-sample"]].equals(b[ITEMS["match-to-sample"]])


def test_errors_are_named():
    low, high = _pool(60, seed=5)
    with pytest.raises(DataError, match="needs 300 different images.*has 60"):
        decorrelated_design(low, high, bins=10)
    with pytest.raises(DataError, match="of 16 bins have fewer than 1 candidate") as info:
        decorrelated_design(low, high, bins=4, step=10.0)
    assert "smaller step" in info.value.fix and "larger" in info.value.fix
    with pytest.raises(UnknownNameError, match="match-to-sample"):
        decorrelated_design(low, high, task="oddity", bins=2)
    with pytest.raises(AlignmentError):
        decorrelated_design(low, high.isel(presentation=slice(1, None)), bins=2)
    with pytest.raises(SchemaError, match="presentation, neuroid"):
        decorrelated_design(low.values, high, bins=2)
    with pytest.raises(ConfigError, match="pca"):
        decorrelated_design(low, high, bins=2, pca=500)
    with pytest.raises(ConfigError, match="positive"):
        decorrelated_design(low, high, bins=0)
    flat = low.copy(data=low.values.copy())
    flat[3] = 1.0
    with pytest.raises(DataError, match="constant activations"):
        decorrelated_design(flat, high, bins=2)
    with pytest.raises(SchemaError, match="differ in size"):
        design_triplets(np.eye(5), np.eye(6))
    with pytest.raises(SchemaError, match="design table"):
        design_diagnostics(low.to_pandas())


def test_a_pool_that_cannot_be_packed_says_so():
    """Both bins reachable, but only by triplets of the same three images: no disjoint set exists."""
    rng = np.random.default_rng(0)
    s_low = rng.uniform(-1, 1, size=(6, 6))
    s_low = (s_low + s_low.T) / 2
    s_low[0, 2] = s_low[2, 0] = s_low[0, 1]  # the only Δlow = 0: root 0, images 1 and 2
    s_high = np.corrcoef(rng.normal(size=(6, 5)))
    with pytest.raises(DataError, match="1 of 2 bins could not be filled with images not already used") as info:
        design_triplets(s_low, s_high, bins=(1, 2), step=(1e-9, 10.0))
    assert "larger pool" in info.value.fix


@pytest.mark.slow
@pytest.mark.parametrize("task", TASKS)
def test_ten_by_ten_grid_in_half_sd_steps(task):
    low, high = _pool(400, seed=11)
    design = decorrelated_design(low, high, task=task, bins=10, step=0.5, random_state=0)
    stats = design_diagnostics(design)
    assert stats["pool_r"] > 0.45 and abs(stats["r"]) <= 0.05
    assert stats["bins_filled"] == 100 and stats["images_used"] == 300 and stats["max_image_use"] == 1
    position = {s: k for k, s in enumerate(low.stimulus_id.values)}
    rows = np.vectorize(position.get)(design[ITEMS[task]].to_numpy())
    np.testing.assert_allclose(design.delta_high, _reference_delta(high.values, rows, task), atol=1e-12)
