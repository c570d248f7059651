"""The tutorial of docs/compare-cka.md runs and prints what the page shows."""

import contextlib
import io
import re
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[2] / "docs" / "compare-cka.md"


@pytest.mark.slow
def test_tutorial_code_prints_the_documented_output(tmp_path, monkeypatch):
    text = DOC.read_text()
    code = re.search(r"```python\n(.*?)```", text, re.S).group(1)
    documented = re.search(r"Output:\n\n```\n(.*?)```", text, re.S).group(1)
    monkeypatch.chdir(tmp_path)  # the figure goes to ./neuroalign-figures
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(code, str(DOC), "exec"), {})

    def lines(s):
        return [line.rstrip() for line in s.strip().splitlines()]

    assert lines(printed.getvalue()) == lines(documented)
    assert (tmp_path / "neuroalign-figures" / "cka-referencenet-seeds.png").stat().st_size > 10_000
