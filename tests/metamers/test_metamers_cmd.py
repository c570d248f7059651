"""``neuroalign metamers``: every output file is real, resume skips and continues work, other settings are refused,
errors are one line."""

from __future__ import annotations

import functools
import json

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from neuroalign import Score
from neuroalign.cli.main import main
from neuroalign.data import load
from neuroalign.data.io import load_group
from neuroalign.extract import load_model
from neuroalign.metamers.outputs import VALIDITY_COLUMNS
from neuroalign.metamers.synthesis import Metamer
from neuroalign.metamers.training import torch_threads

from ..cli_runner import assert_one_line_error

PNG = b"\x89PNG\r\n\x1a\n"

# A tiny classifier with a dropout layer: the command must put it in eval mode and freeze it itself.
NETS = '''
import torch
from torch import nn


class Tiny(nn.Module):
    def __init__(self, seed=0, classes=4):
        super().__init__()
        generator = torch.Generator().manual_seed(seed)
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.relu = nn.ReLU()
        self.pool = nn.MaxPool2d(2)
        self.drop = nn.Dropout(0.5)
        self.fc = nn.Linear(4 * 4 * 4, classes)
        with torch.no_grad():
            for p in self.parameters():
                p.copy_(torch.randn(p.shape, generator=generator) * 0.5)

    def forward(self, x):
        return self.fc(self.drop(self.pool(self.relu(self.conv(x))).flatten(1)))


def features(seed=0):
    return nn.Conv2d(1, 2, 3)
'''

N = 8


@pytest.fixture
def workdir(tmp_path):
    """nets.py, a folder of 8×8 grey PNGs listed in stimuli.csv (with a label column), and images.npy."""
    (tmp_path / "nets.py").write_text(NETS)
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (N, 8, 8), dtype=np.uint8)
    (tmp_path / "png").mkdir()
    for i, image in enumerate(pixels):
        Image.fromarray(image).save(tmp_path / "png" / f"digit{i}.png")
    pd.DataFrame({"stimulus_id": [f"digit{i}" for i in range(N)], "path": [f"png/digit{i}.png" for i in range(N)],
                  "label": [i % 4 for i in range(N)], "name": [f"class {i % 4}" for i in range(N)]}
                 ).to_csv(tmp_path / "stimuli.csv", index=False)
    np.save(tmp_path / "images.npy", (pixels[:, None] / 255.0).astype(np.float32))
    np.save(tmp_path / "labels.npy", np.arange(N) % 4)
    return tmp_path


BASE = ("metamers", "--model", "nets.py:Tiny", "--layers", "conv,rel*", "--stimuli", "stimuli.csv",
        "--labels", "label", "--max-iter", "12", "--checkpoint-every", "5", "--n-bootstrap", "50", "--no-progress")
NPY = (*BASE, "--stimuli", "images.npy", "--labels", "labels.npy", "--layers", "relu")  # later options win


def _model():
    model = load_model("nets.py:Tiny")
    return model.eval().requires_grad_(False)


def _images(workdir):
    return torch.from_numpy(np.load(workdir / "images.npy"))


def test_help(capsys):
    with pytest.raises(SystemExit) as info:
        main(["metamers", "--help"])
    assert info.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "usage: neuroalign metamers" in text and "frozen (requires_grad_(False)) by the command" in text
    assert "Default: the generating model's predictions" in text and "[0, 1]" in text


def test_outputs_are_real(cli, workdir):
    result = cli(*BASE, "--observer", "other=nets.py:Tiny,seed=1", "--knn-train", "stimuli.csv",
                 "--knn-labels", "label", "--knn-neighbors", "1", "--out", "out", cwd=workdir)
    assert result.returncode == 0, result.stderr
    out = workdir / "out"
    for name in ("metamers.png", "recognisability.png", "images/conv.png", "images/relu.png",
                 "images/relu/seed0/digit3.png"):
        assert (out / name).read_bytes()[:8] == PNG, name
    assert np.asarray(Image.open(out / "images/relu/seed0/digit3.png")).shape == (8, 8)
    assert not (out / "checkpoints").exists()  # removed once every layer is done

    # the metamers are what the Python API gives for the same settings (the command's checkpointed chunks
    # of 5 steps change nothing), and the files load with neuroalign.data
    model, images = _model(), _images(workdir)
    ids = [f"digit{i}" for i in range(N)]
    for layer in ("conv", "relu"):
        synthesis = load(out / "metamers" / layer / "seed0.nc")
        with torch_threads(1):  # as the command (--threads 1): float32 results depend on the thread count
            expected = Metamer(model, layer, images, random_state=0, stimulus_ids=ids).synthesize(12, progress=False)
        np.testing.assert_array_equal(synthesis["metamer"].values, expected.metamer.numpy())
        np.testing.assert_array_equal(synthesis["loss"].values, expected.losses.numpy())
        assert synthesis["stimulus_id"].values.tolist() == ids and synthesis.attrs["run_key"]
        assert synthesis["label"].values.tolist() == [i % 4 for i in range(N)]

    # validity.csv: one row per layer × seed × stimulus, its verdict follows from its own columns
    table = pd.read_csv(out / "validity.csv", dtype={"stimulus_id": str})
    assert list(table.columns) == list(VALIDITY_COLUMNS) and len(table) == 2 * N
    assert table.groupby("layer")["spearman_threshold"].nunique().eq(1).all()
    verdict = table["label_preserved"] & (table["spearman"] > table["spearman_threshold"]) \
        & (table["pearson"] > table["pearson_threshold"]) & (table["snr_db"] > table["snr_db_threshold"])
    assert (verdict == table["valid"]).all()
    stored = load_group(out / "metamers" / "relu" / "seed0.nc", "validity")
    np.testing.assert_array_equal(stored["valid"].values.ravel(), table.loc[table.layer == "relu", "valid"].values)
    with torch.no_grad():
        predicted = model(images).argmax(1).numpy()
    np.testing.assert_array_equal(table.loc[table.layer == "conv", "label"], [i % 4 for i in range(N)])

    # recognisability: the csv, the saved Score, and the generator's accuracy on the natural images
    frame = pd.read_csv(out / "recognisability.csv")
    assert list(frame.columns) == ["metric", "generator", "layer", "observer", "score", "error", "ci_low", "ci_high",
                                   "n_images", "chance"]
    assert set(frame["observer"]) == {"Tiny", "other", "pixel-knn"} and frame["chance"].eq(0.25).all()
    score = Score.load(out / "recognisability.nc")
    assert score.values.sel(layer="natural", observer="Tiny").item() == pytest.approx(
        np.mean(predicted == np.arange(N) % 4))
    assert score.values.sel(layer="natural", observer="pixel-knn").item() == 1.0  # 1-NN of its own training set
    natural = frame[(frame.layer == "natural") & (frame.observer == "Tiny")]
    assert natural["score"].item() == pytest.approx(score.values.sel(layer="natural", observer="Tiny").item())
    provenance = json.loads((out / "provenance.json").read_text())
    assert provenance["status"] == "complete" and provenance["labels"] == "label"
    assert provenance["layers"] == ["conv", "relu"] and provenance["settings"]["n_null"] == N * (N - 1)
    assert provenance["provenance"]["neuroalign_version"] and set(provenance["provenance"]["input_hashes"]) == {
        "images", "labels"}


def test_rerun_reads_back_and_an_interrupted_layer_resumes(cli, workdir, monkeypatch):
    args = NPY
    assert cli(*args, "--out", "whole", cwd=workdir).returncode == 0
    done = workdir / "whole" / "metamers" / "relu" / "seed0.nc"
    before = done.stat().st_mtime_ns

    # rerun: nothing is synthesised again
    def refuse(*args, **kwargs):
        raise AssertionError("synthesize called on a rerun")

    with monkeypatch.context() as patch:
        patch.setattr(Metamer, "synthesize", refuse)
        result = cli(*args, "--out", "whole", cwd=workdir)
    assert result.returncode == 0, result.stderr
    assert done.stat().st_mtime_ns == before

    # an interrupted run (stopped after its first checkpoint) resumes to the same metamers
    save = Metamer.save

    def save_then_stop(self, path):
        save(self, path)
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr(Metamer, "save", save_then_stop)
        assert cli(*args, "--out", "cut", cwd=workdir).returncode == 130
    checkpoint = workdir / "cut" / "checkpoints" / "relu" / "seed0.pt"
    assert checkpoint.is_file() and not (workdir / "cut" / "metamers").exists()
    assert Metamer.load(checkpoint, _model()).n_iter == 5
    assert cli(*args, "--out", "cut", cwd=workdir).returncode == 0
    resumed, whole = load(workdir / "cut" / "metamers" / "relu" / "seed0.nc"), load(done)
    np.testing.assert_array_equal(resumed["metamer"].values, whole["metamer"].values)
    np.testing.assert_array_equal(resumed["loss"].values, whole["loss"].values)
    assert not checkpoint.exists()


def test_other_settings_are_refused_until_overwrite(cli, workdir):
    args = (*NPY, "--out", "out")
    assert cli(*args, cwd=workdir).returncode == 0
    changed = [a if a != "12" else "10" for a in args]  # --max-iter 10
    assert_one_line_error(cli(*changed, cwd=workdir), "other settings", "max_iter", "--overwrite")
    (workdir / "out" / "notes.txt").write_text("mine")
    assert cli(*changed, "--overwrite", cwd=workdir).returncode == 0
    assert load(workdir / "out" / "metamers" / "relu" / "seed0.nc").sizes["step"] == 10
    assert (workdir / "out" / "notes.txt").read_text() == "mine"  # only the command's own files are replaced
    (workdir / "foreign").mkdir()
    (workdir / "foreign" / "data.csv").write_text("x")
    assert_one_line_error(cli(*args[:-1], "foreign", cwd=workdir), "not a metamers run")


def test_feather_preset_and_several_seeds(cli, workdir):
    # labels from a table matched by stimulus_id (in another order, with a row of a stimulus not used)
    pd.DataFrame({"stimulus_id": [str(i) for i in range(N, -1, -1)], "label": [i % 4 for i in range(N, -1, -1)]}
                 ).to_csv(workdir / "labels.csv", index=False)
    result = cli(*NPY, "--labels", "labels.csv", "--preset", "feather2023", "--max-iter", "8",
                 "--n-passes", "2", "--n-seeds", "2", "--out", "out", cwd=workdir)
    assert result.returncode == 0, result.stderr
    from neuroalign.metamers.steps import HalvingScheduler

    schedule = functools.partial(HalvingScheduler, steps_per_pass=4, n_passes=2)
    model, images = _model(), _images(workdir)
    for seed in (0, 1):
        with torch_threads(1):
            expected = Metamer(model, "relu", images, preset="feather2023", scheduler=schedule, random_state=seed,
                               stimulus_ids=[str(i) for i in range(N)]).synthesize(8, progress=False)
        stored = load(workdir / "out" / "metamers" / "relu" / f"seed{seed}.nc")
        np.testing.assert_array_equal(stored["metamer"].values, expected.metamer.numpy())
    table = pd.read_csv(workdir / "out" / "validity.csv")
    assert table["seed"].tolist() == [0] * N + [1] * N and table["label"].tolist() == [i % 4 for i in range(N)] * 2
    frame = pd.read_csv(workdir / "out" / "recognisability.csv")
    n_valid = int(table["valid"].sum())
    if n_valid:  # the seeds' valid metamers are pooled per layer
        assert frame.loc[frame.layer == "relu", "n_images"].iloc[0] == n_valid


@pytest.mark.parametrize("extra, fragments", [
    (("--model", "missing.py:Tiny"), ("missing.py", "not found")),
    (("--weights", "nowhere.pt"), ("nowhere.pt", "not found")),
    (("--layers", "rleu"), ("rleu", "did you mean 'relu'")),
    (("--stimuli", "loud.npy"), ("outside allowed_range",)),
    (("--observer", "nets.py:Tiny"), ("--observer", "NAME=SPEC")),
    (("--observer", "a=nets.py:Tiny,weights"), ("--observer", "not KEY=VALUE")),
    (("--labels", "digit"), ("--labels", "'digit'")),
    (("--labels", "none.npy"), ("none.npy", "file not found")),
    (("--labels", "name"), ("--labels", "not whole numbers")),
    (("--labels", "big.npy"), ("--labels", "[7]", "4 logit columns")),
    (("--observer", "Tiny=nets.py:Tiny"), ("--observer", "'Tiny' is taken")),
    (("--n-null", "1000"), ("--n-null", "56 ordered pairs")),
    (("--criterion", "0.99"), ("--criterion", "needs 100")),
    (("--preset", "feather2023", "--max-iter", "10", "--n-passes", "3"), ("--max-iter", "multiple of --n-passes")),
    (("--knn-train", "stimuli.csv"), ("--knn-labels",)),
    (("--model", "nets.py:features"), ("--model", "not logits")),
    (("--label-subset", "1,9"), ("--label-subset", "4 logits")),
])
def test_errors_are_one_line(cli, workdir, extra, fragments):
    np.save(workdir / "loud.npy", np.full((3, 1, 8, 8), 2.0, dtype=np.float32))
    np.save(workdir / "big.npy", np.full(N, 7))
    result = cli(*BASE, *extra, "--out", "out", cwd=workdir)
    assert_one_line_error(result, *fragments)
    assert not (workdir / "out" / "metamers").exists()


@pytest.mark.slow
def test_a_subprocess_error_is_one_line(cli, workdir):
    result = cli(*BASE, "--layers", "nope", "--out", "out", cwd=workdir, real=True)
    assert_one_line_error(result, "nope")


def test_options_are_checked_before_torch_is_imported(tmp_path):
    import subprocess
    import sys

    code = ("import sys; from neuroalign.cli.main import main; status = main(sys.argv[1:]); "
            "print(status, 'torch' in sys.modules)")
    argv = ["metamers", "--model", "nets.py:Tiny", "--layers", "relu", "--stimuli", "images.npy", "--out", "out",
            "--preset", "feather2023", "--max-iter", "10", "--n-passes", "3"]
    result = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, timeout=120,
                            cwd=tmp_path)
    assert result.stdout.strip() == "2 False", result.stderr
    assert result.stderr.count("\n") == 1 and "multiple of --n-passes" in result.stderr
