"""load_triplets on THINGS-format files: no choice column (odd one last or first), integer object indices
(0- or 1-based), an index-to-id map (a permutation such as THINGS' sortind, or stimulus ids).

Each convention is checked on a synthetic file written from a KNOWN embedding: the loader's choices must equal
the embedding's odd one out (the item outside the pair with the largest dot product, found by a per-triplet
Python loop) on every triplet, and must disagree under the wrong convention."""

from __future__ import annotations

import itertools
import tempfile
from pathlib import Path

import numpy as np
import pytest
import scipy.io
from hypothesis import given, settings
from hypothesis import strategies as st

from neuroalign.errors import ConfigError, DataError, FileFormatError, UnknownNameError
from neuroalign.loaders.triplet_files import read_id_map
from neuroalign.loaders.triplets import load_triplets

N_OBJECTS = 14


def _odd_one_loop(features: np.ndarray, triplet) -> int:
    """Reference: the object outside the most similar pair (dot product), one triplet at a time."""
    best, odd = -np.inf, None
    for i, j in itertools.combinations(range(3), 2):
        s = float(np.dot(features[triplet[i]], features[triplet[j]]))
        if s > best:
            best, odd = s, triplet[3 - i - j]
    return odd


@pytest.fixture
def planted():
    """An embedding (rows = objects in sorted order), its triplets and their odd ones, and a file numbering."""
    rng = np.random.default_rng(3)
    features = rng.normal(size=(N_OBJECTS, 4))
    triplets = np.array([rng.choice(N_OBJECTS, 3, replace=False) for _ in range(300)])
    odd = np.array([_odd_one_loop(features, t) for t in triplets])
    perm = rng.permutation(N_OBJECTS)  # file index k -> embedding row perm[k]
    file_index = np.argsort(perm)  # embedding row o -> file index (THINGS' sortind, 0-based)
    return features, triplets, odd, perm, file_index


def _rows(triplets, odd, where):
    """The three objects of each triplet with the odd one in column `where` (2 = last, 0 = first)."""
    rows = []
    for t, o in zip(triplets, odd):
        pair = [x for x in t if x != o]
        rows.append(pair + [o] if where == 2 else [o] + pair)
    return np.array(rows)


@pytest.mark.parametrize("where, odd_one, base, delimiter, suffix", [
    (2, "last", 0, " ", ".txt"),  # THINGS-data / SPoSE trainset.txt: 0-based, odd one last, whitespace
    (0, "first", 1, ",", ".csv"),  # odd one first, 1-based (MATLAB) indices, comma-separated
    (2, "last", 1, "\t", ".tsv"),
])
def test_each_convention_recovers_the_embeddings_odd_one(tmp_path, planted, where, odd_one, base, delimiter,
                                                         suffix):
    features, triplets, odd, perm, file_index = planted
    path = tmp_path / f"triplets{suffix}"
    np.savetxt(path, file_index[_rows(triplets, odd, where)] + base, fmt="%d", delimiter=delimiter)
    sortind = tmp_path / "sortind.mat"
    scipy.io.savemat(sortind, {"sortind": (file_index + 1).reshape(-1, 1)})  # MATLAB: 1-based, a column
    t = load_triplets(path, odd_one=odd_one, stimulus_ids=sortind, object_base=base)
    assert t.choice_index.values.tolist() == [where] * len(odd)
    np.testing.assert_array_equal(t.choice.values, odd)  # every triplet agrees with the known embedding
    assert sorted(t.stimulus_id.values[0].tolist()) == sorted(triplets[0].tolist())
    assert t.attrs["parameters"]["odd_one"] == odd_one
    # the wrong position: never the odd one
    wrong = load_triplets(path, odd_one="first" if odd_one == "last" else "last", stimulus_ids=sortind)
    assert (wrong.choice.values == odd).mean() == 0
    # the inverse map (argsort of sortind) scrambles the objects: agreement falls to chance level
    inverse = load_triplets(path, odd_one=odd_one, stimulus_ids=perm + base)
    recomputed = np.array([_odd_one_loop(features, row) for row in inverse.stimulus_id.values])
    assert (recomputed == inverse.choice.values).mean() < 0.7
    # the base is guessed when a 0 (0-based) or n (1-based) occurs
    assert load_triplets(path, odd_one=odd_one, stimulus_ids=sortind).attrs["parameters"]["object_base"] == base


def test_string_ids_header_file_and_npy(tmp_path, planted):
    features, triplets, odd, perm, file_index = planted
    names = np.array([f"obj{i:02d}" for i in range(N_OBJECTS)])
    rows = file_index[_rows(triplets, odd, 2)]
    ids_file = tmp_path / "unique_id.txt"
    ids_file.write_text("\n".join(names[perm]) + "\n")  # line k: the id of file index k
    header = tmp_path / "triplets.tsv"
    header.write_text("image_1\timage_2\timage_3\n" + "".join(f"{a}\t{b}\t{c}\n" for a, b, c in rows))
    t = load_triplets(header, odd_one="last", stimulus_ids=ids_file)
    assert t.choice.values.tolist() == names[odd].tolist()
    npy = tmp_path / "triplets.npy"
    np.save(npy, rows)
    assert load_triplets(npy, odd_one="last", stimulus_ids=names[perm]).choice.values.tolist() == names[odd].tolist()
    plain = load_triplets(npy, odd_one="last")  # no map: the file's integers are the ids
    np.testing.assert_array_equal(plain.choice.values, file_index[odd])


def test_existing_tables_are_unchanged_by_the_new_options(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("image_1,image_2,image_3,choice\na,b,c,a\n")
    assert load_triplets(path).choice.values.tolist() == ["a"]
    nochoice = tmp_path / "n.csv"
    nochoice.write_text("image_1,image_2,image_3\na,b,c\n")
    assert load_triplets(nochoice, odd_one="first").choice.values.tolist() == ["a"]


def test_errors_name_the_file_and_rows(tmp_path):
    path = tmp_path / "trainset.txt"
    path.write_text("0 1 2\n3 4 9\n")
    with pytest.raises(ConfigError, match="no header and no choice column"):
        load_triplets(path)
    with pytest.raises(DataError, match=r"outside 0..3 .* data row 2: \(3, 4, 9\)") as info:
        load_triplets(path, odd_one="last", stimulus_ids=["a", "b", "c", "d"], object_base=0)
    assert str(path) in str(info.value)
    repeated = tmp_path / "repeated.txt"
    repeated.write_text("0 1 2\n3 3 1\n")
    with pytest.raises(DataError, match=r"same stimulus twice, e.g. data row 2") as info:
        load_triplets(repeated, odd_one="last")
    assert str(repeated) in str(info.value)
    with pytest.raises(DataError, match="not a permutation"):
        load_triplets(path, odd_one="last", stimulus_ids=[0, 1, 1, 3, 4, 5, 6, 7, 8, 9])
    with pytest.raises(DataError, match="repeats ids"):
        load_triplets(path, odd_one="last", stimulus_ids=list("abacdefghi"))
    with pytest.raises(ConfigError, match="0-based or 1-based"):
        path.write_text("1 2 3\n")
        load_triplets(path, odd_one="last", stimulus_ids=["a", "b", "c", "d", "e"])
    with pytest.raises(UnknownNameError):
        load_triplets(path, odd_one="middle")
    with pytest.raises(ConfigError, match="choice="):
        load_triplets(path, odd_one="last", choice="x")
    with pytest.raises(ConfigError, match="object_base"):
        load_triplets(path, odd_one="last", object_base=1)
    wide = tmp_path / "wide.txt"
    wide.write_text("0 1 2 3\n")
    with pytest.raises(FileFormatError, match=r"\(n, 3\) matrix"):
        load_triplets(wide, odd_one="last")
    named = tmp_path / "named.csv"
    named.write_text("image_1,image_2,image_3\ncat,dog,car\n")
    with pytest.raises(ConfigError, match="integer object indices"):
        load_triplets(named, odd_one="last", stimulus_ids=["cat", "dog", "car"])


def test_read_id_map_reads_permutations_and_ids():
    assert read_id_map(np.array([3, 1, 2]))[0].tolist() == [1, 2, 0]  # sortind: file index 2 is sorted row 0
    assert read_id_map(["b", "a"])[0].tolist() == ["b", "a"]
    with pytest.raises(DataError, match="not a permutation"):
        read_id_map([0, 2])


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 2**32 - 1), st.sampled_from(["last", "first"]))
def test_the_odd_ones_position_does_not_change_the_choices(seed, odd_one):
    # property: the same judgements written with the odd one last or first load to the same choices
    rng = np.random.default_rng(seed)
    features = rng.normal(size=(8, 3))
    triplets = np.array([rng.choice(8, 3, replace=False) for _ in range(20)])
    odd = np.array([_odd_one_loop(features, t) for t in triplets])
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "t.txt"
        np.savetxt(path, _rows(triplets, odd, 2 if odd_one == "last" else 0), fmt="%d")
        t = load_triplets(path, odd_one=odd_one)
    np.testing.assert_array_equal(t.choice.values, odd)


def test_sortind_maps_file_indices_as_the_official_things_scripts_do(tmp_path):
    """Reference: the remap of the THINGS/SPoSE MATLAB scripts, written out literally (1-based):

        triplets = load('validationset.txt') + 1;
        for i_obj = 1:1854, triplets(triplets == sortind(i_obj)) = 10000 + i_obj; end
        triplets = triplets - 10000;     % now rows of spose_embedding_49d_sorted

    i.e. sorted row i holds the object whose file index is sortind(i) (the same map as
    ``images1854(i).im = im{sortind(i)}``); file index k goes to the sorted row i with sortind(i) = k.
    """
    rng = np.random.default_rng(11)
    n = 9
    sortind = rng.permutation(n) + 1  # MATLAB, 1-based
    raw = np.array([rng.choice(n, 3, replace=False) for _ in range(40)])  # the file: 0-based, odd one last
    path = tmp_path / "validationset.txt"
    np.savetxt(path, raw, fmt="%d")
    scipy.io.savemat(tmp_path / "sortind.mat", {"sortind": sortind.reshape(-1, 1)})
    expected = raw + 1
    for i_obj in range(1, n + 1):
        expected[expected == sortind[i_obj - 1]] = 10000 + i_obj
    expected = expected - 10000 - 1  # 0-based rows of the sorted embedding
    loaded = load_triplets(path, odd_one="last", stimulus_ids=tmp_path / "sortind.mat", object_base=0)
    np.testing.assert_array_equal(loaded.stimulus_id.values.astype(int), expected)
