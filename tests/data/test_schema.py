import numpy as np
import pandas as pd
import pytest
import xarray as xr

from neuroalign.data import create_assembly, validate, validate_dataset
from neuroalign.errors import DataError, SchemaError


def good(n=4, p=3):
    return create_assembly(np.arange(n * p, dtype=float).reshape(n, p), stimulus_id=[f"s{i}" for i in range(n)])


def test_create_assembly_builds_valid_array_with_coords():
    a = create_assembly(np.zeros((2, 3, 2)), stimulus_id=["a", "b"], dims=("presentation", "neuroid", "time_bin"),
                        time_bins=[(0, 0.1), (0.1, 0.2)], neuroid={"region": ["IT", "IT", "V4"]})
    assert a.dims == ("presentation", "neuroid", "time_bin")
    assert a.region.values.tolist() == ["IT", "IT", "V4"]
    assert a.time_bin_end.values.tolist() == [0.1, 0.2]
    assert validate(a, dims=("presentation", "neuroid", "time_bin")) is a


def test_not_a_dataarray():
    with pytest.raises(SchemaError, match="expected an xarray.DataArray"):
        validate(np.zeros((2, 2)))


def test_missing_dim_names_it():
    a = good().rename(neuroid="unit")
    with pytest.raises(SchemaError, match="dimension 'neuroid' is missing"):
        validate(a)


def test_missing_stimulus_id():
    a = good().drop_vars("stimulus_id")
    with pytest.raises(SchemaError, match="'stimulus_id' is missing") as info:
        validate(a, name="brain.nc")
    assert info.value.source == "brain.nc" and "assign_coords" in info.value.fix


def test_coord_on_wrong_dim():
    a = good(3, 3)
    a = a.drop_vars("neuroid_id").assign_coords(neuroid_id=("presentation", ["x", "y", "z"]))
    with pytest.raises(SchemaError, match="lies on dims"):
        validate(a)


def test_duplicate_neuroid_id():
    a = good().assign_coords(neuroid_id=("neuroid", ["u", "u", "v"]))
    with pytest.raises(SchemaError, match="duplicates"):
        validate(a)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nan_and_inf_are_data_errors(bad):
    a = good()
    a[1, 2] = bad
    with pytest.raises(DataError, match="first at presentation=1, neuroid=2"):
        validate(a)


def test_allow_nan_still_rejects_inf():
    a = good()
    a[0, 0] = np.nan
    assert validate(a, allow_nan=True) is a
    a[0, 1] = np.inf
    with pytest.raises(DataError, match="inf"):
        validate(a, allow_nan=True)


def test_non_numeric_dtype():
    a = xr.DataArray(np.array([["a"]]), dims=("presentation", "neuroid"),
                     coords={"stimulus_id": ("presentation", ["s"]), "neuroid_id": ("neuroid", ["n"])})
    with pytest.raises(SchemaError, match="non-numeric"):
        validate(a)


def test_multiindex_rejected():
    a = good()
    a = a.assign_coords(subject=("presentation", [1, 1, 2, 2])).set_index(presentation=["stimulus_id", "subject"])
    with pytest.raises(SchemaError, match="MultiIndex"):
        validate(a, dims=None)


def test_time_bins_must_have_positive_width():
    with pytest.raises(SchemaError, match="end before they start"):
        create_assembly(np.zeros((1, 1, 1)), stimulus_id=["a"], dims=("presentation", "neuroid", "time_bin"),
                        time_bins=[(0.2, 0.1)])


def test_time_must_increase():
    a = xr.DataArray(np.zeros((3, 1)), dims=("time", "neuroid"),
                     coords={"time": [0.0, 2.0, 1.0], "neuroid_id": ("neuroid", ["r"])})
    with pytest.raises(SchemaError, match="not strictly increasing"):
        validate(a, dims=("time", "neuroid"))


def test_wrong_label_count():
    with pytest.raises(SchemaError, match="stimulus_id has 2 entries, expected 3"):
        create_assembly(np.zeros((3, 2)), stimulus_id=["a", "b"])


def test_no_pandas_multiindex_from_create(rng):
    a = create_assembly(rng.normal(size=(5, 2)), stimulus_id=list("abcde"), presentation={"rep": [0] * 5})
    assert not any(isinstance(i, pd.MultiIndex) for i in a.indexes.values())


def trial_dataset(**extra):
    return xr.Dataset({"correct": ("trial", [1.0, np.nan, 0.0]), "response": ("trial", ["l", "n/a", "r"]),
                       **extra}, coords={"trial": [0, 1, 2], "stimulus_id": ("trial", ["a", "b", "c"])})


def test_validate_dataset_accepts_a_trial_dataset_with_text_and_nan():
    ds = trial_dataset()
    assert validate_dataset(ds, dims=("trial",)) is ds
    with pytest.raises(DataError, match="dataset:correct: 1 value"):
        validate_dataset(ds, allow_nan=False)
    with pytest.raises(SchemaError, match="dimension 'presentation' is missing"):
        validate_dataset(ds, dims=("presentation",))
    with pytest.raises(SchemaError, match="expected an xarray.DataArray, got Dataset. Fix: .*validate_dataset"):
        validate(ds)  # code that needs a DataArray keeps refusing a Dataset
    with pytest.raises(SchemaError, match="expected an xarray.Dataset, got DataArray"):
        validate_dataset(good())


def test_validate_dataset_rejects_inf_mixed_text_complex_and_canonical_problems():
    with pytest.raises(DataError, match="rt: 1 value.* inf"):
        validate_dataset(trial_dataset(rt=("trial", [0.5, np.inf, 0.4])))
    with pytest.raises(SchemaError, match="'label' mixes text with float"):
        validate_dataset(trial_dataset(label=("trial", np.array(["a", 1.5, "c"], dtype=object))))
    with pytest.raises(SchemaError, match="unsupported dtype complex"):
        validate_dataset(trial_dataset(z=("trial", np.ones(3, dtype=complex))))
    units = xr.Dataset({"rate": (("neuroid",), [1.0, 2.0])}, coords={"neuroid_id": ("neuroid", ["u", "u"])})
    with pytest.raises(SchemaError, match="neuroid_id has duplicates"):
        validate_dataset(units)
