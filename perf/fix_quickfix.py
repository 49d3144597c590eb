"""The QuickFIX C++ baseline of `ordex perf fix`: perf/quickfix_acceptor/acceptor.cpp, compiled
at run time against Debian's libquickfix-dev (g++ -std=c++14: C++17 rejects the throw()
specifications of QuickFIX 1.15's headers), run with a FileStore and the standard FIX 4.4
dictionary, driven by the same generator as ordex.  Its FileStore never calls fsync."""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from ordex.core import fixdict
from ordex.perf.fix_load import LoadError, Peer

SOURCE_DIR = Path(__file__).resolve().with_name("quickfix_acceptor")


class QuickFixUnavailable(LoadError):
    """QuickFIX (libquickfix-dev) or a C++ compiler is missing: the baseline cannot run."""


def version() -> str | None:
    """The installed libquickfix-dev package version, if dpkg knows it."""
    try:
        out = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", "libquickfix-dev"],
                             capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if out.returncode:
        return None
    return out.stdout.strip() or None


def compile_acceptor(workdir: Path, cxx: str | None = None) -> Path:
    source = SOURCE_DIR / "acceptor.cpp"
    if not source.exists():
        raise QuickFixUnavailable(f"{source} is missing (ordex perf fix needs the source tree)")
    cxx = cxx or os.environ.get("CXX") or shutil.which("g++") or shutil.which("c++")
    if not cxx:
        raise QuickFixUnavailable("no C++ compiler found (set CXX)")
    out = Path(workdir) / "quickfix_acceptor"
    proc = subprocess.run([cxx, "-std=c++14", "-O2", "-Wno-deprecated", "-o", str(out), str(source),
                           "-lquickfix", "-lpthread"], capture_output=True, text=True)
    if proc.returncode:
        hint = (" (install it: apt-get install libquickfix-dev)"
                if "quickfix/" in proc.stderr or "-lquickfix" in proc.stderr else "")
        raise QuickFixUnavailable(f"building the QuickFIX acceptor failed{hint}:\n"
                                  f"{proc.stderr.strip()[-2000:]}")
    return out


def settings_text(port: int, store_dir: Path, clients: list[str], dictionary: Path | None = None) -> str:
    """The acceptor's settings: the template with its placeholders filled, one [SESSION] per
    client CompID (the acceptor's own CompID is ORDEX, as for the ordex server)."""
    template = (SOURCE_DIR / "acceptor.cfg.template").read_text()
    dictionary = dictionary or fixdict.dictionary_dir() / fixdict.FILES["FIX.4.4"]
    text = template.format(port=port, store_dir=store_dir, dictionary=dictionary)
    for client in clients:
        text += f"\n[SESSION]\nBeginString=FIX.4.4\nSenderCompID=ORDEX\nTargetCompID={client}\n"
    return text


class QuickFixAcceptor(Peer):
    name = "the QuickFIX acceptor"

    def __init__(self, binary: Path, workdir: Path, port: int, clients: list[str]):
        workdir = Path(workdir)
        (workdir / "store").mkdir(parents=True, exist_ok=True)
        self.port = port
        cfg = workdir / "acceptor.cfg"
        cfg.write_text(settings_text(port, workdir / "store", clients))
        super().__init__([str(binary), str(cfg)], workdir / "acceptor.log", r"(?m)^ready$",
                         cwd=workdir)
