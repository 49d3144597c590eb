"""A process appending in fsync mode is killed with SIGKILL at random moments; every record it
reported durable must survive, intact, and the journal must reopen and continue each time."""
from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import time

from ordex.core.journal import Journal, JournalConfig, read_journal

CONFIG = dict(durability="fsync", segment_bytes=64 * 1024, preallocate="zero",
              prealloc_chunk_bytes=16 * 1024)

CHILD = textwrap.dedent("""
    import os, random, sys
    from ordex.core.journal import Journal, JournalConfig

    def payload(seq):
        return (b"%d." % seq) * (1 + seq % 13)

    def on_durable(seq):
        os.write(1, b"%d\\n" % seq)       # from the sync thread; one write per line

    journal = Journal.open(sys.argv[1], JournalConfig(**eval(sys.argv[2])), on_durable=on_durable)
    os.write(1, b"open %d\\n" % journal.next_seq)
    rng = random.Random(int(sys.argv[3]))
    while True:
        for _ in range(rng.randint(1, 300)):
            seq = journal.next_seq
            journal.append(seq % 5, seq, payload(seq))
        journal.flush()
        journal.wait_durable(journal.next_seq - 1, 30)
""")


def payload(seq: int) -> bytes:
    return (b"%d." % seq) * (1 + seq % 13)


def test_sigkill_never_loses_a_durable_record(tmp_path):
    jdir = tmp_path / "journal"
    rng = random.Random(20240531)
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    reported_max = 0
    for run in range(10):
        child = subprocess.Popen([sys.executable, "-c", CHILD, str(jdir), repr(CONFIG), str(run)],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        first = child.stdout.readline()
        assert first.startswith(b"open "), child.stderr.read().decode()
        assert int(first.split()[1]) >= reported_max + 1
        time.sleep(rng.uniform(0.02, 0.25))
        child.send_signal(signal.SIGKILL)
        out, err = child.communicate(timeout=30)
        assert child.returncode == -signal.SIGKILL, err.decode()
        reported = [int(x) for x in out.split()]
        if reported:
            assert reported == sorted(reported)
            reported_max = max(reported_max, reported[-1])
        last = 0
        for seq, rtype, ts_ns, data in read_journal(jdir):
            assert (seq, rtype, ts_ns, data) == (last + 1, seq % 5, seq, payload(seq))
            last = seq
        assert last >= reported_max, f"run {run}: durable {reported_max} but only {last} recovered"
    with Journal.open(jdir, JournalConfig(**CONFIG)) as journal:
        assert journal.next_seq > reported_max
    assert reported_max > 0
