"""Recognisability across observers, and the pixel-space kNN observer.

References: the bootstrap distribution of a proportion of n images resampled
with replacement is Binomial(n, p)/n (closed-form quantiles and standard
error); scikit-learn's KNeighborsClassifier on flattened pixels for PixelKNN.
"""

import numpy as np
import pytest
import torch
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from sklearn.neighbors import KNeighborsClassifier
from torch import nn

from neuroalign.compare.common.bootstrap import bootstrap_indices
from neuroalign.errors import AlignmentError, ConfigError, DataError
from neuroalign.metamers.pixel_observer import PixelKNN
from neuroalign.metamers.recognition import METRIC, recognisability
from neuroalign.metamers.validity import metamer_validity

DIMS = ("presentation", "channel", "row", "col")


def _answers(labels_by_image):
    """An observer that answers from a lookup of each image's first pixel (the image's index)."""
    table = np.asarray(labels_by_image)

    def observer(images):
        return table[np.asarray(images[:, 0, 0, 0]).astype(int)]
    return observer


def _indexed_images(n):
    images = np.zeros((n, 1, 2, 2), dtype=np.float32)
    images[:, 0, 0, 0] = np.arange(n)
    return images


@settings(max_examples=20, deadline=None)
@given(st.lists(st.integers(0, 4), min_size=1, max_size=12), st.integers(0, 1000))
def test_a_perfect_observer_scores_one_with_zero_width_ci(labels, seed):
    images = _indexed_images(len(labels))
    score = recognisability({"a": images, "b": images}, labels, {"oracle": _answers(labels)},
                            classes=range(5), n_bootstrap=50, random_state=seed)
    np.testing.assert_array_equal(score.values.values, 1.0)
    np.testing.assert_array_equal(score.ci[0].values, 1.0)
    np.testing.assert_array_equal(score.ci[1].values, 1.0)
    np.testing.assert_array_equal(score.error.values, 0.0)
    assert score.params["chance"] == pytest.approx(0.2)


def test_bootstrap_ci_matches_the_binomial_closed_form():
    labels = np.array([0, 1, 0, 1])
    answers = np.array([0, 1, 0, 0])  # 3 of 4 right
    score = recognisability({"conv": _indexed_images(4)}, labels, {"obs": _answers(answers)}, n_bootstrap=20000,
                            random_state=1)
    assert float(score.values.squeeze()) == 0.75
    # resampled proportion ~ Binomial(4, 0.75)/4: P(X <= 0) = 0.004 and P(X <= 1) = 0.051 put the 2.5% quantile at
    # X = 1; P(X = 4) = 0.316 puts the 97.5% quantile at X = 4
    binomial = stats.binom(4, 0.75)
    assert binomial.cdf(0) < 0.025 < binomial.cdf(1) and binomial.sf(3) > 0.025
    assert float(score.ci[0].squeeze()) == 0.25 and float(score.ci[1].squeeze()) == 1.0
    assert float(score.error.squeeze()) == pytest.approx(binomial.std() / 4, rel=0.02)


def test_resamples_follow_the_documented_seeding_and_are_shared_by_observers():
    labels = np.array([0, 1, 1, 0, 1])
    first, second = np.array([0, 1, 0, 0, 1]), np.array([1, 1, 1, 0, 0])
    images = _indexed_images(5)
    score = recognisability({"l1": images, "l2": images}, labels,
                            {"a": _answers(first), "b": _answers(second)}, n_bootstrap=7, random_state=3,
                            valid=xr.DataArray([[True] * 5, [True, True, False, True, True]],
                                               dims=("layer", "presentation"), coords={"layer": ["l1", "l2"]}))
    rng = np.random.default_rng(3)
    idx1 = bootstrap_indices(5, 7, rng)
    idx2 = bootstrap_indices(4, 7, rng)
    correct1 = np.stack([first == labels, second == labels])
    keep = np.array([0, 1, 3, 4])
    correct2 = correct1[:, keep]
    raw = score.raw.sel(generator="model")
    np.testing.assert_allclose(raw.sel(layer="l1").values, correct1[:, idx1].mean(axis=2).T)
    np.testing.assert_allclose(raw.sel(layer="l2").values, correct2[:, idx2].mean(axis=2).T)
    assert score.params["n_images"] == {"l1": 5, "l2": 4}
    assert score.metric == METRIC


def _net():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Flatten(), nn.Linear(16, 3))
    for p in net.parameters():
        p.requires_grad_(False)
    return net


def test_network_observers_dataarray_input_and_natural_layer():
    net = _net()
    g = torch.Generator().manual_seed(1)
    naturals = torch.rand(10, 1, 4, 4, generator=g)
    with torch.no_grad():
        labels = net(naturals).argmax(1).numpy()
        noisy = torch.rand(2, 10, 1, 4, 4, generator=g)
        expected = (net(noisy.flatten(0, 1)).argmax(1).numpy().reshape(2, 10) == labels).mean(axis=1)
    metamers = xr.DataArray(noisy.numpy(), dims=("layer", *DIMS), coords={"layer": ["early", "late"]})
    net.train()
    score = recognisability(metamers, labels, {"generator": net}, naturals=naturals, generator="net",
                            classes=[0, 1, 2], n_bootstrap=30)
    assert net.training  # mode restored
    assert score.values["layer"].values.tolist() == ["natural", "early", "late"]
    assert score.values.sel(layer="natural").item() == 1.0
    np.testing.assert_allclose(score.values.sel(layer=["early", "late"]).values.ravel(), expected)
    assert score.values["generator"].values.tolist() == ["net"]
    # classes restrict a network's forced choice to those logit columns
    assert score.params["chance"] == pytest.approx(1 / 3)
    with torch.no_grad():
        logits = net(naturals)
    two_way = logits[:, :2].argmax(1).numpy()
    restricted = recognisability({"x": naturals}, two_way, {"net": net}, classes=[0, 1], n_bootstrap=10)
    assert restricted.values.item() == 1.0 and restricted.params["chance"] == 0.5


def test_valid_from_metamer_validity_and_id_matching():
    net = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(32, 3)).eval()
    for p in net.parameters():
        p.requires_grad_(False)
    g = torch.Generator().manual_seed(2)
    naturals = torch.rand(8, 1, 4, 4, generator=g)
    with torch.no_grad():
        labels = net(naturals).argmax(1).numpy()
    ids = np.array([f"im{i}" for i in range(8)])
    metamers = torch.where(torch.arange(8).reshape(8, 1, 1, 1) < 4, naturals, torch.rand(8, 1, 4, 4, generator=g))
    validity = metamer_validity(net, "1", metamers, naturals, labels, stimulus_ids=ids, n_null=40)
    valid = validity["valid"]
    assert valid.values[0, 0, :4].all() and not valid.values[0, 0, 4:].all()
    da = xr.DataArray(metamers.numpy(), dims=DIMS, coords={"stimulus_id": ("presentation", ids)})
    order = np.random.default_rng(0).permutation(8)
    label_da = xr.DataArray(labels[order], dims="presentation", coords={"stimulus_id": ("presentation", ids[order])})
    score = recognisability({"1": da}, label_da, {"net": net}, valid=valid, classes=range(3),
                            n_bootstrap=10)
    kept = valid.values[0, 0]
    with torch.no_grad():
        expected = (net(metamers[torch.as_tensor(kept)]).argmax(1).numpy() == labels[kept]).mean()
    assert score.values.item() == pytest.approx(expected)
    assert score.params["n_images"] == {"1": int(kept.sum())}


def test_empty_layers_raise_or_drop():
    images = _indexed_images(3)
    labels = [0, 1, 0]
    valid = xr.DataArray([[True, False, True], [False] * 3], dims=("layer", "presentation"),
                         coords={"layer": ["a", "b"]})
    observers = {"o": _answers(labels)}
    with pytest.raises(DataError, match="layer 'b' has no valid metamer"):
        recognisability({"a": images, "b": images}, labels, observers, valid=valid, n_bootstrap=5)
    score = recognisability({"a": images, "b": images}, labels, observers, valid=valid, n_bootstrap=5,
                            empty_layers="drop")
    assert score.values["layer"].values.tolist() == ["a"] and score.params["dropped_layers"] == ["b"]
    assert not np.isnan(score.values.values).any()


def test_errors():
    images = _indexed_images(3)
    labels = [0, 1, 0]
    obs = {"o": _answers(labels)}
    with pytest.raises(ConfigError, match="non-empty mapping"):
        recognisability({"a": images}, labels, {})
    with pytest.raises(AlignmentError, match="holds 3 images and labels 2"):
        recognisability({"a": images}, labels[:2], obs)
    with pytest.raises(AlignmentError, match="no layer 'b'"):
        recognisability({"a": images, "b": images}, labels, obs,
                        valid=xr.DataArray([[True] * 3], dims=("layer", "presentation"), coords={"layer": ["a"]}))
    with pytest.raises(ConfigError, match="not among classes"):
        recognisability({"a": images}, labels, obs, classes=[1, 2])
    with pytest.raises(ConfigError, match="network"):
        recognisability({"a": images}, ["x", "y", "x"], {"net": nn.Flatten()})
    with pytest.raises(ConfigError, match="appears twice"):
        recognisability({"natural": images}, labels, obs, naturals=images)
    with pytest.raises(DataError, match="shape"):
        recognisability({"a": images}, labels, {"bad": lambda x: np.zeros(2)})
    with pytest.raises(ConfigError, match="n_bootstrap"):
        recognisability({"a": images}, labels, obs, n_bootstrap=1)
    with pytest.raises(ConfigError, match="seed"):
        recognisability({"a": images}, labels, obs, valid=xr.DataArray(
            np.ones((1, 2, 3), bool), dims=("layer", "seed", "presentation"), coords={"layer": ["a"]}))


def test_pixel_knn_agrees_with_sklearn():
    rng = np.random.default_rng(0)
    train = rng.random((40, 1, 5, 5)).astype(np.float32)
    labels = rng.integers(0, 3, size=40)
    test = rng.random((15, 1, 5, 5)).astype(np.float32)
    for k in (1, 3):
        knn = PixelKNN(n_neighbors=k).fit(torch.from_numpy(train), labels)
        reference = KNeighborsClassifier(n_neighbors=k).fit(train.reshape(40, -1), labels)
        np.testing.assert_array_equal(knn(torch.from_numpy(test)), reference.predict(test.reshape(15, -1)))
    da = xr.DataArray(train, dims=DIMS)
    np.testing.assert_array_equal(PixelKNN().fit(da, labels)(train), labels)  # 1-NN recalls its training set
    score = recognisability({"pixels": train}, labels, {"knn": PixelKNN().fit(train, labels)}, n_bootstrap=5)
    assert score.values.item() == 1.0


def test_pixel_knn_errors():
    train = np.zeros((4, 1, 2, 2), dtype=np.float32)
    with pytest.raises(ConfigError, match="not fitted"):
        PixelKNN()(train)
    with pytest.raises(ConfigError, match="n_neighbors"):
        PixelKNN(n_neighbors=0).fit(train, [0, 1, 0, 1])
    with pytest.raises(DataError, match="n_neighbors=5"):
        PixelKNN(n_neighbors=5).fit(train, [0, 1, 0, 1])
    with pytest.raises(DataError, match="labels"):
        PixelKNN().fit(train, [0, 1])
    knn = PixelKNN().fit(train, [0, 1, 0, 1])
    with pytest.raises(DataError, match="fitted on"):
        knn(np.zeros((2, 1, 3, 3), dtype=np.float32))
    with pytest.raises(ConfigError, match="scikit-learn"):
        PixelKNN(metric="nonsense").fit(train, [0, 1, 0, 1])


def test_score_saves_and_loads(tmp_path):
    from neuroalign import Score

    labels = [0, 1, 2, 1]
    score = recognisability({"a": _indexed_images(4)}, labels, {"o": _answers([0, 1, 1, 1])}, n_bootstrap=20)
    loaded = Score.load(score.save(tmp_path / "recognisability.nc"))
    assert loaded.params == score.params
    assert loaded.values.identical(score.values) and loaded.raw.identical(score.raw)
    assert loaded.params["chance"] == pytest.approx(1 / 3) and loaded.params["classes"] == [0, 1, 2]


# ---------------------------------------------------------------- several metamers per natural image (seeds)

def _seeded(images_by_seed, seeds=None, ids=None):
    """A (seed, presentation, channel, row, col) DataArray from a list of (N, 1, 2, 2) arrays."""
    stack = np.stack(images_by_seed)
    coords = {} if seeds is None else {"seed": seeds}
    if ids is not None:
        coords["stimulus_id"] = ("presentation", ids)
    return xr.DataArray(stack, dims=("seed", *DIMS), coords=coords)


def test_seeds_resample_natural_images_with_all_their_valid_metamers():
    # 3 natural images, 2 seeds; image i of seed s is image s*3+i of the observer's lookup table
    labels = np.array([0, 1, 0])
    answers = np.array([0, 1, 1,    # seed 0: right, right, wrong
                        0, 0, 0])   # seed 1: right, wrong, right
    valid = xr.DataArray([[[True, True, True], [True, True, False]]], dims=("layer", "seed", "presentation"),
                         coords={"layer": ["l"], "seed": [10, 11]})
    images = _indexed_images(6)
    metamers = _seeded([images[:3], images[3:]], seeds=[10, 11])
    score = recognisability({"l": metamers}, labels, {"o": _answers(answers)}, valid=valid, n_bootstrap=4000,
                            random_state=5)
    # by hand: image 0 has 2 valid metamers, both right; image 1: 2 valid, 1 right; image 2: 1 valid, wrong
    assert score.values.item() == 3 / 5
    assert score.params["n_images"] == {"l": 5} and score.params["n_natural"] == {"l": 3}
    assert score.params["n_seeds"] == {"l": 2}
    idx = bootstrap_indices(3, 4000, np.random.default_rng(5))
    k = np.stack([(idx == i).sum(axis=1) for i in range(3)])  # draws of each natural image per resample
    expected = (2 * k[0] + k[1]) / (2 * k[0] + 2 * k[1] + k[2])
    np.testing.assert_array_equal(score.raw.values.ravel(), expected)
    # the bootstrap distribution enumerated exactly: (k0, k1, k2) ~ Multinomial(3, 1/3 each)
    outcomes = [(a, b, 3 - a - b) for a in range(4) for b in range(4 - a)]
    prob = np.array([stats.multinomial.pmf(o, 3, [1 / 3] * 3) for o in outcomes])
    ratio = np.array([(2 * a + b) / (2 * a + 2 * b + c) for a, b, c in outcomes])
    exact_sd = np.sqrt(prob @ ratio ** 2 - (prob @ ratio) ** 2)
    assert float(score.error.squeeze()) == pytest.approx(exact_sd, rel=0.05)
    # pooling the 5 metamers as if independent would give a narrower bootstrap (Binomial(5, 0.6)/5 has sd 0.219)
    assert exact_sd > np.sqrt(0.6 * 0.4 / 5)


@settings(max_examples=25, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.booleans()), min_size=1, max_size=10), st.integers(0, 10_000),
       st.booleans())
def test_one_seed_equals_the_bootstrap_of_valid_images(rows, seed, with_coord):
    right = np.array([r for r, _ in rows])
    keep = np.array([v for _, v in rows])
    keep[0] = True  # at least one valid metamer
    n = len(rows)
    labels = np.zeros(n, dtype=int)
    observers = {"o": _answers(np.where(right, 0, 1)), "p": _answers(np.where(right, 1, 0))}
    images = _indexed_images(n)
    plain = recognisability({"l": images}, labels, observers, classes=[0, 1], n_bootstrap=30, random_state=seed,
                            valid=xr.DataArray([keep], dims=("layer", "presentation"), coords={"layer": ["l"]}))
    seeds = [7] if with_coord else None
    seeded = recognisability({"l": _seeded([images], seeds=seeds)}, labels, observers, classes=[0, 1],
                             n_bootstrap=30, random_state=seed,
                             valid=xr.DataArray([[keep]], dims=("layer", "seed", "presentation"),
                                                coords={"layer": ["l"], **({"seed": seeds} if seeds else {})}))
    assert seeded.values.identical(plain.values) and seeded.raw.identical(plain.raw)
    # the plain bootstrap of the valid images (the documented draw), bit for bit
    correct = np.stack([right, ~right])[:, keep]
    idx = bootstrap_indices(int(keep.sum()), 30, np.random.default_rng(seed))
    np.testing.assert_array_equal(plain.raw.values[:, 0, 0], correct[:, idx].mean(axis=2).T)
    np.testing.assert_array_equal(plain.values.values[0, 0], correct.mean(axis=1))


@settings(max_examples=15, deadline=None)
@given(st.lists(st.booleans(), min_size=2, max_size=8), st.integers(0, 1000))
def test_repeating_a_seed_changes_neither_accuracy_nor_ci(right, seed):
    # identical metamers from two seeds carry no more information than one: the CI must not shrink
    right = np.array(right)
    n = len(right)
    images = _indexed_images(n)
    observers = {"o": _answers(np.where(right, 0, 1))}
    one = recognisability({"l": _seeded([images], seeds=[0])}, np.zeros(n, int), observers, classes=[0, 1],
                          n_bootstrap=40, random_state=seed)
    two = recognisability({"l": _seeded([images, images], seeds=[0, 1])}, np.zeros(n, int), observers,
                          classes=[0, 1], n_bootstrap=40, random_state=seed)
    assert two.values.identical(one.values)
    np.testing.assert_array_equal(two.raw.values, one.raw.values)
    assert two.params["n_images"] == {"l": 2 * n} and two.params["n_natural"] == {"l": n}


def test_seeds_are_matched_by_value_and_ids_by_stimulus_id():
    labels = xr.DataArray([0, 1, 0], dims="presentation", coords={"stimulus_id": ("presentation", ["a", "b", "c"])})
    answers = np.array([0, 1, 1, 0, 0, 0])
    images = _indexed_images(6)
    metamers = _seeded([images[:3], images[3:]], seeds=[10, 11], ids=["a", "b", "c"])
    valid = xr.DataArray([[[True, True, False], [True, True, True]]], dims=("layer", "seed", "presentation"),
                         coords={"layer": ["l"], "seed": [11, 10], "stimulus_id": ("presentation", ["c", "b", "a"])})
    score = recognisability({"l": metamers}, labels, {"o": _answers(answers)}, valid=valid, n_bootstrap=5)
    # valid: seed 10 all valid; seed 11 a and b valid -> right: 10/a, 10/b, 11/a (wrong: 10/c, 11/b)
    assert score.values.item() == 3 / 5
    with pytest.raises(AlignmentError, match="seeds"):
        recognisability({"l": metamers}, labels, {"o": _answers(answers)}, valid=valid.sel(seed=[11]), n_bootstrap=5)
    with pytest.raises(AlignmentError, match="seeds"):
        recognisability({"l": metamers}, labels, {"o": _answers(answers)}, valid=valid.drop_vars("seed").isel(
            seed=[0]), n_bootstrap=5)
    with pytest.raises(AlignmentError, match="repeats seeds"):
        recognisability({"l": metamers.assign_coords(seed=[3, 3])}, labels, {"o": _answers(answers)}, n_bootstrap=5)
    # a DataArray of all layers with a seed dim
    stacked = metamers.expand_dims(layer=["l"])
    again = recognisability(stacked, labels, {"o": _answers(answers)}, valid=valid, n_bootstrap=5)
    assert again.values.identical(score.values) and again.raw.identical(score.raw)


def test_the_metamers_command_resamples_natural_images_across_seeds():
    # MetamerRun.score (the recognisability step of `neuroalign metamers`) on two seeds' units, against the API
    from neuroalign.cli._metamer_run import MetamerRun, Unit

    n, labels = 5, np.array([0, 1, 0, 1, 0])
    ids = [f"s{i}" for i in range(n)]
    images = torch.from_numpy(_indexed_images(3 * n))
    answers = np.array([0, 1, 1, 1, 0] + [1, 1, 0, 0, 0] + [0] * n)
    flags = {0: [True, True, True, False, True], 1: [False, True, True, True, True]}
    run = MetamerRun(out=None, key="k", model=None, generator="net", images=images[2 * n:], ids=ids,
                     labels=labels, device=torch.device("cpu"), settings={"resample_seed": 3}, progress=False)
    units = []
    for seed in (0, 1):
        picture = images[seed * n:(seed + 1) * n].numpy()
        synthesis = xr.Dataset({"metamer": (DIMS, picture)}, coords={
            "stimulus_id": ("presentation", np.asarray(ids, dtype=object)), "layer": "relu", "seed": seed,
            "label": ("presentation", labels)})
        validity = xr.Dataset({"valid": (("layer", "seed", "presentation"), [[flags[seed]]])}, coords={
            "layer": ["relu"], "seed": [seed], "stimulus_id": ("presentation", ids)})
        units.append(Unit("relu", seed, synthesis, validity, True))
    score = run.score(units, {"o": _answers(answers)}, classes=[0, 1], n_bootstrap=50)
    expected = recognisability({"relu": _seeded([images[:n].numpy(), images[n:2 * n].numpy()], seeds=[0, 1],
                                                ids=ids)},
                               xr.DataArray(labels, dims="presentation", coords={"stimulus_id": ("presentation", ids)}),
                               {"o": _answers(answers)}, naturals=run.naturals, generator="net", classes=[0, 1],
                               valid=xr.DataArray([[flags[0], flags[1]]], dims=("layer", "seed", "presentation"),
                                                  coords={"layer": ["relu"], "seed": [0, 1]}),
                               n_bootstrap=50, random_state=3)
    assert score.values.identical(expected.values) and score.raw.identical(expected.raw)
    assert score.params["n_images"] == {"natural": n, "relu": 8} and score.params["n_natural"]["relu"] == n


def test_a_class_mapping_lets_several_logit_columns_name_one_class():
    # Feather et al.'s 16-way choice: the top-ranked logit among the classes of the categories, answered as its
    # category; here columns 0 and 1 are "even", column 2 is "odd" (columns 3 is outside the task)
    net = nn.Sequential(nn.Flatten(), nn.Linear(4, 4, bias=False)).eval().requires_grad_(False)
    with torch.no_grad():
        net[1].weight.copy_(torch.eye(4))
    images = torch.tensor([[5., 1, 0, 9], [0, 4, 1, 9], [1, 0, 3, 9], [0, 0, 0, 9]]).reshape(4, 1, 2, 2)
    # top column among {0, 1, 2}: 0, 1, 2, and a tie of zeros (torch's argmax takes the first: column 0)
    mapping = {0: "even", 1: "even", 2: "odd"}
    labels = np.array(["even", "even", "odd", "odd"])
    score = recognisability({"l": images}, labels, {"net": net}, classes=mapping, n_bootstrap=5)
    assert score.values.item() == 3 / 4
    assert score.params["chance"] == 0.5 and score.params["classes"] == ["even", "odd"]
    assert score.params["class_of_logit"] == {"0": "even", "1": "even", "2": "odd"}
    with pytest.raises(ConfigError, match="not among classes"):
        recognisability({"l": images}, np.array(["even", "odd", "cat", "odd"]), {"net": net}, classes=mapping,
                        n_bootstrap=5)
    with pytest.raises(ConfigError, match="logit columns"):
        recognisability({"l": images}, labels, {"net": net}, classes={"a": "even", "b": "odd"}, n_bootstrap=5)
