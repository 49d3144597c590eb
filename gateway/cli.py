"""The `ordex` command.  Each subcommand lives in its own module and is imported only when used,
so `ordex --help` stays fast and a broken optional component cannot break the others."""
from __future__ import annotations

import argparse
import importlib
import sys

# name -> (module, one-line help).  Each module provides `add_arguments(parser)` and `run(args) -> int`.
COMMANDS: dict[str, tuple[str, str]] = {
    "perf": ("ordex.perf.cli", "run a benchmark and report throughput and latency percentiles"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ordex", description="ordex matching engine and OMS core")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(_module=module)
        importlib.import_module(module).add_arguments(p)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "_module", None):
        parser.print_help()
        return 2
    return int(importlib.import_module(args._module).run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
