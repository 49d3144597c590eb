"""The `ordex` command.  Each subcommand lives in its own module, imported only when that
subcommand runs, so `ordex --help` stays fast and one broken component cannot break the others."""
from __future__ import annotations

import argparse
import importlib
import sys

# name -> (module, one-line help).  Each module provides `add_arguments(parser)` and `run(args) -> int`.
COMMANDS: dict[str, tuple[str, str]] = {
    "serve": ("ordex.gateway.serve_cli", "run the exchange (FIX acceptor, engine, journal)"),
    "perf": ("ordex.perf.cli", "run a benchmark and report throughput and latency percentiles"),
    "feeds": ("ordex.feeds.cli", "market data: replay a recording (ITCH, JSON L2, CSV/Parquet)"),
    "journal": ("ordex.core.journal_cli", "verify, inspect or export a write-ahead journal"),
    "admin": ("ordex.gateway.admin_cli", "operate a running server: halt, kill switch, mass cancel, status"),
    "audit": ("ordex.gateway.audit_cli", "the lifecycle of orders from the journal: commands, events, actors"),
    "trades": ("ordex.gateway.trades_cli", "trade history from the journal as CSV or Parquet"),
    "reconcile": ("ordex.gateway.reconcile_cli", "reconcile executions against a drop-copy log or CSV"),
}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    top = argparse.ArgumentParser(prog="ordex", description="ordex matching engine and OMS core")
    top.add_argument("command", nargs="?", choices=sorted(COMMANDS), metavar="COMMAND",
                     help="; ".join(f"{n}: {h}" for n, (_, h) in COMMANDS.items()))
    top.add_argument("args", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    ns = top.parse_args(argv[:1])
    if ns.command is None:
        top.print_help()
        return 2
    module_name, help_text = COMMANDS[ns.command]
    module = importlib.import_module(module_name)
    parser = argparse.ArgumentParser(prog=f"ordex {ns.command}", description=help_text)
    module.add_arguments(parser)
    return int(module.run(parser.parse_args(argv[1:])) or 0)


if __name__ == "__main__":
    sys.exit(main())
