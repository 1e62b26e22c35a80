from __future__ import annotations

import numpy as np
import pytest

from kiosk.eval.pairs import (
    PairsFormatError, accuracy_at, best_threshold, kfold_accuracy, read_pairs, tar_at_far,
)


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
