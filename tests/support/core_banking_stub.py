"""A core-banking system for fault tests: the HTTP API `scheduler.adapters.corebanking`
expects, over the embedded ledger, failing a share of transfer calls transiently.

A failing call answers 503. Half of the failures happen before the booking (the money
did not move), half after it (the money moved and the answer was lost), which is the
case an exactly-once engine must survive: its retry, under the same Idempotency-Key,
gets the first booking back from the ledger instead of a second one. One transfer fails
at most `max_failures` times, which bounds how long its retries' backoff (doubling from
2 s) can keep a run waiting. Served in the test's process by
`tests.support.uvicorn_server.serving`, or as a process of its own (`python -m
tests.support.core_banking_stub --database-url URL`, which prints the port it listens
on), several of which `bench.faults` runs so that the stub is not the bottleneck.
`GET /answers` tells what it answered so far.
"""

from __future__ import annotations

import argparse
import random
import socket
import sys
import threading
from collections import Counter
from collections.abc import Sequence
from typing import Any

import uvicorn
from fastapi import FastAPI, Header
from fastapi.responses import JSONResponse

from scheduler.adapters.ledger import Ledger
from scheduler.adapters.sql.engine import create_engine
from scheduler.clocks import SystemClock
from scheduler.domain.money import Money
from scheduler.ports import TransferOutcome, TransferRequest

_STATUS = {
    TransferOutcome.DECLINED_RETRYABLE: 409,
    TransferOutcome.REJECTED: 422,
    TransferOutcome.UNAVAILABLE: 503,
}


class FlakyCoreBanking:
    """The stub's state: the ledger, how often calls fail, and what it answered."""

    def __init__(
        self, ledger: Ledger, *, unavailable_rate: float, seed: int, max_failures: int = 3
    ) -> None:
        self.ledger = ledger
        self.unavailable_rate = unavailable_rate
        self.max_failures = max_failures
        self.answers: Counter[str] = Counter()
        self._failures: Counter[str] = Counter()
        self._rng = random.Random(seed)  # noqa: S311 - fault injection, not security
        self._lock = threading.Lock()

    def _fails(self, key: str) -> str | None:
        """Whether this call for transfer `key` fails: "before" or "after" the booking,
        or None."""
        with self._lock:
            if self._failures[key] >= self.max_failures:
                return None
            if self._rng.random() >= self.unavailable_rate:
                return None
            self._failures[key] += 1
            return self._rng.choice(("before", "after"))

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/transfers")
        def transfer(
            body: dict[str, Any], idempotency_key: str = Header(alias="Idempotency-Key")
        ) -> JSONResponse:
            failure = self._fails(idempotency_key)
            if failure == "before":
                return self._answer("unavailable_before_booking", 503, {"code": "unavailable"})
            request = TransferRequest(
                idempotency_key=idempotency_key,
                debit_account=body["debit_account"],
                credit_account=body["credit_account"],
                amount=Money.of(body["amount"]["value"], body["amount"]["currency"]),
                reference=body.get("reference", ""),
            )
            (result,) = self.ledger.transfer_many([request])
            if failure == "after":
                return self._answer("unavailable_after_booking", 503, {"code": "unavailable"})
            if result.outcome is TransferOutcome.BOOKED:
                return self._answer("booked", 201, {"id": result.reference})
            problem = {"code": result.code, "detail": result.reason}
            return self._answer(result.outcome.value, _STATUS[result.outcome], problem)

        @app.get("/customers/{customer_id}/accounts/{account_id}")
        def account(customer_id: str, account_id: str) -> JSONResponse:
            if self.ledger.holds(customer_id, account_id):
                return JSONResponse({"status": "open"})
            return JSONResponse({"code": "unknown_account"}, status_code=404)

        @app.get("/answers")
        def answers() -> dict[str, int]:
            with self._lock:
                return dict(self.answers)

        return app

    def _answer(self, what: str, status: int, body: dict[str, Any]) -> JSONResponse:
        with self._lock:
            self.answers[what] += 1
        return JSONResponse(body, status_code=status)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", required=True, help="the ledger's store")
    parser.add_argument("--unavailable-rate", type=float, default=0.2)
    parser.add_argument("--max-failures", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    stub = FlakyCoreBanking(
        Ledger(create_engine(args.database_url), SystemClock()),
        unavailable_rate=args.unavailable_rate,
        seed=args.seed,
        max_failures=args.max_failures,
    )
    # IPPROTO_TCP, not the default 0: asyncio turns Nagle off (TCP_NODELAY) only on
    # sockets that say they are TCP, and with it on, each answer waited 40 ms for a
    # delayed ACK between its headers and its body.
    listening = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    listening.bind(("127.0.0.1", 0))
    listening.listen(1024)
    sys.stdout.write(f"{listening.getsockname()[1]}\n")
    sys.stdout.flush()
    config = uvicorn.Config(stub.app(), log_level="warning", lifespan="off", access_log=False)
    uvicorn.Server(config).run(sockets=[listening])


if __name__ == "__main__":
    main()
