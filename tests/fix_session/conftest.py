"""Fixtures for the FIX session tests: every test runs on stdlib asyncio and on uvloop, against a
real FixAcceptor on a loopback port, with simplefix (an independent codec) on the client side."""
import asyncio
import sys
from pathlib import Path

import pytest
import uvloop

sys.path.insert(0, str(Path(__file__).parent))

from fixclient import EchoApp, FixClient, serve_acceptor  # noqa: E402


@pytest.fixture(params=["asyncio", "uvloop"])
def run(request):
    """run(coroutine) on the loop under test, with an overall timeout."""
    factory = uvloop.new_event_loop if request.param == "uvloop" else None

    def _run(coro, timeout: float = 20.0):
        with asyncio.Runner(loop_factory=factory) as runner:
            return runner.run(asyncio.wait_for(coro, timeout))
    return _run


@pytest.fixture
def app():
    return EchoApp()


__all__ = ["EchoApp", "FixClient", "serve_acceptor"]
