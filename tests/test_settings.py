"""App settings from the environment and the listening-test config file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import mmmos_core.settings as settings_module
from mmmos_core.settings import DEFAULT_CONFIG, AppSettings, ListeningConfig, SettingsError


def test_defaults_without_environment(monkeypatch, tmp_path):
    monkeypatch.setattr(settings_module, "SPACE_STORAGE", tmp_path / "no-such-mount")
    s = AppSettings.from_env({})
    assert s.model == "lite" and s.ratings_path == Path("data/ratings.csv")
    assert s.max_upload_mb == 50 and s.concurrency == 1 and s.max_batch == 50
    assert s.config_path == DEFAULT_CONFIG
    assert s.listening.playlists["Bundled examples"] == "examples"  # the shipped config
    assert {"A/B example", "MUSHRA example"} <= set(s.listening.playlists)  # one example per design
    assert s.listening.consent and s.listening.instructions and s.listening.require_play


def test_space_persistent_storage_is_used_when_writable(monkeypatch, tmp_path):
    monkeypatch.setattr(settings_module, "SPACE_STORAGE", tmp_path)
    assert AppSettings.from_env({}).ratings_path == tmp_path / "mmmos" / "ratings.csv"
    assert not AppSettings.from_env({"SPACE_ID": "me/app"}).ratings_at_risk
    # An explicit path always wins; on a Space, one outside the persistent mount is flagged.
    elsewhere = AppSettings.from_env({"MMMOS_RATINGS_PATH": "/x/r.csv", "SPACE_ID": "me/app"})
    assert elsewhere.ratings_path == Path("/x/r.csv") and elsewhere.ratings_at_risk
    assert not AppSettings.from_env({"MMMOS_RATINGS_PATH": "/x/r.csv"}).ratings_at_risk  # not a Space


def test_environment_overrides(tmp_path):
    s = AppSettings.from_env({"MMMOS_MODEL": "/models/m", "MMMOS_MAX_UPLOAD_MB": "5", "MMMOS_CONCURRENCY": "3",
                              "MMMOS_MAX_BATCH": "7", "MMMOS_PLAYLIST": str(tmp_path / "pool.csv")})
    assert (s.model, s.max_upload_mb, s.concurrency, s.max_batch) == ("/models/m", 5, 3, 7)
    assert s.listening.playlists["pool"] == str(tmp_path / "pool.csv")


@pytest.mark.parametrize("name,value,problem", [("MMMOS_CONCURRENCY", "two", "whole number"),
                                                ("MMMOS_MAX_UPLOAD_MB", "0", "outside"),
                                                ("MMMOS_CONCURRENCY", "1000", "outside")])
def test_bad_environment_values_are_named(name, value, problem):
    with pytest.raises(SettingsError, match=f"{name}.*{problem}"):
        AppSettings.from_env({name: value})


def test_config_file_relative_playlists_and_errors(tmp_path):
    config = tmp_path / "cfg.json"
    config.write_text(json.dumps({"title": "T", "instructions": ["line 1", "line 2"], "consent": "OK?",
                                  "playlists": {"A": "pool", "B": "examples"}, "ratings_path": "/r.csv"}))
    c = ListeningConfig.from_file(config)
    assert c.instructions == "line 1\nline 2" and c.playlists == {"A": str(tmp_path / "pool"), "B": "examples"}
    s = AppSettings.from_env({"MMMOS_LISTENING_CONFIG": str(config)})
    assert s.ratings_path == Path("/r.csv") and s.listening.title == "T"
    config.write_text(json.dumps({"titel": "typo"}))
    with pytest.raises(SettingsError, match="unknown keys titel"):
        ListeningConfig.from_file(config)
    config.write_text("{broken")
    with pytest.raises(SettingsError, match="cfg.json"):
        ListeningConfig.from_file(config)
    with pytest.raises(SettingsError, match="not found"):
        AppSettings.from_env({"MMMOS_LISTENING_CONFIG": str(tmp_path / "missing.json")})


def test_audio_roots_come_from_the_config_relative_to_it_and_from_the_environment(tmp_path):
    import json

    from mmmos_core.settings import AppSettings

    config = tmp_path / "study" / "listening.json"
    config.parent.mkdir()
    config.write_text(json.dumps({"playlists": {"p": "examples"}, "audio_roots": ["../media"]}))
    settings = AppSettings.from_env({"MMMOS_LISTENING_CONFIG": str(config),
                                     "MMMOS_AUDIO_ROOTS": f"{tmp_path / 'a'}:{tmp_path / 'b'}"})
    assert settings.listening.audio_roots == [str(tmp_path / "media"), str(tmp_path / "a"), str(tmp_path / "b")]
