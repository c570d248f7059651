"""Running the ``neuroalign`` command in tests: in a subprocess, or through ``main()`` in this process."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys

from neuroalign.cli.main import main


@dataclasses.dataclass
class Result:
    returncode: int
    stderr: str
    stdout: str = ""


def make_runner(capsys, monkeypatch):
    """``run(*args, cwd=..., real=True)`` runs ``python [flags] -m neuroalign`` in a subprocess;
    ``real=False`` runs main() in this process (the same parsing and error handling, faster)."""
    def run(*args, cwd, real=False, flags=()):
        args = [str(a) for a in args]
        if real:
            done = subprocess.run([sys.executable, *flags, "-m", "neuroalign", *args], cwd=cwd,
                                  stdin=subprocess.DEVNULL, capture_output=True, text=True,
                                  env={**os.environ, "MPLBACKEND": "Agg"}, timeout=300)
            return Result(done.returncode, done.stderr, done.stdout)
        monkeypatch.chdir(cwd)
        capsys.readouterr()
        try:
            code = main(args)
        except SystemExit as exit:  # argparse
            code = exit.code
        captured = capsys.readouterr()
        return Result(code, captured.err, captured.out)

    return run


def assert_one_line_error(result, *fragments, status=2):
    """Exit ``status``, and exactly one line on stderr: no traceback, no log lines of work that started."""
    assert result.returncode == status, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert lines[0].startswith("neuroalign: error: "), lines[0]
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]
