"""Searchlight spheres, sphere RDMs and maps, against rsatoolbox 0.3's searchlight functions.

References: ``rsatoolbox.util.searchlight.get_volume_searchlight``, ``get_searchlight_RDMs``,
``evaluate_models_searchlight`` with ``rsatoolbox.inference.eval_fixed``, ``rsatoolbox.rdm.calc_rdm``
(crossnobis with runs) and ``rsatoolbox.inference.boot_noise_ceiling``; spheres in mm against a
brute-force distance table (scipy ``cdist``).
"""

from __future__ import annotations

import logging

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial.distance import cdist

from neuroalign.compare import as_rdm, compute_rdm
from neuroalign.compare.rsa.searchlight import searchlight_compare, searchlight_rdms
from neuroalign.compare.common.searchlight_grid import searchlight_spheres
from neuroalign.data import create_assembly
from neuroalign.errors import AlignmentError, ConfigError, DataError, SchemaError
from neuroalign.loaders.voxels import to_nifti

rsatoolbox = pytest.importorskip("rsatoolbox")
from rsatoolbox.util.searchlight import (  # noqa: E402
    evaluate_models_searchlight,
    get_searchlight_RDMs,
    get_volume_searchlight,
)

GRID = (10, 10, 10)


@pytest.fixture(autouse=True)
def _quiet_tqdm(monkeypatch):
    monkeypatch.setenv("TQDM_DISABLE", "1")
    logging.getLogger("rsatoolbox").setLevel(logging.ERROR)


def _mask(seed: int = 0, fraction: float = 0.8) -> np.ndarray:
    return np.random.default_rng(seed).random(GRID) < fraction


def _ball() -> np.ndarray:
    """A ball of radius 5 voxels: full spheres inside, partial ones at the edge."""
    return ((np.indices(GRID) - 4.5) ** 2).sum(axis=0) < 5**2


def _patterns(mask, n_stimuli=6, n_runs=2, seed=0, affine=None):
    rng = np.random.default_rng(seed)
    ijk = np.argwhere(mask)
    affine = np.eye(4) if affine is None else affine
    values = rng.normal(size=(n_stimuli * n_runs, len(ijk))) + rng.normal(size=(1, len(ijk)))
    return create_assembly(values, stimulus_id=[f"s{i:02d}" for i in range(n_stimuli)] * n_runs,
                           neuroid={"voxel_i": ijk[:, 0], "voxel_j": ijk[:, 1], "voxel_k": ijk[:, 2]},
                           presentation={"run": np.repeat(np.arange(n_runs), n_stimuli)},
                           attrs={"grid_shape": list(mask.shape), "affine": [float(v) for v in affine.ravel()]})


def _full_grid(patterns, mask):
    """The patterns as rsatoolbox's searchlight takes them: (observations, every voxel of the grid)."""
    data = np.zeros((patterns.sizes["presentation"], mask.size))
    data[:, np.ravel_multi_index(np.nonzero(mask), mask.shape)] = patterns.values
    return data


# ----------------------------------------------------------------------------- spheres
def _rsatoolbox_spheres(mask, radius, threshold):
    """rsatoolbox's centres (fraction of the sphere in the mask >= threshold, truncate_at_boundary=False) with
    their neighbours inside the mask (truncate_at_boundary=True, whose threshold keeps every centre)."""
    centres, _ = get_volume_searchlight(mask, radius, threshold, truncate_at_boundary=False)
    every, neighbours = get_volume_searchlight(mask, radius, 0.0, truncate_at_boundary=True)
    position = {int(c): i for i, c in enumerate(every)}
    return centres, [neighbours[position[int(c)]] for c in centres]


@pytest.mark.parametrize(("radius", "threshold"), [(2, 1.0), (3, 1.0), (2.5, 0.5), (3, 0.7), (1.5, 0.0)])
def test_spheres_equal_rsatoolbox(radius, threshold):
    mask = _ball() if threshold == 1.0 else _mask()
    centres, neighbours = _rsatoolbox_spheres(mask, radius, threshold)
    spheres = searchlight_spheres(mask, radius, threshold=threshold)
    ours_centres, ours_neighbours = spheres.to_rsatoolbox()
    np.testing.assert_array_equal(ours_centres, centres)
    assert len(ours_neighbours) == len(neighbours)
    for ours, theirs in zip(ours_neighbours, neighbours):
        np.testing.assert_array_equal(ours, np.sort(theirs))
    assert spheres.sizes.tolist() == [len(n) for n in neighbours]
    if threshold == 1.0:  # every sphere lies inside the mask: rsatoolbox's default gives the same spheres
        default_centres, default_neighbours = get_volume_searchlight(mask, radius, 1.0)
        np.testing.assert_array_equal(default_centres, centres)
        assert all(np.array_equal(np.sort(a), b) for a, b in zip(default_neighbours, ours_neighbours))


def test_spheres_in_mm_match_brute_force_distances():
    mask = _mask(1)
    affine = np.array([[2.0, 0, 0, -10], [0, 2.5, 0, 4], [0, 0, 3.0, 1], [0, 0, 0, 1]])
    spheres = searchlight_spheres(mask, 5.0, threshold=0.6, units="mm", affine=affine)
    ijk_grid = np.argwhere(np.ones(GRID, bool))
    ijk_mask = np.argwhere(mask)
    world = lambda ijk: ijk @ affine[:3, :3].T + affine[:3, 3]  # noqa: E731
    within_grid = cdist(world(ijk_mask), world(ijk_grid)) < 5.0
    inside = mask.ravel()[None, :]
    fraction = (within_grid & inside).sum(1) / within_grid.sum(1)
    np.testing.assert_array_equal(spheres.centres, np.flatnonzero(fraction >= 0.6))
    within_mask = cdist(world(ijk_mask), world(ijk_mask)) < 5.0
    for centre, ours in zip(spheres.centres, spheres.neighbour_lists()):
        np.testing.assert_array_equal(ours, np.flatnonzero(within_mask[centre]))


def test_spheres_from_patterns_and_nifti(tmp_path):
    import nibabel as nib

    mask = _mask()
    affine = np.diag([2.0, 2.0, 2.0, 1.0])
    path = tmp_path / "mask.nii.gz"
    nib.save(nib.Nifti1Image(mask.astype(np.uint8), affine), path)
    from_file = searchlight_spheres(path, 2)
    from_patterns = searchlight_spheres(_patterns(mask, affine=affine), 2)
    np.testing.assert_array_equal(from_file.neighbours, from_patterns.neighbours)
    np.testing.assert_array_equal(from_file.affine, affine)


@pytest.mark.parametrize("kwargs", [{"radius": 0}, {"radius": 2, "threshold": 1.5}, {"radius": 2, "units": "cm"}])
def test_spheres_refuse_bad_arguments(kwargs):
    with pytest.raises(ConfigError):
        searchlight_spheres(_mask(), **kwargs)


def test_spheres_refuse_empty_mask_and_no_centre():
    with pytest.raises(DataError, match="no voxels"):
        searchlight_spheres(np.zeros(GRID), 2)
    single = np.zeros(GRID, bool)
    single[5, 5, 5] = True
    with pytest.raises(DataError, match="threshold"):
        searchlight_spheres(single, 2, threshold=1.0)


# ----------------------------------------------------------------------------- sphere RDMs
@pytest.mark.parametrize(("ours", "theirs"), [("correlation", "correlation"), ("sqeuclidean", "euclidean")])
def test_sphere_rdms_equal_rsatoolbox(ours, theirs):
    mask = _mask()
    patterns = _patterns(mask)
    centres, neighbours = _rsatoolbox_spheres(mask, 2, 0.5)
    expected = get_searchlight_RDMs(_full_grid(patterns, mask), centres, neighbours,
                                    patterns.stimulus_id.values, method=theirs, verbose=False)
    rdms = searchlight_rdms(patterns, searchlight_spheres(mask, 2, threshold=0.5), ours)
    np.testing.assert_allclose(rdms.values, expected.dissimilarities, rtol=0, atol=1e-10)
    assert rdms.dims == ("neuroid", "pair")
    np.testing.assert_array_equal(np.ravel_multi_index((rdms.voxel_i, rdms.voxel_j, rdms.voxel_k), GRID), centres)


def test_sphere_rdms_crossnobis_with_runs_equal_rsatoolbox():
    from rsatoolbox.data import Dataset
    from rsatoolbox.rdm import calc_rdm

    mask = _mask()
    patterns = _patterns(mask, n_runs=3)
    spheres = searchlight_spheres(mask, 2, threshold=0.5)
    rdms = searchlight_rdms(patterns, spheres, "crossnobis")
    for row in range(0, spheres.n_spheres, 97):
        voxels = spheres.neighbour_lists()[row]
        dataset = Dataset(patterns.values[:, voxels], obs_descriptors={
            "stimulus": patterns.stimulus_id.values, "run": patterns.run.values})
        expected = calc_rdm(dataset, "crossnobis", descriptor="stimulus", cv_descriptor="run")
        np.testing.assert_allclose(rdms.values[row], expected.dissimilarities[0], rtol=0, atol=1e-10)


@pytest.mark.parametrize(("method", "kwargs"), [("euclidean", {}), ("cosine", {}), ("poisson", {}),
                                                ("mahalanobis", {"noise": "shrinkage_diag"}),
                                                ("crossnobis", {"noise": "shrinkage_eye"}),
                                                ("sqeuclidean", {"remove_mean": True}),
                                                ("crossnobis", {"noise": "shrinkage_diag", "remove_mean": True}),
                                                ("poisson", {"remove_mean": True})])
def test_sphere_rdms_equal_compute_rdm_of_each_sphere(method, kwargs):
    mask = _mask(2)
    patterns = _patterns(mask, n_runs=3)
    if method == "poisson":
        patterns = np.abs(patterns)
    spheres = searchlight_spheres(mask, 2.5, threshold=0.4)
    rdms = searchlight_rdms(patterns, spheres, method, **kwargs)
    for row in range(0, spheres.n_spheres, 61):
        expected = compute_rdm(patterns.isel(neuroid=spheres.neighbour_lists()[row]), method, **kwargs)
        np.testing.assert_allclose(rdms.values[row], expected.values, rtol=1e-12, atol=1e-12)
    assert rdms.stimulus_id_a.values.tolist() == expected.stimulus_id_a.values.tolist()


def test_sphere_rdms_diagonal_noise_is_scaled_patterns():
    mask = _mask()
    patterns = _patterns(mask).isel(neuroid=np.random.default_rng(4).permutation(int(mask.sum())))  # any order
    spheres = searchlight_spheres(mask, 2, threshold=0.5)
    variance = np.random.default_rng(3).uniform(0.5, 2.0, patterns.sizes["neuroid"])
    whitened = searchlight_rdms(patterns / np.sqrt(variance), spheres, "sqeuclidean")
    with_noise = searchlight_rdms(patterns, spheres, "mahalanobis", noise=1 / variance)
    np.testing.assert_allclose(with_noise.values, whitened.values, rtol=1e-12)


def test_sphere_rdms_errors():
    mask = _mask()
    patterns = _patterns(mask)
    spheres = searchlight_spheres(mask, 2)
    with pytest.raises(AlignmentError, match="not in the patterns"):
        searchlight_rdms(patterns.isel(neuroid=slice(1, None)), spheres)
    with pytest.raises(AlignmentError, match="grid"):
        searchlight_rdms(patterns.assign_attrs(grid_shape=[10, 10, 11]), spheres)
    shifted = patterns.drop_attrs().assign_coords(voxel_i=patterns.voxel_i + 1)
    with pytest.raises(AlignmentError, match="outside"):
        searchlight_rdms(shifted, spheres)
    with pytest.raises(SchemaError, match="voxel"):
        searchlight_rdms(patterns.drop_vars("voxel_k"), spheres)
    with pytest.raises(ConfigError, match="noise"):
        searchlight_rdms(patterns, spheres, "correlation", noise="shrinkage_diag")
    constant = patterns.copy(data=np.ones(patterns.shape))
    with pytest.raises(DataError, match="sphere"):
        searchlight_rdms(constant, spheres, "correlation")


# ----------------------------------------------------------------------------- maps
def _models(stimuli, seed=5):
    rng = np.random.default_rng(seed)
    n = len(stimuli)
    return as_rdm(rng.random((2, n * (n - 1) // 2)), stimuli, form="vector", dims=["model"]).assign_coords(
        model=["m0", "m1"])


@pytest.mark.parametrize("method", ["corr", "spearman", "cosine", "tau-a"])
def test_map_equals_evaluate_models_searchlight(method):
    from rsatoolbox.inference import eval_fixed
    from rsatoolbox.model import ModelFixed

    mask = _mask()
    patterns = _patterns(mask)
    centres, neighbours = _rsatoolbox_spheres(mask, 2, 0.5)
    sl_rdms = get_searchlight_RDMs(_full_grid(patterns, mask), centres, neighbours, patterns.stimulus_id.values,
                                   method="correlation", verbose=False)
    stimuli = [f"s{i:02d}" for i in range(6)]
    models = _models(stimuli)
    theirs = [ModelFixed(name, rsatoolbox.rdm.RDMs(models.sel(model=name).values[None])) for name in ("m0", "m1")]
    results = evaluate_models_searchlight(sl_rdms, theirs, eval_fixed, method=method)
    expected = np.array([r.evaluations[0, :, 0] for r in results])
    ours = searchlight_compare(searchlight_rdms(patterns, searchlight_spheres(mask, 2, threshold=0.5)), models, method)
    assert ours.dims == ("neuroid", "model")
    np.testing.assert_allclose(ours.values, expected, rtol=0, atol=1e-10)


def test_map_noise_ceiling_equals_rsatoolbox(monkeypatch):
    from rsatoolbox.inference import boot_noise_ceiling

    from neuroalign.compare.rsa import searchlight as searchlight_module

    monkeypatch.setattr(searchlight_module, "_COMPARE_BUDGET", 15 * 3 * 100)  # chunks of 100 spheres

    mask = _mask()
    subjects = {f"sub{i}": _patterns(mask, seed=i) for i in range(3)}
    spheres = searchlight_spheres(mask, 2, threshold=0.5)
    rdms = searchlight_rdms(subjects, spheres)
    out = searchlight_compare(rdms, _models(list(rdms.stimulus_id_a.values[:1]) + list(rdms.stimulus_id_b.values[:5])),
                              "spearman", ceiling=True)
    assert out.dims == ("subject", "neuroid", "model")
    for row in range(0, spheres.n_spheres, 89):
        lower, upper = boot_noise_ceiling(rsatoolbox.rdm.RDMs(rdms.values[:, row]), method="spearman",
                                          rdm_descriptor="index")
        np.testing.assert_allclose([out.ceiling_lower.values[row], out.ceiling_upper.values[row]], [lower, upper],
                                   rtol=0, atol=1e-10)
    with pytest.raises(DataError, match="subject"):
        searchlight_compare(rdms.isel(subject=0), _models(list(rdms.stimulus_id_a.values[:1])
                                                          + list(rdms.stimulus_id_b.values[:5])), ceiling=True)


def test_map_to_nifti_in_mask_space():
    mask = _mask()
    affine = np.diag([2.0, 2.0, 2.0, 1.0])
    patterns = _patterns(mask, affine=affine)
    spheres = searchlight_spheres(mask, 2, threshold=0.5, affine=affine)
    out = searchlight_compare(searchlight_rdms(patterns, spheres), _models([f"s{i:02d}" for i in range(6)]))
    image = to_nifti(out)
    assert image.shape == GRID + (2,)
    np.testing.assert_array_equal(image.affine, affine)
    i, j, k = (int(out[c].values[3]) for c in ("voxel_i", "voxel_j", "voxel_k"))
    np.testing.assert_allclose(image.get_fdata()[i, j, k], out.values[3])
    assert to_nifti(out.sel(model="m1")).shape == GRID


def test_map_over_layers_from_compute_rdm():
    mask = _mask()
    patterns = _patterns(mask)
    spheres = searchlight_spheres(mask, 2, threshold=0.5)
    rng = np.random.default_rng(7)
    stimuli = [f"s{i:02d}" for i in range(6)][::-1]  # another order: matched by id
    layers = {name: create_assembly(rng.normal(size=(6, 5)), stimulus_id=stimuli) for name in ("conv1", "fc")}
    layer_rdms = compute_rdm(layers, "correlation")
    rdms = searchlight_rdms(patterns, spheres)
    out = searchlight_compare(rdms, layer_rdms, "spearman")
    assert out.dims == ("neuroid", "layer") and out.layer.values.tolist() == ["conv1", "fc"]
    row = 17
    expected = compute_rdm(patterns.isel(neuroid=spheres.neighbour_lists()[row]), "correlation")
    from neuroalign.compare import compare_rdms

    np.testing.assert_allclose(out.values[row], compare_rdms(expected, layer_rdms, "spearman").values, atol=1e-12)


def test_subjects_with_other_stimuli_are_refused():
    mask = _mask()
    spheres = searchlight_spheres(mask, 2, threshold=0.5)
    other = _patterns(mask, seed=1)
    other = other.assign_coords(stimulus_id=("presentation", [f"t{i:02d}" for i in range(6)] * 2))
    with pytest.raises(AlignmentError, match="sub1"):
        searchlight_rdms({"sub0": _patterns(mask), "sub1": other}, spheres)


@settings(max_examples=15, deadline=None)
@given(st.permutations(list(range(6))), st.sampled_from(["corr", "spearman", "tau-b"]))
def test_map_unchanged_by_consistent_stimulus_permutation(order, method):
    mask = _mask()
    patterns = _patterns(mask)
    spheres = searchlight_spheres(mask, 2, threshold=0.5)
    stimuli = [f"s{i:02d}" for i in range(6)]
    models = _models(stimuli)
    reference = searchlight_compare(searchlight_rdms(patterns, spheres), models, method)
    rows = np.concatenate([np.flatnonzero(patterns.stimulus_id.values == stimuli[i]) for i in order])
    square = np.zeros((2, 6, 6))
    r, c = np.triu_indices(6, 1)
    square[:, r, c] = models.values
    square = square + np.swapaxes(square, 1, 2)
    permuted_models = as_rdm(square[:, order][:, :, order], [stimuli[i] for i in order], dims=["model"])
    permuted = searchlight_compare(searchlight_rdms(patterns.isel(presentation=rows), spheres),
                                   permuted_models.assign_coords(model=["m0", "m1"]), method)
    np.testing.assert_allclose(permuted.values, reference.values, rtol=0, atol=1e-12)
