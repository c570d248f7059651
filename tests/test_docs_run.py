"""Every ```python block of README.md and docs/*.md runs as written.

The blocks of one page run in order in one namespace, as a reader would run
them, in a temporary working folder (so figures and files they write land
there, never in the repository), with ``NEUROALIGN_DATA`` pointing at the
real-data folder (``../shared/data`` beside the repository) and the activation
cache in the temporary folder.  One test per page; a failure names the page and
the line of the block.  Templates and signatures use a ```text fence.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("make_figures", REPO / "docs" / "make_figures.py")
make_figures = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(make_figures)

PAGES = ["README.md", *sorted(f"docs/{p.name}" for p in (REPO / "docs").glob("*.md"))]
#: pages whose blocks take more than ~30 s on the 2-core machine (two 1,000-image extractions; the full
#: MNIST metamer study; the simulated graph pretraining study)
SLOW = {"docs/compare-cka.md", "docs/metamers.md", "docs/graphs.md", "docs/spikes.md"}


def _page_params():
    return [pytest.param(page, marks=pytest.mark.slow) if page in SLOW else page for page in PAGES]


@pytest.fixture
def reader(shared_data, tmp_path, monkeypatch):
    """A reader's session: an empty working folder, the data folder set, the cache kept aside."""
    import matplotlib

    matplotlib.use("Agg")
    monkeypatch.setenv("NEUROALIGN_DATA", str(shared_data.resolve()))
    monkeypatch.setenv("NEUROALIGN_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return work


@pytest.mark.parametrize("page", _page_params())
def test_page_runs_as_written(page, reader):
    before = _repository_files()
    try:
        make_figures.run_page(REPO / page)
    except make_figures.DocBlockError as error:
        pytest.fail(f"{error}\n(run the page's blocks in order to reproduce)", pytrace=True)
    assert _repository_files() == before, f"{page} wrote into the repository"


def _repository_files() -> dict[str, int]:
    """The committed figures (with their modification times) and the entries at the top and in docs/."""
    files = {str(p.relative_to(REPO)): p.stat().st_mtime_ns for p in (REPO / "docs" / "img").iterdir()}
    files.update({str(p.relative_to(REPO)): 0 for folder in (REPO, REPO / "docs") for p in folder.iterdir()
                  if p.name not in {"__pycache__", ".pytest_cache", ".hypothesis"}})
    return files


def test_python_blocks_are_found_with_their_lines(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("# t\n\n```python\nx = 1\n```\n\n```text\nnot run\n```\n\n```python\ny = x + 1\n```\n")
    assert make_figures.python_blocks(page) == [(4, "x = 1\n"), (12, "y = x + 1\n")]
    assert make_figures.run_page(page)["y"] == 2


def test_a_failing_block_names_the_page_and_line(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("```python\nx = 1\n```\n\n```python\n\nraise ValueError('boom')\n```\n")
    with pytest.raises(make_figures.DocBlockError, match=r"page\.md: the block at line 6 raised ValueError: boom"):
        make_figures.run_page(page)


def test_every_committed_figure_has_one_maker():
    made = {name for names in make_figures.PAGE_FIGURES.values() for name in names} | {make_figures.DEMO_FIGURE,
                                                                                    make_figures.REPORT_FIGURE}
    assert made == {p.name for p in (REPO / "docs" / "img").glob("*.png")}
    for page, names in make_figures.PAGE_FIGURES.items():
        text = (REPO / "docs" / page).read_text()
        for name in names:
            assert f"img/{name}" in text  # shown on the page that draws it
            assert "docs/img" not in "".join(code for _, code in make_figures.python_blocks(REPO / "docs" / page))
    assert f"img/{make_figures.REPORT_FIGURE}" in (REPO / "docs" / "pipelines.md").read_text()


def test_make_figures_draws_a_page_s_figures_where_asked(reader, tmp_path):
    out = tmp_path / "img"
    out.mkdir()
    written = make_figures.make_page_figures("extract.md", out)
    assert [p.name for p in written] == ["extract-rdm-92.png"]
    assert written[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


WORK_LOG = re.compile(r"\b(?:first|second|third|this|last|next) session\b|\bnot met\b|\btarget (?:is )?met\b"
                      r"|post-mortem|\bwork log\b", re.I)


@pytest.mark.parametrize("page", PAGES)
def test_page_reads_as_documentation(page):
    text = (REPO / page).read_text()
    found = [f"{page}:{text.count(chr(10), 0, m.start()) + 1}: {m.group(0)!r}" for m in WORK_LOG.finditer(text)]
    assert not found, "work-log wording in the docs: " + "; ".join(found)
