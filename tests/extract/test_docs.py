import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def python_blocks(page):
    return re.findall(r"```python\n(.*?)```", (REPO / "docs" / page).read_text(), re.S)


def test_the_tutorial_runs_and_draws_the_rdm(shared_data, tmp_path, monkeypatch, capsys):
    tutorial = next(block for block in python_blocks("extract.md") if "savefig" in block)
    monkeypatch.setenv("NEUROALIGN_DATA", str(shared_data))
    monkeypatch.chdir(tmp_path)
    exec(compile(tutorial, "docs/extract.md", "exec"), {"__name__": "tutorial"})
    png = tmp_path / "neuroalign-figures" / "extract-rdm-92.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    out = capsys.readouterr().out
    # the outputs printed in the tutorial's comments are the ones it prints
    assert "StimulusSet(92 array stimuli, metadata: category)" in out
    assert "'block4': (92, 1024)" in out and "ReferenceNet.block1.17 0 1" in out
    assert (REPO / "docs" / "img" / "extract-rdm-92.png").exists()


def test_layer_selection_examples_print_what_they_say():
    from neuroalign.extract import leaf_modules, resolve_layers
    from neuroalign.models import ReferenceNet

    text = (REPO / "docs" / "extract.md").read_text()
    assert "resolve_layers(ReferenceNet(), \"block*\")       # ['block1', 'block2', 'block3', 'block4']" in text
    assert resolve_layers(ReferenceNet(), "block*") == ["block1", "block2", "block3", "block4"]
    leaves = resolve_layers(ReferenceNet(), leaf_modules)
    assert leaves[:2] == ["block1.0", "block1.1"] and leaves[-1] == "readout"
