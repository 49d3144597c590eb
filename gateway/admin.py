"""The admin listener: a small HTTP/1.1 server on the event loop for operations.

    GET  /metrics            Prometheus text format (gateway/metrics.py)          no token
    GET  /healthz            200 while the process serves requests (liveness)     no token
    GET  /readyz             200 when recovered and accepting commands, else 503  no token
    GET  /admin/status       server, journal and session state                    token
    POST /admin/<action>     JSON body; actions in gateway/admin_actions.py       token

Admin requests carry `Authorization: Bearer <token>`, compared in constant time
(hmac.compare_digest).  The token is [admin] token, else the contents of [admin] token_file, else
$ORDEX_ADMIN_TOKEN, else the one in <data_dir>/admin.token, created (mode 0600) at the first start
and reused after; `ordex admin` finds it the same way.  Bind the listener to loopback or a
management network: the token is the only guard and HTTP is not encrypted.

The listener runs on the server's loop, so actions need no locks: a request is parsed (head at most
8 KiB, body at most 64 KiB, 5 s to arrive), answered and the connection closed; at most 32
connections are served at once.  Malformed
requests get a 4xx answer and never reach the server.  If the port cannot be bound, the error is
logged and the exchange runs without its admin listener rather than not at all.
"""
from __future__ import annotations

import asyncio
import hmac
import logging
import os
import secrets
from pathlib import Path

import orjson

from ordex.gateway.admin_actions import ActionError, AdminActions
from ordex.gateway.config import ADMIN_TOKEN_MIN_LEN, Config
from ordex.gateway.logging import EventLog
from ordex.gateway.metrics import Metrics

log = logging.getLogger("ordex.admin")

TOKEN_ENV = "ORDEX_ADMIN_TOKEN"
TOKEN_FILE_NAME = "admin.token"
MAX_HEAD = 8192
MAX_BODY = 65536
REQUEST_TIMEOUT_S = 5.0
MAX_CONNECTIONS = 32          # more at once are closed unanswered (invariant 7: bounded)
METRICS_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_REASONS = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found",
            405: "Method Not Allowed", 408: "Request Timeout", 409: "Conflict",
            411: "Length Required", 413: "Payload Too Large", 431: "Request Header Fields Too Large",
            500: "Internal Server Error", 501: "Not Implemented", 503: "Service Unavailable",
            504: "Gateway Timeout"}


class TokenError(ValueError):
    """No usable admin token."""


def _check_token(token: str, where: str) -> str:
    token = token.strip()
    if len(token) < ADMIN_TOKEN_MIN_LEN:
        raise TokenError(f"{where}: the admin token must be at least {ADMIN_TOKEN_MIN_LEN} characters")
    return token


def default_token_file(config: Config) -> Path:
    return config.admin_token_file or config.data_dir / TOKEN_FILE_NAME


def read_token(config: Config, environ=os.environ) -> str:
    """The token a client should send (ordex admin): config, token file, environment, data dir."""
    if config.admin_token:
        return config.admin_token
    if config.admin_token_file is None and environ.get(TOKEN_ENV):
        return _check_token(environ[TOKEN_ENV], f"${TOKEN_ENV}")
    path = default_token_file(config)
    try:
        return _check_token(path.read_text(), str(path))
    except OSError as e:
        raise TokenError(f"no admin token: {path}: {e.strerror} (set {TOKEN_ENV} or pass --token)"
                         ) from None


def server_token(config: Config, environ=os.environ) -> tuple[str, str]:
    """(token, where it came from) for the listener; creates <data_dir>/admin.token if needed."""
    if config.admin_token:
        return config.admin_token, "config"
    if config.admin_token_file is not None:
        return read_token(config, environ), str(config.admin_token_file)
    if environ.get(TOKEN_ENV):
        return _check_token(environ[TOKEN_ENV], f"${TOKEN_ENV}"), f"${TOKEN_ENV}"
    path = default_token_file(config)
    try:
        return _check_token(path.read_text(), str(path)), str(path)
    except (OSError, TokenError):
        pass
    token = secrets.token_urlsafe(32)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(token + "\n")
    os.replace(tmp, path)
    log.warning("admin token created in %s (readable by its owner only)", path)
    return token, str(path)


class _HttpError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


class AdminGateway:
    """A server gateway (start(server) / stop()) serving metrics, health and admin actions."""

    def __init__(self, config: Config, environ=os.environ):
        self.config = config
        self.environ = environ
        self.server = None
        self.metrics: Metrics | None = None
        self.actions: AdminActions | None = None
        self.port: int | None = None
        self._listener: asyncio.AbstractServer | None = None
        self._token = b""
        self._connections = 0

    def _fix_acceptor(self):
        for gw in self.server.gateways:
            acceptor = getattr(gw, "acceptor", None)
            if acceptor is not None:
                return acceptor
        return None

    def _connected(self, name: str) -> bool | None:
        """Whether a gateway has the session connected now; None if no gateway serves it."""
        acceptor = self._fix_acceptor()
        if acceptor is not None:
            try:
                return acceptor.session(name).logged_on
            except KeyError:
                pass
        for gw in self.server.gateways:
            user = getattr(getattr(gw, "ouch", None), "users", {}).get(name)
            if user is not None:
                return user.conn is not None
        return None

    async def start(self, server) -> None:
        cfg = self.config
        self.server = server
        token, source = server_token(cfg, self.environ)
        self._token = token.encode()
        self.metrics = Metrics(cfg.reference)
        self.metrics.attach(server)
        self.metrics.fix_sessions = lambda: (a.sessions if (a := self._fix_acceptor()) else ())
        server.subscribe(EventLog(cfg.reference))
        self.actions = AdminActions(server, cfg.reference, connected=self._connected)
        host, port = cfg.admin_listen
        try:
            self._listener = await asyncio.start_server(self._handle, host, port, limit=MAX_HEAD)
        except OSError as e:
            log.error("admin listener could not bind %s:%d: %s; running without it", host, port, e)
            return
        self.port = self._listener.sockets[0].getsockname()[1]
        log.info("admin listener on http://%s:%d (metrics, health, admin; token from %s)",
                 host, self.port, source)

    async def stop(self) -> None:
        if self._listener is not None:
            self._listener.close()
            await self._listener.wait_closed()
            self._listener = None
        if self.metrics is not None:
            self.metrics.detach()

    # -- HTTP ---------------------------------------------------------------------------------
    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        if self._connections >= MAX_CONNECTIONS:
            log.warning("admin: %d connections open, closing one from %s", self._connections, peer)
            writer.close()
            return
        self._connections += 1
        try:
            await self._serve(reader, writer, peer)
        finally:
            self._connections -= 1

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, peer) -> None:
        try:
            method, path, headers, body = await asyncio.wait_for(self._read(reader),
                                                                 REQUEST_TIMEOUT_S)
            status, ctype, body = await self._route(method, path, headers, body, peer)
        except _HttpError as e:
            status, ctype, body = e.status, "application/json", _json({"error": e.message})
        except asyncio.TimeoutError:
            status, ctype, body = 408, "application/json", _json({"error": "request too slow"})
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()
            return
        except Exception:
            log.exception("admin request from %s failed", peer)
            status, ctype, body = 500, "application/json", _json({"error": "internal error"})
        head = (f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}\r\nContent-Type: {ctype}\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n")
        if status == 401:
            head += 'WWW-Authenticate: Bearer realm="ordex admin"\r\n'
        try:
            writer.write(head.encode() + b"\r\n" + body)
            await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()

    async def _read(self, reader: asyncio.StreamReader) -> tuple[str, str, dict, bytes]:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.LimitOverrunError:
            raise _HttpError(431, f"request head larger than {MAX_HEAD} bytes") from None
        except asyncio.IncompleteReadError as e:
            if e.partial:
                raise _HttpError(400, "incomplete request head") from None
            raise
        try:
            lines = head[:-4].decode("latin-1").split("\r\n")
            method, target, version = lines[0].split(" ")
        except ValueError:
            raise _HttpError(400, "malformed request line") from None
        if not version.startswith("HTTP/1."):
            raise _HttpError(400, f"unsupported protocol {version[:20]!r}")
        headers = {}
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if not sep or not name or name != name.strip():
                raise _HttpError(400, "malformed header line")
            headers[name.lower()] = value.strip()
        if "transfer-encoding" in headers:
            raise _HttpError(411, "send a Content-Length, not a Transfer-Encoding")
        try:
            length = int(headers.get("content-length", "0"))
        except ValueError:
            raise _HttpError(400, "Content-Length is not a number") from None
        if not 0 <= length <= MAX_BODY:
            raise _HttpError(413, f"body larger than {MAX_BODY} bytes")
        body = await reader.readexactly(length) if length else b""
        return method, target.split("?", 1)[0], headers, body

    async def _route(self, method: str, path: str, headers: dict, body: bytes, peer):
        server = self.server
        if path in ("/metrics", "/healthz", "/readyz"):
            if method != "GET":
                raise _HttpError(405, f"{path} takes GET")
            if path == "/metrics":
                return 200, METRICS_TYPE, self.metrics.render()
            if path == "/healthz":
                return 200, "application/json", _json({"status": "live"})
            ready = server.engine is not None and server.accepting
            return (200 if ready else 503), "application/json", _json(
                {"ready": ready, "accepting": server.accepting, "refusal": server.refusal,
                 "recovered_commands": server.recovered_commands})
        if not path.startswith("/admin/"):
            raise _HttpError(404, f"no such path {path[:100]!r}")
        self._authorise(headers, peer, path)
        action = path[len("/admin/"):]
        if action == "status":
            if method != "GET":
                raise _HttpError(405, "/admin/status takes GET")
            return 200, "application/json", _json(self._status())
        if method != "POST":
            raise _HttpError(405, "admin actions take POST")
        try:
            request = orjson.loads(body) if body else {}
        except orjson.JSONDecodeError as e:
            raise _HttpError(400, f"body is not JSON: {e}") from None
        try:
            result = await self.actions.run(action, request)
        except ActionError as e:
            raise _HttpError(e.status, e.message) from None
        return 200, "application/json", _json(result)

    def _authorise(self, headers: dict, peer, path: str) -> None:
        scheme, _, given = headers.get("authorization", "").partition(" ")
        ok = scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), self._token)
        if not ok:
            log.warning("admin: refused unauthenticated request for %s from %s", path, peer,
                        extra={"peer": str(peer), "action": path})
            raise _HttpError(401, "missing or wrong admin token")

    def _status(self) -> dict:
        server = self.server
        journal = server.journal
        acceptor = self._fix_acceptor()
        sessions = [{"name": s.name, "logged_on": s.logged_on,
                     "peer": str(s.peer) if s.peer else None,
                     "next_sender": s.store.next_sender, "next_target": s.store.next_target}
                    for s in (acceptor.sessions if acceptor else ())]
        return {"accepting": server.accepting, "refusal": server.refusal,
                "recovered_commands": server.recovered_commands,
                "next_seq": journal.next_seq if journal else None,
                "durable_seq": server.durable_seq, "durability": self.config.durability,
                "fix_sessions": sessions}


def _json(obj) -> bytes:
    return orjson.dumps(obj)
