"""layer_information and information_plane on labelled arrays, and the information-plane figure.

The numbers are those of the array-level estimators (tested against their references in
test_information_binning.py, test_information_kernel.py and test_information_ksg.py); here: the
labelled interface, alignment on stimulus_id, the named errors, and the figure.
"""

from __future__ import annotations

import matplotlib
import numpy as np
import pytest
import xarray as xr

from neuroalign.data import create_assembly
from neuroalign.errors import AlignmentError, ConfigError, DataError, SchemaError, UnknownNameError
from neuroalign.geometry.information.binning import binned_information
from neuroalign.geometry.information.kernel import kde_information
from neuroalign.geometry.information.ksg import ksg_label_information, ksg_mutual_information
from neuroalign.geometry.information.layers import MI_METHODS, layer_information
from neuroalign.geometry.information.plane import information_plane

matplotlib.use("Agg")

N = 120


@pytest.fixture
def study():
    """Inputs X (presentation, channel, pixel), a layer T = tanh(X W), labels on presentation."""
    rng = np.random.default_rng(0)
    ids = [f"img{i:03d}" for i in range(N)]
    labels = rng.integers(0, 3, N)
    x = rng.normal(size=(N, 2, 4)) + labels[:, None, None]
    inputs = xr.DataArray(x, dims=("presentation", "channel", "pixel"),
                          coords={"stimulus_id": ("presentation", ids)})
    t = np.tanh(x.reshape(N, -1) @ rng.normal(size=(8, 5)) / 2)
    layer = create_assembly(t, stimulus_id=ids).assign_coords(label=("presentation", labels))
    return inputs, layer, labels, x.reshape(N, -1), t


@pytest.mark.parametrize("method", sorted(MI_METHODS))
def test_each_method_returns_the_array_estimators_values(study, method):
    inputs, layer, labels, x, t = study
    info = layer_information(layer, inputs=inputs, method=method, units="bits")
    assert info.dims == ("quantity",) and info["quantity"].values.tolist() == ["I_XT", "I_TY"]
    assert info.attrs["units"] == "bits" and info.attrs["method"] == method
    assert "input_hashes" in info.attrs and "neuroalign_version" in info.attrs
    expected = {
        "binning": lambda: binned_information(t, labels, units="bits"),
        "adaptive-binning": lambda: binned_information(t, labels, strategy="adaptive", units="bits"),
        "kde": lambda: kde_information(t, labels, units="bits"),
        "ksg": lambda: (ksg_mutual_information(x, t, units="bits"), ksg_label_information(t, labels, units="bits")),
    }[method]()
    np.testing.assert_allclose(info.values, expected, rtol=0, atol=1e-12)


def test_inputs_and_labels_are_matched_on_stimulus_id(study):
    inputs, layer, labels, _, _ = study
    order = np.random.default_rng(1).permutation(N)
    value = layer_information(layer, inputs=inputs, method="ksg")
    shuffled = layer_information(layer, inputs=inputs.isel(presentation=order), method="ksg")
    np.testing.assert_allclose(shuffled.values, value.values, atol=1e-12)
    as_array = xr.DataArray(labels[order], dims="presentation",
                            coords={"stimulus_id": ("presentation", layer.stimulus_id.values[order])})
    np.testing.assert_allclose(layer_information(layer, as_array).values, layer_information(layer).values)
    np.testing.assert_allclose(layer_information(layer, list(labels)).values, layer_information(layer).values)


def test_options_are_passed_and_checked(study):
    _, layer, labels, _, t = study
    info = layer_information(layer, method="binning", bins=4, value_range=(-1, 1))
    np.testing.assert_allclose(info.values, binned_information(t, labels, bins=4, value_range=(-1, 1)))
    assert info.attrs["parameters"]["bins"] == 4
    with pytest.raises(ConfigError, match="takes no option"):
        layer_information(layer, method="kde", bins=4)
    with pytest.raises(UnknownNameError):
        layer_information(layer, method="histogram")


def test_named_errors(study):
    inputs, layer, _, _, _ = study
    with pytest.raises(ConfigError, match="inputs"):
        layer_information(layer, method="ksg")
    other = inputs.assign_coords(stimulus_id=("presentation", [f"x{i}" for i in range(N)]))
    with pytest.raises(AlignmentError):
        layer_information(layer, inputs=other)
    with pytest.raises(ConfigError, match="no presentation coordinate 'digit'"):
        layer_information(layer, "digit")
    repeated = layer.assign_coords(stimulus_id=("presentation", ["same"] * N))
    with pytest.raises(DataError, match="repeats"):
        layer_information(repeated)
    with pytest.raises(DataError):
        layer_information(layer.where(layer > 0.9))  # NaN values
    with pytest.raises(SchemaError):
        layer_information(layer.values)
    with pytest.raises(ConfigError, match="k must be"):
        layer_information(layer, inputs=inputs, method="ksg", k=0)


def test_information_plane_stacks_epochs_and_layers(study):
    inputs, layer, _, _, _ = study
    later = layer * 3
    epochs = {1: {"h1": layer, "h2": layer ** 3}, 5: {"h1": later, "h2": later ** 3}}
    plane = information_plane(epochs, method="kde", progress=False)
    assert plane.dims == ("epoch", "layer", "quantity") and plane.shape == (2, 2, 2)
    assert plane["epoch"].values.tolist() == [1, 5] and plane["layer"].values.tolist() == ["h1", "h2"]
    np.testing.assert_allclose(plane.sel(epoch=5, layer="h2").values,
                               layer_information(later ** 3, method="kde").values)
    as_list = information_plane([epochs[1], epochs[5]], method="kde", progress=False)
    assert as_list["epoch"].values.tolist() == [0, 1]
    np.testing.assert_allclose(as_list.values, plane.values)


def test_information_plane_errors(study):
    _, layer, _, _, _ = study
    with pytest.raises(ConfigError, match="same layers"):
        information_plane([{"h1": layer}, {"h2": layer}], progress=False)
    with pytest.raises(ConfigError, match="empty"):
        information_plane([], progress=False)
    with pytest.raises(ConfigError, match="must be named"):
        information_plane([[layer]], progress=False)


def test_information_plane_figure(study):
    from neuroalign.plot.information_plane import information_plane_figure, plot_information_plane

    _, layer, _, _, _ = study
    plane = information_plane([{"h1": layer, "h2": layer * 2}, {"h1": layer * 3, "h2": layer * 4}],
                              units="bits", progress=False)
    figure = information_plane_figure(plane)
    ax = figure.axes[0]
    assert ax.get_xlabel() == "I(X;T) (bits)" and ax.get_ylabel() == "I(T;Y) (bits)"
    assert [line.get_label() for line in ax.get_lines()] == ["h1", "h2"]
    np.testing.assert_allclose(ax.get_lines()[0].get_xdata(), plane.sel(layer="h1", quantity="I_XT").values)
    with pytest.raises(ConfigError, match="epoch, layer, quantity"):
        plot_information_plane(plane.isel(epoch=0), ax)


def test_package_names_resolve_lazily_and_no_submodule_shadows_one():
    import importlib
    import pkgutil

    package = importlib.import_module("neuroalign.geometry.information")
    submodules = {info.name for info in pkgutil.iter_modules(package.__path__)}
    assert not set(package.__all__) & submodules
    for public in package.__all__:
        importlib.import_module(package._LAZY[public], package.__name__)
        value = getattr(package, public)
        assert not isinstance(value, type(package)), public
    with pytest.raises(AttributeError, match="no attribute"):
        package.no_such_name
