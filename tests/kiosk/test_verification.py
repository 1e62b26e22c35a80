from __future__ import annotations

import numpy as np
import pytest

from kiosk.eval.pairs import (
    PairsFormatError, accuracy_at, best_threshold, kfold_accuracy, pair_folds, read_pairs,
    tar_at_far,
)


def lfw_lines(folds: int, per_kind: int) -> str:
    lines = [f"{folds}\t{per_kind}"]
    for fold in range(folds):
        lines += [f"P{fold}_{i}\t1\t2" for i in range(per_kind)]
        lines += [f"P{fold}_{i}\t1\tQ{fold}_{i}\t1" for i in range(per_kind)]
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("folds, per_kind", [(9, 3), (10, 2), (2, 1)])
def test_lfw_header_declares_the_folds(tmp_path, folds, per_kind):
    pairs_file = tmp_path / "pairs.txt"
    pairs_file.write_text(lfw_lines(folds, per_kind))
    pairs = read_pairs(pairs_file, tmp_path)
    fold_of, source = pair_folds(pairs)
    assert source == "file"
    assert fold_of.tolist() == [k for k in range(folds) for _ in range(2 * per_kind)]
    # asking for a number of folds deals them instead
    dealt, source = pair_folds(pairs, folds=2)
    assert source == "dealt" and sorted(set(dealt.tolist())) == [0, 1]


def test_single_fold_file_and_csv_are_dealt_into_ten(tmp_path):
    pairs_file = tmp_path / "pairs.txt"
    pairs_file.write_text(lfw_lines(1, 20))
    fold_of, source = pair_folds(read_pairs(pairs_file, tmp_path))
    assert source == "dealt" and len(set(fold_of.tolist())) == 10


def test_cross_validation_keeps_the_file_folds():
    # fold 0's pairs can only be separated by a threshold the other fold does not give
    same = np.array([True, False, True, False])
    distances = np.array([0.5, 0.6, 0.9, 1.0])
    fold_of = np.array([0, 0, 1, 1])
    accuracy, _, _ = kfold_accuracy(distances, same, fold_of=fold_of)
    assert accuracy == pytest.approx(0.5)
    with pytest.raises(ValueError, match="fold_of"):
        kfold_accuracy(distances, same, fold_of=np.array([0, 1]))


@pytest.mark.parametrize("text", [lfw_lines(9, 3).rsplit("\n", 2)[0] + "\n",
                                  "2\t1\nA\t1\tB\t1\nA\t1\t2\nC\t1\t2\nC\t1\tD\t1\n"])
def test_declared_folds_must_match_the_pairs(tmp_path, text):
    pairs_file = tmp_path / "pairs.txt"
    pairs_file.write_text(text)
    with pytest.raises(PairsFormatError, match="fold"):
        read_pairs(pairs_file, tmp_path)


def test_lfw_format(tmp_path):
    pairs_file = tmp_path / "pairs.txt"
    pairs_file.write_text("1\t2\nAnn_Lee\t1\t3\nAnn_Lee\t2\tBob_Roe\t12\n")
    pairs = read_pairs(pairs_file, tmp_path / "img")
    assert [p.same for p in pairs] == [True, False]
    assert pairs[0].path_b == tmp_path / "img" / "Ann_Lee" / "Ann_Lee_0003.jpg"
    assert pairs[1].path_b == tmp_path / "img" / "Bob_Roe" / "Bob_Roe_0012.jpg"


def test_csv_format(tmp_path):
    pairs_file = tmp_path / "master.csv"
    pairs_file.write_text("file_x,file_y,Decision\na.jpg,b.jpg,Yes\na.jpg,c.jpg,No\n")
    pairs = read_pairs(pairs_file, tmp_path)
    assert [(p.path_a.name, p.path_b.name, p.same) for p in pairs] == [
        ("a.jpg", "b.jpg", True), ("a.jpg", "c.jpg", False)]


@pytest.mark.parametrize("text", ["", "1\t1\nAnn\tx\t2\n", "1\t1\na b c d e\n", "file_x,file_y,Decision\na,b,Maybe\n", "1\t0\n"])
def test_bad_pairs_files(tmp_path, text):
    pairs_file = tmp_path / "pairs.txt"
    pairs_file.write_text(text)
    with pytest.raises(PairsFormatError):
        read_pairs(pairs_file, tmp_path)


def test_metrics_on_separable_and_overlapping_distances():
    same = np.array([True] * 50 + [False] * 50)
    distances = np.concatenate([np.linspace(0.2, 0.9, 50), np.linspace(1.0, 1.6, 50)])
    accuracy, std, threshold = kfold_accuracy(distances, same)
    assert accuracy == 1.0 and std == 0.0 and 0.9 < threshold < 1.0
    assert accuracy_at(distances, same, 0.95) == 1.0
    assert 0.9 < best_threshold(distances, same) < 1.0
    assert tar_at_far(distances, same, 1e-3) == 1.0
    # one impostor below every genuine pair: at FAR 1e-3 of 50 impostors none may pass
    distances[50] = 0.1
    assert tar_at_far(distances, same, 1e-3) == 0.0
    assert kfold_accuracy(distances, same)[0] == pytest.approx(0.99)
