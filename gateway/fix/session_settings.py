"""What one FIX session is allowed to be (built by the server from its TOML config), and the
salted password hashes its credentials are stored as."""
from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
from dataclasses import dataclass, field

from ordex.core.fixdict import Validation

BEGIN_STRINGS = ("FIX.4.2", "FIX.4.4")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_SCRYPT = "scrypt"
# scrypt with n=2**14, r=8 takes about 40 ms and 16 MiB: a logon pays it once, on the I/O
# thread; an attacker guessing passwords pays it per guess.
SCRYPT_N = 1 << 14
SCRYPT_R = 8
SCRYPT_P = 1


@dataclass(frozen=True)
class SessionSettings:
    """One acceptor session.  CompIDs are as seen from the server: sender_comp_id is ours (the
    TargetCompID the client sends), target_comp_id is the client's (its SenderCompID).

    heartbeat_s:    None accepts the HeartBtInt the initiator proposes (the FIX rule); a number
                    makes any other value refuse the logon.
    sending_time_tolerance_s:  largest |SendingTime - our clock| accepted; None: not checked.
    password_hash:  from hash_password(); None: CompIDs (and username when set) suffice.
    validation:     dictionary checks applied to what the client sends (ordex.core.fixdict).
    dictionary:     a QuickFIX-format XML file instead of the standard one for begin_string.
    drop_copy, cancel_on_disconnect, accounts, throttle_per_s:  carried for the application,
                    which enforces them; the session layer does not look at them.
    """
    name: str
    begin_string: str
    sender_comp_id: str
    target_comp_id: str
    heartbeat_s: int | None = None
    reset_on_logon: bool = False
    sending_time_tolerance_s: float | None = 120.0
    username: str | None = None
    password_hash: str | None = None
    validation: Validation = field(default_factory=Validation)
    dictionary: str | None = None
    max_message_size: int = 65536
    drop_copy: bool = False
    cancel_on_disconnect: bool = False
    accounts: tuple[str, ...] = ()
    throttle_per_s: int | None = None

    def __post_init__(self):
        def bad(key, why):
            raise ValueError(f"FIX session {self.name!r}: {key} {why}")
        if not isinstance(self.name, str) or not _NAME.fullmatch(self.name):
            raise ValueError(f"FIX session name {self.name!r}: use 1-64 letters, digits, _ . - "
                             "(it names the store folder)")
        if self.begin_string not in BEGIN_STRINGS:
            bad("begin_string", f"is {self.begin_string!r}; supported: {', '.join(BEGIN_STRINGS)}")
        for key in ("sender_comp_id", "target_comp_id"):
            value = getattr(self, key)
            if not isinstance(value, str) or not value or not value.isprintable() or "=" in value:
                bad(key, f"is {value!r}: a non-empty printable string without '=' is needed")
        if self.heartbeat_s is not None and not 0 <= self.heartbeat_s <= 3600:
            bad("heartbeat_s", f"is {self.heartbeat_s}: 0..3600 seconds")
        if self.sending_time_tolerance_s is not None and not self.sending_time_tolerance_s > 0:
            bad("sending_time_tolerance_s", "must be positive (or None to skip the check)")
        if self.password_hash is not None and not self.password_hash.startswith(_SCRYPT + "$"):
            bad("password_hash", "is not a hash from ordex.gateway.fix.hash_password "
                "(store the hash, never the password)")
        if not 256 <= self.max_message_size <= 1 << 24:
            bad("max_message_size", f"is {self.max_message_size}: 256..16777216 bytes")
        if not isinstance(self.validation, Validation):
            bad("validation", "must be an ordex.core.fixdict.Validation")
        if self.throttle_per_s is not None and self.throttle_per_s <= 0:
            bad("throttle_per_s", "must be positive (or None for no throttle)")


def hash_password(password: str, *, n: int = SCRYPT_N, r: int = SCRYPT_R, p: int = SCRYPT_P) -> str:
    """A salted scrypt hash to put in the configuration instead of the password."""
    if not password:
        raise ValueError("empty password")
    salt = os.urandom(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, maxmem=_maxmem(n, r))
    return "$".join((_SCRYPT, str(n), str(r), str(p), _b64(salt), _b64(digest)))


def verify_password(password: str | bytes, stored: str) -> bool:
    """True when password matches the hash; False for a wrong password or a malformed hash."""
    try:
        kind, n, r, p, salt, digest = stored.split("$")
        n, r, p = int(n), int(r), int(p)
        salt, digest = _unb64(salt), _unb64(digest)
    except (ValueError, AttributeError):
        return False
    if kind != _SCRYPT or not salt or not digest:
        return False
    if isinstance(password, str):
        password = password.encode()
    try:
        got = hashlib.scrypt(password, salt=salt, n=n, r=r, p=p, maxmem=_maxmem(n, r),
                             dklen=len(digest))
    except ValueError:
        return False
    return hmac.compare_digest(got, digest)


def _maxmem(n: int, r: int) -> int:
    return 2 * 128 * n * r + (1 << 20)


def _b64(b: bytes) -> str:
    return base64.b64encode(b).decode().rstrip("=")


def _unb64(s: str) -> bytes:
    return base64.b64decode(s + "=" * (-len(s) % 4), validate=True)


# Checked against when a logon names no session or a session without a password, so that every
# refused logon costs the same time and says nothing about which part was wrong.
DUMMY_HASH = "$".join((_SCRYPT, str(SCRYPT_N), str(SCRYPT_R), str(SCRYPT_P), "AAAAAAAAAAAAAAAAAAAAAA",
                       "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"))
