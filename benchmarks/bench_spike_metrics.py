"""Neural Latents Benchmark metrics: neuroalign.spikes.metrics against nlb_tools.evaluation, same process, same data.

Data (simulated, seeded): ``simulate_lorenz_spikes`` with 1,000 trials x 100 neurons (75 held in, 25
held out) x 100 bins; the scored rates are the true rates times log-normal noise (a model that is
good but not perfect).  Behaviour decoding trains on the first 800 trials and evaluates on the last
200; fp-bps scores the last 20 bins.  Both arrays are stored neurons last in memory (the simulator's
and ``from_neurons_last``'s layout); rates stored in another order than the counts take ~1.5x longer.

Contenders, each metric on the same data:

- nlb_tools 0.0.4 (``bits_per_spike``, ``eval_psth``, ``fit_and_eval_decoder`` with its grid search) on
  neurons-last numpy arrays prepared before timing (the conversion is not charged to it); for co-bps
  and fp-bps it is charged the selection of the held-out neurons or forward bins from those arrays
  (``rates[..., held]``, ``rates[:, -20:].copy()``, the copy because nlb_tools writes into its input),
  which is what a caller holding whole arrays does;
- neuroalign (:mod:`neuroalign.spikes.metrics`) on the labelled ``(presentation, neuroid, time_bin)``
  arrays, with its checks (presentations, time bins, neurons matched by ``neuroid_id``).

Best of ``--repeats`` rounds, the two contenders alternating in each round (a disturbance of the
shared machine hits both alike); the ratio of the best wall times and of the best process CPU times
(steadier on a busy machine) are printed.  The table prints both times, the ratio and the largest absolute
difference of the values.

Run::

    OMP_NUM_THREADS=1 python benchmarks/bench_spike_metrics.py
    python benchmarks/bench_spike_metrics.py --trials 200 --repeats 5

Measured 2026-12-06 on the 2-core development machine (load average about 1.5, other work running),
``OMP_NUM_THREADS=1``::

    1,000 trials x 100 neurons (25 held out) x 100 bins, best of 5
    metric         nlb_tools s  neuroalign s   ratio  CPU ratio         value  max |diff|
    bits_per_spike      0.4353        0.0323   13.5x      13.4x    0.43179312    0.00e+00
    co_bps              0.1404        0.0279    5.0x       5.0x    0.37056238    1.22e-15
    fp_bps              0.0950        0.0085   11.2x      11.2x    0.37505654    7.22e-16
    psth_r2             0.0090        0.0057    1.6x       1.6x    0.97763767    0.00e+00
    behaviour_r2        3.5073        0.1305   26.9x      26.7x    0.97533914    0.00e+00
    all five            4.1870        0.2049   20.4x      20.3x
    one read of the rates (numpy sum): 0.0032 s, so PSTH R2 cannot be more than 2.8x faster than nlb_tools here

Bits per spike and behaviour decoding, the two costly metrics, are 10-30x faster; all five together
about 20x.  co-bps reads a quarter of each neuron-last row, which costs about as much as reading all
of it, so it takes about as long as bits per spike on all neurons (about 5x).  PSTH R² is one pass
over the rates for both tools (a per-condition mean); the last line bounds what any implementation
can gain on it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from timing import alternating  # noqa: E402

from neuroalign.datasets.lorenz_spikes import simulate_lorenz_spikes  # noqa: E402
from neuroalign.spikes import metrics  # noqa: E402


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trials", type=int, default=1000)
    parser.add_argument("--neurons", type=int, default=100)
    parser.add_argument("--bins", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    import nlb_tools.evaluation as nlb

    n_out = args.neurons // 4
    sim = simulate_lorenz_spikes(n_trials=args.trials, n_bins=args.bins, n_held_in=args.neurons - n_out,
                                 n_held_out=n_out, random_state=args.seed)
    rng = np.random.default_rng(args.seed)
    noise = np.exp(rng.normal(0.0, 0.3, (args.trials, args.bins, args.neurons))).transpose(0, 2, 1)
    rates = sim.rates.copy(data=sim.rates.values * noise)  # memory neurons last, as from_neurons_last gives
    counts, psth, behaviour = sim.counts, sim.psth, sim.behaviour
    held = counts.held_out.values
    rates_nl = np.ascontiguousarray(rates.values.transpose(0, 2, 1))
    spikes_nl = np.ascontiguousarray(counts.values.transpose(0, 2, 1))
    psth_nl = np.ascontiguousarray(psth.values.transpose(0, 2, 1))
    behaviour_nl = behaviour.values
    n_fwd = max(1, args.bins // 5)
    start = float(counts.time_bin_start.values[-n_fwd])
    cond_idx = [np.nonzero(counts.condition.values == c)[0] for c in psth.condition.values]
    n_train = int(0.8 * args.trials)
    flat = lambda a: a.reshape(-1, a.shape[-1])  # noqa: E731
    train_x, eval_x = flat(rates_nl[:n_train]), flat(rates_nl[n_train:])
    train_y, eval_y = flat(behaviour_nl[:n_train]), flat(behaviour_nl[n_train:])
    tr, ev = slice(0, n_train), slice(n_train, None)

    cases = {
        "bits_per_spike": (lambda: nlb.bits_per_spike(rates_nl, spikes_nl),
                           lambda: metrics.bits_per_spike(rates, counts)),
        "co_bps": (lambda: nlb.bits_per_spike(rates_nl[..., held], spikes_nl[..., held]),
                   lambda: metrics.co_bps(rates, counts, "held_out")),
        "fp_bps": (lambda: nlb.bits_per_spike(rates_nl[:, -n_fwd:].copy(), spikes_nl[:, -n_fwd:]),
                   lambda: metrics.fp_bps(rates, counts, start=start)),
        "psth_r2": (lambda: nlb.eval_psth(psth_nl, rates_nl, cond_idx),
                    lambda: metrics.psth_r2(rates, psth)),
        "behaviour_r2": (lambda: nlb.fit_and_eval_decoder(train_x, train_y, eval_x, eval_y),
                         lambda: metrics.behaviour_r2(rates[tr], behaviour[tr], rates[ev], behaviour[ev])),
    }
    print(f"{args.trials:,} trials x {args.neurons} neurons ({n_out} held out) x {args.bins} bins, "
          f"best of {args.repeats}")
    print(f"{'metric':<14}{'nlb_tools s':>12}{'neuroalign s':>14}{'ratio':>8}{'CPU ratio':>11}{'value':>14}"
          f"{'max |diff|':>12}")
    totals = np.zeros(4)
    for name, (theirs, ours) in cases.items():
        v_theirs, v_ours = float(theirs()), float(ours())  # also warms up the compiled kernels
        wall, cpu = alternating({"nlb": theirs, "ours": ours}, args.repeats)
        times = np.array([min(wall["nlb"]), min(wall["ours"]), min(cpu["nlb"]), min(cpu["ours"])])
        totals += times
        print(f"{name:<14}{times[0]:>12.4f}{times[1]:>14.4f}{times[0] / times[1]:>7.1f}x"
              f"{times[2] / times[3]:>10.1f}x{v_ours:>14.8f}{abs(v_theirs - v_ours):>12.2e}")
    print(f"{'all five':<14}{totals[0]:>12.4f}{totals[1]:>14.4f}{totals[0] / totals[1]:>7.1f}x"
          f"{totals[2] / totals[3]:>10.1f}x")
    # what no implementation can go below: PSTH R² reads every rate once
    read = alternating({"read": lambda: rates.values.sum()}, args.repeats)[0]["read"]
    nlb_psth = alternating({"nlb": cases["psth_r2"][0]}, args.repeats)[0]["nlb"]
    print(f"one read of the rates (numpy sum): {min(read):.4f} s, so PSTH R2 cannot be more than "
          f"{min(nlb_psth) / min(read):.1f}x faster than nlb_tools here")

if __name__ == "__main__":
    main()
