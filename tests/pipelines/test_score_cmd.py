"""``neuroalign score`` and ``neuroalign benchmarks list``: scores equal the comparison functions called by hand."""

from __future__ import annotations

import numpy as np
import pytest

from neuroalign.cli.main import main
from neuroalign.pipelines.registry import BENCHMARKS
from neuroalign.score import Score

from ..cli_runner import assert_one_line_error


def test_benchmarks_list_prints_every_benchmark(capsys):
    assert main(["benchmarks", "list"]) == 0
    out = capsys.readouterr().out
    header, *rows = out.split("\n\nmodels:")[0].splitlines()
    assert header.split()[:5] == ["name", "data", "metric", "ceiling", "citation"]
    assert [row.split()[0] for row in rows] == list(BENCHMARKS)
    assert "Kriegeskorte et al. (2008)" in out and "reference-net (neuroalign.models:ReferenceNet" in out


@pytest.mark.slow
def test_the_kriegeskorte_benchmark_equals_evaluate_models_by_hand(tmp_path, monkeypatch, capsys):
    from neuroalign.compare import compute_rdm, evaluate_models, noise_ceiling
    from neuroalign.datasets.kriegeskorte2008 import load_hit_rdms, load_images
    from neuroalign.extract import Resize, extract
    from neuroalign.models import ReferenceNet

    monkeypatch.chdir(tmp_path)
    code = main(["score", "--model", "reference-net", "--benchmark", "kriegeskorte2008-hit-rsa", "--layers",
                 "block3,fc", "--scheduler", "synchronous", "--set", "analyses.0.params.n_bootstrap=20",
                 "--set", "analyses.0.params.pairwise_test=null", "--no-report", "--no-progress", "--out", "res"])
    assert code == 0
    out = capsys.readouterr().out
    assert "reference-net.block3" in out and "ci_low" in out and "ceiling" in out
    score = Score.load(tmp_path / "res" / "results" / "kriegeskorte2008-hit-rsa" / "score.nc")

    activations = extract(ReferenceNet(seed=0), load_images(), ["block3", "fc"], preprocess=Resize(32),
                          progress=False)
    hit = load_hit_rdms()
    layers = {f"reference-net.{layer}": compute_rdm(activations[layer], "correlation") for layer in ("block3", "fc")}
    expected = evaluate_models(layers, hit, method="tau-a", bootstrap="stimulus", n_bootstrap=20, seed=0)
    np.testing.assert_allclose(score.values.sel(model=list(layers)).values,
                               expected.values.sel(model=list(layers)).values, rtol=1e-12)
    np.testing.assert_allclose(float(score.ceiling.max()), float(noise_ceiling(hit, "tau-a").sel(bound="upper")),
                               rtol=1e-12)


def test_a_users_brain_file_on_the_synthetic_benchmark_equals_rsa_by_hand(tmp_path, monkeypatch, capsys):
    from neuroalign.compare import rsa
    from neuroalign.data import save
    from neuroalign.datasets.synthetic import make_synthetic_study
    from neuroalign.extract import extract

    study = make_synthetic_study(0, n_stimuli=16, n_subjects=2, n_voxels=20, noise_sd=0.5)
    save(study.brain, tmp_path / "mine.nc")
    monkeypatch.chdir(tmp_path)
    code = main(["score", "--model", "neuroalign.models:ReferenceNet", "--layers", "block2", "block3",
                 "--benchmark", "synthetic-planted-rsa", "--brain", "mine.nc", "--scheduler", "synchronous",
                 "--set", "stimuli.stimuli.args.n_stimuli=16", "--set", "analyses.0.params.n_bootstrap=20",
                 "--set", "analyses.0.params.n_splits=2", "--no-report", "--no-progress", "--out", "res"])
    assert code == 0
    assert "ReferenceNet on synthetic-planted-rsa" in capsys.readouterr().out
    score = Score.load(tmp_path / "res" / "results" / "synthetic-planted-rsa" / "score.nc")
    activations = extract(study.network, study.stimuli, ["block2", "block3"], progress=False)
    expected = rsa(activations, study.brain, n_bootstrap=20, n_splits=2, seed=0)
    np.testing.assert_allclose(score.values.values, expected.values.values, rtol=1e-12)
    np.testing.assert_allclose(score.ceiling.values, expected.ceiling.values, rtol=1e-12)


@pytest.mark.parametrize("args, fragments", [
    (["--model", "reference-net", "--benchmark", "kriegeskorte2008-hit-rs"],
     ["did you mean 'kriegeskorte2008-hit-rsa'"]),
    (["--model", "referencenet", "--benchmark", "synthetic-planted-rsa"], ["did you mean 'reference-net'"]),
    (["--model", "neuroalign.models:ReferenceNet", "--benchmark", "synthetic-planted-rsa"], ["--layers"]),
    (["--model", "reference-net", "--benchmark", "synthetic-planted-rsa", "--brain", "missing.nc"],
     ["--brain missing.nc", "not found"]),
    (["--model", "reference-net", "--benchmark", "synthetic-planted-rsa", "--set", "analyses.0.params.n_boot=3"],
     ["n_boot"]),
    (["--model", "reference-net"], ["--benchmark"]),
])
def test_bad_arguments_are_one_line_errors(cli, tmp_path, args, fragments):
    assert_one_line_error(cli("score", *args, "--no-progress", cwd=tmp_path), *fragments)
    assert not (tmp_path / "neuroalign-results").exists()  # nothing ran
