"""Money: exact decimal amounts in active ISO 4217 currencies."""

from __future__ import annotations

import itertools
import string
from collections.abc import Callable
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scheduler.domain import currency, errors, money

Money = money.Money

#: Every active code, found through the public API rather than the private table.
KNOWN_CODES = tuple(
    code
    for code in (
        "".join(letters) for letters in itertools.product(string.ascii_uppercase, repeat=3)
    )
    if currency.is_known(code)
)


# Examples a bank checks by hand.


def test_amount_with_fewer_decimals_equals_the_same_amount_with_all_decimals() -> None:
    assert Money.of("1.5", "EUR") == Money.of("1.50", "EUR")
    assert str(Money.of("1.5", "EUR")) == "EUR 1.50"
    assert Money.of("1.5", "EUR").amount.as_tuple().exponent == -2


@pytest.mark.parametrize(
    ("amount", "code", "printed"),
    [
        ("12", "EUR", "EUR 12.00"),
        ("150000", "JPY", "JPY 150000"),
        ("1.001", "KWD", "KWD 1.001"),
        ("1.5", "KWD", "KWD 1.500"),
        ("0.0001", "CLF", "CLF 0.0001"),
        ("999999999999999.99", "EUR", "EUR 999999999999999.99"),
        ("-3.10", "GBP", "GBP -3.10"),
        ("007.10", "USD", "USD 7.10"),
    ],
)
def test_amount_prints_with_exactly_the_currency_minor_units(
    amount: str, code: str, printed: str
) -> None:
    assert str(Money.of(amount, code)) == printed


def test_int_and_decimal_amounts_are_accepted_like_strings() -> None:
    assert Money.of(12, "EUR") == Money.of("12.00", "EUR")
    assert Money.of(Decimal("12.3"), "EUR") == Money.of("12.30", "EUR")


@pytest.mark.parametrize(
    ("amount", "code"),
    [
        ("1.001", "EUR"),
        ("1.5", "JPY"),
        ("1.0001", "KWD"),
        ("0.00001", "CLF"),
        (Decimal("1.005"), "EUR"),
    ],
)
def test_more_decimals_than_the_currency_has_are_rejected_not_rounded(
    amount: str | Decimal, code: str
) -> None:
    with pytest.raises(errors.InvalidMoney) as raised:
        Money.of(amount, code)
    assert raised.value.field == "amount"
    assert raised.value.code == "invalid_money"


def test_trailing_zero_decimals_beyond_the_minor_units_are_the_same_amount() -> None:
    assert Money.of("1.000", "EUR") == Money.of("1.00", "EUR")
    assert str(Money.of("5.0", "JPY")) == "JPY 5"


@pytest.mark.parametrize("amount", [1.1, 1.0, 0.5, True, False])
def test_binary_floats_and_booleans_are_rejected(amount: float) -> None:
    with pytest.raises(errors.InvalidMoney, match="binary float"):
        Money.of(amount, "EUR")


@pytest.mark.parametrize(
    "amount", [Decimal("NaN"), Decimal("sNaN"), Decimal("Infinity"), Decimal("-Infinity")]
)
def test_nan_and_infinity_are_rejected(amount: Decimal) -> None:
    with pytest.raises(errors.InvalidMoney, match="finite"):
        Money.of(amount, "EUR")


@pytest.mark.parametrize(
    "text",
    [
        "1e3",
        "1E3",
        "1_000",
        " 12",
        "12 ",
        "12\n",
        "+12",
        "1,000.00",
        ".5",
        "5.",
        "",
        "-",
        "NaN",
        "Infinity",
        "0x10",
        "١٢",  # Arabic-Indic digits: Decimal() would accept them
    ],
)
def test_strings_that_are_not_plain_decimals_are_rejected(text: str) -> None:
    with pytest.raises(errors.InvalidMoney) as raised:
        Money.of(text, "EUR")
    assert raised.value.field == "amount"


def test_a_float_given_directly_to_the_constructor_is_rejected() -> None:
    with pytest.raises(errors.InvalidMoney, match="must be a Decimal, not float"):
        Money(amount=1.5, currency=currency.currency("EUR"))


@pytest.mark.parametrize("code", ["XXX", "XTS", "XAU", "eur", "Eur", "BGN", "HRK", "EURO", ""])
def test_unknown_lower_case_and_withdrawn_currencies_are_rejected(code: str) -> None:
    with pytest.raises(errors.UnknownCurrency) as raised:
        Money.of("1", code)
    assert raised.value.field == "currency"
    assert raised.value.details["currency"] == code


def test_currencies_have_their_iso_4217_minor_units() -> None:
    assert currency.currency("EUR").minor_units == 2
    assert currency.currency("JPY").minor_units == 0
    assert currency.currency("KWD").minor_units == 3
    assert currency.currency("CLF").minor_units == 4
    assert currency.currency("KWD").smallest_unit == Decimal("0.001")
    assert str(currency.currency("XCG")) == "XCG"


def test_fifteen_integer_digits_are_accepted_and_sixteen_rejected() -> None:
    assert Money.of("999999999999999", "JPY").amount == Decimal("999999999999999")
    with pytest.raises(errors.InvalidMoney, match="more than 15 integer digits"):
        Money.of("1000000000000000", "JPY")
    with pytest.raises(errors.InvalidMoney, match="more than 15 integer digits"):
        Money.of("-1000000000000000.00", "EUR")


@pytest.mark.parametrize(
    "amount",
    [
        "1" * 29,
        "123456789012345678901234567.5",
        10**30,
        Decimal("1E+30"),
        Decimal("1E+999999"),
    ],
)
def test_amounts_too_large_for_the_decimal_context_are_invalid_money(
    amount: str | int | Decimal,
) -> None:
    # Before the fix these raised decimal.InvalidOperation from quantize().
    with pytest.raises(errors.InvalidMoney, match="more than 15 integer digits"):
        Money.of(amount, "EUR")


def test_zero_with_a_large_exponent_is_zero() -> None:
    assert Money(amount=Decimal("0E+30"), currency=currency.currency("EUR")) == Money.zero("EUR")


@pytest.mark.parametrize("text", ["-0", "-0.00", "-0.0"])
def test_negative_zero_is_normalised_to_zero(text: str) -> None:
    amount = Money.of(text, "EUR")
    assert str(amount) == "EUR 0.00"
    assert not amount.amount.is_signed()
    assert amount == Money.zero("EUR")


def test_negating_zero_gives_unsigned_zero() -> None:
    assert not (-Money.zero("EUR")).amount.is_signed()


@pytest.mark.parametrize("text", ["0", "0.00", "-0.01", "-100"])
def test_an_amount_to_transfer_must_be_positive(text: str) -> None:
    with pytest.raises(errors.InvalidMoney, match="must be positive") as raised:
        Money.of(text, "EUR").require_positive()
    assert raised.value.field == "amount"


def test_the_smallest_positive_amount_may_be_transferred() -> None:
    cent = Money.of("0.01", "EUR")
    assert cent.require_positive() is cent
    assert Money.of("1", "JPY").require_positive() == Money.of("1", "JPY")


def test_arithmetic_in_one_currency_is_exact() -> None:
    assert Money.of("0.10", "EUR") + Money.of("0.20", "EUR") == Money.of("0.30", "EUR")
    assert Money.of("1.00", "EUR") - Money.of("1.01", "EUR") == Money.of("-0.01", "EUR")
    assert -Money.of("5.25", "EUR") == Money.of("-5.25", "EUR")
    assert Money.of("1.00", "EUR") < Money.of("1.01", "EUR")
    assert Money.of("1.01", "EUR") <= Money.of("1.01", "EUR")
    assert Money.of("2", "EUR") > Money.of("1", "EUR")


@pytest.mark.parametrize(
    "combine",
    [
        lambda a, b: a + b,
        lambda a, b: a - b,
        lambda a, b: a < b,
        lambda a, b: a <= b,
    ],
    ids=["add", "subtract", "less", "less_or_equal"],
)
def test_combining_different_currencies_raises_currency_mismatch(
    combine: Callable[[Money, Money], object],
) -> None:
    with pytest.raises(errors.CurrencyMismatch) as raised:
        combine(Money.of("1", "EUR"), Money.of("1", "USD"))
    assert raised.value.details["currencies"] == ["EUR", "USD"]
    assert raised.value.code == "currency_mismatch"


def test_amounts_in_different_currencies_are_not_equal() -> None:
    assert Money.of("1", "EUR") != Money.of("1", "USD")


def test_a_sum_past_fifteen_integer_digits_is_rejected() -> None:
    largest = Money.of("999999999999999.99", "EUR")
    with pytest.raises(errors.InvalidMoney, match="more than 15 integer digits"):
        largest + Money.of("0.01", "EUR")


def test_money_is_immutable_and_hashable_by_value() -> None:
    amount = Money.of("1.5", "EUR")
    assert {amount, Money.of("1.50", "EUR")} == {amount}
    with pytest.raises(AttributeError):
        amount.amount = Decimal(2)


# Properties.


def _as_text(minor_units: int, decimals: int) -> str:
    """`minor_units` written as a plain decimal string with exactly `decimals` decimals."""
    sign = "-" if minor_units < 0 else ""
    whole, fraction = divmod(abs(minor_units), 10**decimals)
    return f"{sign}{whole}.{fraction:0{decimals}d}" if decimals else f"{sign}{whole}"


@st.composite
def amounts_in_minor_units(draw: st.DrawFn, *, integer_digits: int = 15) -> tuple[str, int]:
    code = draw(st.sampled_from(KNOWN_CODES))
    decimals = currency.currency(code).minor_units
    limit = 10 ** (integer_digits + decimals) - 1
    return code, draw(st.integers(-limit, limit))


def test_the_table_of_known_codes_covers_every_minor_unit_count() -> None:
    assert {currency.currency(code).minor_units for code in KNOWN_CODES} == {0, 2, 3, 4}
    assert len(KNOWN_CODES) > 150


@settings(max_examples=300)
@given(amounts_in_minor_units())
def test_any_amount_in_minor_units_round_trips_through_its_decimal_string(
    drawn: tuple[str, int],
) -> None:
    code, minor_units = drawn
    decimals = currency.currency(code).minor_units
    text = _as_text(minor_units, decimals)
    amount = Money.of(text, code)
    assert amount.amount == Decimal(minor_units).scaleb(-decimals)
    assert str(amount) == f"{code} {text}"
    assert Money.of(str(amount.amount), code) == amount


@settings(max_examples=200)
@given(st.sampled_from(KNOWN_CODES), st.data())
def test_addition_is_commutative_and_associative_and_subtraction_undoes_it(
    code: str, data: st.DataObject
) -> None:
    decimals = currency.currency(code).minor_units
    limit = 10 ** (13 + decimals)
    a, b, c = (
        Money.of(_as_text(data.draw(st.integers(-limit, limit)), decimals), code) for _ in range(3)
    )
    assert a + b == b + a
    assert (a + b) + c == a + (b + c)
    assert (a + b) - b == a
    assert a + Money.zero(code) == a
    negated = -a
    assert -negated == a
    assert negated + a == Money.zero(code)
