"""Settings parsing: strict booleans, integers, lists, *_FILE secrets, clear errors."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured

from controlplane.env import env_bool, env_int, env_list, env_secret


@pytest.mark.parametrize(
    "raw, expected", [("true", True), ("1", True), ("on", True), ("false", False), ("0", False), ("", False)]
)
def test_booleans(monkeypatch, raw, expected):
    monkeypatch.setenv("X_FLAG", raw)
    assert env_bool("X_FLAG", not expected) is expected


@pytest.mark.parametrize("raw", ["ture", "2", "enabled"])
def test_a_misspelt_boolean_is_an_error_not_false(monkeypatch, raw):
    monkeypatch.setenv("X_FLAG", raw)
    with pytest.raises(ImproperlyConfigured, match="X_FLAG"):
        env_bool("X_FLAG", False)


def test_integers(monkeypatch):
    monkeypatch.setenv("X_INT", "42")
    assert env_int("X_INT", 1) == 42
    monkeypatch.setenv("X_INT", "forty")
    with pytest.raises(ImproperlyConfigured, match="not an integer"):
        env_int("X_INT", 1)


def test_lists(monkeypatch):
    monkeypatch.setenv("X_LIST", " a, b ,,c ")
    assert env_list("X_LIST", []) == ["a", "b", "c"]
    monkeypatch.delenv("X_LIST")
    assert env_list("X_LIST", ["d"]) == ["d"]


def test_secret_from_file(monkeypatch, tmp_path):
    secret = tmp_path / "s"
    secret.write_text("s3cr3t\n")
    monkeypatch.delenv("X_SECRET", raising=False)
    monkeypatch.setenv("X_SECRET_FILE", str(secret))
    assert env_secret("X_SECRET") == "s3cr3t"
    monkeypatch.setenv("X_SECRET", "direct")
    assert env_secret("X_SECRET") == "direct"


def test_an_unreadable_secret_file_is_an_error(monkeypatch, tmp_path):
    monkeypatch.delenv("X_SECRET", raising=False)
    monkeypatch.setenv("X_SECRET_FILE", str(tmp_path / "missing"))
    with pytest.raises(ImproperlyConfigured, match="X_SECRET_FILE"):
        env_secret("X_SECRET")
