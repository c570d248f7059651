"""``neuroalign glm``: written NIfTI runs + events TSVs → a patterns file equal to the Python API's."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from neuroalign.data import load
from neuroalign.data.io import load_group
from neuroalign.loaders.glm import estimate_patterns
from ..cli_runner import assert_one_line_error

pytest.importorskip("nilearn")


@pytest.fixture
def files(tmp_path):
    rng = np.random.default_rng(0)
    affine = np.diag([3.0, 3.0, 3.0, 1.0])
    runs, events = [], []
    for r in (1, 2):
        img = nib.Nifti1Image((100 + rng.normal(size=(3, 3, 2, 40))).astype(np.float32), affine)
        img.header.set_zooms((3.0, 3.0, 3.0, 2.0))
        runs.append(tmp_path / f"sub-01_task-x_run-{r}_bold.nii.gz")
        nib.save(img, runs[-1])
        events.append(tmp_path / f"sub-01_task-x_run-{r}_events.tsv")
        pd.DataFrame({"onset": [4.0, 24.0, 44.0, 64.0], "duration": 1.0, "trial_type": ["a", "b", "a", "b"],
                      "stim": ["s1", "s2", "s3", "s4"]}).to_csv(events[-1], sep="\t", index=False)
    mask = np.zeros((3, 3, 2), np.uint8)
    mask[1:] = 1
    nib.save(nib.Nifti1Image(mask, affine), tmp_path / "mask.nii.gz")
    return tmp_path, runs, events


def test_glm_command_writes_the_apis_patterns_and_residuals(cli, files):
    folder, runs, events = files
    out = folder / "patterns.nc"
    result = cli("glm", "--runs", *runs, "--events", *events, "--mask", "mask.nii.gz", "--stimulus-column", "stim",
                 "--statistic", "t", "--noise-model", "ols", "--out", out, "--no-progress", cwd=folder)
    assert result.returncode == 0, result.stderr
    patterns, residuals = load(out), load_group(out, "residuals")
    expected = estimate_patterns(runs, events, mask=folder / "mask.nii.gz", stimulus_column="stim", statistic="t",
                                 noise_model="ols", progress=False)
    np.testing.assert_allclose(patterns.values, expected.patterns.values, atol=1e-12)
    assert patterns.stimulus_id.values.tolist() == ["s1", "s2", "s3", "s4"] * 2
    assert patterns.run.values.tolist() == [1] * 4 + [2] * 4 and patterns.attrs["statistic"] == "t"
    np.testing.assert_allclose(residuals.values, expected.residuals.values, atol=1e-12)


def test_glm_command_errors_are_one_line(cli, files):
    folder, runs, events = files
    result = cli("glm", "--runs", *runs, "--events", events[0], "--out", "p.nc", "--no-progress", cwd=folder)
    assert_one_line_error(result, "1 events for 2 run(s)")
    late = folder / "late_events.tsv"
    pd.DataFrame({"onset": [200.0], "duration": 1.0, "trial_type": ["a"]}).to_csv(late, sep="\t", index=False)
    result = cli("glm", "--runs", runs[0], "--events", late, "--out", "p.nc", "--no-progress", cwd=folder)
    assert_one_line_error(result, "outside the run")
    assert not (folder / "p.nc").exists()
