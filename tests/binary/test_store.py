"""The per-user store of sequenced output: replay from any sequence number, recovery after a
torn write, refusal to start on damage it cannot explain."""
import os

import pytest

from ordex.gateway.binary.soup import sequenced
from ordex.gateway.binary.store import SequencedStore, StoreError


def pkts(lo, hi):
    return [sequenced(b"M%05d" % i) for i in range(lo, hi)]


def fill(tmp_path) -> tuple[SequencedStore, list[bytes]]:
    s = SequencedStore(tmp_path, "MM1")
    all_ = pkts(1, 101)
    for lo in range(0, 100, 7):
        batch = all_[lo:lo + 7]
        s.append(b"".join(batch), len(batch), max_userref=lo + 7)
    return s, all_


def test_replay_from_every_sequence_number_and_after_reopen(tmp_path):
    s, all_ = fill(tmp_path)
    assert s.next_seq == 101
    for seq in (1, 2, 7, 8, 50, 100):
        assert b"".join(s.read_from(seq)) == b"".join(all_[seq - 1:])
    assert list(s.read_from(101)) == []
    session = s.session
    s.close()
    s = SequencedStore(tmp_path, "MM1")
    assert (s.next_seq, s.session, s.max_userref) == (101, session, 105)
    assert b"".join(s.read_from(33)) == b"".join(all_[32:])
    s.close()


def test_torn_last_chunk_is_truncated_and_appends_continue(tmp_path):
    s, all_ = fill(tmp_path)
    s.close()
    size = os.path.getsize(s.path)
    with open(s.path, "r+b") as f:
        f.truncate(size - 5)                      # a crash in the middle of the last write
    s = SequencedStore(tmp_path, "MM1")
    assert s.next_seq == 99                       # the last chunk held 99 and 100
    s.append(b"".join(pkts(99, 101)), 2)
    assert b"".join(s.read_from(1)) == b"".join(all_)
    s.close()


def test_zero_filled_tail_is_truncated(tmp_path):
    s, _ = fill(tmp_path)
    s.close()
    with open(s.path, "ab") as f:
        f.write(bytes(4096))                      # a power failure after the size grew
    s = SequencedStore(tmp_path, "MM1")
    assert s.next_seq == 101
    s.close()


def test_damage_before_the_end_stops_start_up(tmp_path):
    s, _ = fill(tmp_path)
    s.close()
    data = bytearray(s.path.read_bytes())
    data[200] ^= 0xFF                             # inside an early chunk
    s.path.write_bytes(bytes(data))
    with pytest.raises(StoreError, match="damaged|checksum|expected"):
        SequencedStore(tmp_path, "MM1")


def test_not_a_store(tmp_path):
    (tmp_path / "MM1.soup").write_bytes(b"hello, this is not a store at all.....")
    with pytest.raises(StoreError, match="not a SoupBinTCP store"):
        SequencedStore(tmp_path, "MM1")
