"""commit_layer: the best layer chosen on some stimuli, scored on held-out stimuli.

The property that matters: when every layer is unrelated to the brain, the naive maximum of a layer
sweep is biased upwards while the committed score is centred on zero (under the null every held-out
score has expectation 0: the stimuli are exchangeable, so the expected centred RDM or Gram matrix is 0).
"""

import numpy as np
import pytest

from neuroalign.compare import commit_layer, compare_rdms, compute_rdm, rsa
from neuroalign.data import average_repetitions, create_assembly
from neuroalign.errors import ConfigError, DataError, UnknownNameError


def noise_study(seed, n_stimuli=24, n_layers=12, n_subjects=2, n_voxels=10):
    rng = np.random.default_rng(seed)
    ids = [f"s{i:02d}" for i in range(n_stimuli)]
    layers = {f"layer{k:02d}": create_assembly(rng.normal(size=(n_stimuli, 8)), stimulus_id=ids)
              for k in range(n_layers)}
    subjects = np.repeat([f"sub-{s}" for s in range(n_subjects)], n_voxels)
    brain = create_assembly(rng.normal(size=(n_stimuli, n_subjects * n_voxels)), stimulus_id=ids,
                            neuroid={"subject": subjects})
    return layers, brain


def planted_study(seed, planted="layer03", n_stimuli=40, noise=0.6):
    layers, _ = noise_study(seed, n_stimuli=n_stimuli, n_layers=6)
    rng = np.random.default_rng(seed + 1000)
    signal = layers[planted].values @ rng.normal(size=(8, 30))
    rows = np.concatenate([signal + noise * rng.normal(size=signal.shape) for _ in range(2)])
    ids = layers[planted].stimulus_id.values.tolist()
    brain = create_assembly(rows, stimulus_id=ids * 2, neuroid={"subject": np.repeat(["sub-0", "sub-1"], 15)})
    return layers, brain


@pytest.mark.parametrize("metric", ["rsa", "cka"])
def test_committed_score_is_unbiased_where_the_naive_maximum_is_not(metric):
    # The bias of a "best layer" score is its excess over what a layer fixed in advance scores on the same
    # stimuli: for the naive maximum, over the mean of the layers on all stimuli; for the committed score,
    # over the mean of the layers on the held-out stimuli.  (CKA of unrelated data is positive, so the
    # comparison is with the layers' mean rather than with 0.)
    naive_bias, committed_bias, committed = [], [], []
    for seed in range(40):
        layers, brain = noise_study(seed)
        score = commit_layer(layers, brain, metric=metric, n_splits=4, seed=seed)
        full = score.raw["full_data"]
        naive_bias.append(float(full.max() - full.mean()))
        committed_bias.append(float(score) - float(score.raw["held_out"].mean()))
        committed.append(float(score))
    naive_bias, committed_bias, committed = map(np.array, (naive_bias, committed_bias, committed))
    se = lambda x: x.std(ddof=1) / np.sqrt(len(x))  # noqa: E731
    assert naive_bias.mean() > 6 * se(naive_bias), naive_bias.mean()
    assert abs(committed_bias.mean()) < 3 * se(committed_bias), (committed_bias.mean(), se(committed_bias))
    assert naive_bias.mean() > 5 * abs(committed_bias.mean())
    if metric == "rsa":  # a correlation of unrelated RDMs has expectation 0
        assert abs(committed.mean()) < 3 * se(committed), (committed.mean(), se(committed))


def test_the_planted_layer_is_chosen_on_every_split():
    layers, brain = planted_study(0)
    for metric in ("rsa", "cka"):
        score = commit_layer(layers, brain, metric=metric, n_splits=8, seed=1)
        assert score.raw["chosen_layer"].values.tolist() == ["layer03"] * 8
        assert score.params["layer"] == "layer03"
        assert score.raw["selection"].dims == ("split", "layer")
        assert score.error is not None and float(score.error) > 0
        assert score.ceiling is None


def test_held_out_scores_equal_rsa_on_the_held_out_stimuli_alone():
    # the weighted route must give exactly the RSA of the held-out stimuli's own RDMs
    layers, brain = planted_study(2, n_stimuli=20)
    score = commit_layer(layers, brain, n_splits=3, seed=5)
    rng = np.random.default_rng(5)
    order = [rng.permutation(20) for _ in range(3)]
    means = average_repetitions(brain)
    for split in range(3):
        held = np.sort(order[split][10:])
        sub_brain = compute_rdm(means.isel(presentation=held), groupby="subject")
        for name, acts in layers.items():
            sub_model = compute_rdm(acts.isel(presentation=held))
            expected = float(compare_rdms(sub_model, sub_brain, "corr").mean("subject"))
            assert float(score.raw["held_out"].sel(split=split, layer=name)) == pytest.approx(expected, abs=1e-12)
    chosen = score.raw["selection"].argmax("layer").values
    np.testing.assert_allclose(score.raw["committed"].values,
                               score.raw["held_out"].values[np.arange(3), chosen])
    assert float(score) == pytest.approx(float(score.raw["committed"].mean()))


def test_seeded_and_takes_precomputed_rdms():
    layers, brain = planted_study(3)
    a = commit_layer(layers, brain, n_splits=3, seed=7)
    b = commit_layer(layers, brain, n_splits=3, seed=7)
    assert float(a) == float(b)
    rdms = {k: compute_rdm(v) for k, v in layers.items()}
    c = commit_layer(rdms, compute_rdm(average_repetitions(brain), groupby="subject"), n_splits=3, seed=7)
    assert float(c) == pytest.approx(float(a), abs=1e-12)
    full = rsa(layers, brain, ceiling=None, n_bootstrap=2)
    np.testing.assert_allclose(a.raw["full_data"].values, full.values.values, atol=1e-12)


def test_bad_arguments():
    layers, brain = planted_study(0, n_stimuli=10)
    with pytest.raises(UnknownNameError):
        commit_layer(layers, brain, metric="encoding")
    with pytest.raises(ConfigError, match="n_splits"):
        commit_layer(layers, brain, n_splits=0)
    with pytest.raises(ConfigError, match="test_size"):
        commit_layer(layers, brain, test_size=1.0)
    with pytest.raises(DataError, match="fewer than 4"):
        commit_layer(layers, brain, test_size=0.2)
    with pytest.raises(ConfigError, match="mapping"):
        commit_layer(list(layers.values()), brain)
