"""`ordex serve [--config FILE]`: run the exchange (embedded demo configuration by default)."""
from __future__ import annotations

import argparse
import sys

from ordex.gateway import config as config_mod


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="FILE",
                        help="TOML configuration (default: the embedded demo configuration)")
    parser.add_argument("--print-default-config", action="store_true",
                        help="print the embedded configuration (a starting point) and exit")
    parser.add_argument("--check", action="store_true",
                        help="check the configuration and exit")


def run(args: argparse.Namespace) -> int:
    if args.print_default_config:
        sys.stdout.write(config_mod.default_text())
        return 0
    try:
        cfg = config_mod.load(args.config)
    except config_mod.ConfigError as e:
        print(f"ordex serve: {e}", file=sys.stderr)
        return 2
    if args.check:
        print(f"{cfg.source}: ok ({len(cfg.reference.instruments)} instruments, "
              f"{len(cfg.reference.accounts)} accounts, {len(cfg.fix_sessions)} FIX sessions)")
        return 0
    from ordex.gateway.server import run as run_server
    return run_server(cfg)
