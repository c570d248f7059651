"""``neuroalign studies list`` (the bundled studies) and ``neuroalign studies show`` (a study, resolved)."""

from __future__ import annotations

import argparse


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "studies", help="list the bundled studies, or show a study's resolved config",
        description="Studies are YAML files of stimuli, data, models and analyses (run one with 'neuroalign run'). "
        "The bundled ones live in the pipelines/ folder of neuroalign and can be named without their path.",
    )
    actions = parser.add_subparsers(dest="studies_command", metavar="ACTION", required=True)
    actions.add_parser(
        "list", help="list the bundled studies (name, description, analyses, file)",
        description="List the studies shipped with neuroalign: their name (pass it to 'neuroalign run'), "
        "description, analyses and file.",
    ).set_defaults(run=run_list)
    show = actions.add_parser(
        "show", help="check a study and print its resolved config (includes merged, paths absolute, defaults)",
        description="Read a study (a YAML file or a bundled study's name), merge its includes, apply --set "
        "overrides, check it and print the resolved config: what 'neuroalign run' would run. Nothing is computed.",
        epilog="example: neuroalign studies show demo --set analyses.0.params.n_bootstrap=50",
    )
    show.add_argument("study", help="a study file (YAML) or a bundled study's name (see 'neuroalign studies list')")
    show.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY.PATH=VALUE",
                      help="override a config value (VALUE read as YAML; list items by index: "
                      "analyses.0.params.seed=1); repeatable")
    show.set_defaults(run=run_show)


def run_list(args: argparse.Namespace) -> int:
    from ..pipelines.study_catalog import list_studies

    table = list_studies()
    if table.empty:
        print("no bundled studies found")
        return 0
    columns = list(table.columns)
    rows = [columns] + [[str(value) for value in row] for row in table.itertuples(index=False)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(columns))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())
    return 0


def run_show(args: argparse.Namespace) -> int:
    from ..pipelines.study_catalog import find_study
    from ..pipelines.study_files import load_study, resolved_yaml

    print(resolved_yaml(load_study(find_study(args.study), args.overrides)), end="")
    return 0
