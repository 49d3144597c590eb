"""Drive the QuickFIX C++ initiator (quickfix_initiator.cpp) from asyncio tests.

    binary = build_initiator(tmp_dir)                  # g++ ... -lquickfix, about 2-4 s
    qf = await QuickFixClient.start(binary, workdir, port, sender="CLIENT", target="ORDEX",
                                    password="secret")
    await qf.cmd("logon")                              # -> "OK logon"
    await qf.cmd("order C1 1 100 10.5 AAPL")           # -> "OK order 2"
    await qf.cmd("wait 8 1")
    er = qf.received("8")[-1]                          # {tag: value} of the last ExecutionReport
    await qf.close()

Point it at any FIX acceptor: the port and CompIDs are all it needs.  Commands and events are
documented at the top of quickfix_initiator.cpp.  If a command fails, the QuickFIX event log
(workdir/log) is a good place to look: qf.log_text() returns it.
"""
from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
from pathlib import Path

SOURCE = Path(__file__).with_name("quickfix_initiator.cpp")
HEADER = Path("/usr/include/quickfix/SocketInitiator.h")
DEFAULT_DICTIONARY_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "fix"


class QuickFixMissing(RuntimeError):
    """g++ or the Debian package libquickfix-dev is not installed."""


def quickfix_available() -> str | None:
    """None when the initiator can be built here, else what is missing."""
    if shutil.which("g++") is None:
        return "g++ not found"
    if not HEADER.exists():
        return f"{HEADER} not found (apt-get install libquickfix-dev)"
    return None


def build_initiator(directory: Path) -> Path:
    missing = quickfix_available()
    if missing:
        raise QuickFixMissing(missing)
    out = Path(directory) / "quickfix_initiator"
    # -Wno-deprecated: QuickFIX's Application interface uses throw() specifications.
    proc = subprocess.run(["g++", "-std=c++14", "-O1", "-Wall", "-Wno-deprecated", "-o", str(out),
                           str(SOURCE), "-lquickfix", "-lpthread"],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"building {SOURCE.name} failed:\n{proc.stderr[-4000:]}")
    return out


def dictionary_path(begin_string: str) -> Path:
    folder = Path(os.environ.get("ORDEX_FIX_DICTIONARIES", DEFAULT_DICTIONARY_DIR))
    if not folder.is_dir():
        folder = Path("/work/shared/data/fix")
    return folder / {"FIX.4.2": "FIX42.xml", "FIX.4.4": "FIX44.xml"}[begin_string]


def parse_fields(flat: str) -> dict[int, str]:
    """'8=FIX.4.4|9=..|35=8|...' -> {tag: value}; the last value wins for a repeated tag."""
    out = {}
    for part in flat.split("|"):
        if "=" in part:
            tag, _, value = part.partition("=")
            out[int(tag)] = value
    return out


class QuickFixClient:
    def __init__(self, proc, workdir: Path):
        self.proc = proc
        self.workdir = workdir
        self.events: list[str] = []

    @classmethod
    async def start(cls, binary: Path, workdir: Path, port: int, *, host="127.0.0.1",
                    begin_string="FIX.4.4", sender="CLIENT", target="ORDEX", heartbeat_s=30,
                    username: str | None = None, password: str | None = None,
                    reset_on_logon=False, dictionary: Path | None = None) -> QuickFixClient:
        workdir = Path(workdir)
        workdir.mkdir(parents=True, exist_ok=True)
        lines = [
            "[DEFAULT]", "ConnectionType=initiator", "ReconnectInterval=1",
            f"FileStorePath={workdir / 'store'}", f"FileLogPath={workdir / 'log'}",
            "StartTime=00:00:00", "EndTime=00:00:00", "UseDataDictionary=Y",
            f"DataDictionary={dictionary or dictionary_path(begin_string)}",
            "ValidateUserDefinedFields=N", f"HeartBtInt={heartbeat_s}",
            f"SocketConnectHost={host}", f"SocketConnectPort={port}",
            f"ResetOnLogon={'Y' if reset_on_logon else 'N'}",
            "[SESSION]", f"BeginString={begin_string}", f"SenderCompID={sender}",
            f"TargetCompID={target}"]
        if username is not None:
            lines.append(f"Username={username}")
        if password is not None:
            lines.append(f"Password={password}")
        cfg = workdir / "initiator.cfg"
        cfg.write_text("\n".join(lines) + "\n")
        proc = await asyncio.create_subprocess_exec(
            str(binary), str(cfg), stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        return cls(proc, workdir)

    async def cmd(self, line: str, timeout: float = 20.0) -> str:
        """Send one command; return its OK line.  Events before it go to self.events.
        An ERROR answer raises AssertionError with the recent events and the QuickFIX log."""
        self.proc.stdin.write(line.encode() + b"\n")
        await self.proc.stdin.drain()
        while True:
            raw = await asyncio.wait_for(self.proc.stdout.readline(), timeout)
            if not raw:
                err = (await self.proc.stderr.read()).decode(errors="replace")
                raise AssertionError(f"initiator exited during {line!r}: {err}")
            text = raw.decode(errors="replace").rstrip("\n")
            if text.startswith("OK "):
                return text
            if text.startswith("ERROR"):
                raise AssertionError(f"{line!r}: {text}\nevents: {self.events[-10:]}\n"
                                     f"log:\n{self.log_text()[-3000:]}")
            self.events.append(text)

    def received(self, msg_type: str, kind: str | None = None) -> list[dict[int, str]]:
        """Fields of every received message of msg_type, in arrival order."""
        out = []
        for e in self.events:
            parts = e.split(" ", 3)
            if parts[0] == "RECV" and parts[2] == msg_type and (kind is None or parts[1] == kind):
                out.append(parse_fields(parts[3]))
        return out

    def log_text(self) -> str:
        logs = sorted((self.workdir / "log").glob("*.event*.log"))
        return "".join(p.read_text(errors="replace") for p in logs)

    async def close(self) -> None:
        if self.proc.returncode is None:
            try:
                await self.cmd("quit", timeout=15)
            except (AssertionError, asyncio.TimeoutError, BrokenPipeError, ConnectionError):
                self.proc.kill()
            await self.proc.wait()
