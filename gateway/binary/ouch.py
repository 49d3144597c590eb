"""OUCH 5.0 order entry over SoupBinTCP: client messages -> engine commands, engine events ->
sequenced OUCH messages, per user; plus the market-maker extensions (mass quote, mass cancel,
protection) and cancel on disconnect.

Identity.  A user's UserRefNums are strictly increasing (OUCH 5.0); each order's engine ClOrdID is
its UserRefNum as 10 digits, followed by "Q" for a quote side.  Cancels and reductions the gateway
makes up carry the order's 11-character prefix followed by the command's sequence number, unique
forever, so the UserRefNum of any event is its ClOrdID's first 10 digits -- after a restart too.

Batches.  Everything one read from a connection yields becomes one submit(): the sequencer stamps
and journals the rows and the engine applies them back to back on the loop thread, so nothing
interleaves with a mass quote's rows (one engine QUOTE per side, which replaces or renews the
previous side, and the cancels of sides withdrawn): a mass quote is atomic.  The batch's rows are
built in C (ext/ouch_in), and runs of Enter Orders are decoded and checked there as a whole.
Replies the engine produces come back through the server's durable-event channel and are written
per batch in C (ext/ouch_out); a reply the gateway gives itself (a field it cannot map, a
UserRefNum out of order) is not journaled and goes out at once.

Every sequenced message is appended to the user's store (replay after reconnect or restart) before
it is written to the socket; while a user is disconnected, messages are only stored.
"""
from __future__ import annotations

import asyncio
import collections
import logging

import numpy as np

from ordex.core.commands import CommandKind, Scope
from ordex.core.events import EventKind
from ordex.ext.ouch_in import CommandBatch, OrderTerms, QuoteSides
from ordex.ext.ouch_out import first_session
from ordex.gateway.binary import schema, soup
from ordex.gateway.binary.ouch_codec import (
    COD_CLORDID, DISPLAY_OK, PROTECTION_CLORDID, SMALL_BATCH, SRC_CANCEL, SRC_ENTER, SRC_MASS,
    SRC_QUOTE, SRC_REDUCE, SRC_REPLACE, SRC_SILENT, _Codecs, _KIND, _LAST_QTY, _REJ, _SESSION,
    _TS, clordid, userrefs)
from ordex.gateway.binary.ouch_replies import Replies
from ordex.gateway.binary.store import SequencedStore
from ordex.gateway.binary.wire import FeedClock, WireInstruments
from ordex.gateway.fix.session_settings import DUMMY_HASH, verify_password

log = logging.getLogger("ordex.binary.ouch")

# plain ints for per-order code (an IntEnum attribute costs a lookup and a conversion per use)
_CANCEL = int(CommandKind.CANCEL)

class Reject(Exception):
    def __init__(self, reason: str, text: str):
        super().__init__(text)
        self.reason = reason


class User:
    """A configured user: its engine session, store, connection and order-tracking state."""

    def __init__(self, cfg, session_id: int, accounts: list[int], account_names: list[str],
                 store: SequencedStore):
        self.cfg = cfg
        self.name = cfg.name
        self.sid = session_id
        self.dialect = cfg.dialect
        self.accounts = accounts
        self.firms = {n.encode()[:4].ljust(4): a for n, a in zip(account_names, accounts)}
        self.firm_keys = b"".join(self.firms)               # the same, for the C decoder
        self.firm_accounts = np.array(list(self.firms.values()), dtype=np.int32)
        self.store = store
        self.conn: soup.SoupConnection | None = None
        self.replaying = False
        self.max_userref = store.max_userref
        self.terms = OrderTerms()             # live userref -> (instrument, price, qty), in C
        self.quotes = QuoteSides()            # (instrument, side) -> quote userref, in C
        self.echo: collections.deque[tuple[int, np.ndarray]] = collections.deque()
        self.mass_cancels: dict[bytes, tuple[int, bytes]] = {}
        self.quote_acks: collections.deque[tuple[int, int, int]] = collections.deque()
        self.fills: collections.deque[tuple[int, int]] = collections.deque()
        self.fill_qty = 0
        self.tripped = False

    def released(self, last: int) -> None:
        """Forget the echo records of submitted batches whose events are all delivered (every
        seq up to `last`)."""
        echo = self.echo
        while echo and echo[0][0] + len(echo[0][1]) - 1 <= last:
            echo.popleft()

    def __repr__(self) -> str:
        return f"User({self.name})"


class _Pending(CommandBatch):
    """Rows collected from one read, submitted as one batch (the rows and their echo records in
    C, ext/ouch_in), with what the submission must fill in or answer once they are sequenced."""

    def __init__(self):
        self.synth: list[tuple[int, bytes]] = []        # (row index, ClOrdID prefix)
        self.acks: list[tuple[int, int, int]] = []      # (last row index, quote id, entries)
        self.masses: list[tuple[int, int, bytes]] = []  # (row index, request id, symbol)


class OuchGateway(Replies):
    """The application behind the order-entry listener (see soup.SoupConnection)."""

    def __init__(self, server, settings, reference, io_executor=None,
                 wire: WireInstruments | None = None):
        self.server = server
        self.settings = settings
        self.ref = reference
        self.loop = asyncio.get_running_loop()
        self.io = io_executor
        self.max_packet = settings.max_packet
        self.wire = wire or WireInstruments(reference)
        self.clock = FeedClock(settings.feed_timezone)
        self.users: dict[str, User] = {}
        self.by_sid: dict[int, User] = {}
        sessions = {s.name: s.id for s in reference.sessions}
        accounts = {a.name: a.id for a in reference.accounts}
        for ucfg in settings.users:
            store = SequencedStore(settings.store_dir, ucfg.name)
            acct_ids = [accounts[a] for a in ucfg.accounts]
            user = User(ucfg, sessions[ucfg.name], acct_ids, ucfg.accounts, store)
            self.users[ucfg.name] = user
            self.by_sid[user.sid] = user
        self.codecs = {d: _Codecs(d, self.wire) for d in schema.DIALECTS}
        self.sids = np.array(sorted(self.by_sid), dtype=np.int32)
        server.subscribe(self.on_events)

    # -- start-up ---------------------------------------------------------------------------------
    def recover_orders(self) -> None:
        """Rebuild order terms and quote sides from the engine (after a restart), then apply
        cancel on disconnect: at start-up nobody is connected."""
        if not self.by_sid:
            return
        for o in self.server.engine.state()[2]:
            user = self.by_sid.get(o[1])
            if user is None:
                continue
            clid = o[16]
            if len(clid) < 10 or not clid[:10].isdigit():
                continue
            ref = int(clid[:10])
            user.terms[ref] = (o[3], o[7], o[9])
            if clid[10:11] == b"Q":
                user.quotes.set_side(o[3], o[4], ref)
        for user in self.users.values():
            self.cancel_on_disconnect(user, "server start")

    # -- login ------------------------------------------------------------------------------------
    def begin_login(self, conn, username: str, password: str, session: str, seq: int) -> None:
        user = self.users.get(username)
        stored = user.cfg.password_hash if user is not None else DUMMY_HASH

        def decided(ok: bool) -> None:
            if conn.state != soup.AUTHENTICATING:
                return
            if not ok:
                return conn.reject(b"A", f"user {username!r}: unknown user or wrong password")
            if session and session != user.store.session:
                return conn.reject(b"S", f"session {session!r} is not the current one "
                                         f"({user.store.session})")
            if user.conn is not None:
                return conn.reject(b"S", f"user {username} is already logged in from "
                                         f"{user.conn.peer}")
            if not self.server.accepting:
                return conn.reject(b"S", f"server not accepting: {self.server.refusal}")
            self._logged_in(conn, user, seq)

        if self.io is None:
            decided(user is not None and verify_password(password, stored))
            return
        fut = self.loop.run_in_executor(self.io, verify_password, password, stored)
        fut.add_done_callback(lambda f: decided(
            user is not None and f.exception() is None and bool(f.result())))

    def _logged_in(self, conn, user: User, seq: int) -> None:
        store = user.store
        start = store.next_seq if seq == 0 or seq > store.next_seq else seq
        user.conn = conn
        log.info("%s logged in from %s (replay from %d, next %d)", user.name, conn.peer, start,
                 store.next_seq)
        conn.accept(user, soup.login_accepted(store.session, start))
        if start < store.next_seq:
            user.replaying = True
            self.loop.create_task(self._replay(conn, user, start))
        else:
            self._system_event(user, b"S")

    async def _replay(self, conn, user: User, start: int) -> None:
        try:
            for block in user.store.read_from(start):
                if conn.state == soup.CLOSED:
                    return
                conn.transport.write(block)
                conn.last_out = self.loop.time()
                await conn.drained()
        except Exception:   # noqa: BLE001 - a damaged store ends this connection, not the server
            log.exception("%s: replay failed", user.name)
            conn.fail("replay failed; see the server log")
            return
        finally:
            # replies stored meanwhile were part of the blocks read above (read_from reads to
            # the end as it goes), so live output can resume straight away
            if user.conn is conn:
                user.replaying = False
        self._system_event(user, b"S")

    def on_close(self, conn, reason: str) -> None:
        user = conn.user
        if user is None or user.conn is not conn:
            return
        user.conn = None
        user.replaying = False
        log.info("%s disconnected: %s", user.name, reason)
        self.cancel_on_disconnect(user, reason)

    def cancel_on_disconnect(self, user: User, reason: str) -> None:
        mode = user.cfg.cancel_on_disconnect
        if mode == "off" or not self.server.accepting:
            return
        p = _Pending()
        if mode == "all":
            if not user.terms:
                return
            p.command(CommandKind.MASS_CANCEL, user.sid, scope=Scope.SESSION, instrument=-1,
                      clordid=COD_CLORDID, src=SRC_SILENT)
        else:
            for ref in user.quotes.refs():
                self._cancel_row(p, user, ref, SRC_SILENT)
            if not p.count:
                return
        log.info("%s: %s; cancel on disconnect (%s): %d command(s)", user.name, reason, mode,
                 p.count)
        self._submit(user, p)

    # -- input ------------------------------------------------------------------------------------
    def on_data(self, conn, buf: bytes) -> int:
        user: User = conn.user
        codecs = self.codecs[user.dialect]
        max_packet = self.max_packet
        pending = _Pending()
        n = len(buf)
        i = 0
        try:
            while n - i >= 3:
                length = (buf[i] << 8) | buf[i + 1]
                if length == 0 or length > max_packet:
                    raise soup.ProtocolError(f"packet length {length}: must be 1..{max_packet}")
                end = i + 2 + length
                if end > n:
                    break
                ptype = buf[i + 2]
                if ptype == 0x55 and length >= 2:                   # U: an OUCH message
                    if buf[i + 3] == 0x4F and length > codecs.enter.size:   # O: Enter Order
                        k = _run_length(buf, i, n, length)
                        self._enter_orders(user, codecs, pending, buf, i, k, length + 2)
                        i += k * (length + 2)
                        continue
                    self._message(user, codecs, pending, buf, i + 3, end)
                elif ptype == 0x4F:                                 # O: Logout Request
                    conn.close("logout requested")
                    return n
                elif ptype not in (0x52, 0x2B):                     # R heartbeat, + debug
                    raise soup.ProtocolError(
                        f"packet type {bytes([ptype])!r} is not one a client may send now")
                i = end
        finally:
            if pending.count:
                self._submit(user, pending)
                # none durability: the replies come back inside this data_received
                self.server.release_submitted()
        return i

    def _message(self, user, codecs, pending, buf, start: int, end: int) -> None:
        mtype = buf[start:start + 1]
        size = codecs.sizes.get(mtype)
        if size is None:
            user.conn.write(soup.debug(f"unknown OUCH message type {mtype!r}: ignored"))
            return
        body = bytes(buf[start:end])
        if len(body) < size or (mtype not in (b"O", b"U", b"q") and len(body) != size):
            user.conn.write(soup.debug(f"OUCH message {mtype!r} of {len(body)} bytes, expected "
                                       f"{size}: ignored"))
            return
        if mtype == b"U":
            self._replace(user, codecs, pending, body)
        elif mtype == b"X":
            self._cancel(user, codecs, pending, body)
        elif mtype == b"q":
            self._mass_quote(user, codecs, pending, body)
        elif mtype == b"c":
            self._mass_cancel(user, codecs, pending, body)
        elif mtype == b"r":
            self._protection_reset(user)

    # Enter Order: k messages of one length at buf[i:], decoded and checked together
    def _enter_orders(self, user: User, codecs, pending: _Pending, buf, i: int, k: int,
                      stride: int) -> None:
        """Rows for the valid ones, written into the batch in C (ext/ouch_in.EnterDecoder, the
        checks in order: UserRefNum, symbol, side, time in force / display, price grid,
        quantity, appendage); a gateway reject for each of the others."""
        user.max_userref, rejected = codecs.enter_decoder.decode(
            pending, user.terms, buf, i, k, stride, user.sid, user.accounts[0], user.firm_keys,
            user.firm_accounts, user.max_userref)
        if rejected:
            self._gateway_rejects(user, codecs, *zip(*rejected))

    def _replace(self, user: User, codecs, pending: _Pending, body: bytes) -> None:
        m = codecs.replace.struct.unpack_from(body)
        _, orig, new, qty, price, _tif, display, ise, clid, _applen = m
        try:
            self._next_ref(user, new)
            terms = user.terms.get(orig)
            if terms is None:
                raise Reject("ORDER_NOT_LIVE", f"UserRefNum {orig} is not a live order")
            if orig in user.quotes:
                raise Reject("PROCESSING_ERROR", "quote sides change through Mass Quote")
            instr = terms[0]
            step = int(self.wire.pstep[instr])
            if price <= 0 or price % step:
                raise Reject("INVALID_PRICE", f"price {price} is off the grid")
            if qty <= 0:
                raise Reject("INVALID_QUANTITY", "quantity must be positive")
            if not DISPLAY_OK[display[0]]:
                raise Reject("PROCESSING_ERROR", f"display {display!r}")
        except Reject as r:
            self._gateway_rejects(user, codecs, np.array([new]), np.array([_REJ[r.reason]]),
                                  np.array([clid], dtype="S14"))
            return
        pending.command(CommandKind.REPLACE, user.sid, price=price // step, qty=qty,
                        clordid=clordid(new, False), orig=clordid(orig, False), src=SRC_REPLACE,
                        client_clordid=clid, ise=ise, shown=display)
        user.terms[new] = (instr, price // step, qty)

    def _next_ref(self, user: User, ref: int) -> None:
        if ref <= user.max_userref:
            raise Reject("DUPLICATE_USERREFNUM",
                         f"UserRefNum {ref} is not above the last one ({user.max_userref})")
        user.max_userref = ref

    def _cancel(self, user: User, codecs, pending: _Pending, body: bytes) -> None:
        _, ref, qty = codecs.cancel.struct.unpack_from(body)
        terms = user.terms.get(ref)
        if terms is None:
            self._emit(user, codecs.cancel_reject(self._now(), ref), 1)
            return
        if qty == 0:
            self._cancel_row(pending, user, ref, SRC_CANCEL)
        elif qty < terms[2]:
            quote = ref in user.quotes
            at = pending.command(CommandKind.REPLACE, user.sid, price=terms[1], qty=qty,
                                 orig=clordid(ref, quote), src=SRC_REDUCE, old_qty=terms[2])
            pending.synth.append((at, clordid(ref, quote)[:10] + (b"Q" if quote else b".")))
            user.terms[ref] = (terms[0], terms[1], qty)

    def _cancel_row(self, pending: _Pending, user: User, ref: int, src: bytes) -> None:
        if ref in user.quotes:
            at = pending.command(_CANCEL, user.sid, orig=b"%010dQ" % ref, src=src)
            pending.synth.append((at, b"%010dQ" % ref))
        else:
            at = pending.command(_CANCEL, user.sid, orig=b"%010d" % ref, src=src)
            pending.synth.append((at, b"%010d." % ref))

    def _mass_quote(self, user: User, codecs, pending: _Pending, body: bytes) -> None:
        """One engine QUOTE per side with a quantity (the previous side, if any, named as its
        orig_clordid: replaced in place when live, else the quote becomes a new order); a CANCEL
        of the previous side for a side with quantity 0 or one the gateway refuses.  The rows,
        checks and quote-side bookkeeping are C (ext/ouch_in.QuoteDecoder)."""
        _, quote_id, count = codecs.quote.struct.unpack_from(body)
        if count == 0 or len(body) != codecs.quote.size + count * codecs.entry.size:
            self._emit(user, codecs.quote_ack(self._now(), quote_id, b"R",
                                              _REJ["PROCESSING_ERROR"], 0), 1)
            return
        if user.tripped:
            self._emit(user, codecs.quote_ack(self._now(), quote_id, b"R",
                                              _REJ["QUOTE_UNAVAILABLE"], 0), 1)
            return
        first = pending.count
        user.max_userref, rejected = codecs.quote_decoder.decode(
            pending, user.terms, user.quotes, pending.synth, body, codecs.quote.size, count,
            user.sid, user.accounts[0], user.max_userref)
        if rejected:
            refs, reasons = zip(*rejected)
            self._gateway_rejects(user, codecs, refs, reasons, [b""] * len(refs))
        if pending.count == first:
            self._emit(user, codecs.quote_ack(self._now(), quote_id, b"A", 0, 0), 1)
        else:
            pending.acks.append((pending.count - 1, quote_id, count))

    def _mass_cancel(self, user: User, codecs, pending: _Pending, body: bytes) -> None:
        _, request_id, sym = codecs.mass_cancel.struct.unpack_from(body)
        instr = -1
        if sym.strip(b" \x00"):
            instr = self.wire.lookup(sym)
            if instr < 0:
                self._emit(user, codecs.mass_cancel_report(self._now(), request_id, sym, 0), 1)
                return
        at = pending.command(CommandKind.MASS_CANCEL, user.sid, scope=Scope.SESSION,
                             instrument=instr, src=SRC_MASS)
        pending.masses.append((at, request_id, sym))

    def _protection_reset(self, user: User) -> None:
        user.tripped = False
        user.fills.clear()
        user.fill_qty = 0
        self._emit(user, self.codecs[user.dialect].protection_reset(self._now()), 1)

    # -- submission -------------------------------------------------------------------------------
    def _submit(self, user: User, p: _Pending) -> None:
        rows, echo = p.build()
        if p.synth or p.masses:
            seq0 = self.server.sequencer.next_seq
            for at, prefix in p.synth:
                rows["clordid"][at] = prefix + str(seq0 + at).encode()
            for at, request_id, sym in p.masses:
                cl = b"mass-cancel-%d" % (seq0 + at)
                rows["clordid"][at] = cl
                user.mass_cancels[cl] = (request_id, sym)
        try:
            last = self.server.submit(rows)
        except Exception as e:   # NotAccepting, journal back-pressure or failure
            log.warning("%s: %d command(s) refused: %s", user.name, len(rows), e)
            self._refused(user, rows, echo, p)
            return
        seq0 = last - len(rows) + 1
        user.echo.append((seq0, echo))
        for at, quote_id, count in p.acks:
            user.quote_acks.append((seq0 + at, quote_id, count))

    def _refused(self, user: User, rows: np.ndarray, echo: np.ndarray, p: _Pending) -> None:
        codecs = self.codecs[user.dialect]
        now = self._now()
        refs = userrefs(rows["clordid"])
        out = []
        for k in range(len(rows)):
            src = echo["src"][k]
            ref = int(refs[k])
            if src in (SRC_ENTER, SRC_REPLACE, SRC_QUOTE):
                out.append(codecs.rejected(now, ref, _REJ["DESTINATION_CLOSED"], echo["clordid"][k]))
                user.terms.pop(ref, None)
                pos = user.quotes.position(ref)
                current = pos is not None and user.quotes.side(*pos) == ref
                user.quotes.forget(ref)
                orig = bytes(rows["orig_clordid"][k])
                if current and src == SRC_QUOTE and orig[:10].isdigit():
                    user.quotes.set_side(*pos, int(orig[:10]))   # the previous side lives on
            elif src in (SRC_CANCEL, SRC_REDUCE):
                out.append(codecs.cancel_reject(now, ref))
        for _, quote_id, _count in p.acks:
            out.append(codecs.quote_ack(now, quote_id, b"R", _REJ["DESTINATION_CLOSED"], 0))
        for _, request_id, sym in p.masses:
            out.append(codecs.mass_cancel_report(now, request_id, sym, 0))
        if out:
            self._emit(user, b"".join(out), len(out))

    # -- output -----------------------------------------------------------------------------------
    def _now(self) -> int:
        return self.clock.since_midnight(self.server.clock_ns())

    def _emit(self, user: User, packets: bytes, count: int) -> None:
        if user.store.closed:     # replies after the gateway stopped (a stop that timed out)
            log.warning("%s: %d message(s) after the store closed, not stored", user.name, count)
            return
        user.store.append(packets, count, user.max_userref)
        conn = user.conn
        if conn is not None and not user.replaying:
            conn.write(packets)

    def _system_event(self, user: User, code: bytes) -> None:
        self._emit(user, self.codecs[user.dialect].system_event(self._now(), code), 1)

    def _gateway_rejects(self, user: User, codecs, refs, reasons, clids) -> None:
        now = self._now()
        out = b"".join(codecs.rejected(now, int(r), int(c), bytes(cl))
                       for r, c, cl in zip(refs, reasons, clids))
        self._emit(user, out, len(refs))

    def end_of_day(self) -> None:
        for user in self.users.values():
            if user.conn is not None:
                self._system_event(user, b"E")

    def on_events(self, events: np.ndarray) -> None:
        if self._one_user_events(events):
            return
        if len(events) <= SMALL_BATCH:
            mine: dict[int, list[tuple]] = {}
            for row in events.tolist():
                if row[_SESSION] in self.by_sid:
                    mine.setdefault(row[_SESSION], []).append(row)
            work = [(self.by_sid[sid], rows) for sid, rows in mine.items()]
        else:
            sessions = events["session"]
            first = int(sessions[0])
            if first in self.by_sid and (sessions == first).all():
                work = [(self.by_sid[first], events)]          # one user's batch: no copy
            else:
                work = [(self.by_sid[sid], events[sessions == sid])
                        for sid in np.intersect1d(self.sids, sessions).tolist()]
        for user, ev in work:
            try:
                self._user_events(user, ev)
            except Exception:   # noqa: BLE001 - a bug here must not stop other users' replies
                log.exception("%s: encoding replies failed", user.name)
        last = int(events["seq"][-1])
        for user in self.users.values():
            user.released(last)

    def _one_user_events(self, events: np.ndarray) -> bool:
        """The common batch (all of one user, in one pending echo batch: orders' and Mass
        Quotes' events, without mass cancels, follow-up cancels or fills for an armed protection)
        in one call into C: the replies and Mass Quote Acks written, ended and replaced
        UserRefNums dropped from the terms and quote sides, the reply stored and sent.  False
        (nothing done) for anything else, which the general path below answers the same way,
        byte for byte."""
        user = self.by_sid.get(first_session(events))
        if user is None or not user.echo:
            return False
        watched = (user.cfg.protection_fills or user.cfg.protection_qty) and not user.tripped
        # the oldest pending batch: in none durability the only one, in fsync and batch the one
        # released first (encode_one_user checks that every event's seq is in it)
        seq0, rec = user.echo[0]
        clock = self.clock
        try:
            codecs = self.codecs[user.dialect]
            got = codecs.replies.encode_one_user(
                events, user.sid, rec, seq0, clock._lo, clock._hi, user.terms, not watched,
                user.quotes, user.quote_acks, codecs.quote_ack)
            if got is None:
                return False
            packets, count, last = got
            if count:
                self._emit(user, packets, count)
        except Exception:   # noqa: BLE001 - as in on_events: logged, the loop goes on
            log.exception("%s: encoding replies failed", user.name)
            return True
        user.released(last)
        return True

    def _user_events(self, user: User, ev) -> None:
        """One user's events: a few as tuples (EVENT_DTYPE order), more as an array."""
        watched = (user.cfg.protection_fills or user.cfg.protection_qty) and not user.tripped
        fills = None
        if isinstance(ev, list):
            packets, count, follow_ups = self._replies_each(user, ev)
            if watched:
                fills = [(r[_TS], r[_LAST_QTY]) for r in ev if r[_KIND] == EventKind.TRADE]
        else:
            packets, count, follow_ups = self._replies_numpy(user, ev)
            if watched:     # the fills only matter to a protection that is armed
                trades = np.flatnonzero(ev["kind"] == EventKind.TRADE)
                fills = list(zip(ev["ts_ns"][trades].tolist(), ev["last_qty"][trades].tolist()))
        tripped = self._protection(user, fills) if fills else None
        if tripped is not None:
            packets += tripped
            count += 1
        if count:
            self._emit(user, packets, count)
        if tripped is not None:
            p = _Pending()
            p.command(CommandKind.MASS_CANCEL, user.sid, scope=Scope.SESSION, instrument=-1,
                      clordid=PROTECTION_CLORDID, src=SRC_SILENT)
            self._submit(user, p)
        if follow_ups:
            p = _Pending()
            for ref in follow_ups:
                if ref in user.terms:
                    self._cancel_row(p, user, ref, SRC_CANCEL)
            if p.count:
                self._submit(user, p)

    def _protection(self, user: User, new_fills: list[tuple[int, int]]) -> bytes | None:
        """Count (ts_ns, quantity) fills in the user's window; the trip message if it trips."""
        cfg = user.cfg
        if (not cfg.protection_fills and not cfg.protection_qty) or user.tripped:
            return None
        window = cfg.protection_window_ms * 1_000_000
        fills = user.fills
        for ts, q in new_fills:
            fills.append((ts, q))
            user.fill_qty += q
        newest = fills[-1][0]
        while fills and fills[0][0] <= newest - window:
            user.fill_qty -= fills.popleft()[1]
        if (cfg.protection_fills and len(fills) >= cfg.protection_fills) or \
                (cfg.protection_qty and user.fill_qty >= cfg.protection_qty):
            user.tripped = True
            log.warning("%s: market-maker protection tripped: %d fills, quantity %d within %d ms",
                        user.name, len(fills), user.fill_qty, cfg.protection_window_ms)
            return self.codecs[user.dialect].protection_triggered(
                self.clock.since_midnight(newest), len(fills), user.fill_qty,
                cfg.protection_window_ms)
        return None

    async def close(self) -> None:
        for user in self.users.values():
            user.store.close()

    def sync_stores(self) -> None:
        for user in self.users.values():
            if user.store.dirty:
                user.store.sync()


def _run_length(buf, i: int, n: int, length: int) -> int:
    """How many packets from i have the same length and first two type bytes as the one at i."""
    stride = length + 2
    kmax = (n - i) // stride
    if kmax <= 1:
        return 1
    if kmax < 8:
        head = buf[i:i + 4]
        k = 1
        while k < kmax and buf[i + k * stride:i + k * stride + 4] == head:
            k += 1
        return k
    a = np.frombuffer(buf, np.uint8, kmax * stride, i).reshape(kmax, stride)[:, :4]
    same = (a == a[0]).all(axis=1)
    return kmax if same.all() else int(np.argmin(same))
