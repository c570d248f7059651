"""The bundled studies pipelines/kriegeskorte2008-92.yaml and pipelines/task-fmri-synthetic.yaml: valid, and their
scores equal the comparison functions called by hand on the same sources."""

from __future__ import annotations

import numpy as np

from neuroalign.pipelines.engine import run_study
from neuroalign.pipelines.sources import load_data_source, load_stimuli
from neuroalign.pipelines.study_catalog import bundled_studies, find_study
from neuroalign.pipelines.study_files import load_study

SMALL_FMRI = [f"data.{region}.args.{key}" for region in ("planted", "mirror") for key in ("n_stimuli", "n_runs")]


def test_both_studies_are_bundled_and_valid():
    assert {"kriegeskorte2008-92", "task-fmri-synthetic"} <= set(bundled_studies())
    k2008 = load_study(find_study("kriegeskorte2008-92"))
    (analysis,) = k2008.analyses
    assert analysis.kind == "rsa_models" and analysis.candidates == ["models"] and analysis.model == "reference"
    assert analysis.params.method == "tau-a" and analysis.params.bootstrap == "stimulus"
    assert analysis.params.pairwise_test == "t-test" and analysis.params.n_bootstrap == 1000
    assert k2008.models["reference"].preprocessing.resize == 32
    fmri = load_study(find_study("task-fmri-synthetic"))
    assert [a.brain for a in fmri.analyses] == ["planted", "mirror"]
    planted, mirror = fmri.data["planted"].args, fmri.data["mirror"].args
    assert {**planted, "region": "mirror"} == mirror  # one simulation, two regions of it
    assert fmri.stimuli["images"].args == {"seed": planted["seed"], "n_stimuli": planted["n_stimuli"]}


def test_a_small_task_fmri_study_equals_rsa_by_hand(tmp_path):
    from neuroalign.compare import rsa
    from neuroalign.extract import extract
    from neuroalign.models import ReferenceNet

    overrides = [f"{key}={8 if key.endswith('n_stimuli') else 2}" for key in SMALL_FMRI]
    overrides += ["stimuli.images.args.n_stimuli=8", "models.reference.layers=[block1,block3]",
                  "analyses.0.params.n_bootstrap=20", "analyses.0.params.n_splits=2",
                  "analyses.1.params.n_bootstrap=20", "analyses.1.params.n_splits=2"]
    run = run_study(find_study("task-fmri-synthetic"), overrides=overrides, scheduler="synchronous",
                    out=tmp_path / "out", progress=False, report=False)
    study = run.study
    activations = extract(ReferenceNet(seed=0), load_stimuli(study.stimuli["images"].model_dump(), source="s"),
                          ["block1", "block3"], progress=False)
    for analysis in study.analyses:
        brain = load_data_source(study.data[analysis.brain].model_dump(), source=analysis.brain)
        expected = rsa(activations, brain, n_bootstrap=20, n_splits=2, seed=0)
        np.testing.assert_allclose(run.scores[analysis.name].values.values, expected.values.values, rtol=1e-12)
        np.testing.assert_allclose(run.scores[analysis.name].ceiling.values, expected.ceiling.values, rtol=1e-12)


def test_the_92_image_study_equals_evaluate_models_by_hand(tmp_path):
    from neuroalign.compare import compute_rdm, evaluate_models
    from neuroalign.datasets.kriegeskorte2008 import load_hit_rdms, load_images, load_model_rdms
    from neuroalign.extract import Resize, extract
    from neuroalign.models import ReferenceNet

    run = run_study(find_study("kriegeskorte2008-92"), overrides=["analyses.0.params.n_bootstrap=50"],
                    scheduler="synchronous", out=tmp_path / "out", progress=False, report=False)
    score = run.scores["hit-rsa"]
    activations = extract(ReferenceNet(seed=0), load_images(), ["block1", "fc"], preprocess=Resize(32), progress=False)
    models = load_model_rdms()
    candidates = {str(m): models.sel(model=m, drop=True) for m in models.model.values}
    candidates.update({f"reference.{layer}": compute_rdm(activations[layer], "correlation")
                       for layer in ("block1", "fc")})
    expected = evaluate_models(candidates, load_hit_rdms(), method="tau-a", bootstrap="stimulus", n_bootstrap=50,
                               seed=0)
    names = list(candidates)
    np.testing.assert_allclose(score.values.sel(model=names).values, expected.values.sel(model=names).values,
                               rtol=1e-12)
    assert (run.out / "results" / "hit-rsa" / "pairwise.nc").is_file()
    assert score.values.sizes["model"] == 8 + 6
