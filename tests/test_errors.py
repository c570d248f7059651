import pickle

import pytest

from neuroalign.errors import (
    AlignmentError, ConfigError, DataError, DependencyError, ExtractionError, FileFormatError,
    NeuroalignError, SchemaError, ScoreError, UnknownNameError,
)


@pytest.mark.parametrize("cls", [DataError, SchemaError, AlignmentError, ConfigError, FileFormatError,
                                 DependencyError, ExtractionError, ScoreError])
def test_every_error_names_source_problem_and_fix(cls):
    err = cls("it is broken.", source="file.nc", fix="mend it")
    assert isinstance(err, NeuroalignError)
    assert str(err) == "file.nc: it is broken. Fix: mend it"
    assert "\n" not in err.one_line()
    clone = pickle.loads(pickle.dumps(err))  # survives multiprocessing/dask
    assert type(clone) is cls and str(clone) == str(err)


def test_unknown_name_lists_close_matches():
    err = UnknownNameError("spearmn", ["spearman", "pearson", "cosine"], what="method")
    assert "unknown method 'spearmn'" in str(err)
    assert "did you mean 'spearman'" in str(err)
    assert "'cosine'" in str(err)
    assert isinstance(err, KeyError) and isinstance(err, ConfigError)
