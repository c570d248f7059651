"""``neuroalign metamer-humans``: Feather et al.'s (2023) human data, their ANOVA and figure."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from ..errors import ConfigError, FileFormatError, UnknownNameError
from ._args import non_negative_int, positive_int


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "metamer-humans",
        help="human vs network recognition of model metamers (Feather et al. 2023): ANOVA, table and figure",
        description="Load the public files of Feather et al. (2023), run the mixed-design ANOVA of their "
        "analysis (observer type human/network between units, generating layer within; type III, with "
        "Greenhouse-Geisser and Huynh-Feldt corrections and Mauchly's test) for every model, and write "
        "anova.csv, recognition.csv (one row per participant, layer and observer type) and recognition.png "
        "(mean +- SEM per layer, humans against each network) to --out.",
        epilog="example: neuroalign metamer-humans --data $NEUROALIGN_DATA/feather2023 --experiment 1 "
        "--out feather-exp1",
    )
    parser.add_argument("--data", required=True,
                        help="a VisionExperiment<N>_..._public.mat file, an EXP<N>_ANALYSIS folder, or the folder "
                        "holding the EXP<N>_ANALYSIS folders")
    parser.add_argument("--experiment", type=positive_int, action="append", metavar="N",
                        help="experiment number(s) to analyse (repeatable; default: every experiment in --data)")
    parser.add_argument("--model", action="append", metavar="NAME",
                        help="model(s) to analyse, e.g. alexnet (repeatable; default: all)")
    parser.add_argument("--exclude-layer", action="append", default=[], metavar="LAYER",
                        help="leave this layer out of the ANOVA (repeatable; the figure still shows it); e.g. "
                        "final, as in the published analysis of CLIP ResNet50")
    parser.add_argument("--permutations", type=non_negative_int, default=0, metavar="N",
                        help="also give permutation p values from N relabellings per effect, Feather et al.'s test "
                        "(they used 10000; default 0: none), in the columns p_permutation, n_permutations, n_null_ge")
    parser.add_argument("--seed", type=non_negative_int, default=0, help="seed of the permutations (default 0)")
    parser.add_argument("--ncols", type=positive_int, default=3, help="figure panels per row (default 3)")
    parser.add_argument("--out", required=True, help="output folder (created if missing)")
    parser.set_defaults(run=run)


def _experiments(data: Path, wanted: list[int] | None) -> list[tuple[int, Path]]:
    """(experiment, EXP folder) pairs to load from ``data`` (a folder)."""
    named = re.fullmatch(r"EXP(\d+)_ANALYSIS", data.name)
    if named is not None:
        number = int(named[1])
        if wanted and wanted != [number]:
            raise ConfigError(f"{data} holds experiment {number}, not {wanted}", source="--experiment",
                              fix="drop --experiment or pass the dataset folder that holds every EXP<N>_ANALYSIS")
        return [(number, data)]
    found = {int(m[1]): p for p in sorted(data.iterdir())
             if p.is_dir() and (m := re.fullmatch(r"EXP(\d+)_ANALYSIS", p.name))}
    if not found:
        raise FileFormatError("no EXP<N>_ANALYSIS folders here", source=str(data),
                              fix="pass the feather2023 dataset folder, an EXP<N>_ANALYSIS folder or one .mat file")
    for number in wanted or []:
        if number not in found:
            raise UnknownNameError(str(number), [str(n) for n in sorted(found)], what="experiment",
                                   source="--experiment")
    return [(n, found[n]) for n in sorted(found) if not wanted or n in wanted]


def _load(args: argparse.Namespace) -> dict[str, object]:
    from ..loaders.feather2023 import load_feather2023, load_feather2023_experiment

    data = Path(args.data).expanduser()
    if data.is_file():
        array = load_feather2023(data)
        if args.experiment and int(array.experiment) not in args.experiment:
            raise ConfigError(f"{data.name} is experiment {int(array.experiment)}, not {args.experiment}",
                              source="--experiment", fix="drop --experiment or pass another file")
        arrays = {f"EXP{int(array.experiment)} {array.model.values}": array}
    elif data.is_dir():
        arrays = {}
        for number, folder in _experiments(data, args.experiment):
            for name, array in load_feather2023_experiment(folder, number).items():
                arrays[f"EXP{number} {name}"] = array
    else:
        raise FileFormatError("no such file or folder", source=str(data),
                              fix="pass a Feather et al. (2023) .mat file or a folder of them (--data)")
    if args.model:
        models = {str(a.model.values) for a in arrays.values()}
        for name in args.model:
            if name not in models:
                raise UnknownNameError(name, sorted(models), what="model", source="--model")
        arrays = {k: a for k, a in arrays.items() if str(a.model.values) in args.model}
    return arrays


def _statistic(table, source: str) -> str:
    """``F`` of ``source`` to four decimals, with its permutation p value when there is one."""
    row = table.set_index("source").loc[source]
    text = f"{row['f']:.4f}"
    return text + (f" (permutation p = {row['p_permutation']:.4g})" if "p_permutation" in row.index else "")


def run(args: argparse.Namespace) -> int:
    import pandas as pd

    from .._paths import check_writable
    from ..metamers.anova import mixed_anova
    from ..metamers.anova_permutation import permutation_anova
    from ..plot.human_recognition import human_recognition_figure

    out = check_writable(args.out, source="--out", folder=True)
    arrays = _load(args)
    layers = {str(v) for a in arrays.values() for v in a.layer.values}
    unknown = [name for name in args.exclude_layer if name not in layers]
    if unknown:
        raise UnknownNameError(unknown[0], sorted(layers), what="layer", source="--exclude-layer")
    tables, tidy = [], []
    for name, array in arrays.items():
        kept = array.drop_sel(layer=[n for n in args.exclude_layer if n in array.layer.values])
        design = {"within": "layer", "subject": "participant", "between": "observer_type"}
        if args.permutations:
            table = permutation_anova(kept, **design, permutations=args.permutations, random_state=args.seed)
        else:
            table = mixed_anova(kept, **design)
        table.insert(0, "model", str(array.model.values))
        table.insert(0, "experiment", int(array.experiment))
        table.insert(2, "layers", kept.sizes["layer"])
        tables.append(table)
        frame = array.to_dataframe(name="proportion_correct").reset_index()
        tidy.append(frame[["experiment", "model", "participant", "layer", "observer_type", "proportion_correct"]])
        print(f"{name}: F(observer type) = {_statistic(table, 'observer_type')}, "
              f"F(observer type × layer) = {_statistic(table, 'observer_type:layer')} ({kept.sizes['layer']} layers)")
    out.mkdir(parents=True, exist_ok=True)
    pd.concat(tables, ignore_index=True).to_csv(out / "anova.csv", index=False)
    pd.concat(tidy, ignore_index=True).to_csv(out / "recognition.csv", index=False)
    figure = human_recognition_figure(arrays, ncols=args.ncols)
    figure.savefig(out / "recognition.png", dpi=120)
    print(f"wrote {out / 'anova.csv'}, {out / 'recognition.csv'} and {out / 'recognition.png'} "
          f"({len(arrays)} model{'s' if len(arrays) != 1 else ''})")
    return 0
