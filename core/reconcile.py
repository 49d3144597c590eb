"""End-of-day reconciliation: ordex's executions against an external record of them.

The external record is a FIX log (a drop copy: ExecutionReports, one message per line, fields
separated by SOH, '|' or '^A', anything before `8=FIX` ignored, e.g. a QuickFIX log's timestamp)
or a CSV file with a header naming at least exec_id, qty and price (aliases below; symbol, side
and account are compared when present -- `ordex trades --format csv` output qualifies).

Executions are matched by ExecID (ordex's exec_id, which its ExecutionReports carry in tag 17).
Outcomes: matched; missing at the venue (ordex has it, the record does not); missing in ordex;
quantity mismatch; price mismatch; other field mismatch (symbol, side, account); and, in the
record itself, unreadable lines, the same ExecID twice with different content, and trade busts or
corrections (ExecType H/G, ExecTransType 1/2), which need a person.  Amounts compare as exact
decimals.
"""
from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

BREAK_KINDS = ("missing_at_venue", "missing_in_ordex", "qty_mismatch", "price_mismatch",
               "field_mismatch", "duplicate_conflict", "unreadable", "unsupported")

CSV_ALIASES = {
    "exec_id": ("exec_id", "execid", "execution_id", "17"),
    "qty": ("qty", "quantity", "last_qty", "lastqty", "lastshares", "32"),
    "price": ("price", "last_px", "lastpx", "31"),
    "symbol": ("symbol", "instrument", "55"),
    "side": ("side", "54"),
    "account": ("account", "1"),
    "order_id": ("order_id", "orderid", "37"),
    "clordid": ("clordid", "cl_ord_id", "11"),
}
_SIDES = {"1": "BUY", "2": "SELL", "5": "SELL", "6": "SELL", "B": "BUY", "S": "SELL",
          "BUY": "BUY", "SELL": "SELL"}
_FIX_START = re.compile(r"8=FIX")


class VenueFileError(ValueError):
    """The file cannot be read as a venue record at all (no header, wrong format)."""


@dataclass(frozen=True)
class Execution:
    exec_id: str
    qty: Decimal
    price: Decimal
    symbol: str | None = None
    side: str | None = None
    account: str | None = None
    order_id: str | None = None
    clordid: str | None = None
    where: str = ""

    def same_content(self, other: Execution) -> bool:
        return ((self.qty, self.price, self.symbol, self.side, self.account)
                == (other.qty, other.price, other.symbol, other.side, other.account))


@dataclass
class Break:
    kind: str
    exec_id: str
    detail: str
    ordex: Execution | None = None
    venue: Execution | None = None


@dataclass
class Result:
    ordex_count: int = 0
    venue_count: int = 0
    matched: int = 0
    breaks: list[Break] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        out = dict.fromkeys(BREAK_KINDS, 0)
        for b in self.breaks:
            out[b.kind] += 1
        return out


_PLAIN_DECIMAL = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)$")


def _decimal(text: str, what: str) -> Decimal:
    """A plain decimal (FIX's float format: no exponent, at most 30 characters)."""
    t = text.strip()
    if len(t) > 30 or not _PLAIN_DECIMAL.match(t):
        raise ValueError(f"{what} {text[:40]!r} is not a plain decimal number")
    return Decimal(t)


# -- reading the venue's record -------------------------------------------------------------------
def read_venue(path: Path) -> tuple[list[Execution], list[Break]]:
    """Executions in the file, and the problems of the record itself (as breaks)."""
    try:
        text = Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError as e:
        raise VenueFileError(f"{path}: cannot read: {e.strerror}") from None
    if _FIX_START.search(text):
        return read_fix_log(text, str(path))
    return read_csv(text, str(path))


def _fix_fields(line: str) -> dict[int, str] | None:
    m = _FIX_START.search(line)
    if m is None:
        return None
    msg = line[m.start():].rstrip("\r\n")
    sep = None
    for candidate in ("\x01", "|", "^A"):
        if candidate in msg:
            sep = candidate
            break
    if sep is None:
        raise ValueError("no field separator (SOH, | or ^A)")
    fields: dict[int, str] = {}
    for part in msg.split(sep):
        if not part:
            continue
        tag, eq, value = part.partition("=")
        if not eq or not tag.isdigit():
            raise ValueError(f"malformed field {part[:40]!r}")
        fields.setdefault(int(tag), value)
    return fields


def read_fix_log(text: str, name: str = "log") -> tuple[list[Execution], list[Break]]:
    execs: list[Execution] = []
    problems: list[Break] = []
    for n, line in enumerate(text.splitlines(), 1):
        where = f"{name} line {n}"
        try:
            f = _fix_fields(line)
        except ValueError as e:
            problems.append(Break("unreadable", "", f"{where}: {e}"))
            continue
        if f is None or f.get(35) != "8":
            continue
        exec_type, trans = f.get(150), f.get(20, "0")
        if exec_type in ("H", "G") or trans in ("1", "2"):
            problems.append(Break("unsupported", f.get(17, ""), f"{where}: a trade bust or "
                                  "correction (ExecType H/G or ExecTransType 1/2): reconcile by hand"))
            continue
        if exec_type not in ("F", "1", "2"):
            continue           # not a fill (new, cancel, replace, reject, status, ...)
        try:
            if not f.get(17):
                raise ValueError("no ExecID(17)")
            execs.append(Execution(
                exec_id=f[17], qty=_decimal(f.get(32, ""), "LastQty(32)"),
                price=_decimal(f.get(31, ""), "LastPx(31)"), symbol=f.get(55),
                side=_SIDES.get(f.get(54, ""), f.get(54)), account=f.get(1), order_id=f.get(37),
                clordid=f.get(11), where=where))
        except ValueError as e:
            problems.append(Break("unreadable", f.get(17, ""), f"{where}: {e}"))
    return execs, problems


def read_csv(text: str, name: str = "csv") -> tuple[list[Execution], list[Break]]:
    reader = csv.reader(io.StringIO(text))
    try:
        header = [h.strip().lower() for h in next(reader)]
    except StopIteration:
        raise VenueFileError(f"{name}: empty file") from None
    col = {}
    for key, aliases in CSV_ALIASES.items():
        for a in aliases:
            if a in header:
                col[key] = header.index(a)
                break
    missing = [k for k in ("exec_id", "qty", "price") if k not in col]
    if missing:
        raise VenueFileError(f"{name}: the header needs column(s) {', '.join(missing)} "
                             f"(got {', '.join(header) or 'nothing'})")
    execs: list[Execution] = []
    problems: list[Break] = []
    for n, row in enumerate(reader, 2):
        if not row or all(not c.strip() for c in row):
            continue
        where = f"{name} line {n}"

        def get(key):
            i = col.get(key)
            return row[i].strip() if i is not None and i < len(row) and row[i].strip() else None
        try:
            if len(row) < len(header):
                raise ValueError(f"{len(row)} fields, the header has {len(header)}")
            exec_id = get("exec_id")
            if exec_id is None:
                raise ValueError("no exec_id")
            side = get("side")
            execs.append(Execution(
                exec_id=exec_id, qty=_decimal(get("qty") or "", "qty"),
                price=_decimal(get("price") or "", "price"), symbol=get("symbol"),
                side=_SIDES.get(side.upper(), side) if side else None, account=get("account"),
                order_id=get("order_id"), clordid=get("clordid"), where=where))
        except ValueError as e:
            problems.append(Break("unreadable", get("exec_id") or "", f"{where}: {e}"))
    return execs, problems


# -- matching -------------------------------------------------------------------------------------
def reconcile(ordex: Iterable[Execution], venue: Iterable[Execution],
              venue_problems: Iterable[Break] = ()) -> Result:
    result = Result(breaks=list(venue_problems))
    ours: dict[str, Execution] = {}
    for e in ordex:
        ours[e.exec_id] = e
    result.ordex_count = len(ours)
    theirs: dict[str, Execution] = {}
    for e in venue:
        seen = theirs.get(e.exec_id)
        if seen is None:
            theirs[e.exec_id] = e
        elif not seen.same_content(e):
            result.breaks.append(Break("duplicate_conflict", e.exec_id,
                                       f"{seen.where} and {e.where} differ", venue=e))
        # an identical repeat is a resend (PossDup): one execution
    result.venue_count = len(theirs)
    for exec_id, o in ours.items():
        v = theirs.get(exec_id)
        if v is None:
            result.breaks.append(Break("missing_at_venue", exec_id,
                                       f"ordex {o.where}: {o.side} {o.qty} {o.symbol} @ {o.price}",
                                       ordex=o))
            continue
        found = []
        if o.qty != v.qty:
            found.append(Break("qty_mismatch", exec_id, f"ordex {o.qty}, venue {v.qty} ({v.where})",
                               o, v))
        if o.price != v.price:
            found.append(Break("price_mismatch", exec_id,
                               f"ordex {o.price}, venue {v.price} ({v.where})", o, v))
        for name in ("symbol", "side", "account"):
            theirs_v = getattr(v, name)
            if theirs_v is not None and theirs_v != getattr(o, name):
                found.append(Break("field_mismatch", exec_id, f"{name}: ordex {getattr(o, name)}, "
                                   f"venue {theirs_v} ({v.where})", o, v))
        if found:
            result.breaks.extend(found)
        else:
            result.matched += 1
    for exec_id, v in theirs.items():
        if exec_id not in ours:
            result.breaks.append(Break("missing_in_ordex", exec_id,
                                       f"{v.where}: {v.side} {v.qty} {v.symbol} @ {v.price}",
                                       venue=v))
    return result


def format_report(result: Result) -> str:
    counts = result.counts()
    lines = [f"executions: ordex {result.ordex_count}, venue {result.venue_count}",
             f"matched: {result.matched}"]
    lines += [f"{kind}: {n}" for kind, n in counts.items()]
    lines.append(f"breaks: {len(result.breaks)}" + (" -- RECONCILED" if not result.breaks else ""))
    for b in result.breaks:
        lines.append(f"  {b.kind:<18} exec {b.exec_id or '?':<10} {b.detail}")
    return "\n".join(lines)
