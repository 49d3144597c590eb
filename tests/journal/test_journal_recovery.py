"""Opening a journal: round trips, torn tails truncated, corruption reported precisely and
nothing on disk changed by a failed open."""
from __future__ import annotations

import hashlib
import logging
import os
import struct
from dataclasses import replace
from pathlib import Path

import crc32c
import pytest

from journal_helpers import SMALL, flip_byte, payload_for, record_offsets, segments, write_journal
from ordex.core.journal import (Journal, JournalConfig, JournalCorrupt, JournalError, JournalLocked,
                                read_journal)
from ordex.core.journal_segments import SEGMENT_HEADER_SIZE, scan_directory
from ordex.ext.journal import RECORD_HEADER_SIZE


def fingerprint(directory: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(directory.iterdir())
            if p.name != "LOCK"}


def open_fails(directory: Path) -> JournalCorrupt:
    before = fingerprint(directory)
    with pytest.raises(JournalCorrupt) as info:
        Journal.open(directory, SMALL)
    assert fingerprint(directory) == before, "a failed open must not change the journal"
    with pytest.raises(JournalCorrupt):
        list(read_journal(directory))
    return info.value


def test_round_trip_across_segments(jdir):
    written = write_journal(jdir, 3000)
    assert len(segments(jdir)) > 3
    with Journal.open(jdir, SMALL) as journal:
        assert journal.next_seq == 3001 and journal.durable_seq == 3000
        assert list(journal.read()) == written
        assert list(journal.read(1234)) == written[1233:]
        assert list(journal.read(1234, 1300)) == written[1233:1300]
        assert list(journal.read(3001)) == []
    assert list(read_journal(jdir)) == written


def test_appends_continue_after_reopen(jdir):
    first = write_journal(jdir, 500)
    with Journal.open(jdir, SMALL) as journal:
        for seq in range(501, 701):
            assert journal.append(1, seq, payload_for(seq)) == seq
    records = list(read_journal(jdir))
    assert records[:500] == first and [r[0] for r in records] == list(range(1, 701))


def test_appending_to_a_closed_journal_is_refused(jdir):
    journal = Journal.open(jdir, SMALL)
    journal.append(1, 0, b"kept")
    journal.close()
    with pytest.raises(JournalError, match="closed"):
        journal.append(1, 0, b"lost")
    with pytest.raises(JournalError, match="closed"):
        journal.flush()
    journal.close()
    assert [r[3] for r in read_journal(jdir)] == [b"kept"]


def test_empty_journal_and_first_seq(jdir):
    with Journal.open(jdir, SMALL, first_seq=1000) as journal:
        assert journal.next_seq == 1000 and journal.durable_seq == 999
        journal.append(1, 0, b"x")
    with Journal.open(jdir, SMALL, first_seq=1) as journal:   # ignored: the journal exists
        assert journal.next_seq == 1001
    with pytest.raises(ValueError):
        Journal.open(jdir.parent / "other", SMALL, first_seq=0)


@pytest.mark.parametrize("prealloc, cut", [("none", "mid_payload"), ("none", "mid_header"),
                                           ("zero", "sector"), ("fallocate", "sector")])
def test_torn_tail_is_truncated_and_logged(jdir, caplog, prealloc, cut):
    """What a crash leaves of the last write: a file that ends inside the record, or (in a
    preallocated file) the record's sectors up to some boundary and zeros after it."""
    config = replace(SMALL, preallocate=prealloc)
    written = write_journal(jdir, 40, config, payload=lambda s: b"%04d" % s * 150)
    last = segments(jdir)[-1]
    off, size, seq = record_offsets(last)[-1]
    assert seq == 40
    data = bytearray(last.read_bytes())
    if cut == "sector":
        at = (off // 512 + 1) * 512
        assert at < off + size
        data[at:] = bytes(len(data) - at)
    else:
        at = off + (size // 2 if cut == "mid_payload" else 10)
        del data[at:]
    last.write_bytes(data)
    with caplog.at_level(logging.WARNING, logger="ordex.journal"):
        with Journal.open(jdir, config) as journal:
            assert journal.next_seq == 40
            assert journal.recovery.torn is not None and journal.recovery.torn.offset == off
            assert journal.append(9, 9, b"replacement") == 40
    assert any("torn record" in r.getMessage() and str(off) in r.getMessage()
               for r in caplog.records)
    records = list(read_journal(jdir))
    assert records[:39] == written[:39] and records[39] == (40, 9, 9, b"replacement")
    assert scan_directory(jdir).torn is None


def test_unwritten_last_record_is_a_clean_end(jdir):
    written = write_journal(jdir, 50, replace(SMALL, preallocate="zero"))
    last = segments(jdir)[-1]
    off, size, _ = record_offsets(last)[-1]
    data = bytearray(last.read_bytes())
    data[off:off + size] = bytes(size)
    last.write_bytes(data)
    with Journal.open(jdir, SMALL) as journal:
        assert journal.next_seq == 50 and journal.recovery.torn is None
    assert list(read_journal(jdir)) == written[:49]


@pytest.mark.parametrize("which", ["first", "last"])
def test_flipped_byte_mid_file_names_file_offset_and_sequence(jdir, which):
    write_journal(jdir, 2000)
    seg = segments(jdir)[0 if which == "first" else -1]
    recs = record_offsets(seg)
    off, size, seq = recs[len(recs) // 2]
    flip_byte(seg, off + size - 1)
    err = open_fails(jdir)
    assert (err.path, err.offset, err.seq) == (str(seg), off, seq)
    assert "checksum" in err.reason
    assert str(seg) in str(err) and f"offset {off}" in str(err) and f"sequence {seq}" in str(err)


def test_damaged_last_record_written_in_full_is_corruption_not_a_torn_tail(jdir):
    write_journal(jdir, 100, payload=lambda s: b"%d!" % s * 5)
    last = segments(jdir)[-1]
    off, size, seq = record_offsets(last)[-1]
    flip_byte(last, off + RECORD_HEADER_SIZE + 2)
    err = open_fails(jdir)
    assert (err.offset, err.seq) == (off, seq) and "written in full" in err.reason


def test_zeroed_header_followed_by_data_is_a_hole(jdir):
    write_journal(jdir, 300)
    last = segments(jdir)[-1]
    off, size, seq = record_offsets(last)[2]
    data = bytearray(last.read_bytes())
    data[off:off + RECORD_HEADER_SIZE] = bytes(RECORD_HEADER_SIZE)
    last.write_bytes(data)
    err = open_fails(jdir)
    assert (err.offset, err.seq) == (off, seq) and "hole" in err.reason


def test_record_with_a_wrong_sequence(jdir):
    write_journal(jdir, 2000)
    seg = segments(jdir)[1]
    off, size, seq = record_offsets(seg)[3]
    data = bytearray(seg.read_bytes())
    struct.pack_into("<Q", data, off + 12, seq + 100)
    rec = data[off:off + size]
    struct.pack_into("<I", data, off + 4, crc32c.crc32c(bytes(rec[8:]), crc32c.crc32c(bytes(rec[:4]))))
    seg.write_bytes(data)
    err = open_fails(jdir)
    assert (err.path, err.offset, err.seq) == (str(seg), off, seq)
    assert f"carries sequence {seq + 100}" in err.reason


def test_missing_segment(jdir):
    write_journal(jdir, 3000)
    segs = segments(jdir)
    gone = segs[2]
    first_after = int(segs[3].name.split(".")[0])
    gone.unlink()
    err = open_fails(jdir)
    assert err.path == str(segs[3]) and err.seq == first_after and "missing segment" in err.reason
    assert segs[1].name in err.reason and f"starts at {first_after}" in err.reason


def test_truncated_earlier_segment(jdir):
    write_journal(jdir, 3000)
    seg = segments(jdir)[1]
    off, size, seq = record_offsets(seg)[-1]
    os.truncate(seg, off + size // 2)
    err = open_fails(jdir)
    assert (err.path, err.offset, err.seq) == (str(seg), off, seq)


@pytest.mark.parametrize("damage", ["magic", "checksum", "first_seq", "short"])
def test_damaged_segment_header(jdir, damage):
    write_journal(jdir, 1000)
    seg = segments(jdir)[1]
    data = bytearray(seg.read_bytes())
    if damage == "magic":
        data[0:8] = b"NOTAJRNL"
    elif damage == "checksum":
        data[30] ^= 1
    elif damage == "first_seq":
        seg.rename(seg.with_name(f"{int(seg.stem) + 1:020d}.jnl"))
        seg = seg.with_name(f"{int(seg.stem) + 1:020d}.jnl")
    else:
        data = data[:40]
    if damage != "first_seq":
        seg.write_bytes(data)
    err = open_fails(jdir)
    assert err.path == str(seg)


def test_leftover_temporary_segment_is_removed(jdir, caplog):
    write_journal(jdir, 10)
    (jdir / "00000000000000000011.jnl.tmp").write_bytes(b"half a header")
    with caplog.at_level(logging.WARNING, logger="ordex.journal"):
        with Journal.open(jdir, SMALL) as journal:
            assert journal.next_seq == 11
    assert not (jdir / "00000000000000000011.jnl.tmp").exists()
    assert any("did not finish" in r.getMessage() for r in caplog.records)


def test_directory_is_locked_while_open(jdir):
    with Journal.open(jdir, SMALL):
        with pytest.raises(JournalLocked):
            Journal.open(jdir, SMALL)
    with Journal.open(jdir, SMALL):
        pass


def test_reading_an_unrecovered_torn_journal_stops_at_the_tear(jdir):
    written = write_journal(jdir, 100)
    last = segments(jdir)[-1]
    off, size, _ = record_offsets(last)[-1]
    os.truncate(last, off + 5)
    before = fingerprint(jdir)
    assert list(read_journal(jdir)) == written[:99]
    assert fingerprint(jdir) == before


def test_replay_from_pruned_history_is_refused(jdir):
    write_journal(jdir, 3000)
    with Journal.open(jdir, SMALL) as journal:
        removed = journal.prune(1500)
        assert removed and all(int(p.stem) < 1500 for p in removed)
        first = int(segments(jdir)[0].stem)
        assert first <= 1500
        assert next(iter(journal.read(1500)))[0] == 1500
        with pytest.raises(JournalCorrupt, match="journal starts at"):
            list(journal.read(first - 1))
        assert journal.prune(10**9) and len(segments(jdir)) == 1   # the active one stays
    with Journal.open(jdir, SMALL) as journal:
        assert journal.next_seq == 3001


def test_config_is_validated():
    with pytest.raises(ValueError):
        JournalConfig(durability="sometimes")
    with pytest.raises(ValueError):
        JournalConfig(preallocate="maybe")
    with pytest.raises(ValueError):
        JournalConfig(segment_bytes=100)
    with pytest.raises(ValueError):
        JournalConfig(max_payload=2**30)
    with pytest.raises(ValueError):
        JournalConfig(batch_interval_ms=0)
    assert SEGMENT_HEADER_SIZE == 64
