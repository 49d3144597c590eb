"""The message store on disk: persistence, ranges with gaps, torn tails, damage, reset; and the
settings and password hashing the acceptor relies on."""
import os

import pytest

from ordex.core.fixdict import Validation
from ordex.gateway.fix.session import SessionSettings, hash_password, verify_password
from ordex.gateway.fix.store import MessageStore, StoreError


def frame(seq: int) -> bytes:
    return b"8=FIX.4.4\x019=5\x0135=8\x01%d\x0110=000\x01" % seq * (1 + seq % 3)


def fill(store, seqs):
    """One flush, so one block on disk."""
    for s in seqs:
        store.append(s, frame(s))
    store.next_sender = max(seqs) + 1
    store.flush()


def test_messages_and_sequence_numbers_survive_reopen(tmp_path):
    s = MessageStore(tmp_path)
    fill(s, [1, 2, 5, 6, 9])
    s.next_target = 42
    s.close()
    s = MessageStore(tmp_path)
    assert (s.next_sender, s.next_target, len(s)) == (10, 42, 5)
    assert list(s.messages(1, 100)) == [(q, frame(q)) for q in (1, 2, 5, 6, 9)]
    assert [q for q, _ in s.messages(3, 6)] == [5, 6]
    assert [q for q, _ in s.messages(7, 8)] == []
    assert [q for q, _ in s.messages(9, 9)] == [9]
    s.append(10, frame(10))                   # pending records are visible to a resend
    assert [q for q, _ in s.messages(9, 10)] == [9, 10]
    s.close()


def test_large_ranges_read_across_chunks(tmp_path):
    s = MessageStore(tmp_path)
    big = b"x" * 300_000
    for q in range(1, 11):
        s.append(q, big + b"%d" % q)
    s.flush()
    got = list(s.messages(2, 9))
    assert [q for q, _ in got] == list(range(2, 10))
    assert all(f == big + b"%d" % q for q, f in got)
    s.close()


def test_out_of_order_append_is_refused(tmp_path):
    s = MessageStore(tmp_path)
    fill(s, [3])
    with pytest.raises(ValueError, match="out of order"):
        s.append(3, frame(3))
    s.close()


@pytest.mark.parametrize("cut", [1, 7, 15, 40])
def test_torn_tail_is_truncated(tmp_path, cut, caplog):
    s = MessageStore(tmp_path)
    fill(s, [1, 2])
    fill(s, [3])
    s.close()
    path = tmp_path / "messages"
    os.truncate(path, path.stat().st_size - cut)
    s = MessageStore(tmp_path)
    assert [q for q, _ in s.messages(1, 10)] == [1, 2]
    assert s.next_sender == 4                  # from seqnums: 3 was handed to the OS
    fill(s, [4])
    s.close()
    s = MessageStore(tmp_path)
    assert [q for q, _ in s.messages(1, 10)] == [1, 2, 4]
    s.close()
    assert "torn block" in caplog.text


def test_damaged_last_block_is_torn(tmp_path):
    s = MessageStore(tmp_path)
    fill(s, [1])
    fill(s, [2])
    s.close()
    path = tmp_path / "messages"
    data = bytearray(path.read_bytes())
    data[-3] ^= 0xFF
    path.write_bytes(bytes(data))
    s = MessageStore(tmp_path)
    assert [q for q, _ in s.messages(1, 10)] == [1]
    s.close()


def test_zero_filled_tail_is_truncated(tmp_path):
    s = MessageStore(tmp_path)
    fill(s, [1, 2])
    s.close()
    with open(tmp_path / "messages", "ab") as f:
        f.write(bytes(4096))
    s = MessageStore(tmp_path)
    assert [q for q, _ in s.messages(1, 10)] == [1, 2]
    s.close()


def test_damage_in_the_middle_stops_with_the_offset(tmp_path):
    s = MessageStore(tmp_path)
    for q in (1, 2, 3):
        fill(s, [q])
    s.close()
    path = tmp_path / "messages"
    data = bytearray(path.read_bytes())
    data[30] ^= 0xFF                           # inside the first block (at offset 8)
    path.write_bytes(bytes(data))
    with pytest.raises(StoreError, match=r"messages: block checksum mismatch at offset 8 of"):
        MessageStore(tmp_path)
    path.write_bytes(b"JUNKJUNK" + bytes(data[8:]))
    with pytest.raises(StoreError, match="not a message store"):
        MessageStore(tmp_path)


def test_damaged_seqnums_stop_start_up(tmp_path):
    MessageStore(tmp_path).close()
    path = tmp_path / "seqnums"
    data = bytearray(path.read_bytes())
    data[10] ^= 1
    path.write_bytes(bytes(data))
    with pytest.raises(StoreError, match="seqnums: damaged"):
        MessageStore(tmp_path)
    path.write_bytes(b"short")
    with pytest.raises(StoreError, match="5 bytes"):
        MessageStore(tmp_path)


def test_seqnums_behind_messages_are_moved_forward(tmp_path):
    s = MessageStore(tmp_path)
    fill(s, [1, 2, 3])
    s.close()
    stale = MessageStore(tmp_path / "other")
    stale.close()
    os.replace(tmp_path / "other" / "seqnums", tmp_path / "seqnums")    # says 1/1
    s = MessageStore(tmp_path)
    assert s.next_sender == 4
    s.close()


def test_reset(tmp_path):
    s = MessageStore(tmp_path)
    fill(s, [1, 2, 3])
    s.next_target = 9
    s.reset()
    assert (s.next_sender, s.next_target, len(s)) == (1, 1, 0)
    assert list(s.messages(1, 100)) == []
    fill(s, [1])
    s.close()
    s = MessageStore(tmp_path)
    assert [q for q, _ in s.messages(1, 100)] == [1] and s.next_sender == 2
    s.close()


def test_password_hashes():
    h = hash_password("correct horse", n=1 << 10)
    assert "correct horse" not in h and h.startswith("scrypt$1024$8$1$")
    assert verify_password("correct horse", h)
    assert verify_password(b"correct horse", h)
    assert not verify_password("correct hors", h)
    assert hash_password("correct horse", n=1 << 10) != h              # salted
    for bad in ("", "scrypt$x", "md5$1$2$3$AA$AA", "scrypt$1024$8$1$!!$AA", "scrypt$3$8$1$AA$AA"):
        assert not verify_password("x", bad)
    with pytest.raises(ValueError):
        hash_password("")


@pytest.mark.parametrize("kw, key", [
    (dict(name="../etc"), "name"),
    (dict(begin_string="FIX.5.0"), "begin_string"),
    (dict(sender_comp_id=""), "sender_comp_id"),
    (dict(target_comp_id="A=B"), "target_comp_id"),
    (dict(heartbeat_s=-1), "heartbeat_s"),
    (dict(sending_time_tolerance_s=0), "sending_time_tolerance_s"),
    (dict(password_hash="plaintext"), "password_hash"),
    (dict(max_message_size=10), "max_message_size"),
    (dict(validation="all"), "validation"),
    (dict(throttle_per_s=0), "throttle_per_s"),
])
def test_settings_errors_name_the_key(kw, key):
    base = dict(name="s1", begin_string="FIX.4.4", sender_comp_id="A", target_comp_id="B")
    base.update(kw)
    with pytest.raises(ValueError, match=key):
        SessionSettings(**base)
    ok = SessionSettings(name="s1", begin_string="FIX.4.2", sender_comp_id="A",
                         target_comp_id="B", validation=Validation.off())
    assert ok.validation == Validation.off()


def _records(seqs):
    """seqs as append_records wants them: records laid out back to back and their offsets."""
    import struct
    records, offsets = bytearray(), []
    for q in seqs:
        offsets.append(len(records))
        records += struct.pack("<IQ", len(frame(q)), q) + frame(q)
    return bytes(records), struct.pack(f"<{len(offsets)}q", *offsets)


@pytest.mark.parametrize("count", [1, 3, 16, 17, 200])   # both sides of the small-batch path
def test_append_records_batches_read_back_like_appends(tmp_path, count):
    s = MessageStore(tmp_path)
    fill(s, [1])
    first = s.next_sender
    s.append_records(first, *_records(range(first, first + count)))     # in order
    gap = first + count + 4                                             # after a gap
    s.append_records(gap, *_records(range(gap, gap + count)))
    s.append(gap + count, frame(gap + count))                           # a single one after
    s.flush()
    s.append_records(gap + count + 1, *_records([gap + count + 1]))    # alone in its flush
    s.next_sender = gap + count + 2
    expected = [1, *range(first, first + count), *range(gap, gap + count + 2)]
    # read through the in-memory index that append_records built, then after a reopen
    assert list(s.messages(1, gap + count + 1)) == [(q, frame(q)) for q in expected]
    s.flush()
    s.close()
    s = MessageStore(tmp_path)
    assert list(s.messages(1, gap + count + 1)) == [(q, frame(q)) for q in expected]
    s.close()


def _wait_done(syncer):
    import time
    while not syncer.done():
        time.sleep(0.001)


def test_store_syncer_syncs_reports_errors_and_refuses_bad_requests(tmp_path):
    import errno
    from ordex.ext.fixstoresync import StoreSyncer
    s = MessageStore(tmp_path)
    fill(s, [1])
    syncer = StoreSyncer()
    syncer.request(list(s.sync_fds()))
    assert not s.dirty
    _wait_done(syncer)
    assert (syncer.synced, syncer.error) == (2, 0)
    bad = os.open(tmp_path / "x", os.O_CREAT | os.O_RDWR)
    os.close(bad)                                   # a descriptor that is not open
    syncer.request([bad])
    _wait_done(syncer)
    assert (syncer.synced, syncer.error) == (2, errno.EBADF)
    with pytest.raises(ValueError):
        syncer.request([0] * 5000)
    syncer.close()
    syncer.close()
    with pytest.raises(RuntimeError, match="closed"):
        syncer.request(list(s.sync_fds()))
    s.close()
