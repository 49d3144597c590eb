"""[binary] configuration: the embedded default works, binary users are engine sessions, and a
wrong key is an error naming it."""
import pytest

from ordex.gateway import config as config_mod

BASE = config_mod.default_text()


def with_binary(extra: str, user: str = "") -> str:
    kept, skipping = [], False
    for line in BASE.splitlines():
        if line.startswith("["):
            skipping = line.strip() in ("[binary]", "[[binary.user]]")
        if not skipping:
            kept.append(line)
    user = user or ('name = "MM9"\npassword_hash = "scrypt$16384$8$1$AAAA$BBBB"\n'
                    'accounts = ["DEMO2"]')
    return "\n".join(kept) + f'\n[binary]\nlisten = "127.0.0.1:9990"\n{extra}\n[[binary.user]]\n{user}\n'


def test_default_has_a_demo_market_maker_that_is_an_engine_session(tmp_path):
    cfg = config_mod.parse(BASE, base_dir=tmp_path)
    assert cfg.binary.listen == ("127.0.0.1", 9880) and cfg.binary.feed_listen
    (mm,) = cfg.binary.users
    assert mm.name == "MM1" and mm.cancel_on_disconnect == "quotes"
    sessions = {s.name: s for s in cfg.reference.sessions}
    assert sessions["MM1"].accounts == frozenset({"DEMO2"})
    assert sessions["CLIENT1"].id == 0               # FIX sessions keep their ids
    assert cfg.binary.store_dir == tmp_path / "ordex-data" / "binary"


@pytest.mark.parametrize("extra,user,message", [
    ("colour = 1", "", r"\[binary\] unknown key\(s\): colour"),
    ('feed_listen = "nowhere"', "", r"\[binary\] feed_listen = 'nowhere': expected HOST:PORT"),
    ('feed_timezone = "Mars/Base"', "", "not a known time zone"),
    ("max_packet = 10", "", "max_packet = 10: must be at least 64"),
    ("", 'name = "TOOLONGNAME"\npassword_hash = "scrypt$x"\naccounts = ["DEMO2"]',
     "1 to 6 ASCII letters or digits"),
    ("", 'name = "MM9"\naccounts = ["DEMO2"]', "password_hash is required"),
    ("", 'name = "MM9"\npassword_hash = "scrypt$x"', "at least one account"),
    ("", 'name = "MM9"\npassword_hash = "scrypt$x"\naccounts = ["NOPE"]', "unknown account 'NOPE'"),
    ("", 'name = "MM9"\npassword_hash = "scrypt$x"\naccounts = ["DEMO2"]\ndialect = "fix"',
     "dialect = 'fix': expected one of nasdaq, ouch-connect"),
    ("", 'name = "MM9"\npassword_hash = "scrypt$x"\naccounts = ["DEMO2"]\n'
         'cancel_on_disconnect = true', "expected a string"),
])
def test_bad_binary_settings_name_the_key(tmp_path, extra, user, message):
    with pytest.raises(config_mod.ConfigError, match=message):
        config_mod.parse(with_binary(extra, user), base_dir=tmp_path)
