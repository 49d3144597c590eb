"""FIX codec: parse and encode of a typical NewOrderSingle and ExecutionReport, vs simplefix.

Reported per workload W (new_order_single ~170 B, execution_report ~240 B):
  parse.W.throughput              FixParser.feed() over the stream cut into --chunk byte chunks,
                                  FIX 4.4 dictionary, default Validation; every message checked ok
  parse_unvalidated.W.throughput  the same with Validation.off() (framing, syntax, groups only)
  parse_read.W.throughput         parse, then reading the fields a gateway reads (READERS[W])
  parse_read.W.p50/p99/p999/max   one message fed and read, timed from Python (ns, includes calls)
  simplefix_parse.W.throughput    simplefix.FixParser on the same stream (get_message() loop)
  simplefix_parse_read.W.throughput  ... also getting the same fields
  parse.W.ratio_vs_simplefix      parse / simplefix_parse
  encode.W.throughput             FixEncoder.encode_template() from precomputed value tuples
  encode_fields.W.throughput      the same message with one add_* call per field (WRITERS[W])
  simplefix_encode.W.throughput   simplefix.FixMessage append_pair(...) + encode(), same tuples
  encode.W.ratio_vs_simplefix     encode / simplefix_encode
Throughputs are medians of --repeat runs (simplefix: --repeat // 2 runs of fewer messages).
"""
from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from ordex.core import fixdict
from ordex.ext.fixcodec import FixEncoder, FixTemplate
from ordex.perf.report import Report

TS_NS = 1_704_203_110_123_456_789
SENDER, TARGET = b"CLIENT1", b"ORDEX"

# Field layouts: (tag, kind[, decimals or timestamp digits]) as FixTemplate takes them.
SPECS = {
    "new_order_single": [(34, "int"), (52, "timestamp", 3), (11, "bytes"), (1, "bytes"),
                         (55, "bytes"), (54, "char"), (60, "timestamp", 3), (38, "fixed", 0),
                         (40, "char"), (44, "fixed", 2), (59, "char")],
    "execution_report": [(34, "int"), (52, "timestamp", 3), (37, "bytes"), (11, "bytes"),
                         (17, "bytes"), (150, "char"), (39, "char"), (55, "bytes"), (54, "char"),
                         (38, "fixed", 0), (44, "fixed", 2), (32, "fixed", 0), (31, "fixed", 2),
                         (151, "fixed", 0), (14, "fixed", 0), (6, "fixed", 4),
                         (60, "timestamp", 6)],
}
TEMPLATES = {"new_order_single": FixTemplate(b"D", SPECS["new_order_single"]),
             "execution_report": FixTemplate(b"8", SPECS["execution_report"])}


def read_new_order(m) -> None:
    """What a gateway reads from a NewOrderSingle, with the typed accessors."""
    m.get_int(34)
    m.get_bytes(11)
    m.get_bytes(1)
    m.get_bytes(55)
    m.get_char(54)
    m.get_fixed(38, 0)
    m.get_char(40)
    m.get_fixed(44, 2)
    m.get_char(59)


def read_exec_report(m) -> None:
    """What a client reads from an ExecutionReport."""
    m.get_int(34)
    m.get_bytes(37)
    m.get_bytes(11)
    m.get_bytes(17)
    m.get_char(150)
    m.get_char(39)
    m.get_fixed(32, 0)
    m.get_fixed(31, 2)
    m.get_fixed(151, 0)
    m.get_fixed(14, 0)


READERS = {"new_order_single": read_new_order, "execution_report": read_exec_report}
READ_TAGS = {"new_order_single": (34, 11, 1, 55, 54, 38, 40, 44, 59),
             "execution_report": (34, 37, 11, 17, 150, 39, 32, 31, 151, 14)}
WORKLOADS = ("new_order_single", "execution_report")


def values(workload: str, i: int) -> tuple:
    if workload == "new_order_single":
        return (i, TS_NS + i, b"ORD-%010d" % i, b"ACC-42", b"AAPL", b"1", TS_NS + i, 100, b"2",
                10125 + i % 50, b"0")
    return (i, TS_NS + i, b"O-%010d" % i, b"ORD-%010d" % i, b"E-%012d" % i, b"F", b"1", b"AAPL",
            b"1", 100, 10125, 40, 10125 + i % 50, 60, 40, 1012500, TS_NS + i)


def template(workload: str) -> FixTemplate:
    return TEMPLATES[workload]


def encoder() -> FixEncoder:
    return FixEncoder(b"FIX.4.4", sender=SENDER, target=TARGET)


def messages(workload: str, n: int) -> list[bytes]:
    enc, t = encoder(), template(workload)
    return [enc.encode_template(t, values(workload, i + 1)) for i in range(n)]


def parse_stream(parser, chunks: list[bytes], read=None) -> int:
    n = 0
    for chunk in chunks:
        for m in parser.feed(chunk):
            if m.error:
                raise AssertionError(f"benchmark message rejected: {m.error_text} (tag {m.error_tag})")
            if read is not None:
                read(m)
            n += 1
    return n


def simplefix_parse_stream(chunks: list[bytes], tags=()) -> int:
    import simplefix
    p = simplefix.FixParser()
    n = 0
    for chunk in chunks:
        p.append_buffer(chunk)
        while (m := p.get_message()) is not None:
            for tag in tags:
                m.get(tag)
            n += 1
    return n


def simplefix_encode(workload: str, rows: list[tuple]) -> None:
    import simplefix
    spec = [(tag, kind, arg[0] if arg else None) for tag, kind, *arg in SPECS[workload]]
    for row in rows:
        m = simplefix.FixMessage()
        m.append_pair(8, b"FIX.4.4")
        m.append_pair(35, template(workload).msg_type)
        m.append_pair(49, SENDER)
        m.append_pair(56, TARGET)
        for (tag, kind, arg), v in zip(spec, row):
            if kind == "timestamp":
                m.append_utc_timestamp(tag, v / 1e9, precision=arg)
            elif kind == "fixed":
                m.append_pair(tag, f"{v / 10 ** arg:.{arg}f}" if arg else v)
            else:
                m.append_pair(tag, v)
        m.encode()



def encode_template_run(workload: str, rows: list[tuple]) -> None:
    enc, t = encoder(), template(workload)
    encode = enc.encode_template
    for row in rows:
        encode(t, row)


def write_new_order(enc, r) -> None:
    enc.begin(b"D")
    enc.add_int(34, r[0])
    enc.add_timestamp(52, r[1], 3)
    enc.add_bytes(11, r[2])
    enc.add_bytes(1, r[3])
    enc.add_bytes(55, r[4])
    enc.add_bytes(54, r[5])
    enc.add_timestamp(60, r[6], 3)
    enc.add_fixed(38, r[7], 0)
    enc.add_bytes(40, r[8])
    enc.add_fixed(44, r[9], 2)
    enc.add_bytes(59, r[10])


def write_exec_report(enc, r) -> None:
    enc.begin(b"8")
    enc.add_int(34, r[0])
    enc.add_timestamp(52, r[1], 3)
    enc.add_bytes(37, r[2])
    enc.add_bytes(11, r[3])
    enc.add_bytes(17, r[4])
    enc.add_bytes(150, r[5])
    enc.add_bytes(39, r[6])
    enc.add_bytes(55, r[7])
    enc.add_bytes(54, r[8])
    enc.add_fixed(38, r[9], 0)
    enc.add_fixed(44, r[10], 2)
    enc.add_fixed(32, r[11], 0)
    enc.add_fixed(31, r[12], 2)
    enc.add_fixed(151, r[13], 0)
    enc.add_fixed(14, r[14], 0)
    enc.add_fixed(6, r[15], 4)
    enc.add_timestamp(60, r[16], 6)


WRITERS = {"new_order_single": write_new_order, "execution_report": write_exec_report}


def encode_fields_run(workload: str, rows: list[tuple]) -> None:
    """The same message field by field: begin, one add_* call per field, finish."""
    enc, write = encoder(), WRITERS[workload]
    for row in rows:
        write(enc, row)
        enc.finish()


def rate(fn, n: int, repeat: int) -> float:
    runs = []
    for _ in range(repeat):
        t0 = time.perf_counter_ns()
        fn()
        runs.append(n / ((time.perf_counter_ns() - t0) / 1e9))
    return statistics.median(runs)


def chunked(stream: bytes, size: int) -> list[bytes]:
    return [stream[i:i + size] for i in range(0, len(stream), size)]


def parse_latency(workload: str, msgs: list[bytes]) -> np.ndarray:
    parser = fixdict.load("FIX.4.4").parser()
    read = READERS[workload]
    clock = time.perf_counter_ns
    out = np.empty(len(msgs), dtype=np.int64)
    for i, raw in enumerate(msgs):
        t0 = clock()
        for m in parser.feed(raw):
            read(m)
        out[i] = clock() - t0
    return out


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--messages", type=int, default=200_000, help="messages per measured run")
    parser.add_argument("--simplefix-messages", type=int, default=10_000,
                        help="messages per simplefix run (it is ~100x slower)")
    parser.add_argument("--repeat", type=int, default=5, help="runs per figure; the median is reported")
    parser.add_argument("--chunk", type=int, default=65536, help="stream chunk size in bytes")
    parser.add_argument("--workload", choices=("all",) + WORKLOADS, default="all")


def run(args: argparse.Namespace) -> Report:
    d44 = fixdict.load("FIX.4.4")
    workloads = WORKLOADS if args.workload == "all" else (args.workload,)
    repeat, sf_repeat = args.repeat, max(1, args.repeat // 2)
    report = Report("fixcodec", settings={
        "messages": args.messages, "simplefix_messages": args.simplefix_messages,
        "repeat": args.repeat, "chunk_bytes": args.chunk, "dictionary": "FIX.4.4",
        "validation": "parse: all but field/group order; parse_unvalidated: structure only"})
    for w in workloads:
        n, n_sf = args.messages, min(args.simplefix_messages, args.messages)
        rows = [values(w, i + 1) for i in range(n)]
        msgs = messages(w, n)
        report.settings[f"{w}_bytes"] = len(msgs[0])
        chunks = chunked(b"".join(msgs), args.chunk)
        sf_chunks = chunked(b"".join(msgs[:n_sf]), args.chunk)
        read = READERS[w]

        ours = rate(lambda: parse_stream(d44.parser(), chunks), n, repeat)
        base = rate(lambda: simplefix_parse_stream(sf_chunks), n_sf, sf_repeat)
        report.add(f"parse.{w}.throughput", "/s", ours)
        report.add(f"parse_unvalidated.{w}.throughput", "/s",
                   rate(lambda: parse_stream(d44.parser(fixdict.Validation.off()), chunks), n, repeat))
        report.add(f"parse_read.{w}.throughput", "/s",
                   rate(lambda: parse_stream(d44.parser(), chunks, read), n, repeat))
        report.add(f"simplefix_parse.{w}.throughput", "/s", base)
        report.add(f"simplefix_parse_read.{w}.throughput", "/s",
                   rate(lambda: simplefix_parse_stream(sf_chunks, READ_TAGS[w]), n_sf, sf_repeat))
        report.add(f"parse.{w}.ratio_vs_simplefix", "", ours / base)
        report.add_latency(f"parse_read.{w}", parse_latency(w, msgs[:min(n, 100_000)]))

        enc = rate(lambda: encode_template_run(w, rows), n, repeat)
        sf = rate(lambda: simplefix_encode(w, rows[:n_sf]), n_sf, sf_repeat)
        report.add(f"encode.{w}.throughput", "/s", enc)
        report.add(f"encode_fields.{w}.throughput", "/s",
                   rate(lambda: encode_fields_run(w, rows), n, repeat))
        report.add(f"simplefix_encode.{w}.throughput", "/s", sf)
        report.add(f"encode.{w}.ratio_vs_simplefix", "", enc / sf)
    return report
