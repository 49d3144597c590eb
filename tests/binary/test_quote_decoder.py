"""Mass Quote entries decoded in C (ext/ouch_in.QuoteDecoder) agree with a plain Python reading of
the documented rules (the gateway's per-side loop before the decoder existed): the same command
rows and echo records, the same ClOrdID completions, gateway rejects, UserRefNum floor, order
terms and quote sides -- over random quotes with unknown symbols, repeated or falling UserRefNums,
off-grid and non-positive prices, zero quantities and repeated instruments."""
import copy
import random

from ordex.core.commands import CommandKind, OrdType, Tif
from ordex.ext.ouch_in import CommandBatch, OrderTerms, QuoteSides
from ordex.gateway.binary import schema
from ordex.gateway.binary.ouch_codec import _REJ, SRC_QUOTE, SRC_SILENT, _Codecs
from ordex.gateway.binary.wire import WireInstruments

from binary_helpers import binary_config

SESSION, ACCOUNT = 3, 5


def reference(codecs, wire, terms, quotes, batch, synth, body, max_userref):
    """The rules, one side at a time in Python."""
    _, _, count = codecs.quote.struct.unpack_from(body)
    rejected = []
    off = codecs.quote.size
    for _ in range(count):
        sym, bref, bpx, bqty, aref, apx, aqty = codecs.entry.struct.unpack_from(body, off)
        off += codecs.entry.size
        instr = wire.lookup(sym)
        for side, ref, px, qty in ((1, bref, bpx, bqty), (2, aref, apx, aqty)):
            prev = quotes.pop_side(instr, side) if instr >= 0 else None

            def cancel_prev():
                if prev is not None:
                    at = batch.command(CommandKind.CANCEL, SESSION, orig=b"%010dQ" % prev,
                                       src=SRC_SILENT)
                    synth.append((at, b"%010dQ" % prev))
            if qty == 0:
                cancel_prev()
                continue
            problem = None
            if instr < 0:
                problem = "INVALID_SYMBOL"
            elif ref <= max_userref:
                problem = "DUPLICATE_USERREFNUM"
            else:
                max_userref = ref
                step = int(wire.pstep[instr])
                if px <= 0 or px % step:
                    problem = "INVALID_PRICE"
            if problem:
                cancel_prev()
                rejected.append((ref, _REJ[problem]))
                continue
            batch.command(CommandKind.QUOTE, SESSION, account=ACCOUNT, instrument=instr, side=side,
                          ord_type=OrdType.LIMIT, tif=Tif.DAY, price=px // step, qty=qty,
                          clordid=b"%010dQ" % ref,
                          orig=b"%010dQ" % prev if prev is not None else b"", src=SRC_QUOTE)
            if prev is not None:
                quotes.forget(prev)
            terms[ref] = (instr, px // step, qty)
            quotes.set_side(instr, side, ref)
    return max_userref, rejected


def test_c_decoder_agrees_with_the_rules(tmp_path):
    cfg = binary_config(tmp_path)
    wire = WireInstruments(cfg.reference)
    symbols = [s.decode() for s in wire.by_symbol] + ["NOPE", ""]
    rnd = random.Random(11)
    for dialect in schema.DIALECTS:
        codecs = _Codecs(dialect, wire)
        client_entry = schema.layout("group", "client", "QuoteEntry", dialect)
        terms, quotes, max_ref = OrderTerms(), QuoteSides(), 0
        quotes.set_side(0, 2, 999_999)                   # a side from before (recovered)
        seen_reject = seen_cancel = 0
        for step in range(300):
            entries = []
            for _ in range(rnd.choice([1, 2, 3, 8])):
                def side():
                    ref = max_ref + rnd.randrange(-3, 40)
                    px = rnd.choice([1_500_000, 1_499_900, 1_500_050, 0, -100, 1_510_000])
                    return ref, px, rnd.choice([0, 0, 1, 5, 1_000_000])
                (br, bp, bq), (ar, ap, aq) = side(), side()
                entries.append(client_entry.pack(
                    Symbol=rnd.choice(symbols), BidUserRefNum=max(br, 0), BidPrice=bp,
                    BidQuantity=bq, AskUserRefNum=max(ar, 0), AskPrice=ap, AskQuantity=aq))
            body = codecs.quote.pack(QuoteId=step, Count=len(entries)) + b"".join(entries)
            out = []
            for run_c in (True, False):
                t, q, b, synth = terms.copy(), copy.deepcopy(quotes), CommandBatch(), []
                if run_c:
                    got = codecs.quote_decoder.decode(b, t, q, synth, body, codecs.quote.size,
                                                      len(entries), SESSION, ACCOUNT, max_ref)
                else:
                    got = reference(codecs, wire, t, q, b, synth, body, max_ref)
                rows, echo = b.build()
                out.append((got, rows.tobytes(), echo.tobytes(), synth, t, q))
            assert out[0] == out[1], (dialect, step)
            (max_ref, rejected), _, _, synth, terms, quotes = out[0]
            seen_reject += len(rejected)
            seen_cancel += len(synth)
        assert seen_reject > 50 and seen_cancel > 50 and len(terms) > 100    # all paths taken
