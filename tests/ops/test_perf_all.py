"""`ordex perf all` assembles benchmarks into one report: Markdown, PNG plots, JSON, failures
reported without stopping the others, short settings derived for unknown benchmarks."""
import argparse
import json

import pytest

from ordex.perf import all as perf_all
from ordex.perf import cli as perf_cli
from ordex.perf.report import Report


@pytest.fixture
def fakes(monkeypatch):
    for name in list(perf_cli.BENCHMARKS):
        monkeypatch.delitem(perf_cli.BENCHMARKS, name)
    monkeypatch.setitem(perf_cli.BENCHMARKS, "book", ("fake_bench", "a stand-in"))
    monkeypatch.setitem(perf_cli.BENCHMARKS, "binary", ("fake_bench", "unknown to SHORT"))
    monkeypatch.setitem(perf_cli.BENCHMARKS, "feeds", ("fake_bench", "fails"))


def run_all(tmp_path, *argv):
    p = argparse.ArgumentParser()
    perf_all.add_arguments(p)
    return perf_all.run(p.parse_args(["--out", str(tmp_path)] + list(argv)))


def test_report_plots_json_and_failures(tmp_path, fakes, capsys):
    original = Report.add_latency
    combined = run_all(tmp_path, "--options", "book=--messages 2000", "--options",
                       "feeds=--fail", "--timeline-seconds", "0.2",
                       "--timeline-commands", "20000")
    assert Report.add_latency is original                     # the sample capture is undone
    names = {r["name"] for r in combined.results}
    assert {"book.api.work.throughput", "book.api.work.p99", "binary.api.work.p50",
            "timeline.engine.throughput_median"} <= names
    assert combined.settings["failed"] == "feeds"
    # the unknown benchmark ran with its options scaled down, the known one with --options
    assert combined.settings["binary.options"] == "--messages 100 --repeat 1 --seconds 0.5"
    assert json.loads((tmp_path / "binary.json").read_text())["settings"]["messages"] == 100
    md = (tmp_path / "report.md").read_text()
    assert "## Machine" in md and "| cores |" in md and "| uvloop |" in md
    assert "| book | api.work.ratio_vs_baseline | 3.50 |" in md
    assert "`ordex perf book --messages 2000`" in md
    assert "## Failed" in md and "the disk caught fire" in md
    assert "![book latency](latency_book.png)" in md
    for png in ("latency_book.png", "latency_binary.png", "throughput_over_time.png"):
        assert (tmp_path / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    doc = json.loads((tmp_path / "all.json").read_text())
    assert doc["benchmark"] == "all" and doc["machine"]["cores"] >= 1
    assert "FAILED: feeds" in capsys.readouterr().err


def test_selection_errors_and_bad_options(tmp_path, fakes):
    with pytest.raises(SystemExit, match="unknown benchmark"):
        run_all(tmp_path, "--only", "nonsense")
    combined = run_all(tmp_path, "--only", "book", "--options", "book=--messages lots",
                       "--timeline-seconds", "0", "--no-plots")
    assert combined.settings["failed"] == "book"
    assert "invalid int value" in (tmp_path / "report.md").read_text()
    assert not list(tmp_path.glob("*.png"))
