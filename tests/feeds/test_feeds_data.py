"""The recordings' fixture: a clear skip reason locally, a failure in CI."""
from pathlib import Path

import pytest
from feeds_helpers import require


def test_missing_recording_skips_locally(monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="missing"):
        require(Path("/nonexistent/recording.log"))


def test_missing_recording_fails_in_ci(monkeypatch):
    monkeypatch.setenv("CI", "1")
    with pytest.raises(pytest.fail.Exception, match="CI must provide it"):
        require(Path("/nonexistent/recording.log"))
