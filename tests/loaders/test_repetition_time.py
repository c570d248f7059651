"""The repetition time of a NIfTI run: the argument, the BIDS sidecar, or a header TR that was really set.

nibabel gives every image it builds a 4th zoom (``pixdim[4]``) of 1.0 with no time unit, so a header that never
had a TR looks like a 1 s TR.  nilearn's ``FirstLevelModel`` never reads the header (``t_r`` is required to build a
design from events; ``first_level_from_bids`` reads the JSON sidecar).  Both of our loaders of 4D runs
(``estimate_patterns``'s ``t_r=``, ``load_roi_timeseries``'s ``repetition_time=``) read a header TR only when the
header states one: a positive 4th zoom with a time unit, or a value other than nibabel's default 1.0; otherwise
they ask for the argument, naming the image.  Every image here is a real NIfTI file written by nibabel.
"""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from neuroalign.errors import ConfigError
from neuroalign.loaders.fmri import load_roi_timeseries
from neuroalign.loaders.glm import estimate_patterns
from neuroalign.loaders.repetition_time import header_repetition_time

pytest.importorskip("nilearn")

SHAPE = (2, 2, 2)


def _write(path, *, zooms=None, units=None, n=60, seed=0):
    data = 100 + np.random.default_rng(seed).normal(size=(*SHAPE, n)).astype(np.float32)
    img = nib.Nifti1Image(data, np.eye(4))
    if zooms is not None:
        img.header.set_zooms(zooms)
    if units is not None:
        img.header.set_xyzt_units(*units)
    nib.save(img, path)
    return path


def _events():
    return pd.DataFrame({"onset": [4.0, 24.0, 44.0], "duration": 1.0, "trial_type": ["a", "b", "a"]})


def _atlas():
    labels = np.zeros(SHAPE, np.int16)
    labels[0], labels[1] = 1, 2
    return nib.Nifti1Image(labels, np.eye(4))


def test_a_header_without_a_tr_is_refused_by_the_glm_loader(tmp_path):
    path = _write(tmp_path / "run.nii.gz")  # nibabel's header: pixdim[4] = 1.0, no time unit
    assert nib.load(path).header.get_zooms()[3] == 1.0
    with pytest.raises(ConfigError, match="repetition time is unknown") as info:
        estimate_patterns(path, _events(), progress=False)
    assert info.value.source == str(path) and "t_r=" in info.value.fix
    with pytest.raises(ConfigError, match="repetition time is unknown") as info:  # the same image, in memory
        estimate_patterns(nib.load(path), _events(), progress=False)
    assert info.value.source == "run 0" and "t_r=" in info.value.fix
    result = estimate_patterns(nib.load(path), _events(), t_r=2.0, progress=False)
    assert result.patterns.attrs["repetition_time"] == 2.0


def test_a_header_without_a_tr_is_refused_by_the_roi_loader(tmp_path):
    path = _write(tmp_path / "run.nii.gz")
    with pytest.raises(ConfigError, match="repetition time is unknown") as info:
        load_roi_timeseries(path, _atlas())
    assert info.value.source == str(path) and "repetition_time=" in info.value.fix
    with pytest.raises(ConfigError, match="repetition time is unknown") as info:
        load_roi_timeseries(nib.load(path), _atlas())
    assert info.value.source == "image 0"
    ts = load_roi_timeseries(nib.load(path), _atlas(), repetition_time=2.0)
    np.testing.assert_allclose(np.diff(ts["time"].values), 2.0)


def test_a_zero_tr_and_a_3d_header_are_refused(tmp_path):
    zero = _write(tmp_path / "zero.nii.gz", zooms=(1.0, 1.0, 1.0, 0.0), units=("mm", "sec"))
    with pytest.raises(ConfigError, match="repetition time is unknown"):
        estimate_patterns(zero, _events(), progress=False)
    # a 4D image built on the header of a 3D volume: nibabel pads the zooms with 1.0
    volume = nib.Nifti1Image(np.ones(SHAPE, np.float32), np.eye(4))
    volume.header.set_xyzt_units("mm")
    data = np.asarray(nib.load(zero).dataobj)
    run = nib.Nifti1Image(data, np.eye(4), volume.header)
    nib.save(run, tmp_path / "from3d.nii.gz")
    with pytest.raises(ConfigError, match="repetition time is unknown"):
        estimate_patterns(tmp_path / "from3d.nii.gz", _events(), progress=False)


@pytest.mark.parametrize("zooms, units, expected", [
    ((1.0, 1.0, 1.0, 2.0), None, 2.0),             # a TR set without a unit: seconds, as before
    ((1.0, 1.0, 1.0, 1.0), ("mm", "sec"), 1.0),    # a real 1 s TR: the unit says it was set
    ((1.0, 1.0, 1.0, 1500.0), ("mm", "msec"), 1.5),
    ((1.0, 1.0, 1.0, 1.0), None, None),             # nibabel's default
    ((1.0, 1.0, 1.0, 0.0), ("mm", "sec"), None),
    ((1.0, 1.0, 1.0, 2.0), ("mm", "hz"), None),     # not a time
])
def test_header_repetition_time(tmp_path, zooms, units, expected):
    img = nib.load(_write(tmp_path / "run.nii.gz", zooms=zooms, units=units))
    assert header_repetition_time(img) == expected
    if expected is not None:
        result = estimate_patterns(tmp_path / "run.nii.gz", _events(), progress=False)
        assert result.patterns.attrs["repetition_time"] == pytest.approx(expected)


def test_the_sidecar_gives_the_tr_of_a_header_without_one(tmp_path):
    path = _write(tmp_path / "sub-01_task-x_bold.nii.gz")
    (tmp_path / "sub-01_task-x_bold.json").write_text(json.dumps({"RepetitionTime": 2.0}))
    assert estimate_patterns(path, _events(), progress=False).patterns.attrs["repetition_time"] == 2.0
    ts = load_roi_timeseries(path, _atlas())
    np.testing.assert_allclose(np.diff(ts["time"].values), 2.0)
