"""Interop with QuickFIX C++ (Debian libquickfix-dev): the initiator is compiled once per test
session.  Locally a missing library skips these tests; in CI (CI=true) it fails them, because
there the proof must run."""
import asyncio
import os
import sys
from pathlib import Path

import pytest
import uvloop

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "fix_session"))      # EchoApp, the test Application

from qfclient import build_initiator, quickfix_available  # noqa: E402


@pytest.fixture(scope="session")
def initiator_binary(tmp_path_factory):
    missing = quickfix_available()
    if missing:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"QuickFIX interop cannot run in CI: {missing}; .ci/run installs "
                        "libquickfix-dev and g++")
        pytest.skip(f"QuickFIX interop: {missing}")
    return build_initiator(tmp_path_factory.mktemp("quickfix"))


@pytest.fixture(params=["asyncio", "uvloop"])
def run(request):
    factory = uvloop.new_event_loop if request.param == "uvloop" else None

    def _run(coro, timeout: float = 60.0):
        with asyncio.Runner(loop_factory=factory) as runner:
            return runner.run(asyncio.wait_for(coro, timeout))
    return _run
