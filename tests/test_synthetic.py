import numpy as np
import pytest

import json

import pandas as pd

from neuroalign.compare import cka_sweep, commit_layer, rsa
from neuroalign.data import validate
from neuroalign.datasets.synthetic import make_synthetic_study
from neuroalign.errors import ConfigError, UnknownNameError
from neuroalign.extract import extract


def test_study_follows_data_model_and_is_seeded():
    a = make_synthetic_study(seed=3, n_stimuli=16, n_voxels=10, n_subjects=2)
    b = make_synthetic_study(seed=3, n_stimuli=16, n_voxels=10, n_subjects=2)
    validate(a.brain)
    assert a.brain.sizes == {"presentation": 16 * 4, "neuroid": 20}
    np.testing.assert_array_equal(a.brain.values, b.brain.values)
    assert sorted(set(a.brain.subject.values.tolist())) == ["sub-01", "sub-02"]
    assert a.brain.attrs["parameters"]["planted_layer"] == "block3"


def test_known_reliability_matches_the_data():
    # The reliability coord is s^2 / (s^2 + sd^2 / R); check it against the empirical correlation of
    # two independent R-repetition means regenerated from the same signal.
    study = make_synthetic_study(seed=1, n_stimuli=96, n_voxels=50, n_repetitions=4, noise_sd=1.5)
    brain = study.brain.sortby(["repetition"])
    values = brain.values.reshape(4, 96, -1)  # repetition blocks, each in its own shuffled order
    order = [np.argsort(brain.stimulus_id.values[r * 96:(r + 1) * 96]) for r in range(4)]
    aligned = np.stack([values[r][order[r]] for r in range(4)])
    half_a, half_b = aligned[:2].mean(0), aligned[2:].mean(0)
    r_half = np.mean([np.corrcoef(half_a[:, v], half_b[:, v])[0, 1] for v in range(aligned.shape[2])])
    reliability = study.brain.reliability.values  # s^2 / (s^2 + sd^2 / 4)
    signal_variance = reliability / (1 - reliability) * 1.5**2 / 4
    predicted_half = np.mean(signal_variance / (signal_variance + 1.5**2 / 2))
    assert r_half == pytest.approx(predicted_half, abs=0.05)
    assert float(study.expected_reliability.mean()) == pytest.approx(
        np.mean(study.brain.reliability.values))


@pytest.mark.parametrize("seed", range(5))
def test_planted_layer_ranks_first_for_rsa_and_cka(seed):
    study = make_synthetic_study(seed=seed)
    acts = extract(study.network, study.stimuli, list(study.layers), progress=False)
    for sweep in (rsa, cka_sweep):
        score = sweep(acts, study.brain, n_bootstrap=10, n_splits=2, seed=seed)
        assert str(score.values.idxmax("layer").item()) == study.planted_layer
    for metric in ("rsa", "cka"):  # chosen on half of the stimuli, it is still the planted layer
        assert commit_layer(acts, study.brain, metric=metric, n_splits=4, seed=seed).params["layer"] \
            == study.planted_layer


def test_demo_reports_the_committed_layer_next_to_the_profile(tmp_path):
    from neuroalign.pipelines.demo import run_demo

    result = run_demo(seed=0, out=tmp_path, n_bootstrap=20, n_splits=3, progress=False)
    table = pd.read_csv(tmp_path / "scores.csv")
    committed = table[table.analysis.str.endswith("-committed")]
    assert committed.analysis.tolist() == ["rsa-committed", "cka-committed"]
    assert committed.kind.tolist() == ["commit_layer"] * 2 and committed.ceiling.isna().all()
    summary = json.loads((tmp_path / "summary.json").read_text())
    for name in ("rsa", "cka"):
        entry = summary["committed"][name]
        assert entry["chosen_layers"] == {"block3": 3} and entry["n_splits"] == 3 and entry["layer"] == "block3"
        assert entry["score"] == pytest.approx(float(result.committed[name]))
        assert entry["naive_best_score"] == pytest.approx(float(result.scores[name].values.max()))


def test_sweep_scores_have_ceiling_ci_and_raw():
    study = make_synthetic_study(seed=0, n_stimuli=32, n_voxels=40)
    acts = extract(study.network, study.stimuli, ["block1", "block3"], progress=False)
    score = rsa(acts, study.brain, n_bootstrap=50, n_splits=4)
    assert score.dims == ("layer",)
    assert set(score.raw.data_vars) == {"resamples", "per_subject", "ceiling_per_split"}
    assert score.raw["resamples"].sizes["resample"] == 50
    assert (score.ci[0] <= score.ci[1]).all()
    assert 0 < float(score.ceiling.mean()) <= 1


def test_bad_arguments():
    with pytest.raises(UnknownNameError, match="block3"):
        make_synthetic_study(planted_layer="block9")
    with pytest.raises(ConfigError, match="n_repetitions"):
        make_synthetic_study(n_repetitions=1)
