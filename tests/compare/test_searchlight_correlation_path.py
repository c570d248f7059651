"""The one-pass correlation of searchlight_rdms against the general per-sphere path and compute_rdm.

Reference: :func:`neuroalign.compare.compute_rdm` of each sphere's voxels (itself tested against
rsatoolbox's ``calc_rdm`` and scipy's ``pdist(metric="correlation")``), and the general path of
``searchlight_rdms`` (``rdm_methods.correlation`` per stack of spheres, with its per-pattern
power-of-two rescaling), which the one-pass path must equal to the last bit.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from neuroalign.compare import compute_rdm
from neuroalign.compare import searchlight as sl
from neuroalign.compare.rsa.searchlight import searchlight_rdms
from neuroalign.compare.common.searchlight_grid import searchlight_spheres
from neuroalign.data import create_assembly
from neuroalign.errors import DataError

GRID = (7, 7, 7)


@pytest.fixture(autouse=True)
def _quiet_tqdm(monkeypatch):
    monkeypatch.setenv("TQDM_DISABLE", "1")


def _patterns(seed: int = 0, scale: float = 1.0, n_stimuli: int = 7) -> tuple:
    rng = np.random.default_rng(seed)
    mask = ((np.indices(GRID) - 3) ** 2).sum(axis=0) <= 3**2 + 1
    ijk = np.argwhere(mask)
    values = (rng.normal(size=(2 * n_stimuli, len(ijk))) + rng.normal(size=(1, len(ijk)))) * scale
    values[:, ::5] = 0.0  # exact zeros take part too
    patterns = create_assembly(values, stimulus_id=[f"s{i}" for i in range(n_stimuli)] * 2,
                               neuroid={"voxel_i": ijk[:, 0], "voxel_j": ijk[:, 1], "voxel_k": ijk[:, 2]},
                               attrs={"grid_shape": list(GRID), "affine": [float(v) for v in np.eye(4).ravel()]})
    return patterns, searchlight_spheres(mask, 2)


def _general(patterns, spheres, monkeypatch):
    with monkeypatch.context() as patch:
        patch.setattr(sl, "_moderate", lambda values, largest: False)
        return searchlight_rdms(patterns, spheres, "correlation")


@pytest.mark.parametrize("scale", [1.0, 1e-30, 3e40])
def test_one_pass_equals_general_path_to_the_last_bit(scale, monkeypatch):
    patterns, spheres = _patterns(scale=scale)
    fast = searchlight_rdms(patterns, spheres, "correlation")
    np.testing.assert_array_equal(fast.values, _general(patterns, spheres, monkeypatch).values)
    for row in (0, spheres.n_spheres // 2, spheres.n_spheres - 1):
        expected = compute_rdm(patterns.isel(neuroid=spheres.neighbour_lists()[row]), "correlation")
        np.testing.assert_allclose(fast.values[row], expected.values, rtol=0, atol=1e-12)


@pytest.mark.parametrize("scale", [1e200, 1e-200])
def test_extreme_magnitudes_take_the_rescaled_path(scale):
    patterns, spheres = _patterns(scale=scale)
    assert not sl._moderate(patterns.values, int(spheres.sizes.max()))
    rdms = searchlight_rdms(patterns, spheres, "correlation")
    reference, _ = _patterns(scale=1.0)
    np.testing.assert_allclose(rdms.values, searchlight_rdms(reference, spheres, "correlation").values,
                               rtol=0, atol=1e-12)


def test_moderate_bounds():
    bound = sl._MODERATE
    assert sl._moderate(np.array([0.0, 1 / bound, bound, -bound]), 10)
    assert not sl._moderate(np.array([1.0, bound * 2]), 10)
    assert not sl._moderate(np.array([1.0, 1 / bound / 2]), 10)
    assert not sl._moderate(np.array([1.0, np.nan]), 10)
    assert not sl._moderate(np.array([1.0, np.inf]), 10)
    assert not sl._moderate(np.ones(3), sl._MAX_SIZE + 1)
    assert sl._moderate(np.zeros(3), 10)


def test_constant_pattern_in_a_sphere_is_refused_on_the_one_pass_path():
    patterns, spheres = _patterns()
    assert sl._moderate(patterns.values, int(spheres.sizes.max()))
    with pytest.raises(DataError, match="same value in every neuroid.*spheres centred at"):
        searchlight_rdms(patterns.copy(data=np.full(patterns.shape, 2.0)), spheres, "correlation")


@settings(max_examples=15, deadline=None)
@given(exponent=st.integers(-170, 170), seed=st.integers(0, 2**16))
def test_power_of_two_scaling_changes_no_bit(exponent, seed):
    # correlation is scale-free; a power of two changes only exponents, so the result is bit-identical
    patterns, spheres = _patterns(seed=seed, n_stimuli=4)
    base = searchlight_rdms(patterns, spheres, "correlation")
    scaled = searchlight_rdms(patterns.copy(data=np.ldexp(patterns.values, exponent)), spheres, "correlation")
    np.testing.assert_array_equal(scaled.values, base.values)
