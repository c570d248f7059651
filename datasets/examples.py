"""Small, realistic example files for trying every loader (installed as ``neuroalign.datasets.examples``).

Each function writes files in the layout the real tools write and returns
the path, so that a loader can be called on it straight away:

=====================================  =========================================  ==========================================
function                               writes                                     read by
=====================================  =========================================  ==========================================
:func:`write_example_phy`              a Kilosort 2 / phy output folder           :func:`neuroalign.loaders.phy.load_phy`
:func:`write_example_events`           a BIDS ``*_events.tsv`` of the same        :func:`neuroalign.loaders.behavior.load_trials`,
                                       trials (with responses)                    and ``events=`` of ``load_phy``
:func:`write_example_confounds`        an fMRIPrep ``*_desc-confounds_            :func:`neuroalign.loaders.confounds.load_confounds`,
                                       timeseries.tsv``                           ``confounds=`` of ``load_roi_timeseries``
:func:`write_example_triplets`         odd-one-out judgements (CSV)               :func:`neuroalign.loaders.triplets.load_triplets`
=====================================  =========================================  ==========================================

The phy folder and the events file describe one session: with the same
``seed`` (and ``n_stimuli``/``n_repetitions``) the spikes respond to the
events' stimuli, so ``load_phy(folder, events_path, ...)`` gives tuned
responses.  Every draw comes from a seeded :class:`numpy.random.Generator`:
the same arguments write byte-identical files.

Examples
--------
>>> import tempfile, pathlib
>>> from neuroalign.datasets.examples import write_example_events, write_example_phy
>>> from neuroalign.loaders.phy import load_phy
>>> tmp = pathlib.Path(tempfile.mkdtemp())
>>> folder = write_example_phy(tmp / "kilosort_output")
>>> events = write_example_events(tmp / "sub-01_task-images_events.tsv")
>>> counts = load_phy(folder, events, window=(-0.2, 0.5), bin_size=0.05, stimulus_id="stim_file")
>>> counts.dims, counts.sizes["presentation"], counts.label.values.tolist()
(('presentation', 'neuroid', 'time_bin'), 48, ['good', 'good', 'good', 'good'])
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["write_example_phy", "write_example_events", "write_example_confounds", "write_example_triplets",
           "EXAMPLE_SAMPLE_RATE"]

#: Sampling rate of the example phy folder, in Hz (``sample_rate`` in its ``params.py``).
EXAMPLE_SAMPLE_RATE = 30000.0

_FIRST_ONSET = 2.0  # seconds of baseline before the first trial
_TRIAL_PERIOD = 1.5  # onset to onset, seconds
_STIMULUS_DURATION = 0.5
_AFTER_LAST = 3.0  # recording continues after the last trial


def _design(seed: int, n_stimuli: int, n_repetitions: int) -> pd.DataFrame:
    """The trials shared by the phy folder and the events file: onsets and stimuli."""
    if n_stimuli < 1 or n_repetitions < 1:
        from neuroalign.errors import ConfigError

        raise ConfigError(f"need at least one stimulus and one repetition, got n_stimuli={n_stimuli}, "
                          f"n_repetitions={n_repetitions}", source="n_stimuli",
                          fix="pass positive numbers")
    rng = np.random.default_rng([seed, 1])
    order = np.concatenate([rng.permutation(n_stimuli) for _ in range(n_repetitions)])
    onsets = _FIRST_ONSET + _TRIAL_PERIOD * np.arange(order.size)
    category = np.where(order % 2 == 0, "face", "house")
    return pd.DataFrame({"onset": np.round(onsets, 3), "duration": _STIMULUS_DURATION, "trial_type": category,
                         "stimulus": order, "stim_file": [f"stimuli/{c}{i:02d}.png" for c, i in zip(category, order)]})


def _folder(path: str | os.PathLike, default_name: str) -> Path:
    """``path`` itself, or ``default_name`` inside it when ``path`` is an existing folder."""
    path = Path(path)
    if path.is_dir():
        path = path / default_name
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def write_example_phy(folder: str | os.PathLike, seed: int = 0, *, n_stimuli: int = 8,
                      n_repetitions: int = 6) -> Path:
    """Write a Kilosort 2 / phy output folder of a short recording with stimulus-tuned units.

    Six clusters: four curated ``"good"`` (tuned to the stimuli of
    :func:`write_example_events` with the same ``seed``), one ``"mua"`` and
    one ``"noise"``.  The folder holds what Kilosort and phy write:
    ``spike_times.npy`` (``uint64`` sample indices, shape ``(n, 1)``),
    ``spike_clusters.npy`` (``int32``), ``spike_templates.npy``,
    ``amplitudes.npy``, ``params.py``, ``cluster_KSLabel.tsv``,
    ``cluster_group.tsv`` (the manual curation) and ``cluster_info.tsv``.  The
    raw ``continuous.dat`` named in ``params.py`` is not written (it would be
    large); without it the recording is taken to end at the last spike.

    Parameters
    ----------
    folder : path-like
        Created if needed.
    seed : int
        Seeds every draw; the same seed gives the same files.
    n_stimuli, n_repetitions : int
        The trial design (must match :func:`write_example_events`).

    Returns
    -------
    pathlib.Path
        The folder.

    Examples
    --------
    >>> import tempfile
    >>> from neuroalign.datasets.examples import write_example_phy
    >>> from neuroalign.loaders.phy import load_phy
    >>> folder = write_example_phy(tempfile.mkdtemp())
    >>> counts = load_phy(folder, events=[2.0, 3.5], window=(0.0, 0.4), labels=["good", "mua"])
    >>> counts.neuroid_id.values.tolist(), counts.label.values.tolist()
    (['0', '1', '2', '3', '4'], ['good', 'good', 'good', 'good', 'mua'])
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    design = _design(seed, n_stimuli, n_repetitions)
    rng = np.random.default_rng([seed, 2])
    duration = float(design.onset.iloc[-1]) + _AFTER_LAST
    cluster_ids = np.arange(6)
    baseline = np.array([4.0, 8.0, 2.0, 6.0, 20.0, 1.0])  # Hz
    gain = np.array([30.0, 20.0, 40.0, 25.0, 5.0, 0.0])  # extra Hz at the preferred stimulus
    preferred = rng.integers(0, n_stimuli, cluster_ids.size)
    distance = np.abs(np.arange(n_stimuli)[None, :] - preferred[:, None])
    distance = np.minimum(distance, n_stimuli - distance)  # circular tuning over stimulus index
    tuning = np.exp(-0.5 * (distance / 1.5) ** 2)  # (clusters, stimuli)
    latency, response = 0.05, 0.3  # evoked spikes fall in [onset + 0.05, onset + 0.35)
    times, clusters = [], []
    for c in cluster_ids:
        n = rng.poisson(baseline[c] * duration)
        times.append(rng.uniform(0.0, duration, n))
        extra = rng.poisson(gain[c] * tuning[c, design.stimulus.to_numpy()] * response)
        onsets = np.repeat(design.onset.to_numpy(), extra)
        times.append(onsets + latency + rng.uniform(0.0, response, onsets.size))
        clusters.append(np.full(n + onsets.size, c))
    samples = np.floor(np.concatenate(times) * EXAMPLE_SAMPLE_RATE).astype(np.uint64)
    clusters = np.concatenate(clusters).astype(np.int32)
    order = np.argsort(samples, kind="stable")  # Kilosort sorts all spikes by time
    samples, clusters = samples[order], clusters[order]
    np.save(folder / "spike_times.npy", samples.reshape(-1, 1))
    np.save(folder / "spike_clusters.npy", clusters)
    np.save(folder / "spike_templates.npy", clusters.astype(np.uint32).reshape(-1, 1))
    np.save(folder / "amplitudes.npy", rng.gamma(20.0, 1.0, samples.size).reshape(-1, 1))
    (folder / "params.py").write_text(
        "dat_path = 'continuous.dat'\nn_channels_dat = 32\ndtype = 'int16'\noffset = 0\n"
        f"sample_rate = {EXAMPLE_SAMPLE_RATE}\nhp_filtered = False\n")
    kslabel = np.array(["good", "good", "good", "good", "mua", "mua"], dtype=object)
    group = np.array(["good", "good", "good", "good", "mua", "noise"], dtype=object)
    pd.DataFrame({"cluster_id": cluster_ids, "KSLabel": kslabel}).to_csv(
        folder / "cluster_KSLabel.tsv", sep="\t", index=False)
    pd.DataFrame({"cluster_id": cluster_ids, "group": group}).to_csv(
        folder / "cluster_group.tsv", sep="\t", index=False)
    n_spikes = np.bincount(clusters, minlength=cluster_ids.size)
    channel = np.array([3, 7, 12, 18, 25, 30])
    pd.DataFrame({
        "cluster_id": cluster_ids,
        "Amplitude": np.round(rng.uniform(800, 3000, cluster_ids.size), 1),
        "ContamPct": np.round(rng.uniform(0, 20, cluster_ids.size), 1),
        "KSLabel": kslabel,
        "amp": np.round(rng.uniform(20, 80, cluster_ids.size), 3),
        "ch": channel,
        "depth": 20.0 * channel,
        "fr": np.round(n_spikes / duration, 3),
        "group": group,
        "n_spikes": n_spikes,
        "sh": 0,
    }).to_csv(folder / "cluster_info.tsv", sep="\t", index=False)
    return folder


def write_example_events(path: str | os.PathLike, seed: int = 0, *, n_stimuli: int = 8,
                         n_repetitions: int = 6) -> Path:
    """Write a BIDS ``*_events.tsv`` of an image experiment with responses.

    Columns ``onset`` and ``duration`` (seconds), ``trial_type`` (``"face"`` or
    ``"house"``), ``stim_file`` (the image),
    ``response_time`` (seconds) and ``correct`` (1/0); trials without a
    response have ``n/a`` in the last two, as BIDS asks.  The trials are those
    of :func:`write_example_phy` with the same ``seed``.

    Parameters
    ----------
    path : path-like
        The file to write, or an existing folder (the file is then
        ``sub-01_task-images_run-1_events.tsv`` inside it).
    seed : int
        Seeds every draw.
    n_stimuli, n_repetitions : int
        The trial design: each stimulus shown ``n_repetitions`` times, in
        shuffled blocks.

    Returns
    -------
    pathlib.Path
        The file written.

    Examples
    --------
    >>> import tempfile
    >>> from neuroalign.datasets.examples import write_example_events
    >>> from neuroalign.loaders.behavior import load_trials
    >>> trials = load_trials(write_example_events(tempfile.mkdtemp()))
    >>> trials.sizes["trial"], str(trials.subject.values[0]), str(trials.stimulus_id.values[0])
    (48, '01', 'stimuli/house01.png')
    >>> sorted(trials.attrs["column_roles"])
    ['condition', 'correct', 'reaction_time', 'stimulus_id']
    """
    path = _folder(path, "sub-01_task-images_run-1_events.tsv")
    design = _design(seed, n_stimuli, n_repetitions)
    rng = np.random.default_rng([seed, 3])
    n = len(design)
    rt = np.round(0.35 + rng.lognormal(np.log(0.25), 0.35, n), 3)
    correct = (rng.random(n) < 0.85).astype(float)
    missed = rng.random(n) < 0.06
    rt[missed], correct[missed] = np.nan, np.nan
    frame = design.drop(columns="stimulus").assign(response_time=rt, correct=correct)
    frame["correct"] = frame["correct"].astype("Int64")
    frame.to_csv(path, sep="\t", index=False, na_rep="n/a")
    return path


def write_example_confounds(path: str | os.PathLike, n_volumes: int = 100, seed: int = 0) -> Path:
    """Write an fMRIPrep ``*_desc-confounds_timeseries.tsv`` for a run of ``n_volumes`` volumes.

    The columns fMRIPrep writes for a run: ``global_signal``, ``csf``,
    ``white_matter`` (with ``_derivative1``), ``dvars``, ``std_dvars``,
    ``framewise_displacement``, the six motion parameters ``trans_*`` (mm) and
    ``rot_*`` (radians) with ``_derivative1`` and ``_power2``,
    ``a_comp_cor_00``–``05``, ``cosine00``–``02`` and
    ``non_steady_state_outlier00``.  First-row derivatives, DVARS and
    framewise displacement are ``n/a``, as in fMRIPrep's files.

    Parameters
    ----------
    path : path-like
        The file to write, or an existing folder (the file is then
        ``sub-01_task-rest_desc-confounds_timeseries.tsv`` inside it).
    n_volumes : int
        Number of rows (at least 2).
    seed : int
        Seeds every draw.

    Returns
    -------
    pathlib.Path
        The file written.

    Examples
    --------
    >>> import tempfile
    >>> from neuroalign.datasets.examples import write_example_confounds
    >>> from neuroalign.loaders.confounds import load_confounds
    >>> path = write_example_confounds(tempfile.mkdtemp(), n_volumes=50)
    >>> regressors, fd = load_confounds(path, 50)
    >>> regressors.shape, fd.shape, float(fd[0])
    ((50, 8), (50,), 0.0)
    """
    if int(n_volumes) != n_volumes or n_volumes < 2:
        from neuroalign.errors import ConfigError

        raise ConfigError(f"n_volumes must be a whole number of at least 2, got {n_volumes!r}", source="n_volumes",
                          fix="pass e.g. n_volumes=100")
    n_volumes = int(n_volumes)
    path = _folder(path, "sub-01_task-rest_desc-confounds_timeseries.tsv")
    rng = np.random.default_rng([seed, 4])
    columns: dict[str, np.ndarray] = {}
    drift = np.cumsum(rng.normal(0.0, 1.0, (n_volumes, 3)), axis=0)
    for k, (name, base, scale) in enumerate((("global_signal", 620.0, 2.0), ("csf", 910.0, 6.0),
                                             ("white_matter", 540.0, 1.5))):
        columns[name] = np.round(base + scale * drift[:, k] + rng.normal(0, scale, n_volumes), 6)
        columns[f"{name}_derivative1"] = np.r_[np.nan, np.diff(columns[name])]
    trans = np.cumsum(rng.normal(0.0, 0.02, (n_volumes, 3)), axis=0)  # mm
    rot = np.cumsum(rng.normal(0.0, 0.0004, (n_volumes, 3)), axis=0)  # radians
    steps = np.abs(np.diff(trans, axis=0)).sum(axis=1) + 50.0 * np.abs(np.diff(rot, axis=0)).sum(axis=1)
    dvars = 20.0 + np.abs(rng.normal(0.0, 3.0, n_volumes - 1))
    columns["std_dvars"] = np.r_[np.nan, np.round(dvars / 20.0, 6)]
    columns["dvars"] = np.r_[np.nan, np.round(dvars, 6)]
    columns["framewise_displacement"] = np.r_[np.nan, np.round(steps, 6)]
    for axis, name in enumerate("xyz"):
        for kind, values in (("trans", trans[:, axis]), ("rot", rot[:, axis])):
            values = np.round(values, 8)
            columns[f"{kind}_{name}"] = values
            columns[f"{kind}_{name}_derivative1"] = np.r_[np.nan, np.diff(values)]
            columns[f"{kind}_{name}_power2"] = values ** 2
    components = rng.normal(0.0, 1.0, (n_volumes, 6))
    components /= np.linalg.norm(components, axis=0)
    for k in range(6):
        columns[f"a_comp_cor_{k:02d}"] = np.round(components[:, k], 8)
    t = np.arange(n_volumes)
    for k in range(3):
        columns[f"cosine{k:02d}"] = np.round(np.sqrt(2.0 / n_volumes) * np.cos(np.pi * (k + 1) * (t + 0.5) / n_volumes), 8)
    columns["non_steady_state_outlier00"] = (t == 0).astype(int)
    pd.DataFrame(columns).to_csv(path, sep="\t", index=False, na_rep="n/a")
    return path


def write_example_triplets(path: str | os.PathLike, seed: int = 0, *, n_trials: int = 60, n_subjects: int = 3,
                           n_stimuli: int = 12) -> Path:
    """Write odd-one-out judgements as a CSV: ``subject, image_1, image_2, image_3, choice, rt``.

    The stimuli (``obj00.png`` …) lie on a hidden circle; each simulated
    subject mostly picks the item farthest from the other two (with softmax
    noise), so the judgements carry a recoverable similarity structure.  The
    three items of a trial are always different; ``choice`` is the chosen
    stimulus id and ``rt`` is in seconds.

    Parameters
    ----------
    path : path-like
        The file to write, or an existing folder (the file is then
        ``triplets.csv`` inside it).
    seed : int
        Seeds every draw.
    n_trials : int
        Judgements per subject.
    n_subjects : int
    n_stimuli : int
        At least 3.

    Returns
    -------
    pathlib.Path
        The file written.

    Examples
    --------
    >>> import tempfile
    >>> from neuroalign.datasets.examples import write_example_triplets
    >>> from neuroalign.loaders.triplets import load_triplets
    >>> triplets = load_triplets(write_example_triplets(tempfile.mkdtemp()))
    >>> dict(triplets.sizes), str(triplets.subject.values[0])
    ({'trial': 180, 'item': 3}, 'sub-01')
    """
    if n_stimuli < 3 or n_trials < 1 or n_subjects < 1:
        from neuroalign.errors import ConfigError

        raise ConfigError(f"need n_stimuli >= 3 and positive n_trials, n_subjects (got {n_stimuli}, {n_trials}, "
                          f"{n_subjects})", source="n_stimuli", fix="pass larger numbers")
    path = _folder(path, "triplets.csv")
    rng = np.random.default_rng([seed, 5])
    angle = 2 * np.pi * np.arange(n_stimuli) / n_stimuli
    position = np.stack([np.cos(angle), np.sin(angle)], axis=1)
    names = np.array([f"obj{i:02d}.png" for i in range(n_stimuli)], dtype=object)
    rows = []
    for s in range(n_subjects):
        for _ in range(n_trials):
            items = rng.choice(n_stimuli, 3, replace=False)
            p = position[items]
            pair = np.array([np.linalg.norm(p[1] - p[2]), np.linalg.norm(p[0] - p[2]), np.linalg.norm(p[0] - p[1])])
            oddness = -pair  # the odd one is the item not in the closest pair
            weights = np.exp(4.0 * (oddness - oddness.max()))
            chosen = rng.choice(3, p=weights / weights.sum())
            rows.append({"subject": f"sub-{s + 1:02d}", "image_1": names[items[0]], "image_2": names[items[1]],
                         "image_3": names[items[2]], "choice": names[items[chosen]],
                         "rt": round(0.6 + rng.lognormal(np.log(0.8), 0.4), 3)})
    pd.DataFrame(rows).to_csv(path, index=False)
    return path
