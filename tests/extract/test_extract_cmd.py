import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from neuroalign.cli.main import main
from neuroalign.extract import StimulusSet, extract, image_preprocessing, open_activations
from neuroalign.models import ReferenceNet

from ..cli_runner import assert_one_line_error


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


# ---------------------------------------------------------------- no tracebacks
# The cases of the issue run the real command in a subprocess; their variations run main() in this process, which
# goes through the same argument parsing and error handling.

NET_FILE = """
from pathlib import Path

import torch
from torch import nn


class Net(nn.Sequential):
    def __init__(self, seed: int = 0, width: int = 4):
        Path("factory-was-called").touch()
        torch.manual_seed(seed)
        super().__init__(nn.Conv2d(3, width, 3), nn.ReLU(), nn.Flatten())


class Broken(Net):
    def eval(self):
        raise ZeroDivisionError("a bug in the model")
"""


@pytest.fixture
def workdir(tmp_path, rng):
    (tmp_path / "mynet.py").write_text(NET_FILE)
    np.save(tmp_path / "images.npy", rng.normal(size=(5, 3, 8, 8)).astype(np.float32))
    return tmp_path


def extract_args(model="mynet.py:Net", stimuli="images.npy", out="acts.zarr"):
    return ["extract", "--model", model, "--stimuli", stimuli, "--layers", "0", "--out", out, "--no-progress"]


def manual(workdir, seed=0):
    images = torch.from_numpy(np.load(workdir / "images.npy"))
    torch.manual_seed(seed)
    conv = torch.nn.Conv2d(3, 4, 3)
    with torch.no_grad():
        return conv(images).flatten(1).numpy()


@pytest.mark.parametrize("model, real, flags", [
    ("./mynet.py:Net", True, ()),
    ("mynet.py:Net", False, ()),
    ("mynet:Net", True, ("-P",)),  # a module in the current folder, with the current folder not on sys.path
])
def test_a_model_in_a_local_file(cli, workdir, model, real, flags):
    result = cli(*extract_args(model), "--model-arg", "seed=3", cwd=workdir, real=real, flags=flags)
    assert result.returncode == 0, result.stderr
    stored = open_activations(workdir / "acts.zarr", lazy=False)["0"]
    np.testing.assert_allclose(stored.values, manual(workdir, seed=3), rtol=1e-6, atol=1e-6)
    assert stored.neuroid_id.values[0] == "Net.0.0"


def test_a_model_file_from_another_folder(cli, workdir, tmp_path_factory):
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    result = cli(*extract_args(f"{workdir / 'mynet.py'}:Net", str(workdir / "images.npy")), cwd=elsewhere)
    assert result.returncode == 0, result.stderr
    np.testing.assert_allclose(open_activations(elsewhere / "acts.zarr", lazy=False)["0"].values, manual(workdir),
                               rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("shape, dtype, fragment, real", [
    ((5,), np.float32, "shape (5,)", True),
    ((), np.float32, "shape ()", False),
    ((0, 3, 8, 8), np.float32, "shape (0, 3, 8, 8)", False),
    ((5, 2), "U3", "<U3 values, not numbers", False),
])
def test_a_badly_shaped_npy(cli, workdir, shape, dtype, fragment, real):
    np.save(workdir / "bad.npy", np.zeros(shape, dtype=dtype))
    assert_one_line_error(cli(*extract_args(stimuli="bad.npy"), cwd=workdir, real=real), "bad.npy:", fragment)
    assert not (workdir / "factory-was-called").exists()


def test_an_npy_of_python_objects_or_garbage(cli, workdir):
    np.save(workdir / "objects.npy", np.array([{"a": 1}] * 3, dtype=object), allow_pickle=True)
    assert_one_line_error(cli(*extract_args(stimuli="objects.npy"), cwd=workdir), "objects.npy:",
                          "cannot read it as a numeric .npy array")
    (workdir / "garbage.npy").write_bytes(b"\x93NUMPY garbage")
    assert_one_line_error(cli(*extract_args(stimuli="garbage.npy"), cwd=workdir), "garbage.npy:")


def test_stimuli_the_model_cannot_take(cli, workdir, rng):
    np.save(workdir / "vectors.npy", rng.normal(size=(5, 7)).astype(np.float32))
    assert_one_line_error(cli(*extract_args(stimuli="vectors.npy"), cwd=workdir), "model: the model failed",
                          "(5, 7) float32", "RuntimeError")


@pytest.mark.parametrize("arg, fragments, real", [
    ("sed=0", ["unknown model argument 'sed'", "did you mean 'seed'?"], True),
    ("seed=abc", ["model argument 'seed' must be int, got 'abc'"], True),
    ("width=1.5", ["model argument 'width' must be int, got 1.5"], False),
    ("seed", ["--model-arg 'seed' is not KEY=VALUE"], False),
])
def test_model_argument_mistakes(cli, workdir, arg, fragments, real):
    assert_one_line_error(cli(*extract_args(), "--model-arg", arg, cwd=workdir, real=real), *fragments)
    assert not (workdir / "factory-was-called").exists()


@pytest.mark.parametrize("model, fragments", [
    ("missing.py:Net", ["model file 'missing.py' not found"]),
    ("mynet.py:Nett", ["unknown attribute of mynet.py 'Nett'", "did you mean 'Net'?"]),
    ("nosuchmodule:Net", ["cannot import module 'nosuchmodule'"]),
    ("syntax.py:Net", ["importing syntax.py failed (line 1): SyntaxError"]),
    ("needs.py:Net", ["cannot import 'no_such_dependency'", "install the package"]),
    ("images.npy", ["is a file; a weights file cannot build a model by itself"]),
])
def test_model_spec_mistakes(cli, workdir, model, fragments):
    (workdir / "syntax.py").write_text("class Net(:\n")
    (workdir / "needs.py").write_text("import no_such_dependency\n")
    assert_one_line_error(cli(*extract_args(model), cwd=workdir), *fragments)


@pytest.mark.parametrize("source, fragments, real", [
    ("import sys\nsys.exit(1)\n", ["importing exits.py called sys.exit(1)", "__main__"], True),
    ("from torch import nn\n\n\ndef Net():\n    raise SystemExit('no GPU')\n",
     ["exits.py:Net called sys.exit('no GPU')", "__main__"], False),
])
def test_a_model_file_that_calls_sys_exit(cli, workdir, source, fragments, real):
    # sys.exit(1) at the top level of a training script ended the command with status 1 and no message
    (workdir / "exits.py").write_text(source)
    assert_one_line_error(cli(*extract_args("exits.py:Net"), cwd=workdir, real=real), *fragments)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
@pytest.mark.parametrize("device, fragments, real", [
    ("cuda", ["--device: cannot run on 'cuda'"], True),
    ("cuda:1", ["--device: cannot run on 'cuda:1'"], False),
    ("cdua", ["unknown torch device 'cdua'", "did you mean 'cuda'"], False),
])
def test_a_device_this_torch_cannot_use(cli, workdir, device, fragments, real):
    assert_one_line_error(cli(*extract_args(), "--device", device, cwd=workdir, real=real), *fragments)
    assert not (workdir / "factory-was-called").exists()  # checked before the model is built


def test_an_out_that_cannot_be_written(cli, workdir):
    (workdir / "file.txt").write_text("")
    assert_one_line_error(cli(*extract_args(out="file.txt/acts.zarr"), cwd=workdir, real=True), "--out",
                          "file.txt is a file, not a folder")
    assert_one_line_error(cli(*extract_args(out="file.txt"), cwd=workdir), "--out", "is a file, not a folder")
    if Path("/proc").is_dir():  # not writable, even by the superuser
        assert_one_line_error(cli(*extract_args(out="/proc/acts.zarr"), cwd=workdir), "--out", "cannot write")
    assert not (workdir / "factory-was-called").exists()


@pytest.mark.parametrize("args, fragment", [
    (["--batch-size", "0"], "argument --batch-size: must be at least 1, got 0"),
    (["--resize", "-3"], "argument --resize: must be at least 1"),
    (["--project", "x"], "argument --project: 'x' is not an integer"),
    (["--dtype", "float8"], "argument --dtype: invalid choice"),
])
def test_options_are_checked_first(cli, workdir, args, fragment):
    assert_one_line_error(cli(*extract_args(), *args, cwd=workdir), fragment)
    assert not (workdir / "factory-was-called").exists()


def test_a_bug_is_one_line_with_status_3_and_debug_shows_it(cli, workdir):
    line = assert_one_line_error(cli(*extract_args("mynet.py:Broken"), cwd=workdir, real=True),
                                 "unexpected ZeroDivisionError: a bug in the model", status=3)
    assert line.endswith("(run with --debug for the traceback)")
    debug = subprocess.run([sys.executable, "-m", "neuroalign", "--debug", *extract_args("mynet.py:Broken")],
                           cwd=workdir, capture_output=True, text=True, timeout=300)
    assert debug.returncode != 0 and "Traceback" in debug.stderr and "ZeroDivisionError" in debug.stderr
