"""ISO 4217 currencies in use, with their minor units.

Withdrawn codes (HRK, BGN since Bulgaria joined the euro in 2026, ANG replaced by XCG,
SLL, ZWL, CUC) and codes without minor units (precious metals, XXX, XTS) are not
accepted: nobody can be paid in them.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from scheduler.domain import errors

_ZERO_DECIMALS = "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF"
_THREE_DECIMALS = "BHD IQD JOD KWD LYD OMR TND"
_FOUR_DECIMALS = "CLF UYW"
_TWO_DECIMALS = """
AED AFN ALL AMD AOA ARS AUD AWG AZN BAM BBD BDT BMD BND BOB BOV BRL BSD BTN BWP BYN
BZD CAD CDF CHE CHF CHW CNY COP COU CRC CUP CVE CZK DKK DOP DZD EGP ERN ETB EUR FJD
FKP GBP GEL GHS GIP GMD GTQ GYD HKD HNL HTG HUF IDR ILS INR IRR JMD KES KGS KHR KPW
KYD KZT LAK LBP LKR LRD LSL MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MXV MYR
MZN NAD NGN NIO NOK NPR NZD PAB PEN PGK PHP PKR PLN QAR RON RSD RUB SAR SBD SCR SDG
SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT TOP TRY TTD TWD TZS UAH USD
USN UYU UZS VED VES WST XCD XCG YER ZAR ZMW ZWG
"""

_MINOR_UNITS: dict[str, int] = {
    code: units
    for codes, units in (
        (_ZERO_DECIMALS, 0),
        (_TWO_DECIMALS, 2),
        (_THREE_DECIMALS, 3),
        (_FOUR_DECIMALS, 4),
    )
    for code in codes.split()
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Currency:
    """An ISO 4217 currency: its alphabetic code and how many decimals its amounts have."""

    code: str
    minor_units: int

    @property
    def smallest_unit(self) -> Decimal:
        """The smallest amount of this currency, e.g. 0.01 for EUR, 1 for JPY."""
        return Decimal(1).scaleb(-self.minor_units)

    def __str__(self) -> str:
        return self.code


def currency(code: str) -> Currency:
    """Look up an active ISO 4217 currency by its alphabetic code (upper case)."""
    try:
        return Currency(code=code, minor_units=_MINOR_UNITS[code])
    except (KeyError, TypeError):
        raise errors.UnknownCurrency(
            f"{code!r} is not an active ISO 4217 currency code", field="currency", currency=code
        ) from None


def is_known(code: str) -> bool:
    """Whether `code` is an active ISO 4217 currency."""
    return code in _MINOR_UNITS
