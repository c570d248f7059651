"""Alignment losses: gradients (torch.autograd.gradcheck, float64), values equal to neuroalign.compare's CKA and
RSA (sign convention: loss = 1 − similarity), invariances (hypothesis) and named errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import ortho_group

from neuroalign.alignment.losses import (ALIGNMENT_LOSSES, DebiasedCKALoss, LinearCKALoss, RBFCKALoss,
                                         RDMCorrelationLoss, make_alignment_loss)
from neuroalign.compare import cka, compare_rdms, compute_rdm
from neuroalign.errors import ConfigError, DataError, UnknownNameError

#: loss, and the keyword arguments of neuroalign.compare.cka that give the same similarity
CKA_CASES = [
    (LinearCKALoss(), {}),
    (LinearCKALoss(debiased=True), {"debiased": True}),
    (RBFCKALoss(threshold=0.5), {"kernel": "rbf", "threshold": 0.5}),
    (RBFCKALoss(threshold=1.3, debiased=True), {"kernel": "rbf", "threshold": 1.3, "debiased": True}),
    (DebiasedCKALoss(), {"debiased": True}),
    (DebiasedCKALoss("rbf", threshold=0.8), {"kernel": "rbf", "threshold": 0.8, "debiased": True}),
]
ALL_LOSSES = [case[0] for case in CKA_CASES] + [RDMCorrelationLoss()]


def _pair(seed: int, n: int = 10, p: int = 5, q: int = 4):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, p, dtype=torch.float64, generator=g)
    y = torch.randn(n, q, dtype=torch.float64, generator=g) + 0.5 * x[:, :1]
    return x, y


def _labelled(values: np.ndarray) -> xr.DataArray:
    n, p = values.shape
    return xr.DataArray(values, dims=("presentation", "neuroid"),
                        coords={"stimulus_id": ("presentation", [f"s{i}" for i in range(n)]),
                                "neuroid_id": ("neuroid", [f"n{j}" for j in range(p)])})


@pytest.mark.parametrize("loss", ALL_LOSSES, ids=repr)
def test_gradcheck_float64_both_sides(loss):
    torch.set_num_threads(1)
    x, y = _pair(0)
    x.requires_grad_(True)
    y.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda a, b: loss(a, b), (x, y))
    # a (batch, channel, row, col) activation is flattened per stimulus
    z = torch.randn(8, 2, 2, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(1), requires_grad=True)
    assert torch.autograd.gradcheck(lambda a: loss(a, y.detach()[:8]), (z,))


@pytest.mark.parametrize("loss,options", CKA_CASES, ids=lambda v: repr(v) if isinstance(v, torch.nn.Module) else "")
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_cka_losses_equal_one_minus_compare_cka(loss, options, seed):
    x, y = _pair(seed, n=30, p=7, q=12)
    expected = 1.0 - cka(x.numpy(), y.numpy(), **options)
    assert abs(float(loss(x, y)) - expected) < 1e-10
    assert abs(float(loss.similarity(x, y)) - (1.0 - expected)) < 1e-10


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_rdm_loss_equals_one_minus_compare_rdms_pearson_of_correlation_rdms(seed):
    x, y = _pair(seed, n=25, p=9, q=6)
    r = float(compare_rdms(compute_rdm(_labelled(x.numpy()), method="correlation"),
                           compute_rdm(_labelled(y.numpy()), method="correlation"), method="pearson"))
    assert abs(float(RDMCorrelationLoss()(x, y)) - (1.0 - r)) < 1e-10


def test_target_may_be_brain_rows_as_array_or_dataarray_float32_activations():
    x, y = _pair(3, n=20)
    brain = _labelled(y.numpy())
    expected = 1.0 - cka(x.numpy(), y.numpy())
    assert abs(float(LinearCKALoss()(x, brain)) - expected) < 1e-10
    assert abs(float(LinearCKALoss()(x, y.numpy())) - expected) < 1e-10
    value = LinearCKALoss()(x.float(), brain)  # the target is cast to the activations' dtype
    assert value.dtype == torch.float32 and abs(float(value) - expected) < 1e-5


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**16), scale=st.floats(1e-3, 1e3), shift=st.floats(-10, 10))
def test_invariances(seed, scale, shift):
    """CKA losses are invariant to an orthogonal transform, isotropic scaling and translation of either side;
    the RDM loss to scaling and shifting all features, and permuting features."""
    x, y = _pair(seed, n=12, p=6, q=5)
    q = torch.as_tensor(ortho_group.rvs(6, random_state=seed))
    moved = scale * (x @ q) + shift
    for loss in ALL_LOSSES[:-1]:
        assert abs(float(loss(moved, y)) - float(loss(x, y))) < 1e-9
        assert abs(float(loss(x, y)) - float(loss(y, x))) < 1e-9  # symmetric
    rdm = RDMCorrelationLoss()
    permuted = scale * x[:, torch.randperm(6, generator=torch.Generator().manual_seed(seed))] + shift
    assert abs(float(rdm(permuted, y)) - float(rdm(x, y))) < 1e-9
    for loss in ALL_LOSSES:
        assert abs(float(loss(x, 2.0 * x + 1.0))) < 1e-9  # a representation aligned with itself: loss 0


def test_minimising_the_loss_aligns_a_free_representation():
    torch.set_num_threads(1)
    x, y = _pair(4, n=40, p=6, q=6)
    free = torch.randn(40, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(9), requires_grad=True)
    loss = LinearCKALoss()
    before = loss(free, y).item()
    optimizer = torch.optim.Adam([free], lr=0.05)
    for _ in range(200):
        optimizer.zero_grad()
        loss(free, y).backward()
        optimizer.step()
    assert loss(free, y).item() < 0.05 < before


def test_errors():
    x, y = _pair(0)
    with pytest.raises(DataError, match="stimuli"):
        LinearCKALoss()(x, y[:8])
    with pytest.raises(DataError, match="at least 4"):
        LinearCKALoss()(x[:3], y[:3])
    with pytest.raises(DataError, match="constant"):
        LinearCKALoss()(torch.ones_like(x), y)
    with pytest.raises(DataError, match="NaN"):
        RBFCKALoss()(x, y * float("nan"))
    with pytest.raises(DataError, match="constant"):
        RDMCorrelationLoss()(torch.ones_like(x), y)
    with pytest.raises(DataError, match="shape"):
        LinearCKALoss()(x[:, 0], y)
    with pytest.raises(ConfigError, match="threshold"):
        RBFCKALoss(threshold=0)
    with pytest.raises(UnknownNameError, match="linear_cka"):
        make_alignment_loss("cka")
    with pytest.raises(UnknownNameError):
        DebiasedCKALoss(kernel="poly")
    with pytest.raises(ConfigError, match="loss_options|bad options"):
        make_alignment_loss("linear_cka", threshold=1.0)
    assert sorted(ALIGNMENT_LOSSES) == ["debiased_cka", "linear_cka", "rbf_cka", "rdm_correlation"]
    assert isinstance(make_alignment_loss("debiased_cka", kernel="rbf"), DebiasedCKALoss)
