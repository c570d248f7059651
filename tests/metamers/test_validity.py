"""Feather et al.'s validity criteria on a tiny network, checked against activations and scipy computed here."""

import numpy as np
import pytest
import torch
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from torch import nn

from neuroalign.errors import AlignmentError, ConfigError, DataError, UnknownNameError
from neuroalign.metamers.activation_matching import null_distribution
from neuroalign.metamers.validity import activations_at, metamer_validity

N = 8


def _net(seed=0):
    torch.manual_seed(seed)
    net = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 8 * 8, 3))
    for p in net.parameters():
        p.requires_grad_(False)
    return net.eval()


@pytest.fixture(scope="module")
def setup():
    torch.set_num_threads(1)
    net = _net()
    g = torch.Generator().manual_seed(0)
    naturals = torch.rand(N, 1, 8, 8, generator=g)
    labels = net(naturals).argmax(1).numpy()
    close = (naturals + 0.01 * torch.randn(naturals.shape, generator=g)).clamp(0, 1)
    noise = torch.rand(N, 1, 8, 8, generator=g)
    return net, naturals, labels, close, noise


def _images(tensor, ids):
    return xr.DataArray(tensor.numpy(), dims=("presentation", "channel", "row", "col"),
                        coords={"stimulus_id": ("presentation", ids)})


def test_measures_and_null_against_scipy(setup):
    net, naturals, labels, close, noise = setup
    result = metamer_validity(net, "1", noise, naturals, labels, n_null=40, random_state=5)
    with torch.no_grad():
        met, nat = net[:2](noise).flatten(1).double().numpy(), net[:2](naturals).flatten(1).double().numpy()
    for i in range(N):
        row = result.isel(layer=0, seed=0, presentation=i)
        assert float(row["spearman"]) == pytest.approx(stats.spearmanr(met[i], nat[i])[0], abs=1e-10)
        assert float(row["pearson"]) == pytest.approx(stats.pearsonr(met[i], nat[i])[0], abs=1e-10)
        expected_snr = 10 * np.log10(np.linalg.norm(nat[i]) / np.linalg.norm(nat[i] - met[i]))
        assert float(row["snr_db"]) == pytest.approx(expected_snr, rel=1e-9)
    null = null_distribution(nat, n_null=40, random_state=5)
    for measure in ("spearman", "pearson", "snr_db"):
        assert result[f"{measure}_threshold"].item() == pytest.approx(float(null[measure].max()))
    expected_valid = (result["predicted_label"] == labels) & (result["spearman"] > result["spearman_threshold"]) \
        & (result["pearson"] > result["pearson_threshold"]) & (result["snr_db"] > result["snr_db_threshold"])
    np.testing.assert_array_equal(result["valid"].values, expected_valid.values)
    assert not result["valid"].values.all()  # unrelated noise does not match its target


def test_close_metamers_are_valid_and_result_layout(setup):
    net, naturals, labels, close, _ = setup
    result = metamer_validity(net, "1", close, naturals, labels, n_null=56, seed=3,
                              stimulus_ids=[f"im{i}" for i in range(N)])
    assert result["valid"].dims == ("layer", "seed", "presentation")
    assert result["layer"].values.tolist() == ["1"] and result["seed"].values.tolist() == [3]
    assert result["stimulus_id"].values.tolist() == [f"im{i}" for i in range(N)]
    np.testing.assert_array_equal(result["label"].values, labels)
    with torch.no_grad():
        np.testing.assert_array_equal(result["predicted_label"].values[0, 0], net(close).argmax(1).numpy())
    assert result["valid"].values.sum() >= N - 1
    assert set(result.attrs) >= {"neuroalign_version", "parameters", "input_hashes", "criterion", "n_null"}
    assert result.attrs["parameters"]["layer"] == "1"
    # results of layers and seeds concatenate
    other = metamer_validity(net, "0", close, naturals, labels, n_null=56, seed=4,
                             stimulus_ids=[f"im{i}" for i in range(N)])
    both = xr.concat([result, other.assign_coords(seed=[3])], dim="layer")
    assert both["valid"].shape == (2, 1, N)
    seeds = xr.concat([result, other.assign_coords(layer=["1"])], dim="seed")
    assert seeds["spearman_threshold"].shape == (1, 2)


def test_label_subset_restricts_the_choice(setup):
    net, naturals, labels, close, _ = setup
    with torch.no_grad():
        logits = net(close)
    subset = [0, 1] if not set(labels) - {0, 1} else [0, 1, 2]
    keep = np.isin(labels, subset)
    result = metamer_validity(net, "1", close[keep], naturals[keep], labels[keep], n_null=int(keep.sum()),
                              label_subset=subset)
    expected = np.asarray(subset)[logits[keep][:, subset].argmax(1).numpy()]
    np.testing.assert_array_equal(result["predicted_label"].values[0, 0], expected)
    with pytest.raises(ConfigError, match="not in label_subset"):
        metamer_validity(net, "1", close, naturals, np.full(N, 2), n_null=10, label_subset=[0, 1])


def test_a_mapping_label_subset_answers_with_the_class_of_the_top_column(setup):
    # Feather et al.'s 16-way choice: the top-ranked logit among the classes of 16 categories, answered as its
    # category; here columns 0 and 1 are class 10, column 2 is class 20
    net, naturals, _, close, _ = setup
    mapping = {0: 10, 1: 10, 2: 20}
    with torch.no_grad():
        top_met, top_nat = net(close).argmax(1).numpy(), net(naturals).argmax(1).numpy()
    truth = np.array([mapping[c] for c in top_nat])
    result = metamer_validity(net, "1", close, naturals, truth, n_null=20, label_subset=mapping)
    np.testing.assert_array_equal(result["predicted_label"].values[0, 0], [mapping[c] for c in top_met])
    assert result.attrs["parameters"]["label_subset"] == {"0": 10, "1": 10, "2": 20}
    # among columns {0, 2} only: the larger of the two logits decides
    with torch.no_grad():
        logits = net(close).numpy()
    two = metamer_validity(net, "1", close, naturals, np.where(truth == 10, 1, 2), n_null=20,
                           label_subset={0: 1, 2: 2})
    np.testing.assert_array_equal(two["predicted_label"].values[0, 0], np.where(logits[:, 0] > logits[:, 2], 1, 2))
    with pytest.raises(ConfigError, match="not in label_subset"):
        metamer_validity(net, "1", close, naturals, truth, n_null=20, label_subset={0: 10, 1: 30, 2: 40})
    with pytest.raises(ConfigError, match="at least two integer classes"):
        metamer_validity(net, "1", close, naturals, np.zeros(N, int), n_null=20, label_subset={0: 0, 1: 0})


def test_preserve_prediction_compares_with_the_models_answer_on_the_natural_image(setup):
    net, naturals, labels, close, _ = setup
    wrong = (labels + 1) % 3  # labels the model never gives: Feather et al.'s check ignores them
    by_label = metamer_validity(net, "1", close, naturals, wrong, n_null=40)
    by_prediction = metamer_validity(net, "1", close, naturals, wrong, n_null=40, preserve="prediction")
    assert not by_label["label_preserved"].values.any()
    with torch.no_grad():
        np.testing.assert_array_equal(by_prediction["natural_predicted_label"].values[0, 0],
                                      net(naturals).argmax(1).numpy())
        kept = net(close).argmax(1).numpy() == net(naturals).argmax(1).numpy()
    np.testing.assert_array_equal(by_prediction["label_preserved"].values[0, 0], kept)
    np.testing.assert_array_equal(by_prediction["label"].values, wrong)  # the label coordinate is still the label
    assert by_prediction.attrs["preserve"] == "prediction"
    # with the model's own answers as labels the two checks agree
    same = metamer_validity(net, "1", close, naturals, labels, n_null=40)
    np.testing.assert_array_equal(same["valid"].values, metamer_validity(
        net, "1", close, naturals, labels, n_null=40, preserve="prediction")["valid"].values)
    with pytest.raises(ConfigError, match="preserve"):
        metamer_validity(net, "1", close, naturals, labels, n_null=40, preserve="truth")


@settings(max_examples=8, deadline=None)
@given(st.permutations(list(range(N))))
def test_invariant_to_reordering_images_with_their_ids(setup, order):
    net, naturals, labels, close, _ = setup
    ids = np.array([f"s{i}" for i in range(N)])
    base = metamer_validity(net, "1", _images(close, ids), _images(naturals, ids), labels, n_null=20)
    o = np.asarray(order)
    moved = metamer_validity(net, "1", _images(close[o], ids[o]), _images(naturals[o], ids[o]), labels[o], n_null=20)
    # the null is drawn over image positions, so only the per-image measures are compared
    for name in ("spearman", "pearson", "snr_db", "relative_l2", "predicted_label", "label_preserved"):
        a = base[name].isel(layer=0, seed=0).values
        b = moved[name].isel(layer=0, seed=0).values
        np.testing.assert_allclose(b, a[o])
    # metamers in another order than the natural images are matched by stimulus_id
    shuffled = metamer_validity(net, "1", _images(close[o], ids[o]), _images(naturals, ids), labels, n_null=20)
    for name in ("spearman", "snr_db", "predicted_label"):
        np.testing.assert_allclose(shuffled[name].values, base[name].values)


def test_alignment_errors_name_ids(setup):
    net, naturals, labels, close, _ = setup
    ids = [f"s{i}" for i in range(N)]
    wrong = ids[:-1] + ["other"]
    with pytest.raises(AlignmentError, match=r"1 only in metamers \(e.g. \['other'\]\).*1 only in naturals"):
        metamer_validity(net, "1", _images(close, wrong), _images(naturals, ids), labels, n_null=10)
    with pytest.raises(AlignmentError, match="metamers"):
        metamer_validity(net, "1", close[:-1], naturals, labels, n_null=10)
    with pytest.raises(AlignmentError, match="labels"):
        metamer_validity(net, "1", close, naturals, labels[:-1], n_null=10)
    with pytest.raises(AlignmentError, match="repeated"):
        metamer_validity(net, "1", _images(close, ["a"] * N), _images(naturals, ids), labels, n_null=10)


def test_null_size_errors(setup):
    net, naturals, labels, close, _ = setup
    with pytest.raises(DataError, match="only 56 ordered pairs"):
        metamer_validity(net, "1", close, naturals, labels, n_null=57)
    with pytest.raises(DataError, match="needs at least 100"):
        metamer_validity(net, "1", close, naturals, labels, n_null=50, criterion=0.99)
    with pytest.raises(DataError, match="at least 2"):
        metamer_validity(net, "1", close[:1], naturals[:1], labels[:1], n_null=1)
    # a separate, larger null set lifts the limit
    g = torch.Generator().manual_seed(9)
    result = metamer_validity(net, "1", close, naturals, labels, n_null=200, criterion=0.99,
                              null_images=torch.rand(20, 1, 8, 8, generator=g))
    assert result.attrs["criterion"] == "0.99"


def test_other_errors_and_model_state(setup):
    net, naturals, labels, close, _ = setup
    with pytest.raises(UnknownNameError):
        metamer_validity(net, "fc9", close, naturals, labels, n_null=10)
    with pytest.raises(ConfigError, match="no labels"):
        metamer_validity(net, "1", close, naturals, None, n_null=10)
    with pytest.raises(DataError, match="NaN"):
        metamer_validity(net, "1", close * float("nan"), naturals, labels, n_null=10)
    flat_net = _net()  # a dead ReLU layer: every unit at zero for every image
    with torch.no_grad():
        flat_net[0].weight.zero_()
        flat_net[0].bias.fill_(-1.0)
    with pytest.raises(DataError, match="all zero"):
        metamer_validity(flat_net, "1", close, naturals, labels, n_null=10)
    net.train()
    metamer_validity(net, "1", close, naturals, labels, n_null=10)
    assert net.training  # the caller's mode is restored
    net.eval()


def test_activations_at_batches_agree(setup):
    net, naturals, *_ = setup
    whole = activations_at(net, "1", naturals)
    batched = activations_at(net, "1", naturals, batch_size=3)
    np.testing.assert_array_equal(whole, batched)
    with pytest.raises(ConfigError, match="batch_size"):
        activations_at(net, "1", naturals, batch_size=0)
