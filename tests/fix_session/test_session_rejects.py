"""Session-level Reject(3) from dictionary validation, CompID and SendingTime checks, rejects the
application sends, garbled and oversized frames, BeginString."""
import time

import pytest

from fixclient import FixClient, serve_acceptor, settings
from ordex.core.fixdict import Validation

ORDER = [(11, "C1"), (55, "AAPL"), (54, "1"), (60, "20240102-10:00:00.000"), (38, "100"),
         (40, "2"), (44, "10.5")]


def without(tag):
    return [(t, v) for t, v in ORDER if t != tag]


# (what is sent, SessionRejectReason, RefTagID)
CASES = {
    "required_missing": ("D", without(40), b"1", b"40"),
    "tag_not_defined": ("D", ORDER + [(112, "x")], b"2", b"112"),
    "unknown_tag": ("D", ORDER + [(4999, "x")], b"0", b"4999"),
    "bad_enum": ("D", without(54) + [(54, "Q")], b"5", b"54"),
    "bad_format": ("D", without(38) + [(38, "ten")], b"6", b"38"),
    "bad_msgtype": ("ZZ", [(11, "C1")], b"11", b"35"),
    "empty_value": ("D", ORDER + [(58, "")], b"4", b"58"),
    "duplicate_tag": ("D", ORDER + [(55, "MSFT")], b"13", b"55"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_validation_errors_get_reject_with_reason_and_ref_tag(run, tmp_path, app, case):
    msg_type, fields, reason, ref_tag = CASES[case]

    async def main():
        async with serve_acceptor(tmp_path, app) as (acceptor, port):
            c = await FixClient.connect(port)
            await c.logon()
            await c.send(msg_type, fields)
            rej = await c.expect("3")
            assert rej.get(373) == reason and rej.get(371) == ref_tag
            assert rej.get(45) == b"2" and rej.get(372) == msg_type.encode()
            assert rej.get(58)
            # The rejected message used up its MsgSeqNum: the next one is in sequence.
            await c.order("C3")
            assert (await c.expect("8")).get(11) == b"C3"
            assert app.clordids() == [b"C3"]
    run(main())


def test_validation_can_be_switched_off(run, tmp_path, app):
    async def main():
        s = [settings(validation=Validation.off())]
        async with serve_acceptor(tmp_path, app, s) as (acceptor, port):
            c = await FixClient.connect(port)
            await c.logon()
            await c.send("D", ORDER + [(4999, "x"), (112, "y")])
            assert (await c.expect("8")).get(11) == b"C1"
    run(main())


@pytest.mark.parametrize("tag", [49, 56])
def test_wrong_comp_id_after_logon_rejects_and_logs_out(run, tmp_path, app, tag):
    async def main():
        async with serve_acceptor(tmp_path, app) as (acceptor, port):
            c = await FixClient.connect(port)
            await c.logon()
            kw = {"sender": "OTHER"} if tag == 49 else {"target": "OTHER"}
            await c.send("D", ORDER, **kw)
            rej = await c.expect("3")
            assert (rej.get(373), rej.get(371)) == (b"9", str(tag).encode())
            assert (await c.expect("5")).get(58) == b"CompID problem"
            assert await c.expect_closed() == []
            assert app.clordids() == []
    run(main())


def test_sending_time_accuracy(run, tmp_path, app):
    async def main():
        async with serve_acceptor(tmp_path, app, [settings(sending_time_tolerance_s=2)]) as (
                acceptor, port):
            c = await FixClient.connect(port)
            await c.logon()
            await c.send("D", ORDER, sending_time_ns=time.time_ns() + 30 * 10**9)
            rej = await c.expect("3")
            assert (rej.get(373), rej.get(371)) == (b"10", b"52")
            assert (await c.expect("5")).get(58) == b"SendingTime accuracy problem"
            assert await c.expect_closed() == []
            assert app.clordids() == []
    run(main())


def test_application_rejects(run, tmp_path, app):
    async def main():
        async with serve_acceptor(tmp_path, app) as (acceptor, port):
            c = await FixClient.connect(port)
            await c.logon()
            # H: the application answers BusinessMessageReject (stored: an application message)
            await c.send("H", [(11, "Q1"), (55, "AAPL"), (54, "1")])
            bmr = await c.expect("j")
            assert (bmr.get(45), bmr.get(372), bmr.get(380), bmr.get(379)) == (
                b"2", b"H", b"3", b"Q1")
            # F: the application reads a field that is not there -> FieldError -> Reject(3)
            await c.send("F", [(41, "C1"), (11, "C2"), (55, "AAPL"), (54, "1"),
                               (60, "20240102-10:00:00.000")])
            rej = await c.expect("3")
            assert (rej.get(45), rej.get(373), rej.get(371)) == (b"3", b"1", b"9999")
            # G: the application raises -> logged, BusinessMessageReject without details
            await c.send("G", [(41, "C1"), (11, "C3"), (55, "AAPL"), (54, "1"), (40, "2"),
                               (60, "20240102-10:00:00.000"), (38, "5"), (44, "1")])
            bmr = await c.expect("j")
            assert (bmr.get(45), bmr.get(380), bmr.get(58)) == (b"4", b"0", b"internal error")
            await c.order("C5")
            assert (await c.expect("8")).get(11) == b"C5"
            store = acceptor.session("s1").store
            assert [s for s, _ in store.messages(1, 100)] == [2, 4, 5]     # j, j, 8
    run(main())


def test_garbled_frames_are_ignored(run, tmp_path, app):
    async def main():
        async with serve_acceptor(tmp_path, app) as (acceptor, port):
            c = await FixClient.connect(port)
            await c.logon()
            good = c.encode("D", ORDER)                 # MsgSeqNum 2
            bad_checksum = good[:-4] + b"000\x01"
            n = int(good.split(b"\x01")[1][2:])
            bad_length = good.replace(b"\x019=%d\x01" % n, b"\x019=%d\x01" % (n - 5), 1)
            await c.send_raw(b"noise\x01\x01" + bad_checksum + bad_length + b"8=FIX.4.4\x01"
                             + b"9=abc\x01" + good)
            assert (await c.expect("8")).get(34) == b"2"
            assert app.clordids() == [b"C1"]
            assert acceptor.session("s1").garbled >= 3
    run(main())


def test_oversized_message_logs_out(run, tmp_path, app):
    async def main():
        async with serve_acceptor(tmp_path, app, [settings(max_message_size=512)]) as (
                acceptor, port):
            c = await FixClient.connect(port)
            await c.logon()
            await c.send("D", ORDER + [(58, "x" * 600)])
            assert b"maximum size" in (await c.expect("5")).get(58)
            assert await c.expect_closed() == []
    run(main())


def test_wrong_begin_string_after_logon_logs_out(run, tmp_path, app):
    async def main():
        async with serve_acceptor(tmp_path, app) as (acceptor, port):
            c = await FixClient.connect(port)
            await c.logon()
            await c.send("D", ORDER, begin="FIX.4.2")
            assert (await c.expect("5")).get(58) == b"incorrect BeginString"
            assert await c.expect_closed() == []
    run(main())


def test_missing_msg_seq_num_logs_out(run, tmp_path, app):
    async def main():
        async with serve_acceptor(tmp_path, app) as (acceptor, port):
            c = await FixClient.connect(port)
            await c.logon()
            raw = c.encode("D", ORDER).replace(b"\x0134=2\x01", b"\x01")
            head, _, rest = raw.partition(b"\x0135=")
            body = b"35=" + rest[:rest.rindex(b"10=")]
            frame = b"8=FIX.4.4\x019=%d\x01" % len(body) + body
            await c.send_raw(frame + b"10=%03d\x01" % (sum(frame) % 256))
            assert (await c.expect("5")).get(58) == b"MsgSeqNum missing or invalid"
            assert await c.expect_closed() == []
    run(main())
