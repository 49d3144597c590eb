"""`ordex admin ACTION ...`: operate a running server through its admin listener.

    ordex admin status                         server, journal and FIX session state
    ordex admin halt AAPL | resume AAPL | close AAPL
    ordex admin kill-switch on --account DEMO1 | off --session CLIENT1
    ordex admin mass-cancel --account DEMO1 [--instrument AAPL] | --session CLIENT1 | --all
    ordex admin disconnect CLIENT1 [--reason TEXT]
    ordex admin set-limit max_position 500 --account DEMO1 --instrument AAPL
    ordex admin set-limit max_order_qty|max_notional|collar_bps|ref_max_age_s VALUE --instrument AAPL
    ordex admin set-limit max_orders_per_sec 50 --session CLIENT1
    ordex admin purge-clordids                 a new trading day for ClOrdIDs (finished orders')
    ordex admin metrics | health | ready

The listener's address comes from --url, else the [admin] listen of --config (default: the
embedded configuration); the token from --token, else the configuration's token / token_file,
else $ORDEX_ADMIN_TOKEN, else <data_dir>/admin.token.  Exit status: 0 done, 1 refused by the
server (the message says why), 2 not reachable or bad usage.
"""
from __future__ import annotations

import argparse
import getpass
import json
import sys
import urllib.error
import urllib.request

from ordex.gateway import config as config_mod


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--url", help="admin listener, e.g. http://127.0.0.1:9879")
    parser.add_argument("--config", metavar="FILE", help="server configuration (default: embedded)")
    parser.add_argument("--token", help="admin token (default: see ordex admin --help)")
    parser.add_argument("--operator", default=None,
                        help="your name, journaled with the action (default: your login name)")
    parser.add_argument("--timeout", type=float, default=15.0, help="seconds to wait for an answer")
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    sub.add_parser("status", help="server, journal and FIX session state")
    sub.add_parser("metrics", help="print the Prometheus metrics")
    sub.add_parser("health", help="liveness (/healthz)")
    sub.add_parser("ready", help="readiness (/readyz): exit 1 when not ready")
    for name, text in (("halt", "halt trading in an instrument"),
                       ("resume", "reopen a halted instrument"),
                       ("close", "close an instrument: its DAY orders expire")):
        p = sub.add_parser(name, help=text)
        p.add_argument("instrument", metavar="SYMBOL")
    ks = sub.add_parser("kill-switch", help="kill switch for an account or a session")
    ks.add_argument("state", choices=("on", "off"))
    who = ks.add_mutually_exclusive_group(required=True)
    who.add_argument("--account")
    who.add_argument("--session")
    mc = sub.add_parser("mass-cancel", help="cancel orders by account, session, instrument or all")
    who = mc.add_mutually_exclusive_group()
    who.add_argument("--account")
    who.add_argument("--session")
    mc.add_argument("--instrument", metavar="SYMBOL")
    mc.add_argument("--all", action="store_true", help="every order of every account")
    dc = sub.add_parser("disconnect", help="log a session out (FIX Logout / SoupBinTCP End of "
                                           "Session), journaled")
    dc.add_argument("session")
    dc.add_argument("--reason", help="at most 24 ASCII characters, journaled")
    sub.add_parser("purge-clordids", help="a new trading day for ClOrdID uniqueness: the "
                   "ClOrdIDs of orders no longer live may be used again (journaled)")
    from ordex.gateway.admin_actions import LIMITS
    sl = sub.add_parser("set-limit", help="change a risk limit (journaled, replayed)",
                        description="Limits, their targets and units: " + "; ".join(
                            f"{n} ({' + '.join(s.target)}; {UNITS[s.unit]})"
                            for n, s in LIMITS.items()) + ".  0 means no limit (a collar of 0: "
                            "none; a reference age of 0: market orders need a reference of "
                            "this very instant).")
    sl.add_argument("limit", help=", ".join(LIMITS))
    sl.add_argument("value", help="a decimal string in the limit's unit (0 = no limit)")
    sl.add_argument("--account")
    sl.add_argument("--instrument", metavar="SYMBOL")
    sl.add_argument("--session")


UNITS = {"qty": "quantity in the instrument's units, e.g. shares", "cash": "money in the "
         "instrument's currency", "bps": "basis points of the reference price, at most 10000",
         "seconds": "seconds", "per_second": "orders per second"}


def _body(args: argparse.Namespace) -> dict:
    a = args.action
    if a in ("halt", "resume", "close"):
        body = {"instrument": args.instrument}
    elif a == "kill-switch":
        body = {"on": args.state == "on"}
        body.update({k: v for k in ("account", "session") if (v := getattr(args, k))})
    elif a == "mass-cancel":
        body = {k: v for k in ("account", "session", "instrument") if (v := getattr(args, k))}
        if args.all:
            body["all"] = True
    elif a == "purge-clordids":
        body = {}
    elif a == "disconnect":
        body = {"session": args.session}
        if args.reason:
            body["reason"] = args.reason
    else:
        body = {"limit": args.limit, "value": args.value}
        body.update({k: v for k in ("account", "instrument", "session") if (v := getattr(args, k))})
    return body


def run(args: argparse.Namespace) -> int:
    from ordex.gateway.admin import TokenError, read_token
    try:
        cfg = config_mod.load(args.config)
    except config_mod.ConfigError as e:
        print(f"ordex admin: {e}", file=sys.stderr)
        return 2
    url = args.url
    if url is None:
        if cfg.admin_listen is None:
            print(f"ordex admin: {cfg.source} has no [admin] listen; give --url", file=sys.stderr)
            return 2
        host, port = cfg.admin_listen
        url = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}"
    url = url.rstrip("/")
    public = {"metrics": "/metrics", "health": "/healthz", "ready": "/readyz"}
    headers = {}
    if args.action in public:
        method, path, data = "GET", public[args.action], None
    else:
        try:
            token = args.token or read_token(cfg)
        except TokenError as e:
            print(f"ordex admin: {e}", file=sys.stderr)
            return 2
        headers["Authorization"] = f"Bearer {token}"
        if args.action == "status":
            method, path, data = "GET", "/admin/status", None
        else:
            body = _body(args)
            body["operator"] = args.operator or _login()
            method, path = "POST", f"/admin/{args.action}"
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
    request = urllib.request.Request(url + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=args.timeout) as resp:
            status, payload = resp.status, resp.read()
    except urllib.error.HTTPError as e:
        status, payload = e.code, e.read()
    except (urllib.error.URLError, OSError) as e:
        print(f"ordex admin: cannot reach {url}: {getattr(e, 'reason', e)}", file=sys.stderr)
        return 2
    text = payload.decode(errors="replace")
    if args.action == "metrics":
        sys.stdout.write(text)
        return 0 if status == 200 else 1
    try:
        shown = json.dumps(json.loads(text), indent=2)
    except ValueError:
        shown = text
    if status >= 400:
        print(f"ordex admin: {status}: {shown}", file=sys.stderr)
        return 1
    print(shown)
    return 0


def _login() -> str:
    try:
        name = getpass.getuser()
    except (KeyError, OSError):
        return "admin"
    cleaned = "".join(c for c in name if c.isalnum() or c in "_.@-")[:20]
    return cleaned or "admin"
