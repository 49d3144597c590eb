"""Writes gateway/binary/PROTOCOL.md from the schema: `python -m ordex.gateway.binary.protocol_doc`
(tests/binary check that the committed file equals `render()`)."""
from __future__ import annotations

import sys
from pathlib import Path

from ordex.gateway.binary import schema

DOC = Path(__file__).with_name("PROTOCOL.md")

INTRO = """\
# ordex binary API: SoupBinTCP, OUCH 5.0 order entry, ITCH 5.0 feed

Generated from `gateway/binary/schema.py` by `python -m ordex.gateway.binary.protocol_doc`; do not
edit by hand.  Schema version {version}.

Market makers reach ordex over two SoupBinTCP 3.0 listeners (`[binary]` in the server
configuration): order entry speaks OUCH 5.0 with the published message layouts plus ordex's
market-maker extensions (lowercase type letters), and the market-data feed speaks ITCH 5.0.
Clients: `ordex.gateway.client` (`OuchClient`, `ItchClient`).

## Conventions
- Integers are unsigned and big-endian unless the type says otherwise.
- Alpha fields are ASCII, left-justified and padded with spaces; ordex also accepts them
  right-justified.  Numeric fields are ASCII digits, right-justified and padded with spaces.
- Prices carry 4 implied decimals (150.25 is 1502500).  Each instrument's price increment must be
  a multiple of 0.0001 to be on the binary gateway; a price off the instrument's tick is rejected,
  never rounded.
- Quantities count the instrument's quantity increment (shares for a whole-share instrument,
  millionths of a share for one whose increment is 0.000001), the engine's own unit.
- Timestamps count nanoseconds since midnight in the configured `feed_timezone`.
- Every server message on both listeners is Sequenced Data; client messages are Unsequenced Data.

## Dialects
The published layouts are the `nasdaq` dialect.  A user configured with
`dialect = "ouch-connect"` gets the layouts of the PyPI package ouch-connect 5.0.x, which differ
in two places: Symbol fields are 9 bytes, and Order Canceled carries an OrigUserRefNum before the
UserRefNum.  Such a user should not use the extensions (that client cannot decode them).

## Sessions, sequencing and replay (order entry)
- Log in with a configured username and password.  RequestedSession blank (or the current
  session, named in Login Accepted) and RequestedSequenceNumber = the next message wanted: the
  server replays every stored message from there (from a per-user store on disk that survives
  restarts), then continues live; 0 skips the past.  After login (and replay) the server sends a
  System Event `S`.
- A user may be logged in once at a time.  Server Heartbeats go out after `heartbeat_ms` without
  other output; a connection without any client packet for `idle_timeout_s` is closed.
- A packet longer than `max_packet`, of length 0, or of a type the client may not send is
  answered with a Debug packet saying why and the connection is closed; a malformed OUCH message
  inside a well-framed packet (unknown type, wrong length) is answered with a Debug packet and
  ignored; a well-formed message with a value the server cannot accept gets an Order Rejected
  (or Cancel Reject) with a reason.  None of this affects other sessions.
- A connection whose unsent output exceeds `max_buffer_kb` is closed (its messages stay stored
  for replay).

## Order identity
UserRefNums are strictly increasing per user (also across restarts); one that is not gets Order
Rejected `DUPLICATE_USERREFNUM`.  Orders are limit orders; Time In Force `0` (day) or `3` (IOC).
Optional appendages understood on Enter Order: Firm (tag 2: the first four letters of one of the
user's accounts; blank or `????`: the first account), MaxFloor (tag 5: displayed quantity of an
iceberg), PriceType (tag 6: `L` only), PostOnly (tag 12: `P` or `Y`); others are ignored.
Cancel Order's Quantity is the order's new total quantity (filled quantity included), so a
non-zero value reduces the order and keeps its time priority; at or below the filled quantity it
cancels the rest.

## Market-maker extensions
- **Mass Quote** (`q`): each side with a quantity becomes one engine command (QUOTE) naming the
  user's previous quote side on that (instrument, side), if any.  The quantity is the side's new
  open quantity.  A previous side that is still live is replaced in place: one Order Replaced
  (OrigUserRefNum = the previous side, UserRefNum = the new one; Quantity counts what the side
  filled before too), one ITCH Order Replace (or Order Cancel, see below) on the feed.  A
  previous side that is no longer live (filled, cancelled: the gateway's view of it may lag the
  engine) or none at all: the side is entered as a new day limit order (Order Accepted, ITCH Add
  Order).  A side with quantity 0 cancels the previous one (Order Canceled).  A side the server
  refuses (Order Rejected, from the gateway or from the engine's checks: risk, collar, grid,
  post-only, throttle) also cancels the previous side (Order Canceled): a quote never stays at
  terms the user has moved away from.  All commands of one Mass Quote are submitted as one
  batch: the engine applies a batch back to back on the single event-loop thread, so no other
  command interleaves and the quote changes atomically.  The per-side replies (and executions
  of a requote that crosses) come first, then a Mass Quote Ack.
  Time priority follows the engine's replace rules: a side requoted at the same price with a
  smaller quantity keeps its place (ITCH Order Cancel for the difference); anything else -- a new
  price, a larger quantity, even identical terms -- goes to the back of its new level (ITCH Order
  Replace, which to an ITCH reader means a new order reference and a new place).  One rule for
  Replace Order and requotes, and the one ITCH readers already assume.
- **Mass Cancel** (`c`): all of the user's orders, or those on one instrument, in one sequenced
  command; Order Canceled per order, then a Mass Cancel Report.
- **Cancel on disconnect**, per user (`cancel_on_disconnect`): `quotes` (the default) cancels the
  user's quote sides when its connection ends, `all` cancels every order of the user (one
  sequenced mass cancel), `off` leaves them.  It also applies at server start (nobody is
  connected then) and when the server stops.
- **Market-maker protection**, per user (`protection_fills`, `protection_qty`,
  `protection_window_ms`): when the user's fills within the window (counted from durable engine
  events, at the engine's timestamps) reach either limit, the gateway submits a sequenced mass
  cancel of all the user's orders, sends Protection Triggered, and refuses Mass Quotes (Mass
  Quote Ack `R`, `QUOTE_UNAVAILABLE`) until the user sends Protection Reset.

## ITCH feed
A subscriber logs in like an order-entry user (users with `feed = true`).  It receives a
snapshot -- System Event `O`, then per instrument a Stock Directory and a Stock Trading Action,
System Event `Q`, then an Add Order for every displayed resting order in time priority -- and the
live stream after it.  Only durable events are published.  Stock Locate is the instrument id
plus one; order reference numbers are ordex's order ids (a replaced or replenished order gets a
new reference above 2^48).  Sequence numbers count per connection from 1: logging in again gives
a fresh snapshot (no replay).  A subscriber whose unsent output exceeds `max_buffer_kb` is
disconnected.
"""


def _field_rows(fields, dialect_note: bool = True) -> list[str]:
    rows = ["| Field | Type | Length | Notes |", "|---|---|---|---|"]
    for f in fields:
        t = f.type
        size = "8 (9)" if t is schema.SYMBOL else str(t.size)
        note = f.doc
        if f.codes:
            note = (note + "; " if note else "") + f"codes: {f.codes}"
        if f.dialects:
            note = (note + " " if note else "") + f"[{', '.join(f.dialects)} only]"
        rows.append(f"| {f.name} | {t.name} | {size} | {note} |")
    return rows


def _message(m: schema.Message) -> list[str]:
    lay = schema.layout(m.layer, m.sender if m.sender != "both" else "server", m.name)
    ext = " (ordex extension)" if m.extension else ""
    out = [f"#### {m.name} `{m.type.decode()}`{ext}", "", m.doc[0].upper() + m.doc[1:] + ".", ""]
    fields = [schema.Field("Type", schema.CHAR, f"`{m.type.decode()}`")] + list(m.fields)
    out += _field_rows(fields)
    size = f"{lay.size} byte{'s' if lay.size != 1 else ''}"
    if m.layer == "soup":
        size += " after the 2-byte packet length"
    if any(f.type is schema.SYMBOL for f in m.fields):
        size += " (+1 per Symbol in the ouch-connect dialect)"
    if m.tail == "appendage":
        size += ", then AppendageLength bytes of optional appendage (length, tag, value)"
    elif m.tail == "text":
        size = "variable: the text follows the type byte"
    elif m.tail == "payload":
        size += ", then the message"
    elif m.tail.startswith("group:"):
        size += f", then Count x {m.tail[6:]}"
    out += ["", f"Length: {size}.", ""]
    return out


def render() -> str:
    out = [INTRO.format(version=schema.SCHEMA_VERSION)]
    sections = (
        ("SoupBinTCP packets", [m for m in schema.SOUP],
         "The two-byte length counts the type byte and the payload."),
        ("OUCH: client to server", [m for m in schema.OUCH_IN], "Inside Unsequenced Data."),
        ("OUCH: server to client", [m for m in schema.OUCH_OUT], "Inside Sequenced Data."),
        ("ITCH 5.0 feed", [m for m in schema.ITCH], "Inside Sequenced Data."),
    )
    for title, messages, note in sections:
        out += [f"## {title}", "", note, ""]
        for m in messages:
            out += _message(m)
    out += ["## Repeating groups", ""]
    for g in schema.GROUPS.values():
        lay = schema.layout("group", "client", g.name)
        out += [f"#### {g.name}", "", g.doc[0].upper() + g.doc[1:] + ".", ""]
        out += _field_rows(g.fields)
        out += ["", f"Length: {lay.size} bytes (+1 in the ouch-connect dialect).", ""]
    out += ["## Code sets", ""]
    for cs in schema.CODES.values():
        out += [f"#### {cs.name}", "", cs.doc + ".", "", "| Value | Name | Meaning |", "|---|---|---|"]
        for c in cs.codes:
            v = f"`{c.value.decode()}`" if isinstance(c.value, bytes) else f"0x{c.value:04X}"
            out.append(f"| {v} | {c.name} | {c.doc} |")
        out.append("")
    return "\n".join(out).rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    text = render()
    target = Path(argv[0]) if argv else DOC
    target.write_text(text)
    print(f"wrote {target} ({len(text.splitlines())} lines)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
