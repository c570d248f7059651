import shutil
from pathlib import Path

import pytest

from neuroalign.data import hash_file
from neuroalign.datasets.fetchers import dataset_info, fetch, fetch_file, list_datasets
from neuroalign.errors import FileFormatError, UnknownNameError


def test_registry_has_url_sha_licence_citation_for_every_dataset():
    assert set(list_datasets()) >= {"kriegeskorte2008", "nitime", "nipy", "pynapple", "harrington_deza2022",
                                    "feather2023"}
    for name in list_datasets():
        info = dataset_info(name)
        assert info["licence"] and info["citation"]
        for entry in info["files"].values():
            assert entry["url"].startswith("https://github.com/") and len(entry["sha256"]) == 64


@pytest.mark.parametrize("name", ["kriegeskorte2008", "nitime", "nipy", "pynapple", "harrington_deza2022",
                                  "feather2023"])
def test_shared_data_matches_the_published_hashes(shared_data, name):
    root = fetch(name, data_home=shared_data, download=False)
    assert root == shared_data / name


def test_corrupt_copy_is_detected(shared_data, tmp_path):
    target = tmp_path / "nipy" / "functional.nii.gz"
    target.parent.mkdir()
    shutil.copy(shared_data / "nipy" / "functional.nii.gz", target)
    with open(target, "r+b") as handle:
        handle.seek(100)
        handle.write(b"\x00\x01\x02")
    with pytest.raises(FileFormatError, match="differs from the published"):
        fetch("nipy", data_home=tmp_path, download=False)


def test_missing_file_without_download(tmp_path):
    with pytest.raises(FileFormatError, match="download=False"):
        fetch("nipy", data_home=tmp_path, download=False)


def test_fetch_file_downloads_atomically_and_verifies(shared_data, tmp_path):
    source = shared_data / "nitime" / "fmri_timeseries.csv"
    url = source.resolve().as_uri()  # urllib handles file:// like https://
    out = fetch_file(url, hash_file(source), tmp_path / "copy.csv")
    assert hash_file(out) == hash_file(source)
    with pytest.raises(FileFormatError, match="sha256"):
        fetch_file(url, "0" * 64, tmp_path / "bad.csv")
    assert not (tmp_path / "bad.csv").exists()


def test_unknown_dataset():
    with pytest.raises(UnknownNameError, match="nitime"):
        dataset_info("nitim")


def test_download_failure_names_the_data_folder_variable(tmp_path):
    missing = (tmp_path / "not-there.csv").resolve().as_uri()  # urllib fails on it as on a dead server
    with pytest.raises(FileFormatError, match="download failed") as caught:
        fetch_file(missing, "0" * 64, tmp_path / "out.csv")
    assert "NEUROALIGN_DATA" in caught.value.fix and str(tmp_path / "out.csv") in caught.value.fix
    assert not (tmp_path / "out.csv").exists()


def test_the_data_folder_is_named_by_NEUROALIGN_DATA(shared_data, tmp_path, monkeypatch):
    from neuroalign.datasets.fetchers import data_home

    monkeypatch.setenv("NEUROALIGN_DATA", str(shared_data))
    assert data_home() == shared_data and fetch("nipy", download=False) == shared_data / "nipy"
    assert data_home(tmp_path) == tmp_path  # an explicit folder wins
    monkeypatch.setenv("NEUROALIGN_DATA", str(tmp_path))
    with pytest.raises(FileFormatError, match="download=False") as caught:
        fetch("nipy", download=False)
    assert "NEUROALIGN_DATA" in caught.value.fix and str(tmp_path) in caught.value.fix
    monkeypatch.delenv("NEUROALIGN_DATA")
    assert data_home() == Path.home() / ".cache" / "neuroalign" / "data"
