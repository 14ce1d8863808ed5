"""The core banking gateway against a real HTTP server on loopback: a small fake core
banking that books by Idempotency-Key and can be told to fail, throttle or hang."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote

import httpx
import pytest

from scheduler import ports
from scheduler.adapters import corebanking
from scheduler.domain.money import Money
from tests.services.process import free_ports

PROBLEMS = "https://corebanking.example/problems"
#: Answers `FakeCoreBanking.misbehave` can force for a key.
CANNED: dict[str, tuple[int, dict[str, Any]]] = {
    "500": (500, {"title": "Internal Server Error"}),
    "429": (429, {"title": "Too Many Requests"}),
    "no-id": (201, {"status": "booked"}),
}
#: Longest a hanging answer waits for the test to release it.
HANG_LIMIT_SECONDS = 30.0


@dataclass
class FakeCoreBanking:
    """Books transfers by Idempotency-Key and answers a repeat with the first answer.

    Debit accounts name the business outcome: POOR has no money, CLOSED is closed,
    UNKNOWN does not exist. `misbehave` maps a key to "500", "429", "hang" or
    "no-id"; `release` lets hanging answers go."""

    answers: dict[str, tuple[int, dict[str, Any], dict[str, Any]]] = field(default_factory=dict)
    received: list[tuple[str, str | None, dict[str, Any]]] = field(default_factory=list)
    misbehave: dict[str, str] = field(default_factory=dict)
    release: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    authorizations: list[str | None] = field(default_factory=list)
    url: str = ""

    def handle(
        self, path: str, key: str | None, body: dict[str, Any]
    ) -> tuple[int, dict[str, Any]]:
        with self.lock:
            self.received.append((path, key, body))
        if path != "/core/transfers":
            return 404, {"type": f"{PROBLEMS}/no-such-route", "title": "Not found"}
        if key is None:
            return 400, {"code": "idempotency_key_missing", "detail": "Idempotency-Key is required"}
        trouble = self.misbehave.get(key, "")
        if trouble == "hang":
            self.release.wait(HANG_LIMIT_SECONDS)
        elif trouble:
            return CANNED[trouble]
        with self.lock:
            if key in self.answers:
                status, answer, first_body = self.answers[key]
                if first_body != body:
                    return 409, {
                        "type": f"{PROBLEMS}/idempotency-key-reused",
                        "detail": "this key was used for another transfer",
                    }
                return (200 if status == 201 else status), answer
            status, answer = self._book(body)
            self.answers[key] = (status, answer, body)
            return status, answer

    @staticmethod
    def _book(body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        debit = body["debit_account"]
        if debit == "POOR":
            return 409, {
                "type": f"{PROBLEMS}/insufficient-funds",
                "title": "Insufficient funds",
                "detail": "the balance does not cover 12.30",
            }
        if debit == "CLOSED":
            return 409, {"code": "account_closed", "detail": "the debit account is closed"}
        if debit == "UNKNOWN":
            return 404, {"type": f"{PROBLEMS}/unknown-account", "title": "No such account"}
        if body["amount"]["currency"] != "EUR":
            return 422, {"type": f"{PROBLEMS}/currency-mismatch", "detail": "accounts are in EUR"}
        return 201, {"id": f"bk-{uuid.uuid4().hex[:8]}", "status": "booked"}


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    app: FakeCoreBanking


#: What the fake's books say of (customer, account): "open", "closed", or a status to
#: answer with instead (503: the books are down).
ACCOUNTS: dict[tuple[str, str], str | int] = {
    ("alice", "ALICE"): "open",
    ("alice", "OLD/1"): "closed",
    ("alice", "DOWN"): 503,
}


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        parts = self.path.split("/")
        # /core/customers/<customer>/accounts/<account>, each part percent-encoded
        if len(parts) == 6 and parts[2] == "customers" and parts[4] == "accounts":
            known = ACCOUNTS.get((unquote(parts[3]), unquote(parts[5])))
            if isinstance(known, int):
                self._answer(known, {"title": "Service Unavailable"})
            elif known is None:
                self._answer(404, {"type": f"{PROBLEMS}/unknown-account"})
            else:
                self._answer(200, {"id": unquote(parts[5]), "status": known})
        else:
            self._answer(404, {"type": f"{PROBLEMS}/no-such-route"})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        body = json.loads(self.rfile.read(length) or b"{}")
        app = self.server.app
        app.authorizations.append(self.headers.get("Authorization"))
        status, answer = app.handle(self.path, self.headers.get("Idempotency-Key"), body)
        self._answer(status, answer)

    def _answer(self, status: int, answer: dict[str, Any]) -> None:
        payload = json.dumps(answer).encode()
        kind = "application/json" if status < 400 else "application/problem+json"
        # A client that timed out while we hung has gone; that is the point of the test.
        with contextlib.suppress(ConnectionError):
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:  # quiet test output
        pass


@pytest.fixture(scope="module")
def server() -> Iterator[_Server]:
    """One loopback server for the module; each test gets a fresh app behind it."""
    server = _Server(("127.0.0.1", 0), _Handler)
    server.app = FakeCoreBanking()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    yield server
    server.app.release.set()
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


@pytest.fixture
def core(server: _Server) -> Iterator[FakeCoreBanking]:
    app = FakeCoreBanking(url=f"http://127.0.0.1:{server.server_address[1]}/core")
    server.app = app
    yield app
    app.release.set()


@pytest.fixture
def gateway(core: FakeCoreBanking) -> Iterator[corebanking.CoreBankingGateway]:
    timeout = httpx.Timeout(connect=1.0, read=0.2, write=1.0, pool=1.0)
    with corebanking.CoreBankingGateway(core.url + "/", timeout=timeout) as gateway:
        yield gateway


@pytest.fixture
def transfer() -> Callable[..., ports.TransferRequest]:
    """EUR 12.30 from ALICE to BOB with a fresh key, unless overridden."""

    def make(
        amount: str = "12.30", currency: str = "EUR", **overrides: str
    ) -> ports.TransferRequest:
        fields = {
            "idempotency_key": str(uuid.uuid4()),
            "debit_account": "ALICE",
            "credit_account": "BOB",
            "reference": "Rent March",
        }
        fields.update(overrides)
        return ports.TransferRequest(amount=Money.of(amount, currency), **fields)

    return make


def test_a_booking_sends_the_key_and_the_transfer_and_returns_the_booking_id(
    core: FakeCoreBanking,
    gateway: corebanking.CoreBankingGateway,
    transfer: Callable[..., ports.TransferRequest],
) -> None:
    request = transfer(idempotency_key="op-1")

    (result,) = gateway.transfer_many([request])

    booking_id = core.answers["op-1"][1]["id"]
    assert result == ports.TransferResult(
        outcome=ports.TransferOutcome.BOOKED, reference=booking_id
    )
    assert core.received == [
        (
            "/core/transfers",
            "op-1",
            {
                "debit_account": "ALICE",
                "credit_account": "BOB",
                "amount": {"value": "12.30", "currency": "EUR"},
                "reference": "Rent March",
            },
        )
    ]


def test_a_repeated_key_returns_the_first_booking(
    core: FakeCoreBanking,
    gateway: corebanking.CoreBankingGateway,
    transfer: Callable[..., ports.TransferRequest],
) -> None:
    request = transfer()

    first = gateway.transfer_many([request])
    again = gateway.transfer_many([request])

    assert again == first
    assert first[0].outcome is ports.TransferOutcome.BOOKED
    assert len(core.answers) == 1


def test_insufficient_funds_is_a_retryable_decline(
    gateway: corebanking.CoreBankingGateway, transfer: Callable[..., ports.TransferRequest]
) -> None:
    (result,) = gateway.transfer_many([transfer(debit_account="POOR")])

    assert result == ports.TransferResult(
        outcome=ports.TransferOutcome.DECLINED_RETRYABLE,
        code="insufficient_funds",
        reason="the balance does not cover 12.30",
    )


@pytest.mark.parametrize(
    ("overrides", "code", "reason"),
    [
        ({"debit_account": "CLOSED"}, "account_closed", "the debit account is closed"),
        ({"debit_account": "UNKNOWN"}, "unknown_account", "No such account"),
        ({"currency": "USD"}, "currency_mismatch", "accounts are in EUR"),
    ],
)
def test_business_refusals_are_rejections_with_the_problems_code(
    gateway: corebanking.CoreBankingGateway,
    transfer: Callable[..., ports.TransferRequest],
    overrides: dict[str, str],
    code: str,
    reason: str,
) -> None:
    (result,) = gateway.transfer_many([transfer(**overrides)])

    assert result == ports.TransferResult(
        outcome=ports.TransferOutcome.REJECTED, code=code, reason=reason
    )


def test_a_key_reused_for_another_transfer_is_rejected(
    gateway: corebanking.CoreBankingGateway, transfer: Callable[..., ports.TransferRequest]
) -> None:
    gateway.transfer_many([transfer(idempotency_key="op-7")])

    (result,) = gateway.transfer_many([transfer(idempotency_key="op-7", amount="99.00")])

    assert (result.outcome, result.code) == (
        ports.TransferOutcome.REJECTED,
        "idempotency_key_reused",
    )


@pytest.mark.parametrize(
    ("trouble", "expected"),
    [
        ("500", ("corebanking_unavailable", "core banking answered 500")),
        ("429", ("corebanking_unavailable", "core banking answered 429")),
        ("hang", ("corebanking_timeout", "core banking did not answer in time")),
        ("no-id", ("corebanking_bad_response", "a booking without an id")),
    ],
)
def test_server_errors_throttling_timeouts_and_unreadable_bookings_are_unavailable(
    core: FakeCoreBanking,
    gateway: corebanking.CoreBankingGateway,
    transfer: Callable[..., ports.TransferRequest],
    trouble: str,
    expected: tuple[str, str],
) -> None:
    core.misbehave["op-9"] = trouble

    (result,) = gateway.transfer_many([transfer(idempotency_key="op-9")])

    assert (result.outcome, result.code, result.reason) == (
        ports.TransferOutcome.UNAVAILABLE,
        *expected,
    )


def test_a_refused_connection_is_unavailable(
    transfer: Callable[..., ports.TransferRequest],
) -> None:
    with socket.socket() as probe:  # a port nobody listens on once the probe closes
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    gateway = corebanking.CoreBankingGateway(f"http://127.0.0.1:{port}")

    (result,) = gateway.transfer_many([transfer()])
    gateway.close()

    assert result == ports.TransferResult(
        outcome=ports.TransferOutcome.UNAVAILABLE,
        code="corebanking_unreachable",
        reason="core banking could not be reached",
    )


def test_a_mixed_batch_gives_one_result_per_request_in_order_despite_a_timeout(
    core: FakeCoreBanking,
    gateway: corebanking.CoreBankingGateway,
    transfer: Callable[..., ports.TransferRequest],
) -> None:
    core.misbehave["slow"] = "hang"
    batch = [
        transfer(idempotency_key="a"),
        transfer(idempotency_key="slow"),
        transfer(idempotency_key="c", debit_account="POOR"),
        transfer(idempotency_key="d", debit_account="CLOSED"),
        transfer(idempotency_key="e"),
    ]

    results = gateway.transfer_many(batch)

    assert [(r.outcome.value, r.code) for r in results] == [
        ("booked", None),
        ("unavailable", "corebanking_timeout"),
        ("declined_retryable", "insufficient_funds"),
        ("rejected", "account_closed"),
        ("booked", None),
    ]
    assert [r.reference for r in results] == [
        core.answers["a"][1]["id"],
        None,
        None,
        None,
        core.answers["e"][1]["id"],
    ]


def test_a_client_passed_in_is_used_and_left_open(
    core: FakeCoreBanking, transfer: Callable[..., ports.TransferRequest]
) -> None:
    with httpx.Client(headers={"Authorization": "Bearer test-token"}) as client:
        gateway = corebanking.CoreBankingGateway(core.url, client=client)
        (result,) = gateway.transfer_many([transfer()])
        gateway.close()

        assert result.outcome is ports.TransferOutcome.BOOKED
        assert core.authorizations == ["Bearer test-token"]
        assert not client.is_closed


@pytest.mark.parametrize(
    ("customer", "account", "held"),
    [
        ("alice", "ALICE", True),
        ("alice", "OLD/1", False),
        ("alice", "BOBS", False),
        ("bob", "ALICE", False),
    ],
    ids=["open", "closed", "unknown", "someone-elses"],
)
def test_core_banking_says_who_holds_an_open_account(
    gateway: corebanking.CoreBankingGateway, customer: str, account: str, held: bool
) -> None:
    assert gateway.holds(customer, account) is held


def test_books_answering_an_error_raise_rather_than_answer(
    gateway: corebanking.CoreBankingGateway,
) -> None:
    with pytest.raises(ports.AccountDirectoryUnavailable):
        gateway.holds("alice", "DOWN")


def test_books_that_cannot_be_reached_raise_rather_than_answer() -> None:
    (port,) = free_ports(1)  # nothing listens there
    with (
        corebanking.CoreBankingGateway(f"http://127.0.0.1:{port}/core") as unreachable,
        pytest.raises(ports.AccountDirectoryUnavailable),
    ):
        unreachable.holds("alice", "ALICE")
