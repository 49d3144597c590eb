"""Reference data: TOML / CSV / Parquet loading onto the integer grid, and a precise error for
every kind of bad input (the message names the place and the field)."""
from decimal import Decimal

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ordex.core.refdata import ReferenceDataError, from_dicts, load

INSTRUMENTS_TOML = """
[currencies]
USD = "0.0001"

[[instrument]]
symbol = "AAPL"
currency = "USD"
price_increment = "0.01"
qty_increment = "1"
lot = "1"
min_qty = "1"
max_qty = "10000"
max_notional = "1000000"
band_pct = "5"
ref_max_age_s = "2.5"
status = "open"
hours = "09:30-16:00"
timezone = "America/New_York"
maker_fee_bps = "1"
taker_fee_bps = "3"

[[instrument]]
symbol = "VOO.F"
currency = "USD"
price_increment = "0.01"
qty_increment = "0.000001"
status = "halted"
"""

ACCOUNTS_TOML = """
[[account]]
name = "fund1"
balances = { USD = "250000.50" }
positions = { AAPL = "100", "VOO.F" = "1.5" }
may_short = true
max_position = "5000"
instruments = ["AAPL", "VOO.F"]

[[account]]
name = "retail"
balances = { USD = "10" }
"""

INSTRUMENT_CSV_HEADER = ("symbol,currency,price_increment,qty_increment,lot,min_qty,max_qty,"
                         "max_notional,band_pct,status,maker_fee_bps,taker_fee_bps\n")
INSTRUMENT_CSV_ROWS = ("AAPL,USD,0.01,1,1,1,10000,1000000,5,open,1,3\n"
                       "VOO.F,USD,0.01,0.000001,0.000001,0.000001,,,0,halted,,\n")
ACCOUNT_CSV = ("name,balances,positions,may_short,max_position,instruments\n"
               "fund1,USD=250000.50,AAPL=100;VOO.F=1.5,yes,5000,AAPL;VOO.F\n"
               "retail,USD=10,,,,\n")


def check_universe(rd, fee_columns=True):
    aapl, voo = rd.instrument("AAPL"), rd.instrument("VOO.F")
    assert (aapl.id, voo.id) == (0, 1)
    assert aapl.price_increment == Decimal("0.01") and aapl.tick == 1 and aapl.lot == 1
    assert aapl.max_qty == 10000 and aapl.min_qty == 1
    assert aapl.max_notional == 1_000_000 * 10_000        # cash increments of 0.0001
    assert aapl.band_bps == 500 and aapl.status == 0
    assert (aapl.notional_mult, aapl.notional_div) == (100, 1)   # 0.01 * 1 / 0.0001
    if fee_columns:
        assert (aapl.maker_fee_bps, aapl.taker_fee_bps) == (1, 3)
    # fractional shares: qty in millionths; 0.01 * 0.000001 / 0.0001 = 1/10000
    assert voo.qty_increment == Decimal("0.000001") and voo.lot == 1 and voo.min_qty == 1
    assert (voo.notional_mult, voo.notional_div) == (1, 10_000)
    assert voo.status == 1
    fund = rd.account("fund1")
    assert fund.balances == {"USD": 2_500_005_000}
    assert fund.positions == {"AAPL": 100, "VOO.F": 1_500_000}
    assert fund.may_short is True and fund.max_position == Decimal("5000")
    assert fund.instruments == frozenset({"AAPL", "VOO.F"})
    retail = rd.account("retail")
    assert retail.balances == {"USD": 100_000} and retail.instruments is None
    assert retail.may_short is False and retail.max_position == 0


def test_toml(tmp_path):
    (tmp_path / "i.toml").write_text(INSTRUMENTS_TOML)
    (tmp_path / "a.toml").write_text(ACCOUNTS_TOML)
    rd = load(tmp_path / "i.toml", tmp_path / "a.toml",
              sessions=[dict(name="fix1", accounts=["fund1"], max_orders_per_sec=50)])
    check_universe(rd)
    aapl = rd.instrument("AAPL")
    assert aapl.ref_max_age_ns == 2_500_000_000
    assert aapl.hours == "09:30-16:00" and aapl.timezone == "America/New_York"
    assert rd.sessions[0].accounts == frozenset({"fund1"}) and rd.sessions[0].max_orders_per_sec == 50


def test_csv(tmp_path):
    (tmp_path / "i.csv").write_text(INSTRUMENT_CSV_HEADER + INSTRUMENT_CSV_ROWS)
    (tmp_path / "a.csv").write_text(ACCOUNT_CSV)
    check_universe(load(tmp_path / "i.csv", tmp_path / "a.csv", currencies={"USD": "0.0001"}))


def test_parquet(tmp_path):
    # Parquet columns are the CSV columns; values stored as strings, as an operator's export would.
    cols = INSTRUMENT_CSV_HEADER.strip().split(",")
    rows = [r.split(",") for r in INSTRUMENT_CSV_ROWS.strip().split("\n")]
    table = pa.table({c: [row[i] or None for row in rows] for i, c in enumerate(cols)})
    pq.write_table(table, tmp_path / "i.parquet")
    (tmp_path / "a.csv").write_text(ACCOUNT_CSV)
    check_universe(load(tmp_path / "i.parquet", tmp_path / "a.csv", currencies={"USD": "0.0001"}))


def test_parquet_with_typed_integer_columns(tmp_path):
    table = pa.table({"symbol": ["X"], "currency": ["USD"], "price_increment": ["0.01"],
                      "qty_increment": ["1"], "maker_fee_bps": pa.array([2], pa.int64())})
    pq.write_table(table, tmp_path / "i.parquet")
    (tmp_path / "a.csv").write_text("name\nacct\n")
    rd = load(tmp_path / "i.parquet", tmp_path / "a.csv")
    assert rd.instrument("X").maker_fee_bps == 2


def test_unsupported_format(tmp_path):
    (tmp_path / "i.json").write_text("{}")
    (tmp_path / "a.csv").write_text("name\n")
    with pytest.raises(ReferenceDataError, match="unsupported format"):
        load(tmp_path / "i.json", tmp_path / "a.csv")


def test_broken_toml_names_the_file(tmp_path):
    (tmp_path / "i.toml").write_text("[[instrument]\nsymbol=")
    (tmp_path / "a.toml").write_text("")
    with pytest.raises(ReferenceDataError, match="i.toml"):
        load(tmp_path / "i.toml", tmp_path / "a.toml")


def test_fractional_share_orders_on_the_micro_grid():
    rd = from_dicts([dict(symbol="ETF", currency="USD", price_increment="0.01",
                          qty_increment="0.000001", min_qty="0.001", max_qty="1000")],
                    [dict(name="a", positions={"ETF": "0.000123"})])
    etf = rd.instrument("ETF")
    assert (etf.lot, etf.min_qty, etf.max_qty) == (1, 1000, 1_000_000_000)
    assert rd.account("a").positions == {"ETF": 123}


GOOD = dict(symbol="X", currency="USD", price_increment="0.01", qty_increment="1")


@pytest.mark.parametrize("change, field", [
    (dict(tick="0.015"), "tick"),                                  # off the price grid
    (dict(lot="0.5"), "lot"),                                      # off the quantity grid
    (dict(max_notional="0.00001"), "max_notional"),                # off the cash grid
    (dict(min_qty="0"), "min_qty"),                                # must be positive
    (dict(max_qty="-5"), "max_qty"),                               # must not be negative
    (dict(price_increment=0.01), "price_increment"),               # float: precision already lost
    (dict(qty_increment="abc"), "qty_increment"),                  # not a number
    (dict(band_pct="NaN"), "band_pct"),                            # not finite
    (dict(band_pct="0.001"), "band_pct"),                          # not a whole basis point
    (dict(currency="XYZ"), "currency"),                            # unknown currency
    (dict(colour="red"), "colour"),                                # unknown field
    (dict(status="paused"), "status"),                             # bad status
    (dict(hours="9:30-25:00"), "hours"),                           # bad hours
    (dict(hours="morning"), "hours"),
    (dict(maker_fee_bps="1.5"), "maker_fee_bps"),                  # fee must be an integer
    (dict(taker_fee_bps="-1"), "taker_fee_bps"),
    (dict(price_increment="0.003", qty_increment="0.007"), "price_increment*qty_increment"),  # 21/100
])
def test_bad_instrument_field(change, field):
    row = {**GOOD, **change}
    with pytest.raises(ReferenceDataError) as info:
        from_dicts([row], [])
    msg = str(info.value)
    assert field in msg and "instrument 1 (X)" in msg, msg


@pytest.mark.parametrize("missing", ["symbol", "currency", "price_increment", "qty_increment"])
def test_missing_instrument_field(missing):
    row = {k: v for k, v in GOOD.items() if k != missing}
    with pytest.raises(ReferenceDataError, match=f"missing required field '{missing}'"):
        from_dicts([row], [])


def test_notional_factor_reciprocal_and_integer_accepted():
    rd = from_dicts([dict(GOOD, symbol="INT", price_increment="1"),           # 1*1/0.0001 = 10000
                     dict(GOOD, symbol="REC", qty_increment="0.0001",
                          price_increment="0.0001")], [])                     # 1e-8/1e-4 = 1/10000
    assert (rd.instrument("INT").notional_mult, rd.instrument("INT").notional_div) == (10000, 1)
    assert (rd.instrument("REC").notional_mult, rd.instrument("REC").notional_div) == (1, 10000)


@pytest.mark.parametrize("row, field", [
    (dict(name="a", balances={"XYZ": "1"}), "currency 'XYZ'"),
    (dict(name="a", balances={"USD": "0.00001"}), "balances.USD"),
    (dict(name="a", balances={"USD": 1.5}), "balances.USD"),
    (dict(name="a", positions={"NOPE": "1"}), "unknown instrument 'NOPE'"),
    (dict(name="a", positions={"X": "1.5"}), "positions.X"),
    (dict(name="a", may_short="maybe"), "may_short"),
    (dict(name="a", max_position="-1"), "max_position"),
    (dict(name="a", instruments=["NOPE"]), "instruments"),
    (dict(name="a", balances="USD"), "balances"),
    (dict(name="a", limit="5"), "limit"),
    (dict(balances={"USD": "1"}), "missing required field 'name'"),
])
def test_bad_account_field(row, field):
    with pytest.raises(ReferenceDataError) as info:
        from_dicts([GOOD], [row])
    assert field in str(info.value) and "account 1" in str(info.value), str(info.value)


def test_negative_position_allowed_for_shorts():
    rd = from_dicts([GOOD], [dict(name="a", positions={"X": "-3"}, may_short="true")])
    assert rd.account("a").positions == {"X": -3}


@pytest.mark.parametrize("row, field", [
    (dict(name="s", accounts=["nobody"]), "unknown account 'nobody'"),
    (dict(name="s"), "missing required field 'accounts'"),
    (dict(name="s", accounts=["a"], max_orders_per_sec="fast"), "max_orders_per_sec"),
])
def test_bad_session(row, field):
    with pytest.raises(ReferenceDataError, match=field):
        from_dicts([GOOD], [dict(name="a")], [row])


@pytest.mark.parametrize("what, kwargs", [
    ("instrument symbol", dict(instruments=[GOOD, GOOD], accounts=[])),
    ("account name", dict(instruments=[GOOD], accounts=[dict(name="a"), dict(name="a")])),
])
def test_duplicates(what, kwargs):
    with pytest.raises(ReferenceDataError, match=f"duplicate {what}"):
        from_dicts(**kwargs)


def test_bad_currency_increment():
    with pytest.raises(ReferenceDataError, match="USD"):
        from_dicts([GOOD], [], currencies={"USD": "0"})


def test_csv_error_names_the_files(tmp_path):
    (tmp_path / "inst.csv").write_text("symbol,currency,price_increment,qty_increment,tick\n"
                                       "X,USD,0.01,1,0.013\n")
    (tmp_path / "acct.csv").write_text("name\n")
    with pytest.raises(ReferenceDataError, match=r"inst\.csv/acct\.csv: instrument 1 \(X\): tick"):
        load(tmp_path / "inst.csv", tmp_path / "acct.csv")
