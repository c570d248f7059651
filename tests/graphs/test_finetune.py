"""GraphFineTuner: learns a separable toy task, never changes the pretrainer, is seeded; label efficiency on graphs."""

import numpy as np
import pandas as pd
import pytest
import torch
import xarray as xr
from sklearn.metrics import roc_auc_score

from neuroalign.errors import AlignmentError, ConfigError, DataError, UnknownNameError
from neuroalign.graphs.dataset import ConnectivityGraphs
from neuroalign.graphs.finetune import GraphFineTuner, subject_embedding
from neuroalign.graphs.label_curves import label_efficiency
from neuroalign.graphs.pretrainer import GraphMAEPretrainer

ROIS = list("abcdef")
SMALL = dict(hidden=8, n_layers=1, batch_size=8, progress=False, threads=1)


@pytest.fixture(autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def toy_fc(n_subjects=24, n_windows=3, seed=0, strength=2.0):
    """Group 1: ROIs a-c share a signal in every window (strong positive FC); group 0: independent noise."""
    rng = np.random.default_rng(seed)
    group = np.arange(n_subjects) % 2
    z = rng.normal(size=(n_subjects, n_windows, len(ROIS), 40))
    z[group == 1, :, :3] += strength * rng.normal(size=(int(group.sum()), n_windows, 1, 40))
    z -= z.mean(-1, keepdims=True)
    fc = np.einsum("swit,swjt->swij", z, z)
    d = np.sqrt(np.einsum("swii->swi", fc))
    fc = fc / d[..., :, None] / d[..., None, :]
    fc = (fc + np.swapaxes(fc, -1, -2)) / 2
    fc[..., range(len(ROIS)), range(len(ROIS))] = 1
    ids = np.array([f"sub-{i:02d}" for i in range(n_subjects)])
    score = group + 0.1 * rng.normal(size=n_subjects)
    return xr.DataArray(fc, dims=("subject", "window", "neuroid_a", "neuroid_b"),
                        coords={"subject": ids, "group": ("subject", group), "score": ("subject", score),
                                "neuroid_a": ROIS, "neuroid_b": ROIS})


@pytest.fixture(scope="module")
def dataset():
    return ConnectivityGraphs.from_connectivity(toy_fc())


@pytest.fixture(scope="module")
def pretrained(dataset):
    torch.set_num_threads(1)
    return GraphMAEPretrainer(hidden=8, n_layers=1, epochs=2, batch_size=8, progress=False, threads=1).fit(dataset)


def test_from_scratch_reaches_high_train_accuracy(dataset):
    tuner = GraphFineTuner(None, epochs=25, lr=1e-2, **SMALL).fit(dataset, "group")
    assert tuner.score(dataset, "group") >= 0.95
    assert list(tuner.history_.columns) == ["epoch", "loss", "train_accuracy"] and len(tuner.history_) == 25
    assert tuner.history_["loss"].iloc[-1] < tuner.history_["loss"].iloc[0]
    proba = tuner.predict_proba(dataset)
    decision = tuner.decision_function(dataset)
    np.testing.assert_allclose(proba.sum(1), 1, atol=1e-12)
    np.testing.assert_allclose(proba[:, 1], 1 / (1 + np.exp(-decision)), atol=1e-9)  # softmax of 2 = sigmoid
    assert roc_auc_score(dataset.label("group"), decision) > 0.95
    assert list(tuner.classes_) == [0, 1] and set(tuner.predict(dataset)) <= {0, 1}


def test_scratch_encoder_is_the_untrained_pretrainer_encoder_of_that_seed(dataset):
    tuner = GraphFineTuner(None, epochs=0, random_state=3, **SMALL).fit(dataset, "group")
    untrained = GraphMAEPretrainer(hidden=8, n_layers=1, epochs=0, random_state=3, progress=False).fit(dataset)
    for (name, a), (_, b) in zip(tuner.encoder_.state_dict().items(), untrained.encoder_.state_dict().items()):
        assert torch.equal(a, b), name
    # with epochs=0 the embedding is the pretrainer's transform (mean and population std over windows)
    np.testing.assert_allclose(tuner.transform(dataset).values, untrained.transform(dataset).values, atol=1e-6)


def test_finetuning_copies_the_pretrained_encoder_and_never_changes_it(dataset, pretrained):
    before = {k: v.clone() for k, v in pretrained.model_.state_dict().items()}
    embeddings = pretrained.transform(dataset)
    tuner = GraphFineTuner(pretrained, epochs=5, lr=1e-2, **SMALL).fit(dataset, "group")
    after = pretrained.model_.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    xr.testing.assert_identical(pretrained.transform(dataset), embeddings)
    assert tuner.encoder_ is not pretrained.encoder_
    moved = [k for k, v in tuner.encoder_.state_dict().items() if not torch.equal(v, pretrained.encoder_.state_dict()[k])]
    assert moved  # the copy was trained


def test_frozen_encoder_trains_the_head_on_the_pretrained_embedding(dataset, pretrained):
    tuner = GraphFineTuner(pretrained, freeze_encoder=True, epochs=3, lr=1e-2, **SMALL).fit(dataset, "group")
    for k, v in tuner.encoder_.state_dict().items():
        assert torch.equal(v, pretrained.encoder_.state_dict()[k]), k
    np.testing.assert_allclose(tuner.transform(dataset).values, pretrained.transform(dataset).values, atol=1e-6)
    # the head is a linear map of that embedding: the logit difference, by hand
    weight = tuner.network_.head.weight.detach().double().numpy()
    bias = tuner.network_.head.bias.detach().double().numpy()
    logits = pretrained.transform(dataset).values @ weight.T + bias
    np.testing.assert_allclose(tuner.decision_function(dataset), logits[:, 1] - logits[:, 0], atol=1e-4)


def test_same_random_state_gives_identical_predictions(dataset, pretrained):
    runs = [GraphFineTuner(pretrained, epochs=3, lr=1e-2, random_state=seed, **SMALL).fit(dataset, "group")
            .decision_function(dataset) for seed in (5, 5, 6)]
    np.testing.assert_array_equal(runs[0], runs[1])
    assert not np.array_equal(runs[0], runs[2])
    scratch = [GraphFineTuner(None, epochs=2, random_state=1, **SMALL).fit(dataset, "group").predict_proba(dataset)
               for _ in range(2)]
    np.testing.assert_array_equal(*scratch)


def test_regression_and_targets_matched_on_ids(dataset):
    tuner = GraphFineTuner(None, task="regression", epochs=25, lr=1e-2, **SMALL).fit(dataset, "score")
    assert tuner.score(dataset, "score") > 0.5
    assert tuner.y_scale_ > 0 and "train_accuracy" not in tuner.history_
    series = pd.Series(dataset.label("score"), index=dataset.subjects).iloc[::-1]  # another order: matched on ids
    again = GraphFineTuner(None, task="regression", epochs=25, lr=1e-2, **SMALL).fit(dataset, series)
    np.testing.assert_array_equal(again.predict(dataset), tuner.predict(dataset))
    with pytest.raises(ConfigError, match="classification"):
        tuner.decision_function(dataset)


def test_subject_embedding_has_finite_gradients_with_one_window():
    windows = torch.randn(3, 1, 4, requires_grad=True)
    out = subject_embedding(windows)
    out.sum().backward()
    assert torch.isfinite(windows.grad).all() and torch.equal(out[:, 4:], torch.zeros(3, 4))
    many = torch.randn(2, 5, 3, dtype=torch.float64)
    np.testing.assert_allclose(subject_embedding(many)[:, 3:], many.std(1, correction=0), atol=1e-12)


def test_label_efficiency_with_a_finetuner_factory_on_graphs():
    data = ConnectivityGraphs.from_connectivity(toy_fc(n_subjects=40, seed=1).isel(subject=np.r_[20:40, 0:20]))
    test = data.subjects[data.subjects >= "sub-20"]
    curve = label_efficiency(data, "group", test=test, sizes=(6, 12), seeds=(0,),
                             method=lambda seed: GraphFineTuner(None, epochs=10, lr=1e-2, random_state=seed, **SMALL))
    assert curve.dims == ("n_labelled", "seed") and float(curve.max()) > 0.8
    # the point at 12 equals fitting the same fine-tuner by hand on the drawn subjects
    pool = np.sort(data.subjects[data.subjects < "sub-20"])
    group = np.arange(20) % 2
    from neuroalign.graphs.label_curves import balanced_draws
    labelled = pool[balanced_draws(group, [12], seed=0)[0]]
    rows = np.flatnonzero(np.isin(data.subjects, labelled))
    test_rows = np.flatnonzero(np.isin(data.subjects, test))
    tuner = GraphFineTuner(None, epochs=10, lr=1e-2, random_state=0, **SMALL)
    tuner.fit(data.subset(rows), data.label("group")[rows])
    expected = roc_auc_score(data.label("group")[test_rows], tuner.decision_function(data.subset(test_rows)))
    assert float(curve.sel(n_labelled=12, seed=0)) == pytest.approx(expected, abs=1e-12)


# ------------------------------------------------------------------------------------------------------- errors
def test_errors(dataset, pretrained):
    with pytest.raises(ConfigError, match="not fitted"):
        GraphFineTuner(None).predict(dataset)
    with pytest.raises(ConfigError, match="not fitted"):
        GraphFineTuner(GraphMAEPretrainer(), epochs=1, **SMALL).fit(dataset, "group")
    with pytest.raises(ConfigError, match="freeze_encoder"):
        GraphFineTuner(None, freeze_encoder=True, **SMALL).fit(dataset, "group")
    with pytest.raises(UnknownNameError):
        GraphFineTuner(None, task="ranking", **SMALL).fit(dataset, "group")
    with pytest.raises(ConfigError, match="epochs"):
        GraphFineTuner(None, epochs=-1, **SMALL).fit(dataset, "group")
    with pytest.raises(ConfigError, match="ConnectivityGraphs"):
        GraphFineTuner(None, **SMALL).fit(np.zeros((2, 3)), [0, 1])
    labels = dataset.label("group").astype(float)
    labels[[2, 5]] = np.nan
    with pytest.raises(DataError, match=r"missing.*sub-02"):
        GraphFineTuner(None, epochs=1, **SMALL).fit(dataset, labels)
    with pytest.raises(DataError, match="single class"):
        GraphFineTuner(None, epochs=1, **SMALL).fit(dataset, np.zeros(dataset.n_subjects))
    with pytest.raises(AlignmentError, match="shape"):
        GraphFineTuner(None, epochs=1, **SMALL).fit(dataset, [0, 1])
    with pytest.raises(DataError, match="constant"):
        GraphFineTuner(None, task="regression", epochs=1, **SMALL).fit(dataset, np.ones(dataset.n_subjects))
    other = ConnectivityGraphs.from_connectivity(toy_fc(n_subjects=4).isel(neuroid_a=[1, 0, 2, 3, 4, 5],
                                                                           neuroid_b=[1, 0, 2, 3, 4, 5]))
    with pytest.raises(ConfigError, match="another order"):
        GraphFineTuner(pretrained, epochs=1, **SMALL).fit(other, "group")
    fitted = GraphFineTuner(None, epochs=1, **SMALL).fit(dataset, "group")
    with pytest.raises(ConfigError, match="another order"):
        fitted.predict(other)
