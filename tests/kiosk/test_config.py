from __future__ import annotations

from pathlib import Path

import pytest

from kiosk.config import Settings, SettingsError
from kiosk.settings_files import load_settings, settings_to_toml

PROJECT_SETTINGS = Path(__file__).resolve().parents[2] / "settings.toml"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "settings.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_project_settings_file_loads_and_equals_defaults():
    assert load_settings(PROJECT_SETTINGS) == Settings()


def test_round_trip(tmp_path):
    settings = Settings().replace("recognition", distance_threshold=0.9)
    assert load_settings(write(tmp_path, settings_to_toml(settings))) == settings


def test_partial_file_keeps_defaults(tmp_path):
    loaded = load_settings(write(tmp_path, "[camera]\nsource = \"clip.mp4\"\n"))
    assert loaded.camera.source == "clip.mp4"
    assert loaded.recognition == Settings().recognition


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("[camera]\nsorce = \"0\"\n", ["[camera] sorce", "unknown key"]),
        ("[cameras]\nsource = \"0\"\n", ["unknown section [cameras]"]),
        ("[recognition]\ndistance_threshold = \"high\"\n", ["[recognition] distance_threshold", "a number"]),
        ("[recognition]\ndistance_threshold = 3.0\n", ["[recognition] distance_threshold", "range"]),
        ("[detection]\nmin_face_px = 1.5\n", ["[detection] min_face_px", "an integer"]),
        ("[ui]\nfullscreen = 1\n", ["[ui] fullscreen", "true/false"]),
        ("[ui]\nlanguage = \"fr\"\n", ["[ui] language"]),
        ("[camera\nsource = 0", ["not a valid TOML"]),
        ("camera = 3\n", ["[camera] must be a table"]),
    ],
)
def test_bad_settings_name_the_file_and_key(tmp_path, text, names):
    path = write(tmp_path, text)
    with pytest.raises(SettingsError) as info:
        load_settings(path)
    message = str(info.value)
    assert str(path) in message
    for name in names:
        if name == "range":
            assert "must be in" in message
        else:
            assert name in message


def test_binary_garbage_is_a_clear_error(tmp_path):
    path = tmp_path / "settings.toml"
    path.write_bytes(b"\xff\xfe\x00garbage\x80")
    with pytest.raises(SettingsError, match="not a valid TOML"):
        load_settings(path)


def test_missing_file(tmp_path):
    with pytest.raises(SettingsError, match="cannot read"):
        load_settings(tmp_path / "nope.toml")


@pytest.mark.parametrize(
    ("text", "key", "fix"),
    [
        ('[recognition]\nfacenet_graph = "missing/graph.pb"\n', "[recognition] facenet_graph",
         "does not exist; give the path of a FaceNet"),
        ('[recognition]\nfacenet_graph = "{settings}"\n', "[recognition] facenet_graph",
         "is not a FaceNet frozen TensorFlow graph"),
        ('[recognition]\nshape_predictor = "{folder}"\n', "[recognition] shape_predictor",
         "is not a file"),
        ('[recognition]\nshape_predictor = "{settings}"\n', "[recognition] shape_predictor",
         'is not a dlib 68-point shape predictor (.dat); give the path of'),
        ('[gallery]\ndb_path = "data/fa\\u0000ces.sqlite"\n', "[gallery] db_path", "NUL character"),
        ('[camera]\nsource = "rtsp://[::1:8554/stream"\n', "[camera] source",
         "not a valid camera URL (Invalid IPv6 URL); write it like"),
        ('[camera]\nsource = "rtsp://cam:99999/stream"\n', "[camera] source", "not a valid camera URL"),
        ('[camera]\nsource = "rtsp:///stream"\n', "[camera] source", "has no host"),
        ("[liveness]\nmax_fb_error_px = inf\n", "[liveness] max_fb_error_px", "finite number"),
        ("[liveness]\nchallenge_after_s = nan\n", "[liveness] challenge_after_s", "finite number"),
        ("[camera]\nreconnect_max_s = +inf\n", "[camera] reconnect_max_s", "finite number"),
        ("[recognition]\nmax_photo_bytes = 0\n", "[recognition] max_photo_bytes", "must be in"),
    ],
)
def test_configuration_errors_are_one_line_with_file_key_and_fix(tmp_path, text, key, fix):
    (tmp_path / "folder").mkdir()
    path = tmp_path / "settings.toml"
    path.write_text(text.format(settings=path, folder=tmp_path / "folder"), encoding="utf-8")
    with pytest.raises(SettingsError) as info:
        load_settings(path)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"{path}: {key}: ")
    assert fix in message


def test_configured_model_files_that_exist_are_accepted(tmp_path):
    from kiosk.model_files import facenet_graph_path, shape_predictor_path

    path = write(tmp_path, f'[recognition]\nfacenet_graph = "{facenet_graph_path()}"\n'
                           f'shape_predictor = "{shape_predictor_path()}"\n')
    assert load_settings(path).recognition.facenet_graph == str(facenet_graph_path())


def test_a_camera_url_with_an_ipv6_host_is_accepted(tmp_path):
    path = write(tmp_path, '[camera]\nsource = "rtsp://user:pw@[fe80::1]:554/stream"\n')
    assert load_settings(path).camera.source.startswith("rtsp://")


def test_a_retired_key_is_ignored_with_a_warning_and_the_file_still_loads(tmp_path, caplog):
    path = tmp_path / "old.toml"
    path.write_text("[liveness]\nmax_undecided_s = 4.0\nchallenge_after_s = 1.5\n")
    with caplog.at_level("WARNING"):
        settings = load_settings(path)
    assert settings.liveness.challenge_after_s == 1.5
    assert not hasattr(settings.liveness, "max_undecided_s")
    assert "[liveness] max_undecided_s: no longer used" in caplog.text
