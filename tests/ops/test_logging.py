"""Structured logs: JSON lines with session/order/seq identifiers, level from configuration."""
import io
import json
import logging

import numpy as np
import pytest

from ordex.core.events import EVENT_DTYPE, EventKind
from ordex.core.reasons import Reason
from ordex.gateway import config as config_mod
from ordex.gateway.logging import EventLog, configure


@pytest.fixture
def root_logger():
    root = logging.getLogger()
    saved = list(root.handlers), root.level
    yield
    for h in list(root.handlers):
        root.removeHandler(h)
    for h in saved[0]:
        root.addHandler(h)
    root.setLevel(saved[1])


def lines(stream):
    return [json.loads(x) for x in stream.getvalue().splitlines()]


def test_json_lines_with_identifiers(root_logger):
    out = io.StringIO()
    configure("info", out)
    log = logging.getLogger("ordex.test")
    log.info("order %s accepted", 7, extra={"session": "CLIENT1", "order_id": 7, "seq": 42,
                                             "clordid": b"B1"})
    log.debug("hidden at info")
    try:
        raise ValueError("boom")
    except ValueError:
        log.exception("failed", extra={"seq": 43})
    got = lines(out)
    assert len(got) == 2
    first = got[0]
    assert first["msg"] == "order 7 accepted" and first["level"] == "info"
    assert (first["session"], first["order_id"], first["seq"], first["clordid"]) == (
        "CLIENT1", 7, 42, "B1")
    assert first["logger"] == "ordex.test" and first["ts"].endswith("Z")
    assert got[1]["level"] == "error" and "ValueError: boom" in got[1]["exc"]
    with pytest.raises(ValueError, match="expected one of"):
        configure("chatty", out)


def test_event_log_follows_the_configured_level(root_logger):
    ref = config_mod.load().reference
    ev = np.zeros(2, dtype=EVENT_DTYPE)
    ev["seq"], ev["exec_id"], ev["order_id"] = 9, (1, 2), 5
    ev["kind"] = (EventKind.NEW, EventKind.REJECTED)
    ev["reason"][1] = Reason.INSTRUMENT_HALTED
    ev["session"], ev["account"], ev["instrument"], ev["clordid"] = 0, 1, 1, b"X1"
    sink = EventLog(ref)
    quiet = io.StringIO()
    configure("info", quiet)
    sink(ev)
    assert quiet.getvalue() == ""
    loud = io.StringIO()
    configure("debug", loud)
    sink(ev)
    got = lines(loud)
    assert [g["msg"] for g in got] == ["NEW", "REJECTED"]
    assert got[1]["reason"] == "INSTRUMENT_HALTED" and got[1]["session"] == "CLIENT1"
    assert (got[0]["account"], got[0]["instrument"], got[0]["order_id"], got[0]["seq"]) == (
        "DEMO2", "MSFT", 5, 9)
