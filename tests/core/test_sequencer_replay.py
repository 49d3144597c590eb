"""Input journaling: sequenced commands journaled, then replayed from the journal, reproduce the
engine's state hash and event stream exactly -- from scratch, twice in a row."""
import hashlib

import numpy as np
import pytest

from ordex.core.journal import Journal, JournalConfig, read_journal
from ordex.core.sequencer import RECORD_COMMAND, ReplayError, Sequencer, replay
from ordex.ext.engine import Engine
from ordex.perf.engine import engine_commands, reference_data
from ordex.perf.book_workloads import exchange_core_mix


class FakeClock:
    """Time that moves, and sometimes stands still or goes back (the sequencer must not)."""

    def __init__(self):
        self.t = 1_700_000_000_000_000_000
        self.i = 0

    def __call__(self):
        self.i += 1
        self.t += (0, 1_000, -5_000, 250_000)[self.i % 4]
        return self.t


def unsequenced_commands(n=3000):
    w = exchange_core_mix(n, seed=7, resting=200)
    rows = engine_commands(np.concatenate([w.setup, w.main]),
                           np.concatenate([w.setup["qty"], w.totals]), 1)
    rows["seq"] = 0
    rows["ts_ns"] = 0
    return rows


def digest(h, events):
    h.update(np.ascontiguousarray(events).tobytes())


def test_journaled_run_replays_to_the_same_state_and_events(tmp_path):
    rows = unsequenced_commands()
    live = Engine(reference_data(), max_orders=4096)
    live_events = hashlib.blake2b()
    with Journal.open(tmp_path / "j", JournalConfig(durability="none")) as journal:
        seq = Sequencer(live, journal, clock_ns=FakeClock())
        for start in range(0, len(rows), 97):      # uneven batches, as loop iterations would be
            seq.submit(rows[start:start + 97])
            digest(live_events, live.events_array())
            live.clear_events()
            journal.flush()
        assert journal.wait_durable(seq.next_seq - 1, timeout=10)
    ts = [r[2] for r in read_journal(tmp_path / "j")]
    assert ts == sorted(ts), "ts_ns must never go backwards"
    for _ in range(2):                               # replay twice: same result both times
        again = Engine(reference_data(), max_orders=4096)
        replayed = hashlib.blake2b()
        n = replay(again, read_journal(tmp_path / "j"), chunk=500,
                   on_events=lambda ev: digest(replayed, ev))
        assert n == len(rows)
        assert again.state_hash() == live.state_hash()
        assert replayed.hexdigest() == live_events.hexdigest()
        again.check_invariants()


def test_replay_refuses_records_that_are_not_commands():
    eng = Engine(reference_data(), max_orders=64)
    with pytest.raises(ReplayError, match="not an engine command"):
        replay(eng, [(1, RECORD_COMMAND, 0, b"short")])
    with pytest.raises(ReplayError, match="expected sequence 2"):
        row = np.zeros(1, dtype=unsequenced_commands(10).dtype)
        replay(eng, [(1, RECORD_COMMAND, 0, row.tobytes()), (3, RECORD_COMMAND, 0, row.tobytes())])


def test_journaled_commands_are_readable_and_filterable_by_account(tmp_path, capsys):
    from ordex.gateway.cli import main
    rows = unsequenced_commands(200)
    with Journal.open(tmp_path / "j", JournalConfig(durability="none")) as journal:
        Sequencer(Engine(reference_data(), max_orders=4096), journal, clock_ns=FakeClock()).submit(rows)
        journal.flush()
        assert journal.wait_durable(len(rows), timeout=10)
    account = int(rows["account"][rows["kind"] == 1][0])
    expected = int(((rows["kind"] == 1) & (rows["account"] == account)).sum())
    assert main(["journal", "inspect", str(tmp_path / "j"), "--account", str(account)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == expected
    assert all("kind=NEW_ORDER" in line and f"account={account} " in line for line in lines)


def test_replay_refuses_a_payload_that_contradicts_its_record():
    rows = unsequenced_commands(3)[:2].copy()
    rows["seq"], rows["ts_ns"] = (1, 2), (10, 20)
    eng = Engine(reference_data(), max_orders=64)
    good = [(1, RECORD_COMMAND, 10, rows[0].tobytes()), (2, RECORD_COMMAND, 20, rows[1].tobytes())]
    assert replay(eng, good) == 2
    bad = [(1, RECORD_COMMAND, 10, rows[0].tobytes()), (2, RECORD_COMMAND, 21, rows[1].tobytes())]
    with pytest.raises(ReplayError, match="record 2: its payload says seq 2, ts_ns 20"):
        replay(Engine(reference_data(), max_orders=64), bad)


def test_time_never_goes_backwards_across_a_restart(tmp_path):
    rows = unsequenced_commands(5)[:3].copy()
    with Journal.open(tmp_path / "j", JournalConfig(durability="none")) as journal:
        Sequencer(Engine(reference_data(), max_orders=64), journal, clock_ns=lambda: 5_000).submit(rows[:1])
        journal.flush()
        journal.wait_durable(1, timeout=10)
    with Journal.open(tmp_path / "j", JournalConfig(durability="none")) as journal:
        last = list(journal.read(journal.next_seq - 1))[-1][2]
        seq = Sequencer(Engine(reference_data(), max_orders=64), journal, clock_ns=lambda: 1_000,
                        last_ts_ns=last)                  # the clock was stepped back
        more = rows[1:2].copy()
        seq.submit(more)
        assert int(more["ts_ns"][0]) == 5_000


def test_journaled_commands_have_zeroed_padding(tmp_path):
    """Same commands, same journal bytes: whatever garbage a row's C padding held is not kept."""
    from ordex.core.sequencer import _PADDING
    rows = unsequenced_commands(5)[:3].copy()
    raw = rows.view(np.uint8).reshape(len(rows), -1)
    raw[:, _PADDING] = 0xAB
    with Journal.open(tmp_path / "j", JournalConfig(durability="none")) as journal:
        Sequencer(Engine(reference_data(), max_orders=64), journal, clock_ns=FakeClock()).submit(rows)
        journal.flush()
        assert journal.wait_durable(3, timeout=10)
    for _, _, _, payload in read_journal(tmp_path / "j"):
        assert not any(payload[i] for i in _PADDING)


def test_strided_rows_are_refused_before_anything_is_journaled(tmp_path):
    """The engine applies only C-contiguous commands: a strided view is refused by the sequencer
    before it reaches the journal (no record the engine would then fail to apply)."""
    rows = unsequenced_commands(20)[:8].copy()
    with Journal.open(tmp_path / "j", JournalConfig(durability="none")) as journal:
        seq = Sequencer(Engine(reference_data(), max_orders=64), journal, clock_ns=FakeClock())
        with pytest.raises(ValueError, match="C-contiguous"):
            seq.submit(rows[::2])
        assert journal.next_seq == 1 and seq.next_seq == 1
        seq.submit(rows[:2])
        assert journal.next_seq == 3
    assert [r[0] for r in read_journal(tmp_path / "j")] == [1, 2]
