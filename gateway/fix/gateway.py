"""The FIX gateway as the server runs it: the acceptor (session layer) + the application layer.

It also carries out operators' DISCONNECT commands: when the engine's DISCONNECT event for one of
its sessions is durable, that session is logged out (cancel on disconnect follows as for any
logout).  Replayed journals deliver no events, so a restart disconnects nobody.
"""
from __future__ import annotations

import logging
import ssl

import numpy as np

from ordex.core.fixdict import Validation
from ordex.gateway.admin_actions import disconnects
from ordex.gateway.config import Config
from ordex.gateway.fix.application import FixApplication
from ordex.gateway.fix.session import FixAcceptor, SessionSettings

log = logging.getLogger("ordex.fix")


def session_settings(config: Config) -> list[SessionSettings]:
    return [SessionSettings(
        name=s.name, begin_string=s.begin_string, sender_comp_id=s.sender_comp_id,
        target_comp_id=s.target_comp_id, heartbeat_s=s.heartbeat_s,
        reset_on_logon=s.reset_on_logon, sending_time_tolerance_s=s.sending_time_tolerance_s,
        username=s.username, password_hash=s.password_hash,
        validation=Validation() if s.validate else Validation.off(),
        max_message_size=config.fix_max_message_size, drop_copy=s.drop_copy,
        cancel_on_disconnect=s.cancel_on_disconnect, accounts=tuple(s.accounts),
        throttle_per_s=s.max_orders_per_sec or None) for s in config.fix_sessions]


class FixGateway:
    def __init__(self, config: Config):
        self.config = config
        self.acceptor: FixAcceptor | None = None
        self.app: FixApplication | None = None
        self.port: int | None = None
        self._names = {s.id: s.name for s in config.reference.sessions}

    async def start(self, server) -> None:
        cfg = self.config
        server.subscribe(self._on_events)
        drop = {s.name: set(s.accounts) for s in cfg.fix_sessions if s.drop_copy}
        self.app = FixApplication(server, cfg.reference, drop_copy=drop)
        self.acceptor = FixAcceptor(session_settings(cfg), cfg.fix_store_dir, self.app)
        tls = None
        if cfg.tls_cert:
            tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            tls.load_cert_chain(cfg.tls_cert, cfg.tls_key)
        host, port = cfg.fix_listen
        listener = await self.acceptor.serve(host, port, ssl=tls)
        self.port = listener.sockets[0].getsockname()[1]
        log.info("FIX acceptor listening on %s:%d (%d sessions%s)", host, self.port,
                 len(cfg.fix_sessions), ", TLS" if tls else "")

    def _on_events(self, events: np.ndarray) -> None:
        if self.acceptor is None:
            return
        for sid, seq, text in disconnects(events):
            try:
                session = self.acceptor.session(self._names.get(sid, ""))
            except KeyError:
                continue                        # not a FIX session
            if session.logged_on:
                log.warning("FIX session %s: logged out by an operator (seq %d): %s",
                            session.name, seq, text)
                session.logout(text[:200])

    async def stop(self) -> None:
        if self.acceptor is not None:
            await self.acceptor.close()
