"""``neuroalign representations``: each action's table equals the library function called on the same arrays.

The files are real: zarr activation stores written by neuroalign.extract.write_arrays (the layout of
``neuroalign extract``) and netCDF arrays written by neuroalign.data.save.
"""

from __future__ import annotations

import argparse
import re
import shlex
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from neuroalign.data import create_assembly, save
from neuroalign.extract import open_activations, write_arrays

from ..cli_runner import assert_one_line_error

N = 80


def _layers(seed: int = 0):
    rng = np.random.default_rng(seed)
    a, b = rng.integers(0, 2, N), rng.integers(0, 2, N)
    x = np.outer(a, rng.normal(size=12)) + np.outer(b, rng.normal(size=12)) + 0.5 * rng.normal(size=(N, 12))
    presentation = {"a": a, "b": b, "label": 2 * a + b}
    ids = [f"s{i}" for i in range(N)]
    relu = create_assembly(np.maximum(x, 0), stimulus_id=ids, presentation=presentation)
    lin = create_assembly(x @ rng.normal(size=(12, 8)), stimulus_id=ids, presentation=presentation)
    return {"relu": relu, "lin": lin}, rng


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("representations")
    layers, rng = _layers()
    write_arrays(layers, folder / "acts.zarr")
    # the reference network: the same units permuted, plus noise, and its stimuli in another order
    order, units = rng.permutation(N), rng.permutation(12)
    relu = layers["relu"].isel(presentation=order, neuroid=units)
    relu = relu.copy(data=relu.values + 0.05 * rng.normal(size=relu.shape))
    write_arrays({"relu": relu, "lin": layers["lin"].isel(presentation=order)}, folder / "ref.zarr")
    save(layers["relu"].rename("relu"), folder / "one.nc")
    other = layers["relu"].assign_coords(stimulus_id=("presentation", [f"t{i}" for i in range(N)]))
    save(other.rename("relu"), folder / "other.nc")
    return folder


def _read(folder, name="acts.zarr"):
    return open_activations(folder / name, lazy=False)


def _table(path) -> pd.DataFrame:
    return pd.read_csv(path)


def _assert_frames(written: pd.DataFrame, expected: pd.DataFrame) -> None:
    expected = expected.reset_index(drop=True)
    assert list(written.columns) == list(expected.columns)
    for column in expected.columns:
        if expected[column].dtype.kind == "f":
            np.testing.assert_allclose(written[column].to_numpy(float), expected[column].to_numpy(float),
                                       rtol=1e-12, atol=1e-14)
        else:
            assert written[column].astype(str).tolist() == expected[column].astype(str).tolist(), column


def test_choices_equal_the_librarys():
    from neuroalign.cli import representations_cmd as cmd
    from neuroalign.compare.matching.neuron_matching import MATCHINGS
    from neuroalign.compare.matching.relative import ANCHOR_METHODS
    from neuroalign.geometry.information.layers import MI_METHODS
    from neuroalign.geometry.sparsity import SPARSITY_MEASURES

    assert cmd.SPARSITY_MEASURES == SPARSITY_MEASURES
    assert cmd.MI_METHODS == tuple(MI_METHODS)
    assert cmd.ANCHOR_METHODS == tuple(ANCHOR_METHODS)
    assert cmd.MATCHINGS == tuple(MATCHINGS)


@pytest.mark.parametrize("action", ["", "sparsity", "codes", "abstraction", "information", "match", "stitch"])
def test_help_with_an_example(cli, tmp_path, action):
    result = cli("representations", *([action] if action else []), "--help", cwd=tmp_path)
    assert result.returncode == 0
    assert "example: neuroalign representations" in result.stdout


def test_no_action_is_one_line(cli, tmp_path):
    assert_one_line_error(cli("representations", cwd=tmp_path), "ACTION")


def test_sparsity_equals_layer_sparsity(cli, files):
    from neuroalign.geometry.sparsity import layer_sparsity

    result = cli("representations", "sparsity", "--activations", "acts.zarr", "--out", "s.csv", cwd=files)
    assert result.returncode == 0, result.stderr
    assert "zero_fraction" in result.stdout and "wrote s.csv" in result.stdout
    _assert_frames(_table(files / "s.csv"), layer_sparsity(_read(files)).to_dataframe())


def test_sparsity_of_chosen_layers_and_measures(cli, files):
    from neuroalign.geometry.sparsity import layer_sparsity

    result = cli("representations", "sparsity", "--activations", "acts.zarr", "--layer", "lin", "--measure", "hoyer",
                 "gini", "--tol", "0.1", "--out", "s2.csv", cwd=files)
    assert result.returncode == 0, result.stderr
    expected = layer_sparsity({"lin": _read(files)["lin"]}, measures=["hoyer", "gini"], tol=0.1)
    _assert_frames(_table(files / "s2.csv"), expected.to_dataframe())


def test_codes_of_a_netcdf_array_equal_layer_code_statistics(cli, files):
    from neuroalign.data import load
    from neuroalign.geometry.activation_codes import layer_code_statistics

    result = cli("representations", "codes", "--activations", "one.nc", "--label", "label", "--threshold", "0.2",
                 "--out", "c.csv", cwd=files)
    assert result.returncode == 0, result.stderr
    expected = layer_code_statistics({"relu": load(files / "one.nc")}, threshold=0.2, label="label")
    written = _table(files / "c.csv")
    assert set(written["statistic"]) >= {"hamming_within", "hamming_between"}
    _assert_frames(written, expected.to_dataframe())


def test_abstraction_equals_ccgp_parallelism_and_shattering(cli, files):
    from neuroalign.geometry.abstraction import ccgp, parallelism_score, shattering_dimensionality

    result = cli("representations", "abstraction", "--activations", "acts.zarr", "--layer", "relu", "--factors", "a",
                 "b", "--metric", "ccgp", "parallelism", "shattering", "--cv", "3", "--seed", "2", "--no-progress",
                 "--out", "ab.csv", cwd=files)
    assert result.returncode == 0, result.stderr
    x = _read(files)["relu"]
    frames = [s.to_dataframe() for s in (ccgp(x, ["a", "b"], random_state=2), parallelism_score(x, ["a", "b"]),
                                         shattering_dimensionality(x, ["a", "b"], cv=3, random_state=2))]
    expected = pd.concat(frames, ignore_index=True)
    expected.insert(1, "layer", "relu")
    _assert_frames(_table(files / "ab.csv"), expected[["metric", "layer", "dichotomy", "score"]])


@pytest.mark.parametrize("method, options, cli_options", [
    ("adaptive-binning", {"bins": 5}, ["--bins", "5"]),
    ("kde", {"noise_variance": 0.5}, ["--noise-variance", "0.5"]),
])
def test_information_equals_layer_information(cli, files, method, options, cli_options):
    from neuroalign.geometry.information.layers import layer_information

    result = cli("representations", "information", "--activations", "acts.zarr", "--label", "label", "--method",
                 method, *cli_options, "--units", "bits", "--no-progress", "--out", "i.csv", cwd=files)
    assert result.returncode == 0, result.stderr
    written = _table(files / "i.csv")
    for layer, x in _read(files).items():
        expected = layer_information(x, "label", method=method, units="bits", **options)
        rows = written[written["layer"] == layer]
        assert rows["quantity"].tolist() == ["I_XT", "I_TY"]
        np.testing.assert_allclose(rows["value"].to_numpy(), expected.values, rtol=1e-12)
        assert set(rows["units"]) == {"bits"} and set(rows["method"]) == {method}


def test_information_ksg_reads_the_inputs(cli, files):
    from neuroalign.geometry.information.layers import layer_information

    x = _read(files)["lin"]
    stimuli = create_assembly(np.random.default_rng(5).normal(size=(N, 3)), stimulus_id=x["stimulus_id"].values)
    save(stimuli, files / "stimuli.nc")
    result = cli("representations", "information", "--activations", "acts.zarr", "--layer", "lin", "--label",
                 "label", "--method", "ksg", "--k", "4", "--inputs", "stimuli.nc", "--no-progress", "--out",
                 "ksg.csv", cwd=files)
    assert result.returncode == 0, result.stderr
    expected = layer_information(x, "label", inputs=stimuli, method="ksg", k=4)
    np.testing.assert_allclose(_table(files / "ksg.csv")["value"].to_numpy(), expected.values, rtol=1e-12)


def test_match_writes_the_profile_and_the_pairs(cli, files):
    from neuroalign.compare.matching.correlation import unit_correlation
    from neuroalign.compare.matching.neuron_matching import matching_profile, one_to_one_matching

    result = cli("representations", "match", "--activations", "acts.zarr", "--reference", "ref.zarr",
                 "--permutations", "20", "--seed", "3", "--no-progress", "--out", "m.csv", cwd=files)
    assert result.returncode == 0, result.stderr
    a, b = _read(files), _read(files, "ref.zarr")
    score = matching_profile(a, b, n_permutations=20, random_state=3, progress=False)
    expected = score.to_dataframe().assign(baseline_mean=score.raw["baseline_mean"].values,
                                           p_value=score.raw["p_value"].values)
    _assert_frames(_table(files / "m.csv"), expected)
    pairs = _table(files / "m-pairs.csv")
    for layer in ("relu", "lin"):
        matched = one_to_one_matching(unit_correlation(a[layer], b[layer]))
        rows = pairs[pairs["layer"] == layer]
        assert rows["neuroid_id_a"].astype(str).tolist() == [str(i) for i in matched["neuroid_id_a"].values]
        assert rows["neuroid_id_b"].astype(str).tolist() == [str(i) for i in matched["neuroid_id_b"].values]
        np.testing.assert_allclose(rows["correlation"].to_numpy(), matched.values, rtol=1e-12)
    # the planted permutation of the reference's units is recovered exactly
    relu = pairs[pairs["layer"] == "relu"]
    assert (relu["neuroid_id_a"].astype(str) == relu["neuroid_id_b"].astype(str)).all()


def test_match_layers_of_other_names(cli, files):
    from neuroalign.compare.matching.neuron_matching import matching_profile

    result = cli("representations", "match", "--activations", "acts.zarr", "--layer", "relu", "--reference",
                 "ref.zarr", "--reference-layer", "lin", "--matching", "semi", "--permutations", "5",
                 "--no-progress", "--out", "m2.csv", "--pairs", "p2.csv", cwd=files)
    assert result.returncode == 0, result.stderr
    score = matching_profile({"relu~lin": _read(files)["relu"]}, {"relu~lin": _read(files, "ref.zarr")["lin"]},
                             matching="semi", n_permutations=5, progress=False)
    written = _table(files / "m2.csv")
    assert written["layer"].tolist() == ["relu~lin"]
    np.testing.assert_allclose(written["score"], score.values.values, rtol=1e-12)
    assert len(_table(files / "p2.csv")) == 12  # semi-matching: one partner per unit of --activations


@pytest.mark.parametrize("center", [False, True])
def test_stitch_equals_zero_shot_stitching(cli, files, center):
    from neuroalign.compare.matching.relative_stitching import zero_shot_stitching
    from neuroalign.data import align

    flags = ["--center"] if center else []
    result = cli("representations", "stitch", "--activations", "acts.zarr", "--reference", "ref.zarr", "--layer",
                 "relu", "--label", "a", "--anchors", "20", "--seed", "1", *flags, "--out", "st.csv", cwd=files)
    assert result.returncode == 0, result.stderr
    source, target = align(_read(files)["relu"], _read(files, "ref.zarr")["relu"])
    assert not np.array_equal(target["a"].values, _read(files, "ref.zarr")["relu"]["a"].values)  # reordered
    labels = ("presentation", source["a"].values)  # the source's factor 'a', not the files' 'label' coord
    source, target = source.assign_coords(label=labels), target.assign_coords(label=labels)
    frames = []
    for relative in (True, False):
        frame = zero_shot_stitching(source, target, anchors=20, relative=relative, center=center,
                                    random_state=1).to_dataframe()
        frame.insert(1, "source_layer", "relu")
        frame.insert(2, "target_layer", "relu")
        frames.append(frame)
    _assert_frames(_table(files / "st.csv"), pd.concat(frames, ignore_index=True))


# --------------------------------------------------------------------------------------------- one-line errors

def test_missing_file(cli, files):
    result = cli("representations", "sparsity", "--activations", "nope.zarr", "--out", "x.csv", cwd=files)
    assert_one_line_error(result, "nope.zarr", "not found")


def test_unknown_layer_of_a_store(cli, files):
    result = cli("representations", "codes", "--activations", "acts.zarr", "--layer", "rel", "--out", "x.csv",
                 cwd=files)
    assert_one_line_error(result, "unknown layer 'rel'", "relu")


def test_unknown_layer_of_a_netcdf_file(cli, files):
    result = cli("representations", "sparsity", "--activations", "one.nc", "--layer", "fc", "--out", "x.csv",
                 cwd=files)
    assert_one_line_error(result, "unknown layer 'fc'", "--layer")


def test_unknown_reference_layer(cli, files):
    result = cli("representations", "match", "--activations", "acts.zarr", "--reference", "one.nc", "--out",
                 "x.csv", cwd=files)
    assert_one_line_error(result, "unknown layer 'lin'", "--reference")


@pytest.mark.parametrize("action, args", [
    ("codes", ["--label", "digit"]),
    ("abstraction", ["--factors", "a", "c"]),
    ("information", ["--label", "digit"]),
])
def test_unknown_coord(cli, files, action, args):
    result = cli("representations", action, "--activations", "acts.zarr", *args, "--out", "x.csv", cwd=files)
    assert_one_line_error(result, "unknown presentation coordinate", "acts.zarr:relu", "valid choices are 'a'")


def test_unknown_coord_of_stitch(cli, files):
    result = cli("representations", "stitch", "--activations", "one.nc", "--reference", "one.nc", "--label", "digit",
                 "--out", "x.csv", cwd=files)
    assert_one_line_error(result, "'digit'", "--label")


@pytest.mark.parametrize("action, args, fix", [
    ("match", [], "--join inner"),
    ("stitch", ["--label", "label"], "same stimuli"),
])
def test_misaligned_stimulus_ids(cli, files, action, args, fix):
    result = cli("representations", action, "--activations", "one.nc", "--reference", "other.nc", *args, "--out",
                 "x.csv", cwd=files)
    assert_one_line_error(result, "one.nc", "other.nc", "'t0'", fix)
    assert not (files / "x.csv").exists()


def test_match_does_not_depend_on_the_reference_stimulus_order(cli, files, tmp_path):
    reference = _read(files, "ref.zarr")
    order = np.argsort([int(i[1:]) for i in reference["relu"]["stimulus_id"].values])
    write_arrays({k: v.isel(presentation=order) for k, v in reference.items()}, tmp_path / "sorted.zarr")
    outputs = []
    for name in (files / "ref.zarr", tmp_path / "sorted.zarr"):
        out = tmp_path / f"{name.stem}.csv"
        result = cli("representations", "match", "--activations", files / "acts.zarr", "--reference", name,
                     "--permutations", "10", "--no-progress", "--out", out, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        outputs.append((_table(out), _table(tmp_path / f"{name.stem}-pairs.csv")))
    for first, second in zip(*outputs):
        pd.testing.assert_frame_equal(first, second)


def test_constant_units_stop_matching_unless_dropped(cli, files, tmp_path):
    layers = _read(files)
    dead = layers["relu"].copy(data=layers["relu"].values.copy())
    dead.values[:, 3] = 0.0
    write_arrays({"relu": dead}, tmp_path / "dead.zarr")
    args = ("representations", "match", "--activations", tmp_path / "dead.zarr", "--reference", files / "ref.zarr",
            "--permutations", "5", "--no-progress", "--out", tmp_path / "m.csv")
    assert_one_line_error(cli(*args, cwd=tmp_path), "--drop-constant")
    result = cli(*args, "--drop-constant", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    pairs = _table(tmp_path / "m-pairs.csv")
    assert len(pairs) == 11 and 3 not in pairs["neuroid_id_a"].tolist()


def test_too_many_anchors(cli, files):
    result = cli("representations", "stitch", "--activations", "one.nc", "--reference", "one.nc", "--label", "label",
                 "--anchors", "61", "--out", "x.csv", cwd=files)
    assert_one_line_error(result, "--anchors", "60")
    result = cli("representations", "stitch", "--activations", "one.nc", "--reference", "one.nc", "--label", "label",
                 "--anchors", "60", "--out", "x60.csv", cwd=files)
    assert result.returncode == 0, result.stderr


def test_option_of_another_method(cli, files):
    result = cli("representations", "information", "--activations", "acts.zarr", "--label", "label", "--k", "3",
                 "--out", "x.csv", cwd=files)
    assert_one_line_error(result, "--k: does not apply to --method binning", "--bins")


def test_ksg_needs_inputs(cli, files):
    result = cli("representations", "information", "--activations", "acts.zarr", "--label", "label", "--method",
                 "ksg", "--out", "x.csv", cwd=files)
    assert_one_line_error(result, "--inputs")


def test_one_layer_needed_for_stitching(cli, files):
    result = cli("representations", "stitch", "--activations", "acts.zarr", "--reference", "ref.zarr", "--label",
                 "label", "--out", "x.csv", cwd=files)
    assert_one_line_error(result, "2 layers", "--layer")


def test_reference_layers_pair_with_layers(cli, files):
    result = cli("representations", "match", "--activations", "acts.zarr", "--reference", "ref.zarr",
                 "--reference-layer", "lin", "--out", "x.csv", cwd=files)
    assert_one_line_error(result, "--reference-layer")


def test_bad_option_value_is_one_line(cli, files):
    result = cli("representations", "stitch", "--activations", "one.nc", "--reference", "one.nc", "--label", "label",
                 "--test-size", "1.5", "--out", "x.csv", cwd=files)
    assert_one_line_error(result, "--test-size")


# --------------------------------------------------------------------------------------------- the docs pages

DOCS = [Path(__file__).resolve().parents[2] / "docs" / name for name in ("geometry.md", "compare-matching.md")]


def _docs_section(page: Path) -> str:
    return page.read_text().split("## On the command line", 1)[1].split("\n## ", 1)[0]


def _representations_options() -> set[str]:
    from neuroalign.cli.main import build_parser

    def subparsers(parser):
        return next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices

    command = subparsers(build_parser())["representations"]
    return {flag for action in subparsers(command).values() for a in action._actions for flag in a.option_strings}


def test_every_option_the_docs_name_exists():
    named = {flag for page in DOCS for flag in re.findall(r"(?<![\w-])--[a-zA-Z][a-z-]*", _docs_section(page))}
    extract_flags = {"--model", "--stimuli", "--layers"}
    assert len(named) > 25 and named - extract_flags - _representations_options() == set()


def test_the_commands_of_the_docs_run_as_written(cli, tmp_path):
    rng = np.random.default_rng(1)
    n = 400
    digit = rng.integers(0, 10, n)
    coords = {"digit": digit, "odd": digit % 2, "large": (digit >= 5).astype(int)}
    ids = [f"img{i}" for i in range(n)]
    base = np.eye(10)[digit] @ rng.normal(size=(10, 16)) + 0.3 * rng.normal(size=(n, 16))
    for name in ("net1", "net2"):
        mix = rng.normal(size=(16, 16))
        layers = {layer: create_assembly(np.maximum(base @ mix + 0.1 * rng.normal(size=(n, 16)) + 1.0, 0),
                                         stimulus_id=ids, presentation=coords) for layer in ("relu1", "relu2")}
        write_arrays(layers, tmp_path / f"{name}.zarr")
    commands = [shlex.split(line) for page in DOCS for block in re.findall(r"```text\n(.*?)```", _docs_section(page),
                                                                            re.S)
                for line in block.splitlines() if line.startswith("neuroalign representations")]
    assert [c[2] for c in commands] == ["sparsity", "codes", "abstraction", "information", "match", "match",
                                        "stitch"]
    for command in commands:
        flags = ["--no-progress"] if command[2] in ("abstraction", "information", "match") else []
        result = cli(*command[1:], *flags, cwd=tmp_path)
        assert result.returncode == 0, (command, result.stderr)
        assert (tmp_path / command[command.index("--out") + 1]).is_file()
    assert _table(tmp_path / "pairs.csv")["layer"].unique().tolist() == ["relu1", "relu2"]
    assert _table(tmp_path / "semi.csv")["layer"].tolist() == ["relu1~relu2"]


def test_repeated_presentations_are_averaged_on_request(cli, files, tmp_path):
    import xarray as xr

    from neuroalign.compare.matching.neuron_matching import matching_profile
    from neuroalign.data import average_repetitions, load

    one = load(files / "one.nc")
    repeated = xr.concat([one, one + 0.5 * np.random.default_rng(2).normal(size=one.shape)], "presentation")
    save(repeated.rename("relu"), tmp_path / "rep.nc")
    args = ("representations", "match", "--activations", tmp_path / "rep.nc", "--reference", files / "one.nc",
            "--permutations", "5", "--no-progress", "--out", tmp_path / "m.csv")
    assert_one_line_error(cli(*args, cwd=tmp_path), "rep.nc", "stimulus_id repeats", "--average-repetitions")
    result = cli(*args, "--average-repetitions", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    expected = matching_profile({"relu": average_repetitions(repeated)}, {"relu": one}, n_permutations=5,
                                progress=False)
    np.testing.assert_allclose(_table(tmp_path / "m.csv")["score"], expected.values.values, rtol=1e-12)


def test_a_saved_layer_of_an_extraction_is_named_by_its_layer_coord(cli, files, tmp_path):
    from neuroalign.geometry.sparsity import layer_sparsity

    lin = _read(files)["lin"]
    lin = lin.assign_coords(layer=("neuroid", ["block2"] * lin.sizes["neuroid"])).rename(None)
    save(lin, tmp_path / "block.nc")
    result = cli("representations", "sparsity", "--activations", "block.nc", "--layer", "block2", "--out", "s.csv",
                 cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    _assert_frames(_table(tmp_path / "s.csv"), layer_sparsity({"block2": lin}).to_dataframe())
