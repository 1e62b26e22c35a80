from __future__ import annotations

import numpy as np
import pytest

from kiosk.embed import l2_normalize
from kiosk.match import GalleryMatrix, nearest
from kiosk.store.people import farthest_row


def unit(*values: float) -> np.ndarray:
    vector = np.zeros(4, np.float32)
    vector[: len(values)] = values
    return l2_normalize(vector)


def make(rows):
    matrix = GalleryMatrix(dim=4)
    for image_id, (person_id, vector) in enumerate(rows, start=1):
        matrix.add(image_id, person_id, vector)
    return matrix


def test_empty_gallery_is_unknown():
    match = GalleryMatrix(dim=4).nearest(unit(1), 1.0, 0.1)
    assert match.person_id is None and not match.accepted and match.distance == np.inf


def test_best_row_of_each_person_counts():
    matrix = make([(1, unit(1, 0)), (1, unit(0, 0, 1)), (2, unit(0, 1))])
    match = matrix.nearest(unit(1, 0.1), threshold=1.0, min_margin=0.1)
    assert match.person_id == 1 and match.accepted and match.image_id == 1
    assert match.distance == pytest.approx(np.linalg.norm(unit(1, 0.1) - unit(1, 0)), abs=1e-5)
    assert match.margin == pytest.approx(np.linalg.norm(unit(1, 0.1) - unit(0, 1)) - match.distance, abs=1e-5)


def test_over_threshold_is_unknown_but_reports_nearest():
    matrix = make([(1, unit(1, 0))])
    match = matrix.nearest(unit(0, 1), threshold=1.0, min_margin=0.0)
    assert match.person_id == 1 and not match.accepted
    assert match.margin == np.inf


def test_too_small_margin_is_refused():
    matrix = make([(1, unit(1, 0.05)), (2, unit(1, -0.05))])
    assert not matrix.nearest(unit(1, 0.01), threshold=1.0, min_margin=0.1).accepted


def test_remove_keeps_rows_consistent():
    matrix = make([(1, unit(1)), (2, unit(0, 1)), (1, unit(0, 0, 1)), (3, unit(0, 0, 0, 1))])
    matrix.remove_person(1)
    assert sorted(matrix.person_ids.tolist()) == [2, 3]
    assert len(matrix) == 2
    assert matrix.nearest(unit(0, 0, 0, 1), 0.5, 0.0).person_id == 3
    matrix.remove_image(99)  # absent: no-op
    assert len(matrix) == 2


def test_growth_beyond_initial_capacity():
    rng = np.random.default_rng(0)
    vectors = l2_normalize(rng.normal(size=(500, 4)))
    matrix = GalleryMatrix(dim=4)
    matrix.add_many(np.arange(500), np.arange(500) // 10, vectors)
    assert len(matrix) == 500
    assert nearest(vectors[123], matrix.embeddings, matrix.person_ids, matrix.image_ids, 0.01, 0.0).image_id == 123


def test_farthest_row():
    assert farthest_row(np.stack([unit(1), unit(0, 1), unit(-1)]), unit(1)) == 2


def test_adopted_matrix_grows_and_removes_like_a_built_one():
    vectors = np.stack([unit(1), unit(0, 1), unit(0, 0, 1)])
    matrix = GalleryMatrix.adopt(np.array([10, 11, 12]), np.array([1, 2, 2]), vectors)
    assert len(matrix) == 3 and matrix.nearest(unit(0, 0, 1), 0.5, 0.0).image_id == 12
    matrix.add(13, 3, unit(0, 0, 0, 1))
    matrix.remove_image(10)
    assert sorted(matrix.image_ids.tolist()) == [11, 12, 13]
    assert matrix.nearest(unit(0, 0, 0, 1), 0.5, 0.0).person_id == 3
