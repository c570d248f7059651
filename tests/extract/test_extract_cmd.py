import numpy as np
import pytest
import torch
from PIL import Image

from neuroalign.cli.main import main
from neuroalign.extract import StimulusSet, extract, image_preprocessing, open_activations
from neuroalign.models import ReferenceNet


@pytest.fixture
def folder(tmp_path, rng):
    images = tmp_path / "images"
    for category in ("faces", "places"):
        (images / category).mkdir(parents=True)
        for i in range(3):
            pixels = rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(images / category / f"{i}.png")
    return images


@pytest.mark.parametrize("argv", [["extract", "--help"], ["cache", "--help"], ["cache", "clear", "--help"]])
def test_help(argv, capsys):
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 0 and "usage: neuroalign" in capsys.readouterr().out


def test_extract_a_folder_to_a_store(folder, tmp_path, capsys):
    out = tmp_path / "acts.zarr"
    code = main(["extract", "--model", "neuroalign.models:ReferenceNet", "--model-arg", "seed=2",
                 "--stimuli", str(folder), "--layers", "block*,fc", "--resize", "32", "--crop", "32",
                 "--batch-size", "4", "--out", str(out)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "block1: 6 presentation × 4096 neuroid" in captured.out and f"wrote {out}" in captured.out
    assert "extract ReferenceNet" in captured.err  # the progress bar
    stored = open_activations(out, lazy=False)
    assert list(stored) == ["block1", "block2", "block3", "block4", "fc"]
    stimuli = StimulusSet.from_folder(folder)
    reference = extract(ReferenceNet(seed=2), stimuli, ["fc"], batch_size=4, preprocess=image_preprocessing(32, crop=32),
                        progress=False)["fc"]
    np.testing.assert_array_equal(stored["fc"].values, reference.values)
    assert stored["fc"].stimulus_id.values.tolist() == ["faces/0", "faces/1", "faces/2", "places/0", "places/1",
                                                        "places/2"]
    assert stored["fc"].folder.values.tolist() == ["faces"] * 3 + ["places"] * 3


def test_weights_projection_pooling_and_npy(tmp_path, rng, capsys):
    images = rng.normal(size=(5, 3, 32, 32)).astype(np.float32)
    np.save(tmp_path / "images.npy", images)
    torch.save(ReferenceNet(seed=9).state_dict(), tmp_path / "weights.pt")
    out = tmp_path / "acts.zarr"
    code = main(["extract", "--model", "neuroalign.models:ReferenceNet", "--weights", str(tmp_path / "weights.pt"),
                 "--stimuli", str(tmp_path / "images.npy"), "--layers", "block2,block3", "--pooling", "2x2",
                 "--project", "20", "--no-progress", "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    stored = open_activations(out, lazy=False)
    assert stored["block2"].shape == (5, 20) and stored["block2"].stimulus_id.values.tolist() == list("01234")
    from neuroalign.extract import SparseRandomProjection

    reference = extract(ReferenceNet(seed=9), StimulusSet.from_arrays(list("01234"), images), "block3",
                        pooling=(2, 2), reduce=SparseRandomProjection(20, seed=0), progress=False)["block3"]
    np.testing.assert_allclose(stored["block3"].values, reference.values, rtol=1e-5, atol=1e-6)


def test_errors_are_one_line(folder, tmp_path, capsys):
    code = main(["extract", "--model", "neuroalign.models:ReferenceNet", "--stimuli", str(folder),
                 "--layers", "blok1", "--resize", "32", "--out", str(tmp_path / "a.zarr")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.count("\n") == 0 and "did you mean 'block1'" in err
    code = main(["extract", "--model", "neuroalign.models:ReferenceNet", "--stimuli", str(tmp_path / "x.txt"),
                 "--layers", "fc", "--out", str(tmp_path / "a.zarr")])
    assert code == 2 and "cannot read stimuli" in capsys.readouterr().err
    code = main(["extract", "--model", "neuroalign.models:ReferenceNet", "--model-arg", "seed", "--stimuli",
                 str(folder), "--layers", "fc", "--out", str(tmp_path / "a.zarr")])
    assert code == 2 and "KEY=VALUE" in capsys.readouterr().err
