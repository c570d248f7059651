"""neuroalign.datasets.kriegeskorte2008: the 92-image files as labelled arrays (values checked in
tests/pipelines/test_sources.py against the .mat files)."""

import doctest

from neuroalign.datasets import kriegeskorte2008


def test_docstring_examples_run():
    failures, attempted = doctest.testmod(kriegeskorte2008,
                                          optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert attempted > 0 and failures == 0


def test_sessions_and_participants_label_the_subject_dim():
    hit = kriegeskorte2008.load_hit_rdms()
    assert hit.participant.values.tolist() == [p for p in ("BE", "KO", "SN", "TI") for _ in (1, 2)]
    assert hit.session.values.tolist() == [1, 2] * 4
    assert hit.attrs["citation"] == kriegeskorte2008.CITATION

