"""Money: an exact decimal amount in an ISO 4217 currency."""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Self

from scheduler.domain import errors
from scheduler.domain.currency import Currency, currency

#: The store keeps amounts as DECIMAL(19, 4): at most 15 digits before the point.
MAX_INTEGER_DIGITS = 15

_DECIMAL_STRING = re.compile(r"-?[0-9]+(\.[0-9]+)?")


@dataclass(frozen=True, slots=True, kw_only=True)
class Money:
    """An amount of money. Amounts are `Decimal`, never floats, and carry no more
    decimals than the currency's minor units (EUR 1.005 is rejected, not rounded).

    The amount is kept quantized to the currency's scale, so EUR 1.5 and EUR 1.50 are
    equal and both print as "1.50". Negative amounts exist (balances, reversals);
    amounts to move are checked with `require_positive`.
    """

    amount: Decimal
    currency: Currency

    def __post_init__(self) -> None:
        amount = self.amount
        if not isinstance(amount, Decimal) or isinstance(amount, bool):
            raise errors.InvalidMoney(
                f"amount must be a Decimal, not {type(amount).__name__}", field="amount"
            )
        if not amount.is_finite():
            raise errors.InvalidMoney("amount must be a finite number", field="amount")
        # Checked before quantizing: past 28 digits `quantize` raises decimal.InvalidOperation.
        if amount and amount.adjusted() >= MAX_INTEGER_DIGITS:
            raise errors.InvalidMoney(
                f"amount {amount} has more than {MAX_INTEGER_DIGITS} integer digits",
                field="amount",
            )
        scale = self.currency.smallest_unit
        quantized = amount.quantize(scale)
        if quantized != amount:
            raise errors.InvalidMoney(
                f"{self.currency.code} amounts have at most "
                f"{self.currency.minor_units} decimals, got {amount}",
                field="amount",
            )
        # -0.00 and 0.00 are the same amount; keep one spelling of it.
        object.__setattr__(self, "amount", quantized if quantized else abs(quantized))

    @classmethod
    def of(cls, amount: str | int | Decimal, currency_code: str) -> Self:
        """Parse an amount given as a decimal string (or int, or Decimal), e.g.
        ``Money.of("120.50", "EUR")``. Floats are refused: they cannot hold cents exactly.
        """
        if isinstance(amount, float | bool):
            raise errors.InvalidMoney(
                "amount must be a decimal string, not a binary float", field="amount"
            )
        if isinstance(amount, str) and not _DECIMAL_STRING.fullmatch(amount):
            raise errors.InvalidMoney(
                f"{amount!r} is not a plain decimal number such as 120.50", field="amount"
            )
        try:
            value = Decimal(amount)
        except (InvalidOperation, TypeError, ValueError):
            raise errors.InvalidMoney(
                f"{amount!r} is not a decimal number", field="amount"
            ) from None
        return cls(amount=value, currency=currency(currency_code))

    @classmethod
    def zero(cls, currency_code: str) -> Self:
        """No money in the given currency."""
        return cls(amount=Decimal(0), currency=currency(currency_code))

    def require_positive(self) -> Self:
        """Return self if the amount is greater than zero, as any amount to move must be."""
        if self.amount <= 0:
            raise errors.InvalidMoney(
                f"an amount to transfer must be positive, got {self}", field="amount"
            )
        return self

    def _same_currency(self, other: Money) -> None:
        if other.currency != self.currency:
            raise errors.CurrencyMismatch(
                f"cannot combine {self.currency} and {other.currency}",
                currencies=[self.currency.code, other.currency.code],
            )

    def __add__(self, other: Money) -> Money:
        self._same_currency(other)
        return Money(amount=self.amount + other.amount, currency=self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same_currency(other)
        return Money(amount=self.amount - other.amount, currency=self.currency)

    def __neg__(self) -> Money:
        return Money(amount=-self.amount, currency=self.currency)

    def __lt__(self, other: Money) -> bool:
        self._same_currency(other)
        return self.amount < other.amount

    def __le__(self, other: Money) -> bool:
        self._same_currency(other)
        return self.amount <= other.amount

    def __str__(self) -> str:
        return f"{self.currency.code} {self.amount}"
