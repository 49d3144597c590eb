"""`ordex serve` configuration: one TOML file (or the embedded default_config.toml).

Every key is checked at start-up; a wrong one stops the server with a message naming it, e.g.
`config.toml: [journal] durability = "fast": expected one of fsync, batch, none`.

Instruments and accounts are given inline (`[[instrument]]`, `[[account]]`, `[currencies]`) or as
files (`[reference] instruments = "instruments.csv"`, `accounts = "accounts.toml"`; TOML, CSV or
Parquet, see ordex.core.refdata).  Every `[[fix.session]]` is also an engine session: its name,
the accounts it may trade and its order-rate throttle; so is every `[[binary.user]]` (a
SoupBinTCP user of `[binary]`: OUCH order entry and the ITCH feed).  Each `[[feed]]` is a market
data source whose prices become the engine's reference prices (gateway/feed_gateway.py).
"""
from __future__ import annotations

import tomllib
import datetime as dt
import re
import zoneinfo
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from ordex.core import refdata
from ordex.core.refdata import ReferenceData, ReferenceDataError

DURABILITY = ("fsync", "batch", "none")
LOG_LEVELS = ("debug", "info", "warning", "error")
BEGIN_STRINGS = ("FIX.4.4", "FIX.4.2")

_TOP = {"server", "journal", "engine", "currencies", "instrument", "account", "reference", "fix",
        "admin", "binary", "feed"}
_SERVER = {"data_dir", "log_level", "timer_interval_ms"}
_JOURNAL = {"dir", "durability", "batch_interval_ms", "segment_mb", "snapshot_every_commands",
            "snapshot_every_s", "prune_after_snapshot"}
_ENGINE = {"max_orders", "clordid_reset", "clordid_reset_timezone"}
_REFERENCE = {"instruments", "accounts"}
_FIX = {"listen", "store_dir", "max_message_size", "session", "tls_cert", "tls_key"}
_ADMIN = {"listen", "token", "token_file"}
ADMIN_TOKEN_MIN_LEN = 16
_BINARY = {"listen", "feed_listen", "store_dir", "max_packet", "heartbeat_ms", "idle_timeout_s",
           "max_buffer_kb", "feed_timezone", "user"}
_BINARY_USER = {"name", "password_hash", "accounts", "cancel_on_disconnect", "protection_fills",
                "protection_qty", "protection_window_ms", "max_orders_per_sec", "dialect", "feed"}
CANCEL_ON_DISCONNECT = ("quotes", "all", "off")
BINARY_DIALECTS = ("nasdaq", "ouch-connect")
FEED_NAME_RE = re.compile(r"[A-Za-z0-9_.-]{1,19}")
FEED_FORMATS = ("itch", "coinbase", "binance", "csv", "parquet")
FEED_TCP_FORMATS = ("itch", "coinbase", "binance")
FEED_PRICES = ("mark", "last", "mid")
FEED_OFF_TICK = ("nearest", "reject")
FEED_ON_FAILURE = ("retry", "stop")
_FEED = {"name", "format", "path", "connect", "soup", "username", "password", "session", "date",
         "snapshots", "symbols", "scales", "columns", "ts_unit", "symbol", "price",
         "min_interval_ms", "refresh_ms", "stale_ms", "band_bps", "off_tick", "on_failure",
         "retry_ms", "max_retries", "chunk_kb", "max_line_kb"}
_SESSION = {"name", "begin_string", "sender_comp_id", "target_comp_id", "accounts", "heartbeat_s",
            "max_orders_per_sec", "cancel_on_disconnect", "drop_copy", "reset_on_logon",
            "sending_time_tolerance_s", "username", "password_hash", "validate"}


class ConfigError(ValueError):
    """The configuration is wrong; the message names the file, the table and the key."""


@dataclass
class FixSessionConfig:
    name: str
    begin_string: str
    sender_comp_id: str
    target_comp_id: str
    accounts: list[str]
    heartbeat_s: int | None = None          # None: accept the initiator's HeartBtInt
    max_orders_per_sec: int = 0
    cancel_on_disconnect: bool = False
    drop_copy: bool = False
    reset_on_logon: bool = False
    sending_time_tolerance_s: int = 120
    username: str | None = None
    password_hash: str | None = None
    validate: bool = True


@dataclass
class BinaryUserConfig:
    """A SoupBinTCP user of the binary gateway (OUCH order entry and the ITCH feed)."""
    name: str                          # username, at most 6 characters; also the engine session
    password_hash: str
    accounts: list[str]                # the first is the default account
    cancel_on_disconnect: str = "quotes"
    protection_fills: int = 0          # fills within the window that trip protection (0: off)
    protection_qty: int = 0            # quantity increments filled within the window (0: off)
    protection_window_ms: int = 1000
    max_orders_per_sec: int = 0
    dialect: str = "nasdaq"
    feed: bool = True                  # may also log in to the ITCH feed


@dataclass
class BinarySettings:
    """[binary]: OUCH 5.0 order entry and the ITCH 5.0 feed over SoupBinTCP (gateway/binary)."""
    listen: tuple[str, int] | None = None
    feed_listen: tuple[str, int] | None = None
    store_dir: Path | None = None
    max_packet: int = 8192
    heartbeat_ms: int = 1000
    idle_timeout_s: int = 15
    max_buffer_bytes: int = 8 << 20
    feed_timezone: str = "America/New_York"
    users: list[BinaryUserConfig] = field(default_factory=list)


@dataclass
class FeedConfig:
    """[[feed]]: a market data source (feeds/) whose prices become REFERENCE_PRICE commands."""
    name: str
    format: str                                   # FEED_FORMATS
    path: Path | None                             # a recording / tick file ...
    connect: tuple[str, int] | None               # ... or a TCP stream (FEED_TCP_FORMATS)
    symbols: dict[str, int]                       # feed symbol -> engine instrument id
    soup: bool = False                            # itch over TCP inside SoupBinTCP
    username: str = ""
    password: str = ""
    session: str = ""
    date: dt.date | None = None                   # ITCH session date (default: file name / today)
    snapshots: Path | None = None                 # binance: REST depth snapshots recording
    scales: dict[str, tuple[int, int]] = field(default_factory=dict)   # JSON/ticks decimals
    columns: dict[str, str] = field(default_factory=dict)   # csv/parquet: our field -> column
    ts_unit: str = "ns"
    symbol: str | None = None                     # csv/parquet: symbol of rows without one
    price: str = "mark"                           # FEED_PRICES
    min_interval_ms: int = 1000                   # at most one reference per instrument this often
    refresh_ms: int = 0                           # resend an unchanged one this old (0: never)
    stale_ms: int | None = None                   # None: the format's default (feeds.replay)
    band_bps: int = 1000                          # out-of-band filter around the feed's reference
    off_tick: str = "nearest"                     # FEED_OFF_TICK
    on_failure: str = "retry"                     # FEED_ON_FAILURE
    retry_ms: int = 1000
    max_retries: int = 0                          # consecutive failures before stopping (0: never)
    chunk_bytes: int = 16 << 10                   # file read per loop step (~0.15 ms of ITCH)
    max_line_bytes: int = 16 << 20                # JSON over TCP: longest line accepted


@dataclass
class Config:
    source: str
    data_dir: Path
    log_level: str
    timer_interval_ms: int
    journal_dir: Path
    durability: str
    batch_interval_ms: int
    segment_bytes: int
    max_orders: int
    reference: ReferenceData
    fix_listen: tuple[str, int] | None
    fix_store_dir: Path
    fix_max_message_size: int
    fix_sessions: list[FixSessionConfig] = field(default_factory=list)
    tls_cert: Path | None = None
    tls_key: Path | None = None
    # [admin]: metrics, health and admin actions (gateway/admin.py); token: see AdminGateway
    admin_listen: tuple[str, int] | None = None
    admin_token: str | None = None
    admin_token_file: Path | None = None
    binary: BinarySettings = field(default_factory=BinarySettings)
    # [journal] engine snapshots every N commands or T seconds, whichever first (0: never)
    snapshot_every_commands: int = 1_000_000
    snapshot_every_s: int = 300
    prune_journal: bool = False      # delete journal segments a kept snapshot covers (audit trail!)
    feeds: list[FeedConfig] = field(default_factory=list)
    # [engine] clordid_reset = "HH:MM": the scheduler issues PURGE_CLORDIDS (a new trading day for
    # ClOrdID uniqueness) daily at that local time of clordid_reset_timezone -- set it after the
    # last close.  Absent: never (ClOrdIDs unique until `ordex admin purge-clordids`).
    clordid_reset: str | None = None
    clordid_reset_timezone: str = "UTC"


def _table(src: str, doc: dict, name: str, allowed: set[str]) -> dict:
    t = doc.get(name, {})
    if not isinstance(t, dict):
        raise ConfigError(f"{src}: [{name}] must be a table")
    unknown = set(t) - allowed
    if unknown:
        raise ConfigError(f"{src}: [{name}] unknown key(s): {', '.join(sorted(unknown))}")
    return t


def _get(src: str, where: str, t: dict, key: str, kind: type, default: Any = None,
         choices: tuple | None = None, minimum: int | None = None) -> Any:
    if key not in t:
        if default is None and kind is not type(None):
            return None
        return default
    v = t[key]
    if kind is int and (isinstance(v, bool) or not isinstance(v, int)):
        raise ConfigError(f"{src}: [{where}] {key} = {v!r}: expected an integer")
    if kind is bool and not isinstance(v, bool):
        raise ConfigError(f"{src}: [{where}] {key} = {v!r}: expected true or false")
    if kind is str and not isinstance(v, str):
        raise ConfigError(f"{src}: [{where}] {key} = {v!r}: expected a string")
    if kind is list and not (isinstance(v, list) and all(isinstance(x, str) for x in v)):
        raise ConfigError(f"{src}: [{where}] {key} = {v!r}: expected a list of strings")
    if choices is not None and v not in choices:
        raise ConfigError(f"{src}: [{where}] {key} = {v!r}: expected one of {', '.join(choices)}")
    if minimum is not None and v < minimum:
        raise ConfigError(f"{src}: [{where}] {key} = {v!r}: must be at least {minimum}")
    return v


def _listen(src: str, value: str, where: str = "fix", key: str = "listen") -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) < 65536 or not host:
        raise ConfigError(f"{src}: [{where}] {key} = {value!r}: expected HOST:PORT")
    return host.strip("[]"), int(port)


def parse(text: str, source: str = "config", base_dir: Path | None = None) -> Config:
    """Parse and check a configuration; relative paths resolve against base_dir (default: cwd)."""
    base = base_dir or Path.cwd()
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{source}: not valid TOML: {e}") from None
    unknown = set(doc) - _TOP
    if unknown:
        raise ConfigError(f"{source}: unknown table(s) or key(s): {', '.join(sorted(unknown))}")
    server = _table(source, doc, "server", _SERVER)
    journal = _table(source, doc, "journal", _JOURNAL)
    engine = _table(source, doc, "engine", _ENGINE)
    ref = _table(source, doc, "reference", _REFERENCE)
    fix = _table(source, doc, "fix", _FIX)
    admin = _table(source, doc, "admin", _ADMIN)
    binary = _table(source, doc, "binary", _BINARY)

    data_dir = base / _get(source, "server", server, "data_dir", str, "ordex-data")
    sessions = []
    raw_sessions = fix.get("session", [])
    if not isinstance(raw_sessions, list):
        raise ConfigError(f"{source}: [[fix.session]] must be an array of tables")
    for n, s in enumerate(raw_sessions, 1):
        where = f"fix.session {n}"
        if not isinstance(s, dict):
            raise ConfigError(f"{source}: [{where}] must be a table")
        unknown = set(s) - _SESSION
        if unknown:
            raise ConfigError(f"{source}: [{where}] unknown key(s): {', '.join(sorted(unknown))}")
        for key in ("name", "sender_comp_id", "target_comp_id"):
            if not isinstance(s.get(key), str) or not s[key]:
                raise ConfigError(f"{source}: [{where}] {key} is required (a non-empty string)")
        sessions.append(FixSessionConfig(
            name=s["name"],
            begin_string=_get(source, where, s, "begin_string", str, "FIX.4.4", BEGIN_STRINGS),
            sender_comp_id=s["sender_comp_id"], target_comp_id=s["target_comp_id"],
            accounts=_get(source, where, s, "accounts", list, []),
            heartbeat_s=_get(source, where, s, "heartbeat_s", int, None, minimum=1),
            max_orders_per_sec=_get(source, where, s, "max_orders_per_sec", int, 0, minimum=0),
            cancel_on_disconnect=_get(source, where, s, "cancel_on_disconnect", bool, False),
            drop_copy=_get(source, where, s, "drop_copy", bool, False),
            reset_on_logon=_get(source, where, s, "reset_on_logon", bool, False),
            sending_time_tolerance_s=_get(source, where, s, "sending_time_tolerance_s", int, 120,
                                          minimum=1),
            username=_get(source, where, s, "username", str),
            password_hash=_get(source, where, s, "password_hash", str),
            validate=_get(source, where, s, "validate", bool, True)))
    names = [s.name for s in sessions]
    if len(set(names)) != len(names):
        raise ConfigError(f"{source}: [[fix.session]] names must be unique")
    comp = [(s.sender_comp_id, s.target_comp_id) for s in sessions]
    if len(set(comp)) != len(comp):
        raise ConfigError(f"{source}: [[fix.session]] sender/target CompID pairs must be unique")

    binary_settings = _binary(source, base, data_dir, binary, names)
    engine_sessions = ([_engine_session(s) for s in sessions]
                       + [_binary_session(u) for u in binary_settings.users])
    listen = _get(source, "fix", fix, "listen", str)
    cert, key = _get(source, "fix", fix, "tls_cert", str), _get(source, "fix", fix, "tls_key", str)
    if (cert is None) != (key is None):
        raise ConfigError(f"{source}: [fix] tls_cert and tls_key go together")
    cfg = Config(
        source=source, data_dir=data_dir,
        log_level=_get(source, "server", server, "log_level", str, "info", LOG_LEVELS),
        timer_interval_ms=_get(source, "server", server, "timer_interval_ms", int, 1000, minimum=10),
        journal_dir=base / journal["dir"] if "dir" in journal else data_dir / "journal",
        durability=_get(source, "journal", journal, "durability", str, "fsync", DURABILITY),
        batch_interval_ms=_get(source, "journal", journal, "batch_interval_ms", int, 2, minimum=1),
        segment_bytes=_get(source, "journal", journal, "segment_mb", int, 256, minimum=1) << 20,
        snapshot_every_commands=_get(source, "journal", journal, "snapshot_every_commands", int,
                                     1_000_000, minimum=0),
        snapshot_every_s=_get(source, "journal", journal, "snapshot_every_s", int, 300, minimum=0),
        prune_journal=_get(source, "journal", journal, "prune_after_snapshot", bool, False),
        max_orders=_get(source, "engine", engine, "max_orders", int, 1 << 20, minimum=16),
        reference=ReferenceData(),
        fix_listen=_listen(source, listen) if listen else None,
        fix_store_dir=base / fix["store_dir"] if "store_dir" in fix else data_dir / "fix",
        fix_max_message_size=_get(source, "fix", fix, "max_message_size", int, 65536, minimum=256),
        fix_sessions=sessions,
        tls_cert=base / cert if cert else None, tls_key=base / key if key else None)
    admin_listen = _get(source, "admin", admin, "listen", str)
    cfg.admin_listen = _listen(source, admin_listen, "admin") if admin_listen else None
    cfg.admin_token = _get(source, "admin", admin, "token", str)
    if cfg.admin_token is not None and len(cfg.admin_token) < ADMIN_TOKEN_MIN_LEN:
        raise ConfigError(f"{source}: [admin] token must be at least {ADMIN_TOKEN_MIN_LEN} characters")
    token_file = _get(source, "admin", admin, "token_file", str)
    cfg.admin_token_file = base / token_file if token_file else None
    cfg.binary = binary_settings
    cfg.clordid_reset = _get(source, "engine", engine, "clordid_reset", str)
    cfg.clordid_reset_timezone = _get(source, "engine", engine, "clordid_reset_timezone", str, "UTC")
    if cfg.clordid_reset is not None and not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d",
                                                          cfg.clordid_reset):
        raise ConfigError(f"{source}: [engine] clordid_reset = {cfg.clordid_reset!r}: expected "
                          "HH:MM (24-hour local time)")
    try:
        zoneinfo.ZoneInfo(cfg.clordid_reset_timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"{source}: [engine] clordid_reset_timezone = "
                          f"{cfg.clordid_reset_timezone!r}: not a known time zone") from None
    try:
        if ref:
            if "instruments" not in ref or "accounts" not in ref:
                raise ConfigError(f"{source}: [reference] needs both instruments and accounts")
            cfg.reference = refdata.load(base / ref["instruments"], base / ref["accounts"],
                                         sessions=engine_sessions,
                                         currencies=doc.get("currencies"))
        else:
            cfg.reference = refdata.from_dicts(doc.get("instrument", []), doc.get("account", []),
                                               engine_sessions,
                                               doc.get("currencies"), where=source)
    except ReferenceDataError as e:
        raise ConfigError(str(e)) from None
    except OSError as e:
        raise ConfigError(f"{source}: [reference] {e}") from None
    if not cfg.reference.instruments:
        raise ConfigError(f"{source}: no instruments defined")
    cfg.feeds = _feeds(source, base, doc.get("feed", []), cfg.reference)
    return cfg


def _engine_session(s: FixSessionConfig) -> dict:
    return {"name": s.name, "accounts": s.accounts, "max_orders_per_sec": s.max_orders_per_sec}


def _binary_session(u: BinaryUserConfig) -> dict:
    return {"name": u.name, "accounts": u.accounts, "max_orders_per_sec": u.max_orders_per_sec}


def _binary(src: str, base: Path, data_dir: Path, t: dict, fix_names: list[str]) -> BinarySettings:
    listen, feed = _get(src, "binary", t, "listen", str), _get(src, "binary", t, "feed_listen", str)
    tz = _get(src, "binary", t, "feed_timezone", str, "America/New_York")
    try:
        import zoneinfo
        zoneinfo.ZoneInfo(tz)
    except (ValueError, zoneinfo.ZoneInfoNotFoundError):
        raise ConfigError(f"{src}: [binary] feed_timezone = {tz!r}: not a known time zone") from None
    raw = t.get("user", [])
    if not isinstance(raw, list):
        raise ConfigError(f"{src}: [[binary.user]] must be an array of tables")
    users = [_binary_user(src, f"binary.user {n}", u, fix_names) for n, u in enumerate(raw, 1)]
    if len({u.name for u in users}) != len(users):
        raise ConfigError(f"{src}: [[binary.user]] names must be unique")
    return BinarySettings(
        listen=_listen(src, listen, "binary") if listen else None,
        feed_listen=_listen(src, feed, "binary", "feed_listen") if feed else None,
        store_dir=base / t["store_dir"] if "store_dir" in t else data_dir / "binary",
        max_packet=_get(src, "binary", t, "max_packet", int, 8192, minimum=64),
        heartbeat_ms=_get(src, "binary", t, "heartbeat_ms", int, 1000, minimum=10),
        idle_timeout_s=_get(src, "binary", t, "idle_timeout_s", int, 15, minimum=1),
        max_buffer_bytes=_get(src, "binary", t, "max_buffer_kb", int, 8192, minimum=64) << 10,
        feed_timezone=tz, users=users)


def _binary_user(src: str, where: str, u: Any, fix_names: list[str]) -> BinaryUserConfig:
    if not isinstance(u, dict):
        raise ConfigError(f"{src}: [{where}] must be a table")
    unknown = set(u) - _BINARY_USER
    if unknown:
        raise ConfigError(f"{src}: [{where}] unknown key(s): {', '.join(sorted(unknown))}")
    name = u.get("name")
    if not (isinstance(name, str) and 0 < len(name) <= 6 and name.isascii() and name.isalnum()):
        raise ConfigError(f"{src}: [{where}] name = {name!r}: 1 to 6 ASCII letters or digits "
                          "(the SoupBinTCP username)")
    if name in fix_names:
        raise ConfigError(f"{src}: [{where}] name {name!r} is also a [[fix.session]] name (both "
                          "are engine sessions)")
    pw = u.get("password_hash")
    if not (isinstance(pw, str) and pw.startswith("scrypt$")):
        raise ConfigError(f"{src}: [{where}] password_hash is required: a hash from "
                          "ordex.gateway.fix.hash_password (store the hash, never the password)")
    accounts = _get(src, where, u, "accounts", list, [])
    if not accounts:
        raise ConfigError(f"{src}: [{where}] accounts: at least one account is required")
    return BinaryUserConfig(
        name=name, password_hash=pw, accounts=accounts,
        cancel_on_disconnect=_get(src, where, u, "cancel_on_disconnect", str, "quotes",
                                  CANCEL_ON_DISCONNECT),
        protection_fills=_get(src, where, u, "protection_fills", int, 0, minimum=0),
        protection_qty=_get(src, where, u, "protection_qty", int, 0, minimum=0),
        protection_window_ms=_get(src, where, u, "protection_window_ms", int, 1000, minimum=1),
        max_orders_per_sec=_get(src, where, u, "max_orders_per_sec", int, 0, minimum=0),
        dialect=_get(src, where, u, "dialect", str, "nasdaq", BINARY_DIALECTS),
        feed=_get(src, where, u, "feed", bool, True))


def _feeds(src: str, base: Path, raw: Any, reference: ReferenceData) -> list[FeedConfig]:
    if not isinstance(raw, list):
        raise ConfigError(f"{src}: [[feed]] must be an array of tables")
    feeds = [_feed(src, f"feed {n}", base, f, reference) for n, f in enumerate(raw, 1)]
    if len({f.name for f in feeds}) != len(feeds):
        raise ConfigError(f"{src}: [[feed]] names must be unique")
    # Two sources moving one instrument's reference would make it flip between them.
    driven: dict[int, str] = {}
    for f in feeds:
        for inst in f.symbols.values():
            if inst in driven:
                raise ConfigError(f"{src}: [[feed]] {f.name!r} and {driven[inst]!r} both map to "
                                  f"instrument {reference.instruments[inst].symbol!r}")
            driven[inst] = f.name
    return feeds


def _str_table(src: str, where: str, t: dict, key: str) -> dict[str, str]:
    v = t.get(key, {})
    if not (isinstance(v, dict) and all(isinstance(x, str) and x for x in v.values())):
        raise ConfigError(f"{src}: [{where}] {key} = {v!r}: expected a table of strings")
    return v


def _feed(src: str, where: str, base: Path, f: Any, reference: ReferenceData) -> FeedConfig:
    if not isinstance(f, dict):
        raise ConfigError(f"{src}: [{where}] must be a table")
    unknown = set(f) - _FEED
    if unknown:
        raise ConfigError(f"{src}: [{where}] unknown key(s): {', '.join(sorted(unknown))}")
    name = f.get("name")
    if not (isinstance(name, str) and FEED_NAME_RE.fullmatch(name)):
        raise ConfigError(f"{src}: [{where}] name = {name!r}: 1 to 19 characters of A-Z a-z 0-9 "
                          "_ . - (it marks the feed's commands in the journal as feed:<name>)")
    where = f"feed {name}"
    fmt = _get(src, where, f, "format", str, None, FEED_FORMATS)
    if fmt is None:
        raise ConfigError(f"{src}: [{where}] format is required: one of {', '.join(FEED_FORMATS)}")
    path, connect = _get(src, where, f, "path", str), _get(src, where, f, "connect", str)
    if (path is None) == (connect is None):
        raise ConfigError(f"{src}: [{where}] needs exactly one of path (a file) and connect "
                          "(HOST:PORT)")
    if connect is not None and fmt not in FEED_TCP_FORMATS:
        raise ConfigError(f"{src}: [{where}] connect: format {fmt!r} is read from files only "
                          f"(TCP: {', '.join(FEED_TCP_FORMATS)})")
    soup = _get(src, where, f, "soup", bool, False)
    if soup and (fmt != "itch" or connect is None):
        raise ConfigError(f"{src}: [{where}] soup = true needs format = \"itch\" and connect")
    symbols = {}
    by_symbol = {i.symbol: i.id for i in reference.instruments}
    for theirs, ours in _str_table(src, where, f, "symbols").items():
        if ours not in by_symbol:
            raise ConfigError(f"{src}: [{where}] symbols.{theirs} = {ours!r}: not an instrument "
                              f"(known: {', '.join(sorted(by_symbol))})")
        if by_symbol[ours] in symbols.values():
            raise ConfigError(f"{src}: [{where}] symbols: two feed symbols map to {ours!r}")
        symbols[theirs] = by_symbol[ours]
    if not symbols:
        raise ConfigError(f"{src}: [{where}] symbols is required: a table of feed symbol = "
                          "instrument")
    date = _get(src, where, f, "date", str)
    if date is not None:
        try:
            date = dt.date.fromisoformat(date)
        except ValueError:
            raise ConfigError(f"{src}: [{where}] date = {date!r}: expected YYYY-MM-DD") from None
    scales = {}
    for sym, text in _str_table(src, where, f, "scales").items():
        p, sep, q = text.partition(",")
        if not (sep and p.strip().isdigit() and q.strip().isdigit()
                and int(p) <= 18 and int(q) <= 18):
            raise ConfigError(f"{src}: [{where}] scales.{sym} = {text!r}: expected "
                              "\"PRICE_DECIMALS,QTY_DECIMALS\" (0 to 18 each)")
        scales[sym] = (int(p), int(q))
    columns = _str_table(src, where, f, "columns")
    ts_unit = _get(src, where, f, "ts_unit", str, "ns", ("ns", "us", "ms", "s"))
    if fmt in ("csv", "parquet"):
        from ordex.feeds.ticks import TickSpec
        try:
            TickSpec(dict(columns), ts_unit)
        except ValueError as e:
            raise ConfigError(f"{src}: [{where}] columns: {e}") from None
    snapshots = _get(src, where, f, "snapshots", str)
    stale = _get(src, where, f, "stale_ms", int, -1, minimum=0)
    return FeedConfig(
        name=name, format=fmt, path=base / path if path else None,
        connect=_listen(src, connect, where, "connect") if connect else None,
        symbols=symbols, soup=soup,
        username=_get(src, where, f, "username", str, ""),
        password=_get(src, where, f, "password", str, ""),
        session=_get(src, where, f, "session", str, ""),
        date=date, snapshots=base / snapshots if snapshots else None, scales=scales,
        columns=columns, ts_unit=ts_unit, symbol=_get(src, where, f, "symbol", str),
        price=_get(src, where, f, "price", str, "mark", FEED_PRICES),
        min_interval_ms=_get(src, where, f, "min_interval_ms", int, 1000, minimum=0),
        refresh_ms=_get(src, where, f, "refresh_ms", int, 0, minimum=0),
        stale_ms=None if stale == -1 else stale,
        band_bps=_get(src, where, f, "band_bps", int, 1000, minimum=0),
        off_tick=_get(src, where, f, "off_tick", str, "nearest", FEED_OFF_TICK),
        on_failure=_get(src, where, f, "on_failure", str, "retry", FEED_ON_FAILURE),
        retry_ms=_get(src, where, f, "retry_ms", int, 1000, minimum=10),
        max_retries=_get(src, where, f, "max_retries", int, 0, minimum=0),
        chunk_bytes=_get(src, where, f, "chunk_kb", int, 16, minimum=1) << 10,
        max_line_bytes=_get(src, where, f, "max_line_kb", int, 16384, minimum=1) << 10)


def default_text() -> str:
    return resources.files("ordex.gateway").joinpath("default_config.toml").read_text()


def load(path: str | Path | None = None) -> Config:
    """The configuration at path, or the embedded default (paths relative to the cwd)."""
    if path is None:
        return parse(default_text(), source="embedded default config")
    p = Path(path)
    try:
        text = p.read_text()
    except OSError as e:
        raise ConfigError(f"{p}: cannot read: {e.strerror}") from None
    return parse(text, source=str(p), base_dir=p.resolve().parent)
