"""write_report: scores.csv, scores.nc and a self-contained report.html of a results folder (real scores)."""

from __future__ import annotations

import base64
import shutil
import struct
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st

from neuroalign import Score
from neuroalign.errors import DependencyError, FileFormatError, NeuroalignError
from neuroalign.pipelines.demo import _ceiling_band as demo_ceiling_band
from neuroalign.pipelines.report import load_scores, read_results, save_scores, scores_table, write_report
from neuroalign.pipelines.report_figures import DPI, ceiling_band, layer_profile_png, model_comparison_png
from neuroalign.pipelines.report_html import CONTENT_SECURITY_POLICY, format_number

from .report_results import EXTRA_FIGURE_PIXELS, MALICIOUS_NAME, build_results

PNG = b"\x89PNG\r\n\x1a\n"


class Page(HTMLParser):
    """Tags with their attributes, the text of table cells and headings, and every text node."""

    def __init__(self, text: str):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []
        self.cells: list[str] = []
        self.h1: list[str] = []
        self.problems: list[str] = []
        self._open: list[str] = []
        self.feed(text)
        self.close()

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append((tag, attrs))
        if tag not in ("img", "meta", "link", "br"):
            self._open.append("problem" if attrs.get("class") == "problem" else tag)

    def handle_endtag(self, tag):
        if self._open:
            self._open.pop()

    def handle_data(self, data):
        self.text.append(data)
        where = self._open[-1] if self._open else ""
        if where == "td":
            self.cells.append(data)
        elif where == "h1":
            self.h1.append(data)
        elif where == "problem":
            self.problems.append(data)

    def images(self) -> list[bytes]:
        return [base64.b64decode(a["src"].split(",", 1)[1], validate=True) for t, a in self.tags if t == "img"]


def png_size(content: bytes) -> tuple[int, int]:
    assert content.startswith(PNG)
    assert content[12:16] == b"IHDR"
    return struct.unpack(">II", content[16:24])


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    built = build_results(tmp_path_factory.mktemp("report") / "results-folder")
    built.report = write_report(built.folder)
    built.html = built.report.read_text(encoding="utf-8")
    built.page = Page(built.html)
    return built


def test_the_report_is_written_where_expected(built):
    assert built.report == built.folder / "report.html"
    assert {p.name for p in built.folder.iterdir()} >= {"report.html", "scores.csv", "scores.nc"}
    assert not [p for p in built.folder.iterdir() if p.name.endswith(".tmp")]


def test_the_study_name_and_description_are_escaped(built):
    html, page = built.html, built.page
    assert "".join(page.h1) == MALICIOUS_NAME  # shown as text, exactly
    assert "<script" not in html.lower()
    assert not [t for t, _ in page.tags if t == "script"] and "<b>tiny" not in html  # no study text became markup
    assert "&lt;script&gt;" in html and "A &lt;b&gt;tiny&lt;/b&gt; study &amp; its report" in html
    assert "RSA &lt;layer&gt; profile" in html  # an analysis title from meta.json


def test_tables_show_every_score_with_its_ceiling_and_ci(built):
    cells = set(built.page.cells)
    for score in built.scores.values():
        frame = score.to_dataframe()
        for column in frame.columns.intersection(["score", "ceiling", "ceiled", "error", "ci_low", "ci_high"]):
            for value in frame[column]:
                assert format_number(value) in cells, (column, value)
    assert {"block1", "readout", "close", "far"} <= cells  # the dims' labels
    assert "95% confidence interval" in built.html


def test_pairwise_tests_are_listed_once_per_pair(built):
    pairwise, cells = built.pairwise, built.page.cells
    labels = [str(v) for v in pairwise.values.model.values]
    for i, a in enumerate(labels):
        for b in labels[i + 1:]:
            assert format_number(float(pairwise.values.sel(model=a, model_b=b))) in cells
            assert format_number(float(pairwise.raw["p_adjusted"].sel(model=a, model_b=b))) in cells
    assert cells.count("yes") + cells.count("no") == len(labels) * (len(labels) - 1) // 2


def test_one_embedded_png_per_figure_of_the_expected_size(built):
    images = built.page.images()
    sizes = [png_size(content) for content in images]
    assert sizes == [
        (5 * DPI, 4 * DPI),  # rsa: layer_profile_figure of one score (5 x 4 inches)
        (2 * 4 * DPI, 4 * DPI),  # rsa: two RDM panels of 4 x 4 inches
        (8 * DPI, 5 * DPI),  # models: model_comparison_figure (8 x 5 inches)
        EXTRA_FIGURE_PIXELS,  # models: figures/extra_panel.png
    ]
    assert images[3] == built.extra_png  # embedded as it is


def test_the_layer_profile_is_the_demos_figure_with_the_planted_and_committed_layers(built):
    score, committed = built.scores["rsa"], built.scores["rsa-committed"]
    embedded = built.page.images()[0]
    assert embedded == layer_profile_png(score, highlight=built.planted_layer, committed=committed)
    assert embedded != layer_profile_png(score, highlight=built.planted_layer)
    assert f"committed layer {committed.params['layer']}" in built.html


def test_the_model_bars_show_the_stored_pairwise_tests(built):
    embedded = built.page.images()[2]
    assert embedded == model_comparison_png(built.scores["models"], pairwise=built.pairwise, title="Model RDMs")


def test_ceiling_band_matches_the_demo(built):
    score = built.scores["rsa"]
    assert ceiling_band(score) == demo_ceiling_band(score)
    bounds = Score.concat([Score(0.2, ceiling=(0.3, 0.5)), Score(0.4, ceiling=(0.35, 0.6))], "layer", ["a", "b"])
    assert ceiling_band(bounds) == (0.3, 0.6)
    assert ceiling_band(Score(0.2, ceiling=0.5)) is None


def test_nothing_is_loaded_from_outside_the_page(built):
    page, html = built.page, built.html
    urls = [(t, k, v) for t, a in page.tags for k, v in a.items() if k in ("src", "href") and v is not None]
    assert urls and all(v.startswith(("data:", "#")) for _, _, v in urls), urls
    assert "http://" not in html and "https://" not in html
    assert [a.get("content") for t, a in page.tags if t == "meta" and a.get("http-equiv")] == [CONTENT_SECURITY_POLICY]
    assert not [t for t, _ in page.tags if t in ("script", "iframe", "object", "embed")]


def test_an_analysis_without_score_nc_gets_a_clear_message(built):
    problems = " ".join(built.page.problems)
    assert "no score.nc in results/cka" in problems
    assert "cka" not in set(pd.read_csv(built.folder / "scores.csv")["analysis"])


def test_provenance_and_config_are_shown(built):
    cells, html = built.page.cells, built.html
    for value in ("threads", "0884ef6f79ee990f272f4666043da5f0", "feedc0ffee", "9", "3", "12.5 s", "x<y"):
        assert value in cells, value
    assert "x&lt;y" in html
    pre = built.page.text[[i for i, t in enumerate(built.page.text) if "n_bootstrap: 20" in t][0]]
    assert pre == (built.folder / "study.yaml").read_text()  # the config, verbatim once unescaped


def test_scores_csv_is_every_score(built):
    table = pd.read_csv(built.folder / "scores.csv")
    assert list(table.columns) == ["analysis", "kind", "metric", "layer", "model", "score", "ceiling", "ceiled",
                                   "error", "ci_low", "ci_high"]
    for name, kind, dim in (("rsa", "rsa", "layer"), ("models", "rsa_models", "model")):
        rows = table[table["analysis"] == name].reset_index(drop=True)
        assert set(rows["kind"]) == {kind}
        expected = built.scores[name].to_dataframe()
        got = rows[expected.columns]
        pd.testing.assert_frame_equal(got, expected, check_exact=True, check_dtype=False)
    assert table["model"].isna().sum() == 7 and table["layer"].isna().sum() == 4  # rsa-committed has no dim
    committed = table[table["analysis"] == "rsa-committed"]
    assert committed["score"].tolist() == [float(built.scores["rsa-committed"])]
    assert committed["error"].tolist() == [float(built.scores["rsa-committed"].error)]


def test_scores_nc_round_trip_is_bit_identical(built):
    loaded = load_scores(built.folder / "scores.nc")
    assert list(loaded) == ["rsa", "models", "rsa-committed"]
    for name, score in loaded.items():
        stored = Score.load(built.folder / "results" / name / "score.nc")  # what the engine wrote
        xr.testing.assert_identical(score.data, stored.data)
        xr.testing.assert_identical(score.raw, stored.raw)
        assert (score.metric, score.params, score.ci_level) == (stored.metric, stored.params, stored.ci_level)
        for field in score.data.data_vars:
            assert score.data[field].values.tobytes() == built.scores[name].data[field].values.tobytes()


@settings(max_examples=15, deadline=None)
@given(names=st.lists(st.from_regex(r"[A-Za-z0-9_.-]{1,12}", fullmatch=True), min_size=0, max_size=4, unique=True),
       values=st.lists(st.floats(-1, 1, allow_nan=False), min_size=4, max_size=4),
       raw=st.booleans())
def test_save_scores_keeps_any_names_order_and_values(tmp_path_factory, names, values, raw):
    scores = {}
    for name, value in zip(names, values):
        resamples = np.array([value - 0.1, value, value + 0.1])
        scores[name] = Score.from_resamples(value, resamples, metric=f"m-{name}", params={"name": name}) if raw \
            else Score(value, ceiling=abs(value) + 1, metric=name)
    path = save_scores(scores, tmp_path_factory.mktemp("scores") / "scores.nc")
    loaded = load_scores(path)
    assert list(loaded) == list(scores)
    for name, score in scores.items():
        xr.testing.assert_identical(loaded[name].data, score.data)
        assert loaded[name].params == score.params and loaded[name].metric == score.metric
        assert (loaded[name].raw is None) == (score.raw is None)


def test_load_scores_of_a_single_score_file_is_an_error(built):
    with pytest.raises(FileFormatError, match="does not hold a set of scores"):
        load_scores(built.folder / "results" / "rsa" / "score.nc")


def test_a_folder_that_is_not_a_results_folder_is_named(tmp_path):
    with pytest.raises(FileFormatError, match="not a results folder") as info:
        write_report(tmp_path)
    assert str(tmp_path) in str(info.value) and "no study.yaml" in str(info.value)
    with pytest.raises(FileFormatError, match="does not exist"):
        write_report(tmp_path / "nowhere")
    assert not list(tmp_path.iterdir())


def test_damaged_files_are_reported_not_fatal(built, tmp_path):
    folder = tmp_path / "copy"
    shutil.copytree(built.folder, folder)
    (folder / "provenance.json").unlink()
    score_file = folder / "results" / "models" / "score.nc"
    score_file.write_bytes(score_file.read_bytes()[:200])
    (folder / "results" / "models" / "figures" / "notes.png").write_text("not a png")
    out = write_report(folder, out=tmp_path / "elsewhere" / "r.html")
    page = Page(out.read_text())
    problems = " ".join(page.problems)
    assert "score.nc" in problems and "cannot read it" in problems
    assert "notes.png is not a PNG file" in problems
    assert "no provenance.json" in problems
    assert list(load_scores(folder / "scores.nc")) == ["rsa", "rsa-committed"]
    assert (folder / "report.html").read_bytes() == built.report.read_bytes()  # --out: the copied report is untouched


def test_read_results_follows_the_studys_order(built):
    results = read_results(built.folder)
    assert [a.name for a in results.analyses] == ["rsa", "models", "cka", "rsa-committed"]
    assert [a.x_dim for a in results.analyses] == ["layer", "model", "layer", "layer"]
    assert list(scores_table(results)["analysis"].unique()) == ["rsa", "models", "rsa-committed"]


@pytest.mark.slow
def test_the_report_renders_in_chromium(built, tmp_path):
    from matplotlib.image import imread

    from neuroalign.pipelines.report_browser import find_chromium, render_in_chromium, screenshot_report

    try:
        find_chromium()
    except DependencyError:
        pytest.skip("no Chromium to render the report: install it with apt-get install chromium")
    rendering = render_in_chromium(built.report, tmp_path / "report.png", width=1200, height=2400)
    assert rendering.console == []
    pixels = imread(rendering.screenshot)[..., :3]
    assert pixels.shape[:2] == (2400, 1200)
    assert pixels.std() > 0.05  # not blank
    assert (pixels.min(axis=-1) < 0.9).mean() > 0.02  # a fair share of the page is not white
    # the console check works: a request for an outside image is blocked and logged
    bad = tmp_path / "bad.html"
    bad.write_text(built.html.replace("</main>", '<img src="https://example.invalid/x.png"></main>'))
    assert any("Content Security Policy" in m for m in render_in_chromium(bad, tmp_path / "bad.png").console)
    # the docs' screenshot: the top of the page
    shot = screenshot_report(built.report, tmp_path / "docs" / "pipelines-report.png", width=1000)
    assert png_size(shot.read_bytes()) == (1000, 900)
    with pytest.raises(NeuroalignError, match="console message"):
        screenshot_report(bad, tmp_path / "bad2.png")


def test_without_chromium_the_error_says_how_to_install_it(monkeypatch, tmp_path):
    from neuroalign.pipelines.report_browser import find_chromium

    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("CHROMIUM", raising=False)
    with pytest.raises(DependencyError, match="apt-get install chromium"):
        find_chromium()


def test_model_bars_without_pairwise_nc_run_no_test(built, tmp_path):
    folder = tmp_path / "copy"
    shutil.copytree(built.folder, folder)
    (folder / "results" / "models" / "pairwise.nc").unlink()
    page = Page(write_report(folder).read_text())
    score = built.scores["models"]
    bars = page.images()[2]
    assert bars == model_comparison_png(score, title="Model RDMs")  # no significance lines drawn
    assert bars != model_comparison_png(score, pairwise=built.pairwise, title="Model RDMs")
    assert "Pairwise tests" not in " ".join(page.text)


def test_the_noise_ceiling_bounds_of_a_model_comparison_are_stated(built):
    bounds = built.scores["models"].raw["noise_ceiling"]
    lower, upper = (format_number(float(bounds.sel(bound=b))) for b in ("lower", "upper"))
    assert f"noise ceiling from {lower} (lower bound) to {upper} (upper bound" in " ".join(built.page.text)


def test_a_study_without_results_yet(tmp_path):
    (tmp_path / "results").mkdir()
    (tmp_path / "study.yaml").write_text("name: empty\n")
    page = Page(write_report(tmp_path).read_text())
    assert "".join(page.h1) == "empty"
    assert "declares no analyses" in " ".join(page.problems) and "no provenance.json" in " ".join(page.problems)
    assert load_scores(tmp_path / "scores.nc") == {}
    assert pd.read_csv(tmp_path / "scores.csv").empty
    assert not page.images()
