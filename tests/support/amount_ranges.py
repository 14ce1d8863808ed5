"""Amount-range cases for the history, shared by the SQLite and PostgreSQL tests: the
amounts (and currencies) of Alice's seeded attempts, and for each range the attempts it
selects. Text order gets several of them wrong (9.99 after 10.00; 100.1 vs 100.10)."""

from __future__ import annotations

SEEDED = (
    ("9.99", "GBP"),
    ("10.00", "GBP"),
    ("100.10", "GBP"),
    ("250.00", "GBP"),
    ("1000.00", "GBP"),
    ("100.10", "EUR"),
)
#: (query parameters, the SEEDED attempts they select)
CASES = [
    ({"amount_min": "10.00"}, SEEDED[1:]),
    ({"amount_min": "10"}, SEEDED[1:]),
    ({"amount_max": "9.99"}, SEEDED[:1]),
    ({"amount_min": "9.99", "amount_max": "10.00"}, SEEDED[:2]),
    ({"amount_min": "100.1", "amount_max": "100.1"}, (SEEDED[2], SEEDED[5])),
    ({"amount_min": "100.10", "amount_max": "100.1", "currency": "GBP"}, (SEEDED[2],)),
    ({"amount_min": "250.00", "amount_max": "1000"}, SEEDED[3:5]),
    ({"amount_min": "10.001", "amount_max": "999.999"}, SEEDED[2:4] + SEEDED[5:]),
    ({"currency": "EUR"}, SEEDED[5:]),
    ({"amount_max": "0"}, ()),
]
