"""`ordex.gateway.client`: asyncio clients for ordex's binary API, for market makers and the perf
tools -- OuchClient (OUCH 5.0 order entry + ordex's market-maker extensions) and ItchClient (the
ITCH 5.0 feed), both over SoupBinTCP.  They live in gateway/binary/client.py."""
from ordex.gateway.binary.client import ItchClient, LoginRejected, OuchClient, SoupClient

__all__ = ["ItchClient", "LoginRejected", "OuchClient", "SoupClient"]
