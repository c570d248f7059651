"""The triplets_rdm analysis: a study's score equals score_rdm_implied called by hand."""

from __future__ import annotations

import numpy as np
import xarray as xr

from neuroalign.compare import compute_rdm
from neuroalign.datasets.kriegeskorte2008 import load_behaviour_rdms, load_images, load_model_rdms
from neuroalign.extract import Resize, extract
from neuroalign.models import ReferenceNet
from neuroalign.pipelines.engine import run_study
from neuroalign.triplets.rdm_choices import score_rdm_implied

from ._studies import write_study


def test_rdm_implied_study_equals_the_scorer_by_hand(tmp_path, shared_data):
    study = {
        "name": "triplets", "seed": 0,
        "stimuli": {"images": {"loader": "kriegeskorte2008_images"}},
        "data": {"judgements": {"loader": "kriegeskorte2008_behaviour"},
                 "models": {"loader": "kriegeskorte2008_models"}},
        "models": {"net": {"factory": "neuroalign.models:ReferenceNet", "args": {"seed": 0},
                           "layers": ["block3", "fc"], "preprocessing": {"resize": 32}}},
        "analyses": [{"name": "triplets", "kind": "triplets_rdm", "brain": "judgements", "candidates": ["models"],
                      "model": "net", "stimuli": "images", "params": {"n_bootstrap": 20}}],
        "outputs": {"dir": str(tmp_path / "out"), "report": False},
    }
    run = run_study(write_study(tmp_path / "study.yaml", study), scheduler="synchronous", progress=False)
    got = run.scores["triplets"]

    activations = extract(ReferenceNet(seed=0), load_images(), ["block3", "fc"], preprocess=Resize(32),
                          model_name="net", progress=False)
    models = load_model_rdms()
    layers = [compute_rdm(activations[layer], "correlation") for layer in ("block3", "fc")]

    candidates = xr.concat([*(models.isel(model=i, drop=True) for i in range(8)), *layers], dim="model",
                           coords="minimal", compat="override", join="exact")
    candidates = candidates.assign_coords(model=[*map(str, models.model.values), "net.block3", "net.fc"])
    expected = score_rdm_implied(candidates, load_behaviour_rdms(), n_bootstrap=20, seed=0)
    assert list(got.values.model.values) == list(candidates.model.values)
    np.testing.assert_allclose(got.values.values, expected.values.values, rtol=0, atol=1e-12)
    np.testing.assert_allclose(got.ci[0].values, expected.ci[0].values, rtol=0, atol=1e-12)
    assert float(got.ceiling) == float(expected.ceiling)
    folder = run.out / "results" / "triplets"
    assert (folder / "figures" / "normalised.png").read_bytes()[:4] == b"\x89PNG"
    assert (folder / "rdms.nc").exists()


def test_judgements_study_equals_score_triplets_by_hand_and_keys_the_file(tmp_path):
    import pandas as pd

    from neuroalign.datasets.synthetic import make_stimuli
    from neuroalign.loaders import load_triplets
    from neuroalign.triplets.scoring import score_triplets

    from ._studies import SMALL, small_study

    stimuli = make_stimuli(SMALL["n_stimuli"], np.random.default_rng(SMALL["seed"]))
    ids = [str(i) for i in stimuli.stimulus_ids]
    rng = np.random.default_rng(1)
    rows = np.array([rng.choice(len(ids), 3, replace=False) for _ in range(300)])
    hidden = rng.normal(size=(len(ids), 4))     # choices from a hidden embedding, with softmax noise
    s = np.stack([(hidden[rows[:, a]] * hidden[rows[:, b]]).sum(1) for a, b in ((1, 2), (0, 2), (0, 1))], 1)
    odd = [rng.choice(3, p=np.exp(v) / np.exp(v).sum()) for v in s]
    table = pd.DataFrame({"image_1": [ids[i] for i in rows[:, 0]], "image_2": [ids[i] for i in rows[:, 1]],
                          "image_3": [ids[i] for i in rows[:, 2]], "choice": [ids[r[k]] for r, k in zip(rows, odd)]})
    table.to_csv(tmp_path / "judgements.csv", index=False)
    study = small_study(out=tmp_path / "out", kinds=())
    study["analyses"] = [{"name": "odd", "kind": "triplets", "model": "net", "stimuli": "synthetic",
                          "params": {"judgements": "judgements.csv", "n_bootstrap": 20}}]
    config = write_study(tmp_path / "study.yaml", study)
    run = run_study(config, scheduler="synchronous", progress=False)
    score = run.scores["odd"]
    activations = extract(ReferenceNet(seed=0), stimuli, list(score.values.layer.values), batch_size=8,
                          model_name="net", progress=False)
    judgements = load_triplets(tmp_path / "judgements.csv")
    for layer in score.values.layer.values:
        expected = score_triplets(activations[str(layer)], judgements, n_bootstrap=20, seed=0)
        assert float(score.values.sel(layer=layer)) == float(expected)
        assert float(score.ci[0].sel(layer=layer)) == float(expected.ci[0])
    table.iloc[:150].to_csv(tmp_path / "judgements.csv", index=False)   # a changed file: only scoring reruns
    again = run_study(config, scheduler="synchronous", progress=False)
    assert sorted(again.plan.tasks[k].kind for k in again.computed) == ["combine"] + ["score"] * 3
