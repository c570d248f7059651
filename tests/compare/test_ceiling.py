import numpy as np
import pytest
import xarray as xr

from neuroalign.compare import compare_rdms, compute_rdm, spearman_brown, split_half_ceiling, split_halves
from neuroalign.data import create_assembly
from neuroalign.errors import ConfigError, DataError


def pearson_per_neuroid(a, b):
    ac, bc = a - a.mean("presentation"), b - b.mean("presentation")
    return (ac * bc).sum("presentation") / np.sqrt((ac**2).sum("presentation") * (bc**2).sum("presentation"))


def noisy(rng, n_stim=200, n_neuroid=50, reps=4, noise_sd=1.0):
    signal = rng.normal(size=(n_stim, n_neuroid))
    values = np.concatenate([signal + noise_sd * rng.normal(size=signal.shape) for _ in range(reps)])
    return create_assembly(values, stimulus_id=[f"s{i}" for i in range(n_stim)] * reps)


def test_spearman_brown_closed_form():
    assert spearman_brown(0.5) == pytest.approx(2 / 3)
    assert spearman_brown(0.5, factor=3) == pytest.approx(0.75)
    assert spearman_brown(1.0) == 1.0


def test_split_halves_average_disjoint_repetitions(rng):
    data = create_assembly(np.arange(8.0)[:, None], stimulus_id=["a", "b"] * 4)  # a: 0,2,4,6  b: 1,3,5,7
    h1, h2 = split_halves(data, n_splits=5, seed=1)
    assert h1.dims == ("split", "presentation", "neuroid")
    np.testing.assert_allclose((h1 + h2).values[:, :, 0], [[6.0, 8.0]] * 5)  # halves partition the reps
    assert h1.stimulus_id.values.tolist() == ["a", "b"]


def test_per_neuroid_ceiling_recovers_known_reliability(rng):
    # closed form: with unit signal variance, the mean of R reps has reliability 1 / (1 + sd^2 / R)
    data = noisy(rng, noise_sd=1.0, reps=4)
    ceiling = split_half_ceiling(data, pearson_per_neuroid, n_splits=10, seed=0)
    assert float(ceiling.values.mean()) == pytest.approx(1 / (1 + 1 / 4), abs=0.02)
    assert ceiling.raw.dims == ("split", "neuroid")


def test_rdm_ceiling_is_higher_for_less_noise(rng):
    consistency = lambda a, b: compare_rdms(compute_rdm(a), compute_rdm(b))  # noqa: E731
    clean = float(split_half_ceiling(noisy(rng, 30, 40, noise_sd=0.3), consistency, seed=0))
    dirty = float(split_half_ceiling(noisy(rng, 30, 40, noise_sd=2.0), consistency, seed=0))
    assert 0 < dirty < clean <= 1


def test_seeded_and_reproducible(rng):
    data = noisy(rng, 20, 5)
    a = split_half_ceiling(data, pearson_per_neuroid, seed=3)
    b = split_half_ceiling(data, pearson_per_neuroid, seed=3)
    xr.testing.assert_equal(a.raw, b.raw)


def test_needs_repetitions_and_split_dim(rng):
    single = create_assembly(rng.normal(size=(5, 3)), stimulus_id=list("abcde"))
    with pytest.raises(DataError, match="presented only once"):
        split_half_ceiling(single, pearson_per_neuroid)
    with pytest.raises(ConfigError, match="dropped the 'split' dim"):
        split_half_ceiling(noisy(rng, 10, 3), lambda a, b: 0.5)
