"""Pattern arrays and RDMs to and from rsatoolbox 0.3 (``rsatoolbox.data.Dataset``, ``rsatoolbox.rdm.RDMs``).

reference: rsatoolbox's own ``calc_rdm`` and ``RDMs.get_matrices`` (scipy ``squareform`` order), and
``scipy.spatial.distance.squareform``.
"""

import json

import numpy as np
import pytest
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st
from rsatoolbox.data import Dataset
from rsatoolbox.rdm import RDMs, calc_rdm
from scipy.spatial.distance import squareform

from neuroalign.compare import as_rdm, compute_rdm, to_square
from neuroalign.compare.rsa.rsatoolbox_interop import (
    from_rsatoolbox,
    from_rsatoolbox_rdms,
    to_rsatoolbox,
    to_rsatoolbox_rdms,
)
from neuroalign.data import create_assembly
from neuroalign.errors import SchemaError

pytestmark = pytest.mark.filterwarnings("ignore:invalid value encountered in cast:RuntimeWarning")


def patterns(n_stim=4, n_runs=2, p=5, seed=0):
    rng = np.random.default_rng(seed)
    ids = [f"s{i}" for i in range(n_stim)] * n_runs
    return create_assembly(
        rng.normal(size=(n_stim * n_runs, p)), stimulus_id=ids, neuroid_id=[f"v0_0_{k}" for k in range(p)],
        presentation={"run": np.repeat(np.arange(n_runs), n_stim), "session": [""] * (n_stim * n_runs),
                      "onset": rng.uniform(0, 100, n_stim * n_runs)},
        neuroid={"voxel_k": np.arange(p), "x": np.linspace(-10.0, 10.0, p)},
        attrs={"affine": list(np.eye(4).ravel()), "grid_shape": [1, 1, p], "statistic": "beta",
               "parameters": {"hrf_model": "glover"}}, name="betas")


def test_patterns_to_a_dataset_with_descriptors():
    x = patterns()
    dataset = to_rsatoolbox(x)
    assert isinstance(dataset, Dataset)
    np.testing.assert_array_equal(dataset.measurements, x.values)
    assert dataset.obs_descriptors["stimulus_id"].tolist() == x.stimulus_id.values.tolist()
    assert dataset.obs_descriptors["run"].tolist() == [0] * 4 + [1] * 4
    assert dataset.channel_descriptors["neuroid_id"].tolist() == x.neuroid_id.values.tolist()
    assert dataset.channel_descriptors["x"].tolist() == x.x.values.tolist()
    assert dataset.descriptors["statistic"] == "beta"
    # lists and dicts cannot be rsatoolbox descriptors (calc_rdm makes each a one-value rdm descriptor): JSON
    assert json.loads(dataset.descriptors["_neuroalign_layout"])["attrs"]["grid_shape"] == [1, 1, 5]


def test_crossnobis_of_the_converted_dataset_equals_ours():
    x = patterns(n_stim=5, n_runs=3)
    theirs = calc_rdm(to_rsatoolbox(x), method="crossnobis", descriptor="stimulus_id", cv_descriptor="run")
    ours = compute_rdm(x, "crossnobis")  # ids s0..s4 are in sorted order, rsatoolbox's order
    back = from_rsatoolbox_rdms(theirs)
    np.testing.assert_allclose(back.isel(rdm=0).values, ours.values, rtol=1e-10)
    assert back.stimulus_id_a.values.tolist() == ours.stimulus_id_a.values.tolist()
    assert back.attrs["method"] == "crossnobis"


def test_rsatoolbox_vector_order_is_our_upper_triangle_order():
    # rsatoolbox stores the vector of scipy's squareform, i.e. np.triu_indices(n, 1): row-major upper triangle
    rdm = as_rdm(np.arange(10.0) + 1)  # 5 stimuli
    rdms = to_rsatoolbox_rdms(rdm)
    np.testing.assert_array_equal(rdms.get_vectors()[0], rdm.values)
    np.testing.assert_array_equal(rdms.get_matrices()[0], to_square(rdm).values)
    np.testing.assert_array_equal(rdms.get_matrices()[0], squareform(rdm.values))
    rows, cols = np.triu_indices(5, 1)
    np.testing.assert_array_equal(rdms.get_matrices()[0][rows, cols], rdm.values)
    # and a square matrix built by rsatoolbox comes back in the same order
    square = np.random.default_rng(0).uniform(size=(5, 5))
    square = square + square.T
    np.fill_diagonal(square, 0)
    back = from_rsatoolbox_rdms(RDMs(square[None]), stimulus_descriptor="index")
    np.testing.assert_array_equal(back.values[0], square[rows, cols])


def test_rdms_with_batch_dims_carry_rdm_and_pattern_descriptors():
    x = patterns(n_stim=4, n_runs=2).assign_coords(category=("presentation", list("aabb") * 2))
    rdm = compute_rdm({"conv1": x, "conv2": x * 2}, "sqeuclidean")
    rdms = to_rsatoolbox_rdms(rdm)
    assert rdms.n_rdm == 2 and rdms.n_cond == 4
    assert rdms.rdm_descriptors["layer"].tolist() == ["conv1", "conv2"]
    assert rdms.pattern_descriptors["stimulus_id"].tolist() == ["s0", "s1", "s2", "s3"]
    assert rdms.pattern_descriptors["category"].tolist() == list("aabb")
    assert rdms.dissimilarity_measure == "sqeuclidean"
    xr.testing.assert_identical(from_rsatoolbox_rdms(rdms), rdm)


def test_foreign_rdms_get_one_leading_dim():
    rdms = RDMs(np.arange(12.0).reshape(2, 6), dissimilarity_measure="euclidean",
                rdm_descriptors={"subject": ["a", "b"]}, pattern_descriptors={"conds": ["w", "x", "y", "z"]})
    rdm = from_rsatoolbox_rdms(rdms, stimulus_descriptor="conds", dim="subject_rdm")
    assert rdm.dims == ("subject_rdm", "pair") and rdm.subject.values.tolist() == ["a", "b"]
    assert rdm.stimulus_id_b.values.tolist()[:3] == ["x", "y", "z"] and "conds_a" in rdm.coords
    assert "index_a" not in rdm.coords and "index" not in rdm.coords
    with pytest.raises(SchemaError, match="no pattern descriptor 'stimulus_id'"):
        from_rsatoolbox_rdms(rdms)


def test_foreign_datasets_name_their_stimulus_descriptor():
    dataset = Dataset(np.ones((3, 2)), obs_descriptors={"conds": [1, 2, 3]})
    with pytest.raises(SchemaError, match="no obs descriptor 'stimulus_id'") as info:
        from_rsatoolbox(dataset)
    assert "stimulus_descriptor=" in info.value.fix
    x = from_rsatoolbox(dataset, stimulus_descriptor="conds")
    assert x.stimulus_id.values.tolist() == [1, 2, 3] and x.neuroid_id.values.tolist() == ["0", "1"]


def test_bad_inputs_raise_named_errors():
    with pytest.raises(SchemaError, match="time_bin"):
        to_rsatoolbox(patterns().expand_dims(time_bin=2).assign_coords(time_bin_start=("time_bin", [0.0, 1.0]),
                                                                        time_bin_end=("time_bin", [1.0, 2.0])))
    with pytest.raises(SchemaError, match="vector-form RDM"):
        to_rsatoolbox_rdms(patterns())
    with pytest.raises(SchemaError, match="2D measurements"):
        from_rsatoolbox(np.zeros((3, 2)))


labels = st.text(alphabet="abcdefgh", min_size=1, max_size=4)


@settings(max_examples=30, deadline=None)
@given(data=st.data())
def test_pattern_round_trip_is_lossless(data):
    n_obs, p = data.draw(st.integers(1, 6)), data.draw(st.integers(1, 5))
    values = data.draw(st.lists(st.floats(-1e6, 1e6), min_size=n_obs * p, max_size=n_obs * p))
    ids = data.draw(st.lists(labels, min_size=n_obs, max_size=n_obs))
    neuroids = data.draw(st.lists(labels, min_size=p, max_size=p, unique=True))
    x = create_assembly(np.reshape(values, (n_obs, p)), stimulus_id=ids, neuroid_id=neuroids,
                        presentation={"run": data.draw(st.lists(st.integers(0, 3), min_size=n_obs, max_size=n_obs)),
                                      "onset": np.arange(n_obs) * 1.5},
                        neuroid={"voxel_i": np.arange(p), "region": ["V1"] * p},
                        attrs={"statistic": "t", "grid_shape": [2, 3, 4]}, name=data.draw(st.none() | labels))
    if data.draw(st.booleans()):
        x = x.assign_coords(subject="sub-01").transpose("neuroid", "presentation")
    xr.testing.assert_identical(from_rsatoolbox(to_rsatoolbox(x)), x)


@settings(max_examples=30, deadline=None)
@given(data=st.data())
def test_rdm_round_trip_is_lossless(data):
    n = data.draw(st.integers(3, 7))
    sizes = data.draw(st.lists(st.integers(1, 3), max_size=3))
    dims = ["subject", "layer", "split"][: len(sizes)]
    values = np.random.default_rng(data.draw(st.integers(0, 1000))).normal(size=(*sizes, n * (n - 1) // 2))
    ids = data.draw(st.lists(labels, min_size=n, max_size=n, unique=True))
    rdm = as_rdm(values, ids, form="vector", dims=dims, stimulus_coords={"category": [f"c{i % 2}" for i in range(n)]},
                 method="correlation")
    for dim, size in zip(dims, sizes):
        if data.draw(st.booleans()):
            rdm = rdm.assign_coords({dim: [f"{dim}{i}" for i in range(size)]})
    if len(dims) >= 2 and data.draw(st.booleans()):  # a coordinate over two batch dims, in reversed order
        rdm = rdm.assign_coords(weight=((dims[1], dims[0]), np.ones((sizes[1], sizes[0]))))
    if dims and data.draw(st.booleans()):
        rdm = rdm.transpose("pair", *reversed(dims))
    rdm = rdm.assign_coords(roi="V1")
    rdm.attrs["parameters"] = {"method": "correlation"}
    xr.testing.assert_identical(from_rsatoolbox_rdms(to_rsatoolbox_rdms(rdm)), rdm)
