"""FIX gateway.

    session.py      FIX session layer (4.4 / 4.2): logon, heartbeats, resend, sequence reset,
                    validation, per-session persistent message store (store.py)
    application.py  translation between FIX application messages and engine commands / events

The boundary between the two is `Application` below: the session layer calls it with validated,
in-sequence application messages; the application answers through `FixSession.send()`.
"""
from __future__ import annotations

from typing import Protocol


class Application(Protocol):
    """What the session layer needs from the server.  All calls happen on the event loop thread."""

    def on_logon(self, session) -> None:
        """A session completed logon (after authentication and sequence checks)."""

    def on_logout(self, session, reason: str) -> None:
        """A logged-on session ended: logout, disconnect, heartbeat timeout, or server stop."""

    def on_message(self, session, msg) -> None:
        """One application message (not admin), validated, in sequence, delivered exactly once
        (a PossDup resend of an already processed MsgSeqNum is not delivered again)."""

    # Optional: an application may also take runs of messages in one call.
    # batch_msg_types: bytes          one-character MsgTypes it takes that way (e.g. b"DF")
    # def on_messages(self, session, msgs: list, start: int, stop: int) -> None:
    #     msgs[start:stop], each as on_message would get it, consecutive in sequence; the
    #     session has already consumed their MsgSeqNums
