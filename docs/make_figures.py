"""Regenerate the committed figures of ``docs/img`` from the documentation itself.

Every figure in ``docs/img`` is drawn by a tutorial: the ```python blocks of
one docs page write it into ``./neuroalign-figures`` (a folder the reader
chooses).  This script runs those pages, in order, each in a fresh temporary
working folder, and copies the figures into ``docs/img``; the demo's figure
comes from ``neuroalign demo``.  Nothing else writes into ``docs/img``.

Usage, from the repository root (``NEUROALIGN_DATA`` names the data folder;
default ``../shared/data`` beside the repository where it exists)::

    python docs/make_figures.py              # every figure
    python docs/make_figures.py compare-rsa  # the figures of one page
    python docs/make_figures.py report       # the report screenshot of docs/pipelines.md (Chromium)

The same page runner backs the doc test ``tests/test_docs_run.py``.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import sys
import tempfile
from pathlib import Path

DOCS = Path(__file__).resolve().parent
REPO = DOCS.parent
IMG = DOCS / "img"
FIGURE_FOLDER = "neuroalign-figures"

#: docs page → the committed figures its blocks draw (into ./neuroalign-figures).
PAGE_FIGURES = {
    "alignment.md": ["alignment-guidance-mnist.png"],
    "compare-cka.md": ["cka-referencenet-seeds.png"],
    "compare-encoding.md": ["encoding-layer-profile.png"],
    "compare-matching.md": ["compare-matching-mnist.png"],
    "compare-relative.md": ["relative-stitching-mnist.png"],
    "compare-rdm.md": ["rdm-92-human-monkey-it.png", "rdm-92-mds.png"],
    "compare-rsa.md": ["rsa-92-images.png"],
    "extract.md": ["extract-rdm-92.png"],
    "geometry.md": ["geometry-mnist-sparsity-codes.png", "geometry-ccgp.png"],
    "geometry-information.md": ["information-plane-mnist.png"],
    "graphs.md": ["graphs-pretraining-curve.png", "graphs-label-efficiency.png", "graphs-embedding-pca.png"],
    "graphs-simulator.md": ["graphs-simulator-subjects.png"],
    "loaders-fmri-patterns.md": ["fmri-patterns-layer-profile.png", "fmri-patterns-searchlight.png"],
    "metamers-human-data.md": ["feather2023-experiment1.png"],
    "metamers-psychometric.md": ["hd2022-psychometric.png"],
    "metamers.md": ["metamers-mnist-grid.png", "metamers-mnist-recognisability.png"],
    "spikes-masked.md": ["spikes-masked-loss.png", "spikes-masked-rates.png"],
    "spikes.md": ["spikes-lorenz-metrics.png", "spikes-lorenz-loss.png", "spikes-lorenz-rates.png"],
}
#: the demo's figure: ``neuroalign demo --seed 0`` writes it as layer_profile.png.
DEMO_FIGURE = "demo-layer-profile.png"
#: the screenshot of the demo study's report on docs/pipelines.md (needs Chromium).
REPORT_FIGURE = "pipelines-report.png"

_FENCE = re.compile(r"^```python[ \t]*\n(.*?)^```[ \t]*$", re.S | re.M)


class DocBlockError(Exception):
    """A ```python block of a docs page raised; the message names the page and the block's line."""


def python_blocks(page: str | os.PathLike) -> list[tuple[int, str]]:
    """The ```python blocks of a Markdown page as ``(line of the first code line, code)``, in order."""
    text = Path(page).read_text()
    return [(text.count("\n", 0, match.start(1)) + 1, match.group(1)) for match in _FENCE.finditer(text)]


def default_data_folder() -> Path | None:
    """``$NEUROALIGN_DATA``, else ``../shared/data`` beside the repository when it exists, else None
    (``fetch`` then uses its own default and downloads)."""
    if os.environ.get("NEUROALIGN_DATA"):
        return Path(os.environ["NEUROALIGN_DATA"])
    shared = REPO.parent / "shared" / "data"
    return shared if shared.is_dir() else None


def run_page(page: str | os.PathLike, namespace: dict | None = None) -> dict:
    """Run the ```python blocks of ``page`` in order, in one namespace, as a reader would.

    Runs in the current working folder.  Line numbers in tracebacks are the
    page's own.  Returns the namespace.

    Raises
    ------
    DocBlockError
        A block raised; chained to the original exception.
    """
    page = Path(page)
    namespace = {"__name__": "__main__"} if namespace is None else namespace
    try:
        name = str(page.resolve().relative_to(REPO))
    except ValueError:
        name = str(page)
    for line, code in python_blocks(page):
        try:
            # pad with blank lines so that tracebacks show the page's line numbers
            exec(compile("\n" * (line - 1) + code, name, "exec"), namespace)
        except Exception as exc:
            raise DocBlockError(f"{name}: the block at line {line} raised {type(exc).__name__}: {exc}") from exc
        finally:
            _close_figures()
    return namespace


def _close_figures() -> None:
    if "matplotlib.pyplot" in sys.modules:
        sys.modules["matplotlib.pyplot"].close("all")


@contextlib.contextmanager
def _working_folder(path: Path):
    before = Path.cwd()
    os.chdir(path)
    try:
        yield path
    finally:
        os.chdir(before)


def make_page_figures(page: str, destination: Path = IMG) -> list[Path]:
    """Run ``docs/<page>`` in a temporary folder and copy its committed figures to ``destination``."""
    with tempfile.TemporaryDirectory() as tmp, _working_folder(Path(tmp)):
        run_page(DOCS / page)
        written = []
        for figure in PAGE_FIGURES[page]:
            source = Path(tmp) / FIGURE_FOLDER / figure
            if not source.is_file():
                raise FileNotFoundError(f"docs/{page} did not write {FIGURE_FOLDER}/{figure}")
            written.append(Path(shutil.copyfile(source, destination / figure)))
    return written


def make_demo_figure(destination: Path = IMG) -> Path:
    """Run ``neuroalign demo --seed 0`` in a temporary folder and copy its layer profile."""
    from neuroalign.cli.main import main

    with tempfile.TemporaryDirectory() as tmp:
        status = main(["demo", "--seed", "0", "--out", str(Path(tmp) / "demo")])
        if status:
            raise RuntimeError(f"neuroalign demo exited with status {status}")
        return Path(shutil.copyfile(Path(tmp) / "demo" / "layer_profile.png", destination / DEMO_FIGURE))


def make_report_figure(destination: Path = IMG) -> Path:
    """Run the bundled demo study and screenshot the top of its report in headless Chromium."""
    from neuroalign.pipelines.engine import run_study
    from neuroalign.pipelines.report_browser import screenshot_report
    from neuroalign.pipelines.study_catalog import find_study

    with tempfile.TemporaryDirectory() as tmp:
        run = run_study(find_study("demo"), out=Path(tmp) / "demo", progress=False)
        return screenshot_report(run.report, destination / REPORT_FIGURE, width=1100, height=1300)


def main(argv: list[str] | None = None) -> int:
    """Regenerate the figures of the pages named in ``argv`` (``demo`` for the demo's; default all)."""
    import matplotlib

    matplotlib.use("Agg")
    data = default_data_folder()
    if data is not None:  # absolute, since every page runs in its own temporary folder
        os.environ["NEUROALIGN_DATA"] = str(data.resolve())
    wanted = list(argv if argv is not None else sys.argv[1:]) or [*PAGE_FIGURES, "demo", "report"]
    for name in wanted:
        page = name if name.endswith(".md") or name in ("demo", "report") else f"{name}.md"
        if page == "demo":
            paths = [make_demo_figure()]
        elif page == "report":
            paths = [make_report_figure()]
        elif page in PAGE_FIGURES:
            paths = make_page_figures(page)
        else:
            print(f"unknown page {name!r}; one of: {', '.join([*PAGE_FIGURES, 'demo', 'report'])}", file=sys.stderr)
            return 2
        for path in paths:
            print(f"wrote {path.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
