from __future__ import annotations

import threading

import numpy as np
import pytest

import kiosk.matching.prefilter
import kiosk.matching.quantize
import kiosk.matching.threads
from kiosk.embed import l2_normalize
from kiosk.matching.matrix import GalleryMatrix, nearest
from kiosk.matching.prefilter import Int8FloorIndex
from kiosk.matching.quantize import INT8_SCALE, Projection, quantize_int8
from kiosk.matching.threads import search_threads
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


def random_gallery(rng, rows, people, dim=512, index_min_rows=1, threads=None):
    vectors = l2_normalize(rng.normal(size=(rows, dim)).astype(np.float32))
    matrix = GalleryMatrix(dim=dim, index_min_rows=index_min_rows, threads=threads)
    matrix.add_many(np.arange(1, rows + 1), rng.integers(1, people + 1, rows), vectors)
    return matrix


def subspace_vectors(rng, count, basis, centres=None, spread=0.6, noise=0.003):
    """Unit rows like FaceNet's: near a low-dimensional subspace (``basis``, (dim, rank)) with
    falling energy along it, around person centres (when given), plus a little noise off it."""
    rank = basis.shape[1]
    energy = np.linspace(1.0, 0.15, rank)
    inside = rng.normal(size=(count, rank)) * energy * spread
    if centres is not None:
        inside += centres
    rows = inside @ basis.T + rng.normal(0.0, noise, (count, basis.shape[0]))
    return l2_normalize(rows.astype(np.float32))


def subspace_gallery(rng, rows, people, dim=512, rank=60, threads=None):
    """A gallery of ``people`` whose rows lie near a ``rank``-dimensional subspace, and its basis."""
    basis = np.linalg.qr(rng.normal(size=(dim, rank)))[0]
    centres = rng.normal(size=(people, rank)) * np.linspace(1.0, 0.15, rank)
    person_ids = rng.integers(0, people, rows)
    vectors = subspace_vectors(rng, rows, basis, centres[person_ids])
    matrix = GalleryMatrix(dim=dim, index_min_rows=1, threads=threads)
    matrix.add_many(np.arange(1, rows + 1), person_ids + 1, vectors)
    return matrix, basis


def decision(match):
    return match.person_id, match.image_id, match.accepted


def scan_threads():
    return [t for t in threading.enumerate() if t.name.startswith("match-scan")]


@pytest.mark.parametrize("seed, rows, people, threads", [
    (0, 3000, 300, 2), (1, 3000, 3000, 2), (2, 500, 2, 2), (3, 5, 5, 2),
    (4, 3000, 300, 1), (5, 3001, 100, 3), (6, 1, 1, 2),
])
def test_int8_prefilter_decides_exactly_as_the_exhaustive_scan(seed, rows, people, threads):
    rng = np.random.default_rng(seed)
    matrix = random_gallery(rng, rows, people, threads=threads)
    # genuine-like queries (a stored row plus noise), strangers, and the threshold's edge
    for step in range(120):
        if step % 3 == 0:
            query = rng.normal(size=matrix.dim)
        else:
            noise = 0.4 * (step % 4) / np.sqrt(matrix.dim)  # up to a stranger's distance
            query = matrix.embeddings[rng.integers(len(matrix))] + rng.normal(0, noise, matrix.dim)
        query = l2_normalize(query.astype(np.float32))
        threshold = float(rng.uniform(0.2, 1.4))
        indexed = matrix.nearest(query, threshold, 0.05)
        exhaustive = nearest(query, matrix.embeddings, matrix.person_ids, matrix.image_ids, threshold, 0.05)
        assert decision(indexed) == decision(exhaustive)
        assert indexed.distance == pytest.approx(exhaustive.distance, abs=1e-6)
        assert indexed.margin == pytest.approx(exhaustive.margin, abs=1e-6)
        if step % 10 == 0 and len(matrix) > 3:  # the rolling update: remove a row, add one
            matrix.remove_image(int(rng.choice(matrix.image_ids)))
            matrix.add(10_000 + step, int(rng.integers(1, people + 1)), query)
    assert matrix.prefilter().threads == threads
    if people > 1 and rows > 1:
        assert matrix.full_scans <= 3  # the bound proves (nearly) every answer on its own
    matrix.close()


@pytest.mark.parametrize("seed, rows, people, threads", [(20, 4000, 400, 2), (21, 3000, 3000, 1)])
def test_projected_prefilter_decides_exactly_as_the_exhaustive_scan(seed, rows, people, threads):
    """Rows near a subspace (as FaceNet's are) are scanned in it: a narrower int8 copy, the
    same decisions, for queries in the subspace and far from it, and after rows far from it
    are added (their codes do not fit: they are re-checked exactly) or removed."""
    rng = np.random.default_rng(seed)
    matrix, basis = subspace_gallery(rng, rows, people, threads=threads)
    matrix.nearest(matrix.embeddings[0], 0.9, 0.05)
    prefilter = matrix.prefilter()
    assert prefilter.projection is not None and prefilter.code_dim < matrix.dim // 4
    for step in range(90):
        if step % 3 == 0:  # a stranger: in the subspace, or anywhere
            query = (subspace_vectors(rng, 1, basis)[0] if step % 2
                     else l2_normalize(rng.normal(size=matrix.dim).astype(np.float32)))
        else:  # an enrolled person, nearer or farther
            row = matrix.embeddings[rng.integers(len(matrix))]
            query = l2_normalize(row + subspace_vectors(rng, 1, basis, spread=0.1 * (step % 5))[0])
        threshold = float(rng.uniform(0.3, 1.3))
        indexed = matrix.nearest(query, threshold, 0.05)
        exhaustive = nearest(query, matrix.embeddings, matrix.person_ids, matrix.image_ids,
                             threshold, 0.05)
        assert decision(indexed) == decision(exhaustive)
        assert indexed.distance == pytest.approx(exhaustive.distance, abs=1e-6)
        assert indexed.margin == pytest.approx(exhaustive.margin, abs=1e-6)
        if step % 10 == 0:  # the rolling update, and a face far from the subspace
            matrix.remove_image(int(rng.choice(matrix.image_ids)))
            matrix.add(50_000 + step, int(rng.integers(1, people + 1)), query)
            stranger = l2_normalize(rng.normal(size=matrix.dim).astype(np.float32))
            matrix.add(60_000 + step, people + 1 + step, stranger)
            assert matrix.nearest(stranger, 0.5, 0.05).image_id == 60_000 + step
    assert matrix.prefilter() is prefilter and prefilter.unfit_rows
    assert matrix.full_scans <= 3
    matrix.close()


def test_projection_scores_are_never_below_the_true_similarity():
    rng = np.random.default_rng(22)
    matrix, basis = subspace_gallery(rng, 3000, 300)
    projection = Projection.fit(matrix.embeddings)
    assert projection is not None and projection.code_dim % 16 == 0
    rows = np.vstack([matrix.embeddings[:500],
                      l2_normalize(rng.normal(size=(20, matrix.dim)).astype(np.float32)),
                      3.0 * matrix.embeddings[500:520]])  # rows need not be unit vectors
    codes, fits = projection.codes(rows)
    assert fits[:500].all() and not fits[500:520].any()  # far from the subspace: no valid code
    queries = np.vstack([subspace_vectors(rng, 40, basis),
                         l2_normalize(rng.normal(size=(10, matrix.dim)).astype(np.float32))])
    scores = np.stack([projection.query(q) for q in queries]) @ (codes.astype(np.float64) / 127).T
    true = queries.astype(np.float64) @ rows.T.astype(np.float64)
    assert np.all((scores - true)[:, fits] >= 0.0)
    # near the subspace the bound is tight: a small share of a typical similarity's spread
    assert np.median((scores - true)[:40, :500]) < 0.02


def test_projection_scores_bound_what_the_subspace_leaves_out(monkeypatch):
    """Rows and queries with a large part outside the subspace (a looser limit lets such a
    projection be fitted): the residual term keeps every score above the true similarity."""
    monkeypatch.setattr(kiosk.matching.quantize, "RESIDUAL_LIMIT", 0.6)
    rng = np.random.default_rng(25)
    basis = np.linalg.qr(rng.normal(size=(512, 40)))[0]
    rows = subspace_vectors(rng, 3000, basis, noise=0.02)  # about 0.4 of each row's norm
    projection = Projection.fit(rows)
    assert projection is not None
    codes, fits = projection.codes(rows)
    queries = l2_normalize(rows[:60] + rng.normal(0.0, 0.005, (60, 512)).astype(np.float32))
    scores = np.stack([projection.query(q) for q in queries]) @ (codes.astype(np.float64) / 127).T
    true = queries.astype(np.float64) @ rows.T.astype(np.float64)
    assert fits.mean() > 0.9
    assert np.all((scores - true)[:, fits] >= 0.0)


def test_rows_without_a_subspace_keep_every_component():
    rng = np.random.default_rng(23)
    assert Projection.fit(l2_normalize(rng.normal(size=(3000, 512)).astype(np.float32))) is None
    matrix, _ = subspace_gallery(rng, 1000, 100)  # too few rows to estimate a subspace
    assert Projection.fit(matrix.embeddings) is None


def test_many_rows_far_from_the_subspace_rebuild_the_copy(monkeypatch):
    monkeypatch.setattr(kiosk.matching.prefilter, "MAX_STALE_ROWS", 10)
    rng = np.random.default_rng(24)
    matrix, _ = subspace_gallery(rng, 3000, 300, threads=1)
    matrix.nearest(matrix.embeddings[0], 0.5, 0.05)
    first = matrix.prefilter()
    strangers = l2_normalize(rng.normal(size=(11, matrix.dim)).astype(np.float32))
    matrix.add_many(np.arange(10_000, 10_011), np.arange(1000, 1011), strangers)
    assert len(first.unfit_rows) == 11
    match = matrix.nearest(strangers[4], 0.5, 0.05)
    assert match.image_id == 10_004 and match.accepted
    assert matrix.prefilter() is not first  # rebuilt with those rows
    matrix.close()


def test_removed_and_moved_rows_are_never_answered_from_the_stale_int8_copy():
    rng = np.random.default_rng(7)
    matrix = random_gallery(rng, 2000, 200, threads=2)
    matrix.nearest(matrix.embeddings[0], 0.5, 0.05)  # builds the int8 copy
    removed = matrix.embeddings[5].copy()
    moved_image = int(matrix.image_ids[-1])
    moved = matrix.embeddings[-1].copy()
    matrix.remove_image(int(matrix.image_ids[5]))  # the last row moves into row 5
    match = matrix.nearest(removed, 0.5, 0.05)
    assert match.distance > 0.5 and not match.accepted  # the removed face is gone
    match = matrix.nearest(moved, 0.5, 0.05)
    assert match.image_id == moved_image and match.distance == pytest.approx(0.0, abs=1e-3)
    matrix.remove_person(int(matrix.person_ids[0]))
    for row in rng.integers(0, len(matrix), 20):
        query = l2_normalize(matrix.embeddings[row] + rng.normal(0, 0.05, matrix.dim).astype(np.float32))
        exhaustive = nearest(query, matrix.embeddings, matrix.person_ids, matrix.image_ids, 0.5, 0.05)
        assert decision(matrix.nearest(query, 0.5, 0.05)) == decision(exhaustive)
    matrix.close()


def test_int8_copy_is_rebuilt_after_many_stale_rows_or_when_it_has_doubled(monkeypatch):
    monkeypatch.setattr(kiosk.matching.prefilter, "MAX_STALE_ROWS", 10)
    before = len(scan_threads())
    rng = np.random.default_rng(8)
    matrix = random_gallery(rng, 500, 50, threads=2)
    matrix.nearest(matrix.embeddings[0], 0.5, 0.05)
    first = matrix.prefilter()
    for image_id in matrix.image_ids[:11].tolist():
        matrix.remove_image(image_id)
    rebuilt = matrix.prefilter()
    assert rebuilt is not first and not rebuilt.stale_rows and len(rebuilt) == 489
    vectors = l2_normalize(rng.normal(size=(500, matrix.dim)).astype(np.float32))
    matrix.add_many(np.arange(1000, 1400), rng.integers(1, 51, 400), vectors[:400])
    assert matrix.prefilter() is rebuilt  # appended to the last shard
    matrix.add_many(np.arange(1400, 1500), np.ones(100, np.int64), vectors[400:])
    assert matrix.prefilter() is not rebuilt  # doubled: rebalanced
    match = matrix.nearest(vectors[3], 0.5, 0.05)
    assert match.image_id == 1003 and match.accepted
    assert len(scan_threads()) == before + 1  # the old copies' threads have ended
    matrix.close()


def test_scan_threads_end_at_close_and_the_matrix_stays_usable():
    before = len(scan_threads())
    rng = np.random.default_rng(9)
    matrix = random_gallery(rng, 300, 30, threads=2)
    matrix.nearest(matrix.embeddings[1], 0.5, 0.05)
    assert len(scan_threads()) == before + 1
    matrix.close()
    assert len(scan_threads()) == before
    assert matrix.nearest(matrix.embeddings[1], 0.5, 0.05).image_id == int(matrix.image_ids[1])
    matrix.close()
    assert len(scan_threads()) == before


def test_gallery_close_ends_the_scan_threads(tmp_path):
    from kiosk.gallery import Gallery

    before = len(scan_threads())
    rng = np.random.default_rng(10)
    gallery = Gallery(tmp_path / "faces.sqlite", "test-model")
    try:
        for person in range(3):
            gallery.add_person(f"P{person}", [l2_normalize(rng.normal(size=512).astype(np.float32))])
        gallery.index.index_min_rows = 1
        gallery.index.threads = 2
        gallery.index.nearest(gallery.index.embeddings[0], 0.5, 0.05)
        assert len(scan_threads()) == before + 1
    finally:
        gallery.close()
    assert len(scan_threads()) == before


def test_search_threads_follow_the_machine_and_are_validated():
    assert 1 <= search_threads() <= kiosk.matching.threads.MAX_SEARCH_THREADS
    assert GalleryMatrix(dim=4).threads == search_threads()
    with pytest.raises(ValueError, match="threads"):
        GalleryMatrix(dim=4, threads=0)


def test_prefiltered_query_is_exact_for_an_identical_stored_face():
    rng = np.random.default_rng(5)
    matrix = random_gallery(rng, 2000, 200)
    stored = matrix.embeddings[17].copy()
    match = matrix.nearest(stored, 0.5, 0.05)
    assert match.accepted and match.image_id == int(matrix.image_ids[17])
    assert match.distance == pytest.approx(0.0, abs=1e-3)


def test_quantisation_bound_holds():
    rng = np.random.default_rng(6)
    rows = l2_normalize(rng.normal(size=(500, 512)).astype(np.float32))
    rows[0, 0] = 5.0  # a component beyond the int8 range only widens its bound
    codes, bounds = quantize_int8(rows)
    queries = l2_normalize(rng.normal(size=(50, 512)).astype(np.float32))
    error = np.abs(queries @ rows.T - queries @ (codes.astype(np.float32) / INT8_SCALE).T)
    assert np.all(error <= bounds[None, :] + 1e-6)


def test_index_min_rows_is_validated():
    with pytest.raises(ValueError, match="index_min_rows"):
        GalleryMatrix(dim=4, index_min_rows=0)


def test_huge_pages_leave_the_codes_unchanged():
    codes = np.random.default_rng(11).integers(0, 256, 6 << 20, dtype=np.uint8)
    before = codes.copy()
    assert isinstance(kiosk.matching.threads.use_huge_pages(codes[1:]), bool)  # unaligned start: whole pages only
    np.testing.assert_array_equal(codes, before)
    assert kiosk.matching.threads.use_huge_pages(codes[:4096]) is False  # under two huge pages: left alone


def check_floor_index(matrix, queries, count=32):
    """Every row a query's scan leaves out is at least the floor away, and the nearest row is a
    candidate; returns how far below the nearest row left out each floor is."""
    gaps = []
    for query in queries:
        rows, floor = matrix.distance_candidates(query, count)
        exact = np.linalg.norm(matrix.embeddings.astype(np.float64) - query, axis=1)
        left_out = np.ones(len(exact), bool)
        left_out[rows] = False
        assert left_out.any() and floor <= exact[left_out].min()
        assert int(np.argmin(exact)) in rows
        gaps.append(exact[left_out].min() - floor)
    return np.array(gaps)


def test_floor_index_leaves_out_no_row_nearer_than_its_floor():
    """Rows that are not unit vectors (dlib's) near a subspace: the int8 copy keeps their
    coordinates in it and the residual, the floor of every row left out holds and stays close,
    also through removals (stale rows) and additions far from the subspace (re-checked)."""
    rng = np.random.default_rng(26)
    basis = np.linalg.qr(rng.normal(size=(128, 30)))[0]
    rows = 1.4 * subspace_vectors(rng, 3000, basis, noise=0.005)
    matrix = GalleryMatrix(dim=128, index_min_rows=1)
    matrix.add_many(np.arange(3000), np.arange(3000) // 10, rows)
    gaps = check_floor_index(matrix, np.vstack([matrix.embeddings[:10],  # stored rows themselves
                                                1.4 * subspace_vectors(rng, 10, basis, noise=0.005)]))
    copy = matrix.floor_index()
    assert copy.code_dim <= 48 and not copy.unfit_rows  # the subspace, not all 128 components
    assert np.median(gaps) < 0.05
    for image_id in rng.choice(3000, 50, replace=False).tolist():
        matrix.remove_image(image_id)  # the last row moves into the hole
    far = 3.0 * l2_normalize(rng.normal(size=(200, 128)).astype(np.float32))
    matrix.add_many(np.arange(5000, 5200), np.arange(200), far)
    assert matrix.floor_index() is copy and copy.unfit_rows and copy.stale_rows
    check_floor_index(matrix, np.vstack([far[:5], matrix.embeddings[:5],
                                         1.4 * subspace_vectors(rng, 5, basis, noise=0.005)]))


def test_floor_index_without_a_subspace_keeps_every_direction():
    rng = np.random.default_rng(27)
    rows = 1.4 * l2_normalize(rng.normal(size=(3000, 128)).astype(np.float32))
    matrix = GalleryMatrix(dim=128, index_min_rows=1, threads=1)
    matrix.add_many(np.arange(3000), np.arange(3000), rows)
    strangers = l2_normalize(rng.normal(size=(30, 128)).astype(np.float32))
    near = rows[:30] + 0.05 * rng.normal(size=(30, 128)).astype(np.float32)
    check_floor_index(matrix, np.vstack([rows[:5], near, 1.4 * strangers, 3.0 * strangers]), count=8)
    assert matrix.floor_index().code_dim == 128


def test_several_matrices_scanned_in_one_pass_give_what_each_gives_alone():
    from kiosk.matching.matrix import distance_candidates_of

    rng = np.random.default_rng(28)
    first = random_gallery(rng, 3000, 300, dim=512, threads=2)
    second = GalleryMatrix(dim=128, index_min_rows=1, threads=2)
    second.add_many(first.image_ids, first.person_ids,
                    1.4 * l2_normalize(rng.normal(size=(3000, 128)).astype(np.float32)))
    queries = [first.embeddings[7], second.embeddings[7] + 0.01]
    together = distance_candidates_of([(first, queries[0]), (second, queries[1])], 64)
    for (rows, floor), matrix, query in zip(together, (first, second), queries):
        alone_rows, alone_floor = matrix.distance_candidates(query, 64)
        np.testing.assert_array_equal(rows, alone_rows)
        assert floor == alone_floor and 7 in rows  # the stored row itself
    assert distance_candidates_of([(first, queries[0]), (make([(1, unit(1))]), unit(1))]) is None


def test_prepare_builds_the_copy_the_queries_scan():
    rng = np.random.default_rng(29)
    matrix = random_gallery(rng, 3000, 300, threads=1)
    matrix.prepare()
    copies = matrix.int8_copies()
    assert len(copies) == 1 and not isinstance(copies[0], Int8FloorIndex)  # the dot-product copy only
    matrix.prepare(for_distances=True)
    assert matrix.floor_index() is not None
    small = make([(1, unit(1))])
    small.prepare()
    assert small.int8_copies() == []  # under index_min_rows: the exhaustive scan


def test_floor_index_takes_every_row_of_a_small_matrix():
    matrix = make([(1, unit(1, 0)), (2, unit(0, 1)), (3, unit(0, 0, 1))])
    matrix.index_min_rows = 1
    rows, floor = matrix.distance_candidates(unit(1, 0.1), 8)
    assert rows.tolist() == [0, 1, 2] and floor == np.inf
