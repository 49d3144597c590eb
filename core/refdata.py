"""Reference data: currencies, instruments, accounts and sessions, in operator-editable files.

Files use human units (decimal strings such as "0.01"); everything is converted here, once, to the
engine's integer grid, and a value that does not fit the grid is an error naming the file, the
row/key and the field.  Formats: TOML (`[[instrument]]` / `[[account]]` / `[[session]]` tables,
`[currencies]`), CSV (one row per instrument or account; nested values as `KEY=VALUE;...`), and
Parquet for large instrument universes (same columns as CSV).

Units, per DESIGN.md invariant 3:
  price      int64 count of the instrument's price_increment; orders must be a multiple of `tick`
  quantity   int64 count of the instrument's qty_increment; orders must be a multiple of `lot`
  cash       int64 count of the currency's cash_increment
  notional   price * qty * (price_increment * qty_increment / cash_increment); that factor must be
             an integer or the reciprocal of one, so that fills convert to cash exactly
             (floor for trades and fees, ceiling for holds).
"""
from __future__ import annotations

import csv
import tomllib
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from pathlib import Path
from typing import Any, Iterable

STATUS = {"open": 0, "halted": 1, "closed": 2}


class ReferenceDataError(ValueError):
    """A reference data file is wrong; the message names the place and the field."""


@dataclass(frozen=True)
class Currency:
    code: str
    cash_increment: Decimal


@dataclass(frozen=True)
class Instrument:
    id: int
    symbol: str
    currency: str
    price_increment: Decimal
    tick: int                 # in price increments
    qty_increment: Decimal
    lot: int                  # in quantity increments
    min_qty: int              # in quantity increments
    max_qty: int
    max_notional: int         # in cash increments of the currency, 0 = no limit
    band_bps: int             # price collar half-width in basis points of the reference, 0 = none
    ref_max_age_ns: int       # market orders need a reference younger than this
    status: int               # STATUS
    hours: str                # "HH:MM-HH:MM" local trading hours, "" = always (the sequencer's business)
    timezone: str
    maker_fee_bps: int
    taker_fee_bps: int
    notional_mult: int        # notional = price * qty * mult // div
    notional_div: int


@dataclass(frozen=True)
class Account:
    id: int
    name: str
    balances: dict[str, int]          # currency -> cash increments
    positions: dict[str, int]         # symbol -> quantity increments (may be negative if short)
    may_short: bool
    max_position: Decimal             # |position + open orders| limit in quantity units, 0 = none
    instruments: frozenset[str] | None  # None = every instrument


@dataclass(frozen=True)
class SessionRef:
    id: int
    name: str
    accounts: frozenset[str]          # accounts it may trade for
    max_orders_per_sec: int           # 0 = unthrottled


@dataclass
class ReferenceData:
    currencies: dict[str, Currency] = field(default_factory=dict)
    instruments: list[Instrument] = field(default_factory=list)
    accounts: list[Account] = field(default_factory=list)
    sessions: list[SessionRef] = field(default_factory=list)

    def instrument(self, symbol: str) -> Instrument:
        for i in self.instruments:
            if i.symbol == symbol:
                return i
        raise KeyError(symbol)

    def account(self, name: str) -> Account:
        for a in self.accounts:
            if a.name == name:
                return a
        raise KeyError(name)


DEFAULT_CURRENCIES = {"USD": "0.0001", "EUR": "0.0001", "GBP": "0.0001", "JPY": "0.01",
                      "BTC": "0.00000001", "ETH": "0.00000001", "USDT": "0.000001"}


def _dec(where: str, name: str, value: Any) -> Decimal:
    if isinstance(value, float):
        raise ReferenceDataError(f"{where}: {name} = {value!r} is a float; write it as a string")
    try:
        d = Decimal(str(value).strip())
    except InvalidOperation:
        raise ReferenceDataError(f"{where}: {name} = {value!r} is not a decimal number") from None
    if not d.is_finite():
        raise ReferenceDataError(f"{where}: {name} = {value!r} is not finite")
    return d


def to_grid(where: str, name: str, value: Any, increment: Decimal, *, positive: bool = False,
            allow_negative: bool = False) -> int:
    """A decimal value as an integer count of `increment`; off-grid values are errors."""
    d = _dec(where, name, value)
    q = d / increment
    if q != q.to_integral_value():
        raise ReferenceDataError(f"{where}: {name} = {value} is not a multiple of {increment}")
    n = int(q)
    if positive and n <= 0:
        raise ReferenceDataError(f"{where}: {name} = {value} must be positive")
    if not allow_negative and n < 0:
        raise ReferenceDataError(f"{where}: {name} = {value} must not be negative")
    if not -(1 << 63) <= n < (1 << 63):
        raise ReferenceDataError(f"{where}: {name} = {value} does not fit in 64 bits")
    return n


def _bool(where: str, name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    s = str(value).strip().lower()
    if s in ("1", "true", "yes", "y"):
        return True
    if s in ("0", "false", "no", "n", ""):
        return False
    raise ReferenceDataError(f"{where}: {name} = {value!r} is not a boolean")


def _int(where: str, name: str, value: Any, default: int = 0) -> int:
    if value is None or value == "":
        return default
    try:
        n = int(str(value).strip())
    except ValueError:
        raise ReferenceDataError(f"{where}: {name} = {value!r} is not an integer") from None
    if n < 0:
        raise ReferenceDataError(f"{where}: {name} = {value} must not be negative")
    return n


def _nonneg_dec(where: str, name: str, value: Any) -> Decimal:
    d = _dec(where, name, value)
    if d < 0:
        raise ReferenceDataError(f"{where}: {name} = {value} must not be negative")
    return d


def _pairs(where: str, name: str, value: Any) -> dict[str, str]:
    """A nested mapping: a TOML table, or `KEY=VALUE;KEY=VALUE` in a CSV cell."""
    if value is None or value == "":
        return {}
    if isinstance(value, dict):
        return {str(k): v for k, v in value.items()}
    out = {}
    for part in str(value).split(";"):
        if not part.strip():
            continue
        if "=" not in part:
            raise ReferenceDataError(f"{where}: {name}: {part!r} is not KEY=VALUE")
        k, v = part.split("=", 1)
        out[k.strip()] = v.strip()
    return out


INSTRUMENT_FIELDS = {"symbol", "currency", "price_increment", "tick", "qty_increment", "lot",
                     "min_qty", "max_qty", "max_notional", "band_pct", "ref_max_age_s", "status",
                     "hours", "timezone", "maker_fee_bps", "taker_fee_bps"}
ACCOUNT_FIELDS = {"name", "balances", "positions", "may_short", "max_position", "instruments"}
SESSION_FIELDS = {"name", "accounts", "max_orders_per_sec"}


def _check_keys(where: str, row: dict, allowed: set[str], required: Iterable[str]) -> None:
    unknown = set(row) - allowed
    if unknown:
        raise ReferenceDataError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
    for k in required:
        if row.get(k) in (None, ""):
            raise ReferenceDataError(f"{where}: missing required field {k!r}")


def _notional_factor(where: str, inst_row: dict, price_inc: Decimal, qty_inc: Decimal,
                     cash_inc: Decimal) -> tuple[int, int]:
    f = Fraction(price_inc) * Fraction(qty_inc) / Fraction(cash_inc)
    if f.denominator == 1:
        return f.numerator, 1
    if f.numerator == 1:
        return 1, f.denominator
    raise ReferenceDataError(
        f"{where}: price_increment*qty_increment/cash_increment = {f} must be an integer or 1/integer")


def build_instrument(where: str, idx: int, row: dict, currencies: dict[str, Currency]) -> Instrument:
    row = {k: v for k, v in row.items() if v is not None and v != ""}
    _check_keys(where, row, INSTRUMENT_FIELDS, ("symbol", "currency", "price_increment", "qty_increment"))
    cur = currencies.get(row["currency"])
    if cur is None:
        raise ReferenceDataError(f"{where}: currency {row['currency']!r} is not defined")
    p_inc = _dec(where, "price_increment", row["price_increment"])
    q_inc = _dec(where, "qty_increment", row["qty_increment"])
    if p_inc <= 0 or q_inc <= 0:
        raise ReferenceDataError(f"{where}: increments must be positive")
    tick = to_grid(where, "tick", row.get("tick", p_inc), p_inc, positive=True)
    lot = to_grid(where, "lot", row.get("lot", q_inc), q_inc, positive=True)
    min_qty = to_grid(where, "min_qty", row.get("min_qty", row.get("lot", q_inc)), q_inc, positive=True)
    max_qty = to_grid(where, "max_qty", row.get("max_qty", 0), q_inc)
    if min_qty % lot or (max_qty and max_qty % lot):
        raise ReferenceDataError(f"{where}: min_qty and max_qty must be multiples of lot")
    status = str(row.get("status", "open")).lower()
    if status not in STATUS:
        raise ReferenceDataError(f"{where}: status = {status!r}; expected one of {', '.join(STATUS)}")
    band = _dec(where, "band_pct", row.get("band_pct", "0")) * 100
    if band != band.to_integral_value() or band < 0:
        raise ReferenceDataError(f"{where}: band_pct = {row.get('band_pct')} must be a non-negative multiple of 0.01")
    age = _dec(where, "ref_max_age_s", row.get("ref_max_age_s", "5")) * 1_000_000_000
    mult, div = _notional_factor(where, row, p_inc, q_inc, cur.cash_increment)
    hours = str(row.get("hours", ""))
    if hours and not _valid_hours(hours):
        raise ReferenceDataError(f"{where}: hours = {hours!r}; expected HH:MM-HH:MM")
    return Instrument(
        id=idx, symbol=str(row["symbol"]), currency=cur.code, price_increment=p_inc, tick=tick,
        qty_increment=q_inc, lot=lot, min_qty=min_qty, max_qty=max_qty,
        max_notional=to_grid(where, "max_notional", row.get("max_notional", 0), cur.cash_increment),
        band_bps=int(band), ref_max_age_ns=int(age), status=STATUS[status], hours=hours,
        timezone=str(row.get("timezone", "UTC")),
        maker_fee_bps=_int(where, "maker_fee_bps", row.get("maker_fee_bps")),
        taker_fee_bps=_int(where, "taker_fee_bps", row.get("taker_fee_bps")),
        notional_mult=mult, notional_div=div)


def _valid_hours(h: str) -> bool:
    try:
        a, b = h.split("-")
        for t in (a, b):
            hh, mm = t.split(":")
            if not (0 <= int(hh) < 24 and 0 <= int(mm) < 60):
                return False
        return True
    except ValueError:
        return False


def build_account(where: str, idx: int, row: dict, currencies: dict[str, Currency],
                  instruments: list[Instrument]) -> Account:
    row = {k: v for k, v in row.items() if v is not None and v != ""}
    _check_keys(where, row, ACCOUNT_FIELDS, ("name",))
    by_symbol = {i.symbol: i for i in instruments}
    balances = {}
    for code, amount in _pairs(where, "balances", row.get("balances")).items():
        if code not in currencies:
            raise ReferenceDataError(f"{where}: balances: currency {code!r} is not defined")
        balances[code] = to_grid(where, f"balances.{code}", amount, currencies[code].cash_increment)
    positions = {}
    for sym, qty in _pairs(where, "positions", row.get("positions")).items():
        if sym not in by_symbol:
            raise ReferenceDataError(f"{where}: positions: unknown instrument {sym!r}")
        positions[sym] = to_grid(where, f"positions.{sym}", qty, by_symbol[sym].qty_increment,
                                 allow_negative=True)
    allowed = row.get("instruments")
    if isinstance(allowed, str):
        allowed = None if allowed.strip() in ("", "*") else [s.strip() for s in allowed.split(";") if s.strip()]
    if allowed is not None:
        for s in allowed:
            if s not in by_symbol:
                raise ReferenceDataError(f"{where}: instruments: unknown instrument {s!r}")
    return Account(id=idx, name=str(row["name"]), balances=balances, positions=positions,
                   may_short=_bool(where, "may_short", row.get("may_short", False)),
                   max_position=_nonneg_dec(where, "max_position", row.get("max_position", "0")),
                   instruments=None if allowed is None else frozenset(allowed))


def build_session(where: str, idx: int, row: dict, accounts: list[Account]) -> SessionRef:
    _check_keys(where, row, SESSION_FIELDS, ("name", "accounts"))
    names = row["accounts"]
    if isinstance(names, str):
        names = [s.strip() for s in names.split(";") if s.strip()]
    known = {a.name for a in accounts}
    for n in names:
        if n not in known:
            raise ReferenceDataError(f"{where}: accounts: unknown account {n!r}")
    return SessionRef(id=idx, name=str(row["name"]), accounts=frozenset(names),
                      max_orders_per_sec=_int(where, "max_orders_per_sec", row.get("max_orders_per_sec")))


def _rows(path: Path, table: str) -> list[dict]:
    suffix = path.suffix.lower()
    if suffix == ".toml":
        try:
            doc = tomllib.loads(path.read_text())
        except tomllib.TOMLDecodeError as e:
            raise ReferenceDataError(f"{path}: {e}") from None
        return list(doc.get(table, []))
    if suffix == ".csv":
        with path.open(newline="") as f:
            return [dict(r) for r in csv.DictReader(f)]
    if suffix == ".parquet":
        import pyarrow.parquet as pq
        return [{k: (None if v is None else str(v)) for k, v in r.items()}
                for r in pq.read_table(path).to_pylist()]
    raise ReferenceDataError(f"{path}: unsupported format {suffix!r} (use .toml, .csv or .parquet)")


def currencies_from(mapping: dict[str, Any] | None) -> dict[str, Currency]:
    merged = dict(DEFAULT_CURRENCIES)
    merged.update(mapping or {})
    out = {}
    for code, inc in merged.items():
        d = _dec("currencies", code, inc)
        if d <= 0:
            raise ReferenceDataError(f"currencies: {code} cash increment must be positive")
        out[code] = Currency(code, d)
    return out


def from_dicts(instruments: list[dict], accounts: list[dict], sessions: list[dict] = (),
               currencies: dict[str, Any] | None = None, where: str = "reference data") -> ReferenceData:
    cur = currencies_from(currencies)
    insts = [build_instrument(f"{where}: instrument {i + 1} ({r.get('symbol', '?')})", i, r, cur)
             for i, r in enumerate(instruments)]
    _unique(where, "instrument symbol", [i.symbol for i in insts])
    accts = [build_account(f"{where}: account {i + 1} ({r.get('name', '?')})", i, r, cur, insts)
             for i, r in enumerate(accounts)]
    _unique(where, "account name", [a.name for a in accts])
    sess = [build_session(f"{where}: session {i + 1} ({r.get('name', '?')})", i, r, accts)
            for i, r in enumerate(sessions)]
    _unique(where, "session name", [s.name for s in sess])
    return ReferenceData(cur, insts, accts, sess)


def _unique(where: str, what: str, names: list[str]) -> None:
    seen = set()
    for n in names:
        if n in seen:
            raise ReferenceDataError(f"{where}: duplicate {what} {n!r}")
        seen.add(n)


def load(instruments: str | Path, accounts: str | Path, sessions: list[dict] = (),
         currencies: dict[str, Any] | None = None) -> ReferenceData:
    """Load instruments and accounts files (TOML/CSV/Parquet).  A TOML instruments file may carry a
    `[currencies]` table (code = cash increment) that overrides DEFAULT_CURRENCIES."""
    ipath, apath = Path(instruments), Path(accounts)
    cur = dict(currencies or {})
    if ipath.suffix.lower() == ".toml":
        try:
            cur.update(tomllib.loads(ipath.read_text()).get("currencies", {}))
        except tomllib.TOMLDecodeError as e:
            raise ReferenceDataError(f"{ipath}: {e}") from None
    return from_dicts(_rows(ipath, "instrument"), _rows(apath, "account"), sessions, cur,
                      where=f"{ipath.name}/{apath.name}")
