"""The models shared by the pipeline worker and an enrolment worker: two threads embedding at
once both get their embeddings (the bare OpenVINO embedder answers "Infer Request is busy")."""

from __future__ import annotations

import threading

import numpy as np


def test_two_threads_embed_at_once_through_the_shared_models(models, settings):
    from ui.app import enrollment_models, shared_models

    shared = shared_models(models)
    assert shared_models(shared) is shared
    enrolling = enrollment_models(shared, settings)
    assert enrolling.embedder is shared.embedder  # one network, called one at a time
    face_rgb = (np.random.default_rng(1).random((160, 160, 3)) * 255).astype(np.uint8)
    expected = shared.embedder.embed(face_rgb)
    answers: list[object] = []

    def embed_many(embedder) -> None:
        for _ in range(20):
            try:
                answers.append(embedder.embed(face_rgb))
            except Exception as exc:  # noqa: BLE001 - the failure this test is about
                answers.append(exc)

    threads = [threading.Thread(target=embed_many, args=(e,))
               for e in (shared.embedder, enrolling.embedder)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [a for a in answers if isinstance(a, Exception)] == []
    assert len(answers) == 40
    assert all(np.allclose(a, expected, atol=1e-5) for a in answers)
    assert shared.embedder.model_id == models.embedder.model_id
