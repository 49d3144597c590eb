"""The compiled engine: risk -> lifecycle -> book -> accounts, one command at a time.

This docstring is the contract.  `ordex.core.refengine.ReferenceEngine` implements it in plain
Python; the tests run both on the same command streams and require identical events and states.
Definitions it relies on: core/commands.py (COMMAND_DTYPE and enums), core/events.py (EVENT_DTYPE,
EventKind), core/lifecycle.py (the one transition table), core/reasons.py (Reason), core/refdata.py
(units; ReferenceData), ext/book.pyi (the book's matching contract, used unchanged).

Determinism: applying a command reads nothing but the engine state and the command (its seq and
ts_ns included).  Orders get ids 1, 2, 3 ... in the order their NEW_ORDER commands pass the
duplicate-ClOrdID check; exec_id is a counter over all events, starting at 1.

Identity
    (session, clordid) is unique per session per trading day (FIX's convention): a trading day
    ends with a PURGE_CLORDIDS command (see there), which forgets the clordids of orders that are
    no longer live; until then, a NEW_ORDER, CANCEL or REPLACE whose clordid the session
    used before is answered with DUPLICATE_CLORDID and changes nothing (NEW_ORDER: a REJECTED
    event with order_id 0; CANCEL/REPLACE: CANCEL_REJECTED).  Every other NEW_ORDER gets an order
    id, even if it is then rejected, and its clordid is recorded.  A CANCEL/REPLACE that gets past
    the duplicate check records its clordid too, whatever its outcome; after a successful REPLACE
    the order's current clordid is the new one (both old and new keep resolving to it).
    CANCEL/REPLACE/STATUS_REQUEST find the order by order_id if non-zero, else by (session,
    orig_clordid).  Found by order_id, it must belong to an account the session may trade (admin
    session -1 may touch anything), else UNKNOWN_ORDER.  A clordid that resolves to an order that
    is no longer live (filled, cancelled, expired, rejected) gives ORDER_DONE; no match at all gives
    UNKNOWN_ORDER.  A rejected CANCEL/REPLACE emits CANCEL_REJECTED (order_id of the target if
    found else 0, clordid and orig_clordid from the command, reason).

Units
    price/stop_price in price increments; qty/display in quantity increments; cash and fees in the
    instrument currency's cash increments; notional(p, q) = p * q * mult // div (floor) with the
    instrument's (notional_mult, notional_div); hold values use the ceiling instead.

NEW_ORDER checks, in this order (first failure wins; a REJECTED event, state REJECTED):
     1 session unknown -> ACCOUNT_NOT_PERMITTED;  2 clordid duplicate (see above);
     3 session kill switch -> SESSION_KILL_SWITCH;  4 throttle -> THROTTLED (see Throttle);
     5 account unknown -> UNKNOWN_ACCOUNT; session may not trade it -> ACCOUNT_NOT_PERMITTED;
       account kill switch -> ACCOUNT_KILL_SWITCH;
     6 instrument unknown -> UNKNOWN_INSTRUMENT; account not permitted on it -> ACCOUNT_NOT_PERMITTED;
       status halted -> INSTRUMENT_HALTED; closed -> INSTRUMENT_CLOSED;
     7 side not BUY/SELL -> INVALID_SIDE; ord_type unknown -> INVALID_ORDER_TYPE; tif unknown ->
       INVALID_TIF; MARKET or STOP with tif GTD -> INVALID_TIF; GTD with expire_ts_ns <= ts_ns ->
       INVALID_EXPIRY; stp > 4 -> INVALID_ORDER_TYPE;
     8 price: LIMIT/STOP_LIMIT need price > 0 (INVALID_PRICE) on the tick (PRICE_OFF_TICK); MARKET
       and STOP need price == 0 (INVALID_PRICE); STOP/STOP_LIMIT need stop_price > 0 on the tick
       (INVALID_STOP_PRICE), others stop_price == 0 (INVALID_STOP_PRICE);
     9 qty <= 0 -> INVALID_QTY; off the lot -> QTY_OFF_LOT; < min_qty -> QTY_BELOW_MIN;
       > max_qty (if set) -> QTY_ABOVE_MAX; display < 0, off the lot, or > qty -> INVALID_DISPLAY;
    10 links: OCO/OTO flag with link not a live (or pending) order of the same account ->
       UNKNOWN_ORDER; both flags, a link target already linked (OCO sibling or OTO child), or an
       OTO child that is not a LIMIT order -> INVALID_ORDER_TYPE;
    11 reference and collar (ref = the later by ts of last trade and external reference; equal ts:
       the last trade):  LIMIT / STOP_LIMIT with band_bps > 0 and a reference: reject
       PRICE_OUTSIDE_COLLAR if |price - ref| * 10000 > band_bps * ref.  MARKET needs a reference
       with ts_ns - ref_ts <= ref_max_age_ns, else NO_FRESH_REFERENCE; its protection price is
       buy: floor_to_tick(ref * (10000 + band_bps) // 10000), sell: ceil_to_tick(ref * (10000 -
       band_bps) / 10000) (at least one tick).  STOP needs no reference at entry;
    12 hold price: LIMIT/STOP_LIMIT: price; MARKET: the protection price; STOP: floor_to_tick(
       stop_price * (10000 + band_bps) // 10000) for buys, stop_price for sells;
       notional = hold_price * qty * mult // div; max_notional set and notional > it ->
       NOTIONAL_ABOVE_MAX;
    13 position limit (account max_position converted to this instrument's increments, floor; 0 =
       none): buy: position + open_buy + qty > limit, sell: position - open_sell - qty < -limit ->
       POSITION_LIMIT (open_buy/open_sell = leaves of the account's live orders on the instrument,
       pending ones included);
    14 buying power: buy: hold = ceil(hold_price * qty * mult / div) + ceil(that * max(maker_bps,
       taker_bps) / 10000); available cash (instrument currency) < hold -> INSUFFICIENT_BUYING_POWER.
       Sell: unless the account may short, position - held_qty < qty -> INSUFFICIENT_POSITION.
    Passing all: the hold is taken (cash available -> held; or position qty -> held_qty for sells
    of non-shorting accounts) and the order is accepted:
      - STOP/STOP_LIMIT, and OTO children: PENDING_TRIGGER event (state PENDING_TRIGGER); nothing
        enters the book.
      - otherwise NEW event (state NEW), then it goes to the book (tif DAY/GTC/GTD -> book GTC,
        IOC -> IOC, FOK -> FOK; MARKET -> book market with the protection price; owner = account
        id + 1, stp from the command; post-only flag; display).  A book reject (POST_ONLY_WOULD_TAKE,
        POOL_EXHAUSTED -> BOOK_FULL) is turned into REJECTED (state REJECTED, hold released)
        instead of NEW -- so the NEW event is emitted after the book accepted the order; book
        events then map as below, in book order.

Book events -> engine events (fills update accounts as they happen):
    FILL: a TRADE event for the taker, then one for the maker: last_px = fill price, last_qty,
      leaves, cum_qty, avg_px = floor(sum(px*q) / cum_qty), fee, liquidity TAKER/MAKER,
      other_order_id = the contra order.  State PARTIALLY_FILLED or FILLED.
    CANCELLED: CANCELLED event; reason IOC_REMAINDER -> IOC_REMAINDER, FOK_UNFILLABLE ->
      FOK_UNFILLABLE, SELF_TRADE -> SELF_TRADE.  REDUCED (self-trade decrement) -> RESTATED,
      reason SELF_TRADE, last_qty = the decrement; the order's qty and leaves both fall by it
      (its hold is recomputed for the new leaves, open quantity adjusted).  RESTED / REPLENISHED / REPLACED -> nothing of their own.

Accounts (per fill of q at price p, notional n = notional(p, q)):
    fee = n * bps // 10000 (maker_bps for the maker, taker_bps for the taker), added to the engine's
    collected fees for that currency.
    buyer: hold recomputed for the new leaves at the order's hold price (as in 14) and the
    difference released to available; then available -= n + fee.  seller: held_qty -= q (if it
    held); available += n - fee.  Position: buyer +q, seller -q; realized P&L and cost basis per
    (account, instrument): cost basis is the signed cost of the open position; a fill that reduces
    the position by r takes cost basis * r // |position| out of the basis (floor toward zero) and
    realizes (for a long reduced by a sale) n_r - removed, (for a short reduced by a buy)
    (-removed) - n_r (removed is negative for a short), where n_r = notional(p, r); the rest of the fill opens at notional(p, rest).
    Any order that ends (filled, cancelled, expired, rejected after a hold) releases what it still
    holds.

CANCEL: CANCELLED event (reason USER_CANCEL), hold released; works on live and pending orders.
REPLACE: target must be live; new qty must exceed cum_qty (QTY_NOT_ABOVE_FILLED); price /
    stop_price / qty validated as in 8-9 for the order's type; collar (11), notional (12), position
    limit (13, against the change) and buying power (14, for the increase of the hold) apply;
    any failure: CANCEL_REJECTED, order unchanged.  Success: REPLACED event (new clordid, new terms,
    leaves = qty - cum_qty), hold adjusted; a live order goes through book.replace (same price and
    smaller leaves keeps priority), whose fills follow.  Pending orders just take the new terms.
QUOTE (a market maker's requote of one side; core/commands.py): qty is the side's new open
    quantity.  qty 0 is exactly a CANCEL (same checks, events and clordid records).  Otherwise:
    1 session not a trading session -> REJECTED ACCOUNT_NOT_PERMITTED (order_id 0); 2 clordid
    duplicate -> REJECTED DUPLICATE_CLORDID (order_id 0); nothing else happens in either case.
    Then the previous side is looked up like a CANCEL's target (order_id, else orig_clordid; both
    empty: none) -- "prev" below only if it is live or pending; a finished or unknown one is
    simply no previous side.  The quote takes the next order id (ids as for NEW_ORDER; it stays
    unused when prev is changed in place) and is checked as NEW_ORDER steps 3-14 (and R6's
    BOOK_FULL) for a LIMIT DAY order with the command's session, account, instrument, side,
    price, qty, stp and POST_ONLY flag (display 0, no link), counting prev's open quantity, hold
    and order slot as already released.
    In place: the checks pass and prev is live in the book with the same session, account,
    instrument, side, stp and flags (POST_ONLY equal, no OCO/OTO link or child), LIMIT, DAY, no
    display.  Then book.replace(prev, price, qty) -- priority by the book's replace rules: kept
    only for the same price and a smaller open quantity -- and on success a REPLACED event
    (clordid = the quote's, orig_clordid = prev's previous clordid; qty = cum_qty + the new open
    quantity, leaves = qty of the command; hold re-taken at the new price), book events follow
    as for REPLACE; the quote's clordid records prev's id.  A book refusal (POST_ONLY_WOULD_TAKE,
    BOOK_FULL) goes on as a failed check below.
    Otherwise the clordid records the new id; prev, if any, is cancelled: CANCELLED (reason
    USER_CANCEL, clordid = prev's own, which stays its current one; orig_clordid = the quote's);
    then a failed check is a REJECTED event (the new id, fields of the LIMIT DAY order above),
    and a passed one creates the order exactly as NEW_ORDER (NEW, book, fills).
    So a quote side never stays at its old terms when its requote is refused.
Actor and target: `session` is the actor.  SESSION-scope MASS_CANCEL and KILL_SWITCH from the
    admin session -1 act on the target session target_session - 1 (a target that is not a
    session: nothing, no event), or, with target_session 0, as before the field existed (no
    session: kill switch nothing, mass cancel 0).  Any other actor's act on the actor itself and
    target_session is not read (records journaled before the sequencer zeroed padding may hold
    garbage there).
MASS_CANCEL: live and pending orders in scope (SESSION: entered by the target session; ACCOUNT;
    INSTRUMENT; ALL; with instrument >= 0 also restricting the SESSION/ACCOUNT scopes), restricted
    to what the actor may trade (admin: all), cancelled in order-id order with reason MASS_CANCEL;
    then one MASS_CANCEL_DONE event with qty = the number cancelled and session = the actor (an
    operator's report goes to no client session).
SET_STATUS: 0 open / 1 halted / 2 closed.  If that is not the instrument's status already, a
    STATUS_CHANGED event first (session = the actor, instrument, qty = the new status, last_qty =
    the previous one, clordid from the command, order fields 0); the same status again emits
    nothing and changes nothing.  Closing (whether or not it was closed already) then expires every
    DAY order of the instrument, live or pending, in order-id order (EXPIRED, reason SESSION_CLOSE).
    (A journal written before STATUS_CHANGED existed replays with exec ids shifted by one per
    status change from its first one on.)
REFERENCE_PRICE: stores (price, ts_ns) as the instrument's external reference.
KILL_SWITCH: scope ACCOUNT or SESSION (the target, see above), flag ON sets it and cancels that
    account's / session's orders (reason KILL_SWITCH_CANCEL, order-id order); without ON it clears.
SET_LIMIT (admin session only): `status` selects a commands.Limit, `qty` is the new value on the
    integer grid, the target is (account, instrument) for MAX_POSITION, instrument for
    MAX_ORDER_QTY / MAX_NOTIONAL / COLLAR_BPS / REF_MAX_AGE, target_session - 1 for THROTTLE.
    Checks in this order, each refusal an ADMIN_REJECTED event that changes nothing: actor not
    -1 -> NOT_ADMIN; selector unknown -> UNKNOWN_LIMIT; target unknown -> UNKNOWN_ACCOUNT /
    UNKNOWN_INSTRUMENT / UNKNOWN_SESSION; value < 0, a MAX_ORDER_QTY that is not 0 and off the
    lot or below min_qty, a COLLAR_BPS above 10000 -> INVALID_LIMIT_VALUE.  Applied: the limit
    is what steps 4, 9, 11, 12, 13 (and REPLACE) read from the next command on; a LIMIT_SET event
    (ord_type = the Limit, qty = the new value, last_qty = the previous one).  THROTTLE: the
    bucket is first refilled to ts_ns at the old rate; then rate = value and tokens_ns =
    min(tokens_ns, value * 1e9) -- except that 0 (unthrottled) zeroes tokens_ns and last_ts, and a
    bucket that was unthrottled starts full (value * 1e9, last_ts = ts_ns).  ADMIN_REJECTED and
    LIMIT_SET carry session, account, instrument, clordid from the command, other_order_id =
    target_session - 1, ord_type = status, qty = the value (LIMIT_SET: as applied), state 0.
PURGE_CLORDIDS (admin session only; else ADMIN_REJECTED NOT_ADMIN, nothing changes): a new
    trading day for ClOrdID uniqueness.  Every recorded (session, clordid) whose order id is not a
    live or pending order is forgotten -- those of finished (filled, cancelled, expired, rejected)
    orders and of CANCEL/REPLACE that resolved nothing (order id 0) -- so the session may use it
    again; every name of a live or pending order (its current clordid, the ones it had before,
    and those of rejected CANCEL/REPLACE commands that resolved to it) keeps resolving and stays a
    duplicate.  A forgotten clordid used as orig_clordid is UNKNOWN_ORDER (no longer ORDER_DONE).
    One CLORDIDS_PURGED event: session = the actor, qty = entries forgotten, leaves = entries
    kept, clordid from the command.
    Compiled engine: the kept entries are compacted and re-slotted in the same table, whose slot
    array and key arena keep their capacity (memory is reused; clordid_stats() counts it), so a
    day no larger than the busiest before it never grows (rehashes) the table.
DISCONNECT (admin session only): no state changes; a DISCONNECT event with session =
    other_order_id = target_session - 1, reason DISCONNECT, the command's clordid and orig_clordid
    (operations put the operator there as `adm:<name>`, and the reason in orig_clordid), for the gateways
    to log that session out once it is durable.  Refused (ADMIN_REJECTED): actor not -1 ->
    NOT_ADMIN, target not a session -> UNKNOWN_SESSION.
TIMER: GTD orders with expire_ts_ns <= ts_ns expire (EXPIRED, GTD_EXPIRED), by (expire_ts_ns, id).
STATUS_REQUEST: an ORDER_STATUS event for the order (or CANCEL_REJECTED UNKNOWN_ORDER/ORDER_DONE).

Stops: after every command, while some pending stop's trigger condition holds against its
    instrument's last trade price (buy: last >= stop_price; sell: last <= stop_price), the one
    with the lowest order id is triggered: TRIGGERED event (state NEW), then it enters the book as
    above (STOP: a market order whose protection is its hold price for a buy, and
    ceil_to_tick(stop_price * (10000 - band_bps) / 10000) (at least one tick) for a sell -- so a
    fill never costs more than was reserved; STOP_LIMIT: a limit order); its fills may trigger more.
Follow-ups (OCO, OTO) run after the book operation that caused them has been fully accounted,
    in the order they arose, before stops are checked; they may cause further follow-ups.
    OCO: when a leg trades or ends for any reason, its sibling (if still live or pending) is
    cancelled (reason OCO_SIBLING) and the link is dissolved.  OTO: when the parent is FILLED the
    child is released (TRIGGERED, then enters the book as a limit order); if the parent ends
    otherwise, the child is cancelled (OTO_PARENT_ENDED).
Throttle: per session with max_orders_per_sec r > 0: a token bucket of capacity r tokens, refilled
    continuously from ts_ns (tokens_ns = min(r * 1e9, tokens_ns + (ts_ns - last_ts_ns) * r), full
    at start); each NEW_ORDER and REPLACE past step 2 takes 1e9 token-ns or is THROTTLED.

Edge decisions (settled while building; both implementations follow them):
  * Follow-ups (OCO/OTO) queued by a command run when the command's own handling is complete (after
    e.g. MASS_CANCEL_DONE), and those queued by a triggered stop when its entry is complete.
  * Market and triggered-stop protection prices are at least one tick, for buys as for sells.
  * CANCEL / REPLACE / STATUS_REQUEST from an unknown session (not admin, out of range):
    CANCEL_REJECTED ACCOUNT_NOT_PERMITTED, checked before the duplicate check.  Order of checks for
    CANCEL: session, duplicate clordid, resolve.  For REPLACE: session, duplicate clordid,
    throttle, resolve, then the order's validations in the order 8 (for the order's own type; the
    command's ord_type/side/tif/display are ignored), 9 (qty, without display), QTY_NOT_ABOVE_FILLED,
    11, 12, 13, 14.  A post-only order whose new price would cross is CANCEL_REJECTED
    POST_ONLY_WOULD_TAKE.  Session/account kill switches and instrument status do not block
    CANCEL or REPLACE.  STATUS_REQUEST records no clordid and checks no duplicate.
  * The clordid of a CANCEL/REPLACE maps to the resolved order id, or 0 when unresolved; an
    orig_clordid that maps to 0 is UNKNOWN_ORDER.  By order_id, an order that is not live is
    UNKNOWN_ORDER (no information about other firms' finished orders leaks).
  * A successful CANCEL makes the cancel's clordid the order's current clordid, like REPLACE; the
    CANCELLED / REPLACED event then has clordid = new, orig_clordid = the previous one.  All other
    events have orig_clordid empty, except CANCEL_REJECTED (the command's).
  * CANCEL_REJECTED: if the target is live, order fields and state are the order's (session:
    the requester's, so the answer reaches whoever asked); otherwise they come from the command
    and state is REJECTED.  ORDER_STATUS: the order's fields.
  * REJECTED (NEW_ORDER): fields from the command (order_id as assigned, 0 for duplicates), leaves
    0, cum_qty 0, avg_px 0.  A book reject after the hold: same fields, from the order.
  * MASS_CANCEL / KILL_SWITCH / SET_STATUS / REFERENCE_PRICE naming an account, session or
    instrument that does not exist (other than -1 "any" where allowed) do nothing and emit
    nothing; a MASS_CANCEL from a session on an account it may not trade cancels nothing and
    reports 0.  An unknown command kind emits nothing.
  * REPLACE of a pending stop updates its terms in place (its position in the stop list, which is
    by order id, does not change) and its instrument is checked for triggers after the command.

Snapshots: snapshot(seq) returns the whole state as bytes, stamped with the journal sequence it
    covers (the caller's word: every command up to seq applied, none after); Engine.restore(
    refdata, data, max_orders=None) builds an engine in that state (max_orders None: the one the
    snapshot was taken with).  The restored engine has the same state() and, given the same
    further commands, emits the same events; snapshotting it again (same seq and max_orders)
    gives the same bytes.  Pool slots are internal and need not match.  Captured: the order and
    exec id counters; live and pending orders with every field (px_qty in full 128 bits, OCO/OTO
    links, whether in the book) in order-id order; each instrument's pending stop list in its
    order; instrument status, last trade and external reference (price, ts); sessions (kill
    switch, 128-bit token bucket, last ts, rate); risk limits (limits()); accounts (cash available/held per currency;
    position, held qty, cost, realized, open buy/sell per instrument; kill switch; may_short);
    fees and the initial totals check_invariants() uses; every (session, clordid) -> order id
    recorded (since the last PURGE_CLORDIDS); the book's resting orders in priority order (book.pyi, Snapshots).
    Format, version 2, little-endian: a 64-byte header (magic b"ORDXSNAP", u16 version, u16
    header size 64, u32 flags 0, i64 seq, u64 body bytes, 16-byte refdata_digest(refdata), 16
    zero bytes), the body, then CRC32C (u32) of header and body.  The body is a fixed sequence of
    sections, each a tag (4 bytes), u32 item size, u64 item count and the items: SCAL (11 int64:
    next order id, next exec id, max_orders, live orders, book orders, ClOrdID entries, ClOrdID
    table capacity, instruments, accounts, sessions, currencies), INST (5 int64 per instrument:
    status, last_px, last_ts, ref_px, ref_ts), SESS (5 per session: kill, tokens_ns low and high
    64 bits, last_ts, rate), CASH (available then held, [account][currency]), POSN (qty, held
    qty, cost, realized, open buy, open sell, each [account][instrument]), ACCT (2 per account:
    kill, may_short), FEES (fees and initial cash per currency, initial position per
    instrument), LIMT (4 per instrument: max_qty, max_notional, band_bps, ref_max_age_ns; then
    max_position [account][instrument]), ORDR (SnapOrder rows, engine.pxd), STPN (pending stops per instrument), STOP
    (their order ids, list order), CLID (SnapClordid rows, in the order recorded; any order
    restores), BOOK (book RESTING_DTYPE rows).
    Version 1 is the same without LIMT: restored with the reference data's limits.
    restore() refuses, with SnapshotError (a ValueError) naming the problem: data that is
    truncated, damaged (CRC), of another format version, with sections out of place, or
    describing an impossible state (ids out of order, unknown accounts, a stop list naming an
    order that is not a pending stop, a book disagreeing with the orders, ...); and with
    SnapshotMismatch when the reference data differs from the snapshot's (digest mismatch).

Every event carries: seq, ts_ns of the command; exec_id; order fields (order_id, session, account,
instrument, side, ord_type, tif, price, stop_price, qty = order qty, leaves, cum_qty, avg_px) as
they are after the event; state; reason (0 unless stated); clordid = the order's current clordid
(for CANCEL_REJECTED / REJECTED: the command's).  Orders leave the order table when they end.
"""
from typing import Any, NamedTuple

import numpy as np

from ordex.core.refdata import ReferenceData

SNAPSHOT_MAGIC: bytes
SNAPSHOT_VERSION: int

class SnapshotError(ValueError):
    """A snapshot that cannot be used: truncated, damaged, another format, or inconsistent."""

class SnapshotMismatch(SnapshotError):
    """A valid snapshot made with different reference data than the engine is given."""

class SnapshotHeader(NamedTuple):
    version: int
    seq: int
    body_len: int
    refdata_digest: bytes

def refdata_digest(refdata: ReferenceData) -> bytes:
    """blake2b-128 of a canonical form of the reference data (every field, sets/dicts sorted)."""

def snapshot_header(data: bytes) -> SnapshotHeader:
    """Check framing, version and CRC32C of a snapshot; SnapshotError says what is wrong."""

class Engine:
    def __init__(self, refdata: ReferenceData, max_orders: int = 1 << 20) -> None: ...
    def apply(self, commands: np.ndarray) -> int:
        """Apply COMMAND_DTYPE rows in order; returns the number of events appended."""
    def take_events(self) -> list[tuple]:
        """Accumulated EVENT_DTYPE rows as tuples, then clear them (book events too)."""
    def events_array(self) -> np.ndarray: ...
    def clear_events(self) -> None: ...
    def order(self, order_id: int) -> dict[str, Any] | None: ...
    def account(self, account_id: int) -> dict[str, Any]:
        """cash {currency: (available, held)}, positions {instrument: (qty, held_qty, cost,
        realized)}, kill switch."""
    def instrument_status(self, instrument: int) -> int:
        """0 open, 1 halted, 2 closed."""
    def unrealized_pnl(self, account_id: int, instrument: int, mark_px: int | None = None) -> int | None:
        """Position value at the mark (default: the instrument's reference) minus cost basis."""
    def state(self) -> tuple:
        """Canonical state, equal between implementations:
        (next_order_id, next_exec_id,
         orders: tuple of (order_id, session, account, instrument, side, ord_type, tif, price,
                 stop_price, qty, cum_qty, leaves, state, hold_cash, hold_qty, expire_ts_ns,
                 clordid bytes) for live/pending orders sorted by id,
         books: tuple per instrument id of (bid depth, ask depth), each a tuple of (price, qty,
                count) from the best, full depth,
         accounts: tuple per account id of (tuple of (currency, available, held) sorted by code,
                tuple of (instrument, qty, held_qty, cost, realized) sorted by instrument for
                entries with any non-zero value, kill_switch bool),
         fees: tuple of (currency, amount) sorted, non-zero only,
         instruments: tuple per id of (status, last_px, last_ts, ref_px, ref_ts),
         sessions: tuple per id of (kill_switch bool, tokens_ns, last_ts_ns),
         limits: limits(),
         the number of (session, clordid) entries recorded (clordids() lists them))"""
    def clordids(self) -> tuple:
        """Every recorded (session, clordid bytes, order id; 0 = resolved nothing), sorted."""
    def clordid_stats(self) -> dict[str, int]:
        """Compiled engine only: the ClOrdID table's counters -- entries, slots (8 bytes each),
        arena_capacity (key rows of key_bytes each), bytes (slots and arena together)."""
    def limits(self) -> tuple:
        """The risk limits in force: (per instrument (max_qty, max_notional, band_bps,
        ref_max_age_ns), per account a tuple of max_position per instrument in its quantity
        increments, per session max_orders_per_sec).  From the reference data at start, then as
        SET_LIMIT changed them."""
    def state_hash(self) -> str:
        """blake2b-128 hex of repr(state())."""
    def snapshot(self, seq: int) -> bytes:
        """The full state, covering journal sequence seq (see Snapshots)."""
    @classmethod
    def restore(cls, refdata: ReferenceData, data: bytes, max_orders: int | None = None) -> Engine:
        """An engine in the state a snapshot captured (see Snapshots)."""
    def check_invariants(self) -> None:
        """Cash + holds + fees conserved per currency; positions sum per instrument conserved;
        holds equal what live orders need; the book validates."""
