"""``neuroalign studies list|show`` (neuroalign.cli.studies_cmd)."""

import textwrap

import pytest
import yaml

from neuroalign.cli.main import main
from neuroalign.pipelines import study_catalog

from ..cli_runner import assert_one_line_error

STUDY = textwrap.dedent("""\
    name: demo
    description: a tiny study
    stimuli: {synthetic: {loader: synthetic_stimuli}}
    data: {brain: {loader: synthetic_brain}}
    models: {reference: {factory: "neuroalign.models:ReferenceNet", layers: [fc]}}
    analyses:
      - {name: rsa, kind: rsa, model: reference, stimuli: synthetic, brain: brain}
      - {name: cka, kind: cka, model: reference, stimuli: synthetic, brain: brain}
    """)


@pytest.fixture
def bundled(tmp_path, monkeypatch):
    folder = tmp_path / "pipelines"
    folder.mkdir()
    (folder / "demo.yaml").write_text(STUDY)
    (folder / "old.yaml").write_text("out: x\n")
    monkeypatch.setattr(study_catalog, "studies_folder", lambda: folder)
    return folder


def run(capsys, *args):
    capsys.readouterr()
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_studies_list_prints_the_bundled_studies(bundled, capsys):
    code, out, _ = run(capsys, "studies", "list")
    header, row = out.strip().splitlines()
    assert code == 0 and header.split() == ["name", "description", "analyses", "path"]
    assert row.split()[0] == "demo" and "a tiny study" in row and "rsa, cka" in row and str(bundled) in row


def test_studies_list_without_studies(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(study_catalog, "studies_folder", lambda: None)
    assert run(capsys, "studies", "list")[:2] == (0, "no bundled studies found\n")


def test_studies_show_prints_the_resolved_config(bundled, capsys):
    code, out, _ = run(capsys, "studies", "show", "demo", "--set", "analyses.1.params.n_bootstrap=20")
    resolved = yaml.safe_load(out)
    assert code == 0 and resolved["analyses"][1]["params"]["n_bootstrap"] == 20
    assert resolved["analyses"][0]["params"]["n_bootstrap"] == 1000  # the kind's default, filled in


def test_studies_show_errors_are_one_line(bundled, cli, tmp_path):
    assert_one_line_error(cli("studies", "show", "dmeo", cwd=tmp_path), "unknown study 'dmeo'", "did you mean 'demo'")
    assert_one_line_error(cli("studies", "show", "demo", "--set", "analyses.0.params.n_boostrap=3", cwd=tmp_path),
                          "(--set analyses.0.params.n_boostrap=3)", "did you mean 'n_bootstrap'")


@pytest.mark.parametrize("args", [("studies", "--help"), ("studies", "list", "--help"), ("studies", "show", "--help")])
def test_help(capsys, args):
    with pytest.raises(SystemExit) as exit:
        main(list(args))
    assert exit.value.code == 0 and "studies" in capsys.readouterr().out


def test_the_real_command_lists_the_shipped_studies(cli, tmp_path):
    result = cli("studies", "list", cwd=tmp_path, real=True)
    assert result.returncode == 0, result.stderr
