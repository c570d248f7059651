"""Reading study files (neuroalign.pipelines.study_files): includes, paths, --set overrides, errors, bundled studies."""

import os
import textwrap

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from neuroalign.errors import ConfigError, FileFormatError, UnknownNameError
from neuroalign.pipelines import study_catalog
from neuroalign.pipelines.study_files import (bundled_studies, find_study, list_studies, load_study, resolved_yaml,
                                              study_from_dict, study_hash)

STUDY = """\
name: demo
seed: 0
stimuli:
  synthetic: {loader: synthetic_stimuli, args: {seed: 0}}
data:
  brain: {loader: synthetic_brain, args: {seed: 0}}
models:
  reference:
    factory: neuroalign.models:ReferenceNet
    args: {seed: 0}
    layers: [block1, block2, fc]
analyses:
  - name: rsa
    kind: rsa
    model: reference
    stimuli: synthetic
    brain: brain
    params: {n_bootstrap: 200}
"""


def write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


@pytest.fixture
def study_file(tmp_path):
    return write(tmp_path / "study.yaml", STUDY)


def edited(tmp_path, old, new, name="study.yaml"):
    assert old in STUDY
    return write(tmp_path / name, STUDY.replace(old, new))


def test_a_study_file_loads(study_file):
    study = load_study(study_file)
    assert study.name == "demo" and study.models["reference"].layers == ["block1", "block2", "fc"]
    assert study.analyses[0].params.n_bootstrap == 200 and study.analyses[0].params.seed == 0


def test_relative_paths_are_made_absolute_against_the_declaring_file(tmp_path):
    path = write(tmp_path / "cfg" / "study.yaml", """\
        name: paths
        stimuli:
          images: {folder: images}
          table: {table: ../tables/stimuli.csv}
          mine: {loader: synthetic_stimuli, args: {path: a.png, paths: [b.png, /abs/c.png], mask_path: m.nii,
                                                  folder: f, file: x.txt, name: plain, url: "http://x/y"}}
        data:
          brain: {file: brain.nc}
          absolute: {file: /data/brain.nc}
        models:
          net: {factory: nets/net.py:Net, weights: w.pt, layers: [fc]}
          installed: {factory: "neuroalign.models:ReferenceNet", layers: [fc]}
        analyses:
          - {name: rsa, kind: rsa, model: net, stimuli: images, brain: brain}
        outputs: {dir: results}
        """)
    study = load_study(path)
    base = tmp_path / "cfg"
    assert study.stimuli["images"].folder == str(base / "images")
    assert study.stimuli["table"].table == str(tmp_path / "tables" / "stimuli.csv")
    args = study.stimuli["mine"].args
    assert args["path"] == str(base / "a.png") and args["paths"] == [str(base / "b.png"), "/abs/c.png"]
    assert (args["mask_path"], args["folder"], args["file"]) == (str(base / "m.nii"), str(base / "f"),
                                                                  str(base / "x.txt"))
    assert args["name"] == "plain" and args["url"] == "http://x/y"  # not path arguments
    assert study.data["brain"].file == str(base / "brain.nc") and study.data["absolute"].file == "/data/brain.nc"
    assert study.models["net"].factory == f"{base / 'nets' / 'net.py'}:Net"
    assert study.models["net"].weights == str(base / "w.pt")
    assert study.models["installed"].factory == "neuroalign.models:ReferenceNet"
    assert study.outputs.dir == "results"  # outputs are relative to the current folder


def test_includes_merge_deep_and_the_including_file_wins(tmp_path):
    write(tmp_path / "shared" / "common.yaml", """\
        description: from common
        seed: 1
        data: {brain: {file: brain.nc}}
        """)
    write(tmp_path / "shared" / "base.yaml", """\
        include: common.yaml
        seed: 2
        stimuli: {synthetic: {loader: synthetic_stimuli, args: {seed: 0, n: 8}}}
        models:
          reference: {factory: "neuroalign.models:ReferenceNet", args: {seed: 0, width: 4}, layers: [block1, fc]}
        """)
    write(tmp_path / "other.yaml", "seed: 3\n")
    study = load_study(write(tmp_path / "study.yaml", """\
        include: [shared/base.yaml, other.yaml]
        name: merged
        stimuli: {synthetic: {args: {seed: 5}}}
        models:
          reference: {args: {seed: 1}, layers: [fc]}
        analyses: [{name: rsa, kind: rsa, model: reference, stimuli: synthetic, brain: brain}]
        """))
    assert study.description == "from common" and study.seed == 3  # later includes win over earlier ones
    assert study.stimuli["synthetic"].args == {"seed": 5, "n": 8}  # mappings merged deep
    assert study.models["reference"].args == {"seed": 1, "width": 4}
    assert study.models["reference"].layers == ["fc"]  # lists replaced
    assert study.data["brain"].file == str(tmp_path / "shared" / "brain.nc")  # the included file's own folder


@pytest.mark.parametrize("files", [{"a.yaml": "include: [b.yaml]", "b.yaml": "include: [a.yaml]"},
                                   {"a.yaml": "include: [a.yaml]"}])
def test_an_include_cycle_names_the_chain(tmp_path, files):
    for name, text in files.items():
        write(tmp_path / name, text + "\n")
    with pytest.raises(ConfigError, match="include cycle") as excinfo:
        load_study(tmp_path / "a.yaml")
    for name in files:
        assert name in excinfo.value.problem
    assert "(include" in excinfo.value.source


def test_a_missing_include_names_the_including_file(tmp_path):
    path = write(tmp_path / "study.yaml", "include: [nowhere.yaml]\n" + STUDY)
    with pytest.raises(FileFormatError, match="nowhere.yaml") as excinfo:
        load_study(path)
    assert excinfo.value.source == f"{path} (include[0])"


def test_include_must_be_a_list_of_paths(tmp_path):
    with pytest.raises(ConfigError, match="include must be a list"):
        load_study(write(tmp_path / "study.yaml", "include: {a: 1}\n" + STUDY))


@pytest.mark.parametrize("content, problem", [
    (None, "not found"), ("name: [unclosed\n", "not valid YAML"), ("- a\n- b\n", "holds a list"),
    (b"\xff\xfe\x00", "not a text file"), ("folder", "is a folder"), ("# nothing\n", "is empty"),
])
def test_unreadable_study_files(tmp_path, content, problem):
    path = tmp_path / "study.yaml"
    if content == "folder":
        path.mkdir()
    elif isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)
    with pytest.raises(FileFormatError, match=problem) as excinfo:
        load_study(path)
    assert excinfo.value.source == str(path)


def test_a_misspelt_key_names_file_and_key_path_with_close_matches(tmp_path):
    path = edited(tmp_path, "{n_bootstrap: 200}", "{n_boostrap: 200}")
    with pytest.raises(UnknownNameError) as excinfo:
        load_study(path)
    assert excinfo.value.source == f"{path} (analyses[0].params.n_boostrap)"
    assert "did you mean 'n_bootstrap'?" in excinfo.value.fix
    path = edited(tmp_path, "seed: 0\nstimuli", "sede: 0\nstimuli")
    with pytest.raises(UnknownNameError, match="did you mean 'seed'") as excinfo:
        load_study(path)
    assert excinfo.value.source == f"{path} (sede)"


def test_a_wrong_type_names_the_key_and_the_value(tmp_path):
    path = edited(tmp_path, "{n_bootstrap: 200}", "{n_bootstrap: many}")
    with pytest.raises(ConfigError) as excinfo:
        load_study(path, source="pipelines/demo.yaml")
    assert excinfo.value.source == "pipelines/demo.yaml (analyses[0].params.n_bootstrap)"
    assert "valid integer" in excinfo.value.problem and "'many'" in excinfo.value.problem
    assert "default 1000" in excinfo.value.fix


def test_an_unknown_kind_suggests_the_close_matches(tmp_path):
    path = edited(tmp_path, "kind: rsa", "kind: rsaa")
    with pytest.raises(UnknownNameError, match="unknown analysis kind 'rsaa'") as excinfo:
        load_study(path)
    assert excinfo.value.source == f"{path} (analyses[0].kind)" and "did you mean 'rsa'?" in excinfo.value.fix


def test_an_undefined_model_is_named_with_the_defined_ones(tmp_path):
    path = edited(tmp_path, "model: reference", "model: referense")
    with pytest.raises(UnknownNameError) as excinfo:
        load_study(path)
    assert excinfo.value.source == f"{path} (analyses[0].model)"
    assert "did you mean 'reference'?" in excinfo.value.fix


def test_duplicate_analysis_names(tmp_path):
    second = "\n  - {name: rsa, kind: cka, model: reference, stimuli: synthetic, brain: brain}\n"
    path = write(tmp_path / "study.yaml", STUDY + second)
    with pytest.raises(ConfigError, match="two analyses are named 'rsa'") as excinfo:
        load_study(path)
    assert excinfo.value.source == f"{path} (analyses[1].name)"


def test_a_missing_key_and_a_missing_requirement(tmp_path):
    path = edited(tmp_path, "    factory: neuroalign.models:ReferenceNet\n", "")
    with pytest.raises(ConfigError, match="required key 'factory' is missing") as excinfo:
        load_study(path)
    assert excinfo.value.source == f"{path} (models.reference.factory)"
    path = edited(tmp_path, "    brain: brain\n", "")
    with pytest.raises(ConfigError, match="kind 'rsa' needs brain") as excinfo:
        load_study(path)
    assert excinfo.value.source == f"{path} (analyses[0])" and "brain:" in excinfo.value.fix


def test_only_the_first_of_several_problems_is_raised_and_the_rest_counted(tmp_path):
    path = edited(tmp_path, "seed: 0\nstimuli", "seed: -1\ncolour: blue\nstimuli")
    with pytest.raises(ConfigError, match="1 more problem"):
        load_study(path)


# -- overrides --------------------------------------------------------------------------------------------------


def test_overrides_are_read_as_yaml(study_file):
    study = load_study(study_file, ["analyses.0.params.n_bootstrap=50", "seed=4", "models.reference.layers=[fc]",
                                    "analyses.-1.params.ceiling=null", "description=a b=c",
                                    "models.reference.preprocessing.resize=16"])
    params = study.analyses[0].params
    assert (params.n_bootstrap, params.ceiling, params.seed) == (50, None, 4)
    assert study.models["reference"].layers == ["fc"] and study.description == "a b=c"
    assert study.models["reference"].preprocessing.resize == 16  # the missing mappings are created


def test_override_paths_are_relative_to_the_current_folder(study_file, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path / "..")
    study = load_study(study_file, ["data.brain={file: mine/brain.nc}", "models.reference.weights=w.pt"])
    assert study.data["brain"].file == os.path.join(os.getcwd(), "mine", "brain.nc")
    assert study.models["reference"].weights == os.path.join(os.getcwd(), "w.pt")


@pytest.mark.parametrize("override, error, fragment", [
    ("seed", ConfigError, "malformed override"),
    ("=3", ConfigError, "malformed override"),
    ("analyses..name=x", ConfigError, "malformed override"),
    ("analyses.0.params.n_boostrap=50", UnknownNameError, "did you mean 'n_bootstrap'"),
    ("sede=1", UnknownNameError, "did you mean 'seed'"),
    ("models.refrence.batch_size=8", UnknownNameError, "did you mean 'reference'"),
    ("analyses.3.name=x", ConfigError, "is not one of its indexes"),
    ("analyses.first.name=x", ConfigError, "is not one of its indexes"),
    ("name.first=x", ConfigError, "not a mapping or list"),
    ("description=[unclosed", ConfigError, "is not YAML"),
])
def test_bad_overrides_name_themselves(study_file, override, error, fragment):
    with pytest.raises(error, match=fragment) as excinfo:
        load_study(study_file, [override])
    assert override in excinfo.value.source and str(study_file) in excinfo.value.source


def test_an_override_of_the_wrong_type_says_it_came_from_the_override(study_file):
    with pytest.raises(ConfigError, match=r"set by --set analyses.0.params.n_bootstrap=lots") as excinfo:
        load_study(study_file, ["analyses.0.params.n_bootstrap=lots"])
    assert excinfo.value.source == f"{study_file} (analyses[0].params.n_bootstrap)"


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(n=st.integers(2, 10**9), seed=st.integers(0, 2**63 - 1))
def test_an_override_reads_back(study_file, n, seed):
    study = load_study(study_file, [f"analyses.0.params.n_bootstrap={n}", f"seed={seed}"])
    assert study.analyses[0].params.n_bootstrap == n and study.seed == seed == study.analyses[0].params.seed


# -- configs built in code, the resolved config and its hash ----------------------------------------------------


def test_study_from_dict_resolves_against_base_dir(tmp_path):
    write(tmp_path / "base.yaml", "data: {brain: {file: brain.nc}}\n")
    study = study_from_dict({"include": ["base.yaml"], "name": "x", "data": {"rdms": {"file": "rdms.nc"}},
                             "analyses": [{"name": "a", "kind": "rsa_models", "brain": "brain",
                                           "candidates": ["rdms"]}]},
                            source="neuroalign score", base_dir=tmp_path, overrides=["seed=2"])
    assert study.data["rdms"].file == str(tmp_path / "rdms.nc") and study.data["brain"].file == str(
        tmp_path / "brain.nc")
    assert study.seed == 2
    with pytest.raises(ConfigError) as excinfo:
        study_from_dict({"name": "x", "analyses": [{"name": "a", "kind": "rsa_model"}]}, source="neuroalign score",
                        base_dir=tmp_path)
    assert excinfo.value.source == "neuroalign score (analyses[0].kind)"
    with pytest.raises(ConfigError, match="mapping"):
        study_from_dict(["name"], source="code", base_dir=tmp_path)


def test_the_resolved_yaml_is_a_fixed_point(study_file, tmp_path):
    study = load_study(study_file, ["models.reference.preprocessing={resize: 8, normalize: imagenet}"])
    text = resolved_yaml(study)
    assert yaml.safe_load(text)["analyses"][0]["params"]["n_bootstrap"] == 200
    again = load_study(write(tmp_path / "resolved" / "study.yaml", text))
    assert again == study and resolved_yaml(again) == text and study_hash(again) == study_hash(study)
    assert study_hash(load_study(study_file, ["seed=1"])) != study_hash(study)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(description=st.text(), layers=st.lists(st.text(min_size=1), min_size=1, max_size=4))
def test_load_dump_load_is_a_fixed_point(tmp_path, description, layers):
    study = study_from_dict(yaml.safe_load(STUDY), source="code", base_dir=tmp_path)
    study = study.model_copy(update={"description": description})
    study.models["reference"].layers = layers
    text = resolved_yaml(study)
    path = tmp_path / "resolved.yaml"
    path.write_text(text, encoding="utf-8")
    again = load_study(path)
    assert again == study and study_hash(again) == study_hash(study)


# -- bundled studies --------------------------------------------------------------------------------------------


@pytest.fixture
def bundled(tmp_path, monkeypatch):
    folder = tmp_path / "pipelines"
    write(folder / "demo.yaml", "description: the demo\n" + STUDY)
    write(folder / "other.yml", STUDY.replace("name: demo", "name: other"))
    write(folder / "old-command.yaml", "out: folder\nseed: 0\n")  # an older per-command config
    write(folder / "broken.yaml", "analyses: [unclosed\n")
    write(folder / "README.md", "analyses:\n")
    monkeypatch.setattr(study_catalog, "studies_folder", lambda: folder)
    return folder


def test_bundled_studies_are_the_yaml_files_with_analyses(bundled):
    assert bundled_studies() == {"demo": bundled / "demo.yaml", "other": bundled / "other.yml"}


def test_find_study_by_name_or_path(bundled, study_file):
    assert find_study("demo") == bundled / "demo.yaml"
    assert find_study(study_file) == study_file
    with pytest.raises(UnknownNameError, match="did you mean 'demo'") as excinfo:
        find_study("dmeo")
    assert excinfo.value.valid == ["demo", "other"]
    with pytest.raises(FileFormatError, match="not found"):
        find_study(str(study_file.parent / "missing.yaml"))


def test_list_studies(bundled):
    table = list_studies()
    assert list(table["name"]) == ["demo", "other"] and list(table.columns) == ["name", "description", "analyses",
                                                                                 "path"]
    assert table.loc[0, "description"] == "the demo" and table.loc[0, "analyses"] == "rsa"


def test_the_shipped_studies_load():
    studies = bundled_studies()
    for name, path in studies.items():
        assert load_study(path).name, name
    if studies:
        assert all(path.parent.name == "pipelines" for path in studies.values())


def test_a_misspelt_choice_suggests_the_close_ones(tmp_path):
    path = edited(tmp_path, "{n_bootstrap: 200}", "{ceiling: split-halves}")
    with pytest.raises(UnknownNameError, match="did you mean 'split-half'") as excinfo:
        load_study(path)
    assert excinfo.value.source == f"{path} (analyses[0].params.ceiling)"


def test_path_arguments_declared_by_a_loader_are_made_absolute(tmp_path, monkeypatch):
    from types import SimpleNamespace

    from neuroalign.pipelines import study_files, study_schema

    registry = {"my_loader": SimpleNamespace(name="my_loader", path_args=("atlas",))}
    for module in (study_files, study_schema):
        monkeypatch.setattr(module, "loader_registry",
                            lambda attribute: registry if attribute == "DATA_LOADERS" else None)
    path = edited(tmp_path, "brain: {loader: synthetic_brain, args: {seed: 0}}",
                  "brain: {loader: my_loader, args: {atlas: atlas.nii, label: atlas.nii}}")
    args = load_study(path).data["brain"].args
    assert args == {"atlas": str(tmp_path / "atlas.nii"), "label": "atlas.nii"}
