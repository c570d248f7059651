"""``neuroalign report``: the HTML report, scores.csv and scores.nc of a study's results folder."""

from __future__ import annotations

import argparse


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "report",
        help="write the HTML report, scores.csv and scores.nc of a study's results folder",
        description="Read the results folder that 'neuroalign run' wrote (the study's outputs.dir) and write "
        "report.html (one self-contained file: the study's config, provenance, tables of scores with ceilings "
        "and confidence intervals, layer profiles, RDM panels, model-comparison bars; figures embedded, nothing "
        "loaded from the network, no JavaScript), scores.csv (every score in one table) and scores.nc (every "
        "score, read back with neuroalign.pipelines.report.load_scores). Nothing is recomputed.",
        epilog="example: neuroalign report neuroalign-results/demo --out demo-report.html",
    )
    parser.add_argument("results_dir", metavar="RESULTS_DIR",
                        help="the results folder of a study run (holds study.yaml and results/)")
    parser.add_argument("--out", metavar="FILE",
                        help="where to write the HTML report (default RESULTS_DIR/report.html); scores.csv "
                        "and scores.nc always go to RESULTS_DIR")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import matplotlib

    matplotlib.use("Agg")  # figures are rendered to PNG only; never open a window
    from ..pipelines.report import write_report

    path = write_report(args.results_dir, out=args.out)
    print(path)
    return 0
