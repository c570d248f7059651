"""Benchmark: the full validation protocol of generative graph pretraining (issue 12), wall time and table.

Runs :func:`neuroalign.graphs.protocol.run_validation_protocol` with the default
:class:`~neuroalign.graphs.protocol_config.ProtocolConfig` (3 scenarios × 5
seeds × 7 methods, 200 pretraining subjects, 50 labelled training and 200 test
subjects per study, 6 ablations of method A on 2 seeds of "dynamic-only") on
``--n-jobs`` worker processes of one torch thread each, and prints the wall
time against the 10-minute budget, the summary table (mean, std over seeds),
every row of the tidy table, and each criterion with its numbers.

Run:  OMP_NUM_THREADS=1 python benchmarks/bench_graph_protocol.py [--n-jobs 2] [--short] [--csv table.csv]
"""

from __future__ import annotations

import argparse
import logging
import os
import time

BUDGET_SECONDS = 600.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-jobs", type=int, default=2, help="worker processes (default 2: the machine's cores)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per process")
    parser.add_argument("--short", action="store_true", help="the default suite's short protocol instead")
    parser.add_argument("--csv", help="also write the tidy table to this CSV file")
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    logging.basicConfig(level=logging.WARNING)

    import pandas as pd

    from neuroalign.graphs.protocol import ProtocolConfig, run_validation_protocol

    config = ProtocolConfig.short() if args.short else ProtocolConfig()
    print("settings:", config.to_dict())
    print(f"cores: {os.cpu_count()}, worker processes: {args.n_jobs}, torch threads each: {args.threads}")
    start = time.perf_counter()
    result = run_validation_protocol(config, n_jobs=args.n_jobs, threads=args.threads, progress=True)
    wall = time.perf_counter() - start
    print()
    print(result.report())
    print()
    with pd.option_context("display.max_rows", 1000, "display.width", 200):
        print(result.table.round(4).to_string(index=False))
    print()
    verdict = "within" if wall <= BUDGET_SECONDS else "OVER"
    print(f"wall time: {wall:.1f} s ({verdict} the {BUDGET_SECONDS:.0f} s budget); "
          f"criteria: {'all met' if result.passed else 'NOT all met'}")
    if args.csv:
        result.table.to_csv(args.csv, index=False)


if __name__ == "__main__":
    main()
