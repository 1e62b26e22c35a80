from __future__ import annotations

import pytest

from kiosk.model_files import ModelNotFoundError, facenet_graph_path, sha256_of, shape_predictor_path

FACENET_SHA256 = "704afe26766ce6215931b0bde68650835be9518613d40ce101e641708c7d5c78"
SHAPE_PREDICTOR_SHA256 = "fbdc2cb80eb9aa7a758672cbfdda32ba6300efe9b6e6c7a299ff7e736b11b92f"


def test_models_come_from_the_installed_packages_unchanged():
    assert sha256_of(facenet_graph_path()) == FACENET_SHA256
    assert sha256_of(shape_predictor_path()) == SHAPE_PREDICTOR_SHA256


def test_a_configured_path_that_is_missing_is_a_clear_error(tmp_path):
    with pytest.raises(ModelNotFoundError, match="model file not found"):
        facenet_graph_path(str(tmp_path / "missing.pb"))
