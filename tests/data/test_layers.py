import numpy as np
import pytest
import xarray as xr

from neuroalign.data import as_layer_mapping, create_assembly
from neuroalign.errors import ConfigError, NeuroalignError


def layer(name=None, n=4, p=3, seed=0):
    values = np.random.default_rng(seed).normal(size=(n, p))
    array = create_assembly(values, stimulus_id=[f"s{i}" for i in range(n)])
    return array if name is None else array.rename(name)


def test_mapping_is_kept_in_order():
    a, b = layer("a"), layer("b", seed=1)
    out = as_layer_mapping({"z": a, "y": b})
    assert list(out) == ["z", "y"]
    assert out["z"] is a and out["y"] is b


def test_single_array_named_by_attr_then_coord_then_name():
    array = layer("by_name")
    assert list(as_layer_mapping(array)) == ["by_name"]
    with_coord = array.assign_coords(layer=("neuroid", ["conv1"] * array.sizes["neuroid"]))
    assert list(as_layer_mapping(with_coord)) == ["conv1"]
    with_attr = with_coord.assign_attrs(layer="fc")
    assert list(as_layer_mapping(with_attr)) == ["fc"]
    xr.testing.assert_identical(as_layer_mapping(with_attr)["fc"], with_attr)


def test_single_unnamed_array_raises_with_fix():
    with pytest.raises(ConfigError, match="without a layer name") as info:
        as_layer_mapping(layer(), argument="model_data")
    assert info.value.source == "model_data"
    assert "{'conv1': array}" in info.value.fix


def test_array_with_layer_dim_is_split():
    stacked = xr.concat([layer("a"), layer("b", seed=1)], dim=xr.DataArray(["a", "b"], dims="layer", name="layer"))
    out = as_layer_mapping(stacked)
    assert list(out) == ["a", "b"]
    np.testing.assert_array_equal(out["b"].values, layer("b", seed=1).values)
    assert "layer" not in out["a"].dims


def test_dataset_is_a_mapping_of_layers():
    ds = xr.Dataset({"a": layer(), "b": layer(seed=1)})
    assert list(as_layer_mapping(ds)) == ["a", "b"]


@pytest.mark.parametrize("value", [[], (), [1, 2]])
def test_list_raises_naming_the_mapping_fix(value):
    with pytest.raises(ConfigError, match="must be named") as info:
        as_layer_mapping(value, argument="layers")
    assert info.value.source == "layers"
    assert "mapping" in info.value.fix


def test_list_of_named_arrays_suggests_their_names():
    with pytest.raises(ConfigError) as info:
        as_layer_mapping([layer("conv1"), layer("conv2")])
    assert "'conv1': model_data[0]" in info.value.fix


@pytest.mark.parametrize("value", [{}, {1: layer()}, {"a": np.zeros((3, 2))}, np.zeros((3, 2)), "conv1", None])
def test_other_bad_values_raise_config_error(value):
    with pytest.raises(ConfigError):
        as_layer_mapping(value)


def test_errors_are_neuroalign_errors():
    assert issubclass(ConfigError, NeuroalignError)
