"""``neuroalign triplets score|probe|design`` on simulated judgements written as real files."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from neuroalign.cli.main import main
from neuroalign.data.io import save
from neuroalign.datasets.triplet_simulator import simulate_triplets
from neuroalign.triplets import load_transform
from neuroalign.triplets.scoring import score_triplets

from ..cli_runner import assert_one_line_error


def write_judgements(path, judgements):
    ids = judgements["stimulus_id"].values
    table = {"image_1": ids[:, 0], "image_2": ids[:, 1], "image_3": ids[:, 2],
             "choice": ids[np.arange(len(ids)), judgements["choice_index"].values]}
    if "subject" in judgements.variables:
        table = {"subject": judgements["subject"].values, **table}
    pd.DataFrame(table).to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("triplets")
    sim = simulate_triplets(40, 6, 3000, n_subjects=2, seed=0)
    save(sim.features, folder / "features.nc")
    write_judgements(folder / "judgements.csv", sim.judgements)
    return folder, sim


def test_score_prints_the_scorers_accuracy_and_ceilings(files, capsys):
    folder, sim = files
    assert main(["triplets", "score", "--features", str(folder / "features.nc"), "--judgements",
                 str(folder / "judgements.csv"), "--n-bootstrap", "50", "--out", str(folder / "score.nc")]) == 0
    printed = capsys.readouterr().out
    expected = score_triplets(sim.features, sim.judgements, n_bootstrap=50, seed=0)
    assert f"odd-one-out accuracy {float(expected):.4f}" in printed
    assert "ceiling (leave one subject out)" in printed and (folder / "score.nc").exists()


def test_probe_writes_a_transform_in_the_released_format(files, capsys):
    folder, sim = files
    out = folder / "probe.npz"
    assert main(["triplets", "probe", "--features", str(folder / "features.nc"), "--judgements",
                 str(folder / "judgements.csv"), "--folds", "2", "--lambdas", "0.1", "0.001",
                 "--validation-fraction", "0", "--out", str(out)]) == 0
    transform = load_transform(out)
    assert transform["weights"].shape == (6, 6) and np.isfinite(transform["weights"]).all()
    assert "held-out-object accuracy of the linear probe" in capsys.readouterr().out


def test_design_writes_a_table_and_a_figure(tmp_path, capsys):
    rng = np.random.default_rng(0)
    from neuroalign.data import create_assembly

    shared = rng.normal(size=(120, 8))
    low = create_assembly(shared + rng.normal(size=(120, 8)), stimulus_id=[f"im{i:03d}" for i in range(120)])
    high = create_assembly(shared + rng.normal(size=(120, 8)), stimulus_id=[f"im{i:03d}" for i in range(120)])
    save(low, tmp_path / "low.nc")
    save(high, tmp_path / "high.nc")
    assert main(["triplets", "design", "--low", str(tmp_path / "low.nc"), "--high", str(tmp_path / "high.nc"),
                 "--bins", "3", "--out", str(tmp_path / "design.csv"), "--figure", str(tmp_path / "d.png")]) == 0
    design = pd.read_csv(tmp_path / "design.csv")
    assert {"root", "image_1", "image_2", "delta_low", "delta_high"} <= set(design.columns)
    assert (tmp_path / "d.png").read_bytes()[:4] == b"\x89PNG" and "9/9 bins filled" in capsys.readouterr().out


@pytest.mark.parametrize("args, fragments", [
    (["score", "--features", "missing.nc", "--judgements", "j.csv"], ["missing.nc"]),
    (["score", "--features", "features.nc", "--judgements", "judgements.csv", "--similarity", "cos"], ["cos"]),
    (["score", "--features", "features.nc", "--judgements", "judgements.csv", "--n-bootstrap", "1"],
     ["--n-bootstrap"]),
    (["probe", "--features", "features.nc", "--judgements", "judgements.csv"], ["--out"]),
])
def test_wrong_inputs_are_one_line(cli, files, args, fragments):
    folder, _ = files
    assert_one_line_error(cli("triplets", *args, cwd=folder), *fragments)
