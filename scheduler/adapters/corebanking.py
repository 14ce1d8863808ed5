"""A `PaymentGateway` that asks the bank's core banking system to move the money, over HTTP.

The API this adapter expects (one call per transfer)::

    POST {base_url}/transfers
    Idempotency-Key: <the operation id>
    Content-Type: application/json

    {"debit_account": "GB33BUKB20201555555555", "credit_account": "GB94BARC10201530093459",
     "amount": {"value": "12.30", "currency": "GBP"}, "reference": "Rent March"}

Answers:

* ``201 Created`` (or ``200 OK``, a repeated key): ``{"id": "<booking id>", ...}``. Core
  banking must answer a repeated ``Idempotency-Key`` with the first transfer's result,
  so retrying after a timeout never moves the money twice.
* ``409 Conflict`` with an RFC 9457 problem whose ``type`` ends in ``insufficient-funds``
  or whose ``code`` is ``insufficient_funds``: declined, may succeed later.
* Any other ``4xx`` (``422`` invalid, ``404`` unknown account, ``409`` closed account
  or key reused with another body): rejected, with the problem's ``code`` and ``detail``.
* ``5xx``, ``429``, ``408``, timeouts and connection errors: unavailable. The money may
  or may not have moved; the engine retries later with the same key.

It is also the `AccountDirectory` the API asks before a customer may debit an account::

    GET {base_url}/customers/{customer_id}/accounts/{account_id}

``200`` with ``{"status": "open", ...}``: the customer holds the open account; ``404``
(or any other status of the account): they do not. Anything else (5xx, a timeout) raises
`AccountDirectoryUnavailable`: the API answers 503 and stores nothing, rather than let
a schedule debit an account nobody could vouch for.

This adapter never retries itself (the engine retries with backoff) and sends the
transfers of a batch one after another. Authentication belongs to the `httpx.Client`
passed in (e.g. ``auth=`` or default headers); none is added here.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, Self
from urllib.parse import quote

import httpx

from scheduler import ports

logger = logging.getLogger(__name__)

#: Seconds: connecting is quick or broken; a booking may take a while to answer.
DEFAULT_TIMEOUT = httpx.Timeout(connect=2.0, read=10.0, write=5.0, pool=2.0)
#: Statuses that mean "not now" rather than "no".
_TRY_LATER = frozenset({408, 425, 429})
#: Longest reason kept from a problem's detail (the store keeps 400 characters).
_REASON_LENGTH = 400


class CoreBankingGateway:
    """Transfers through core banking's ``POST /transfers``; one result per request, in
    order. `timeout` applies to every call (connect and read separately, in seconds);
    `client` may carry authentication and is then closed by its owner, not by us."""

    def __init__(
        self,
        base_url: str,
        *,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        client: httpx.Client | None = None,
    ) -> None:
        self._base_url = base_url.rstrip("/")
        self._url = f"{self._base_url}/transfers"
        self._timeout = timeout
        self._owns_client = client is None
        self._client = client if client is not None else httpx.Client()

    def transfer_many(
        self, requests: Sequence[ports.TransferRequest]
    ) -> list[ports.TransferResult]:
        """Send each request with its key as ``Idempotency-Key``; a failure of one
        request (timeout, error status) is that request's result, never an exception."""
        return [self._transfer(request) for request in requests]

    def holds(self, customer_id: str, account_id: str) -> bool:
        """Whether core banking says `customer_id` holds the open account `account_id`."""
        url = f"{self._base_url}/customers/{quote(customer_id, safe='')}/accounts/"
        url += quote(account_id, safe="")
        try:
            response = self._client.get(
                url, headers={"Accept": "application/json"}, timeout=self._timeout
            )
        except httpx.HTTPError as error:
            raise ports.AccountDirectoryUnavailable(
                f"core banking could not be asked: {type(error).__name__}"
            ) from None
        if response.status_code == 404:
            return False
        if response.status_code != 200:
            raise ports.AccountDirectoryUnavailable(
                f"core banking answered {response.status_code} about an account"
            )
        return _json(response).get("status") == "open"

    def close(self) -> None:
        """Close the HTTP client if this gateway created it."""
        if self._owns_client:
            self._client.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _transfer(self, request: ports.TransferRequest) -> ports.TransferResult:
        body = {
            "debit_account": request.debit_account,
            "credit_account": request.credit_account,
            "amount": {
                "value": str(request.amount.amount),
                "currency": request.amount.currency.code,
            },
            "reference": request.reference,
        }
        try:
            response = self._client.post(
                self._url,
                json=body,
                headers={
                    "Idempotency-Key": request.idempotency_key,
                    "Accept": "application/json, application/problem+json",
                },
                timeout=self._timeout,
            )
        except httpx.TimeoutException:
            logger.warning("core banking timed out", extra={"key": request.idempotency_key})
            return _unavailable("corebanking_timeout", "core banking did not answer in time")
        except httpx.TransportError as error:
            logger.warning(
                "core banking unreachable: %s",
                type(error).__name__,
                extra={"key": request.idempotency_key},
            )
            return _unavailable("corebanking_unreachable", "core banking could not be reached")
        return _result(response)


def _result(response: httpx.Response) -> ports.TransferResult:
    """Map core banking's answer to a transfer result (see the module docstring)."""
    status = response.status_code
    document = _json(response)
    if status in (200, 201):
        booking_id = document.get("id")
        if isinstance(booking_id, str | int) and str(booking_id):
            return ports.TransferResult(
                outcome=ports.TransferOutcome.BOOKED, reference=str(booking_id)
            )
        # Booked, probably, but unreadable: the same key will fetch the first result.
        return _unavailable("corebanking_bad_response", "a booking without an id")
    if status >= 500 or status in _TRY_LATER:
        return _unavailable("corebanking_unavailable", f"core banking answered {status}")
    if 400 <= status < 500:
        code = _problem_code(document) or f"corebanking_{status}"
        reason = str(document.get("detail") or document.get("title") or f"HTTP {status}")
        outcome = (
            ports.TransferOutcome.DECLINED_RETRYABLE
            if status == 409 and code == "insufficient_funds"
            else ports.TransferOutcome.REJECTED
        )
        return ports.TransferResult(outcome=outcome, code=code, reason=reason[:_REASON_LENGTH])
    return _unavailable("corebanking_bad_response", f"unexpected HTTP {status}")


def _problem_code(problem: dict[str, Any]) -> str | None:
    """The problem's ``code``, else the last segment of its ``type`` URI in snake case
    (``https://bank.example/problems/insufficient-funds`` -> ``insufficient_funds``)."""
    code = problem.get("code")
    if isinstance(code, str) and code:
        return code
    problem_type = problem.get("type")
    if isinstance(problem_type, str) and problem_type not in ("", "about:blank"):
        return problem_type.rstrip("/").rsplit("/", 1)[-1].replace("-", "_") or None
    return None


def _json(response: httpx.Response) -> dict[str, Any]:
    """The response body as a JSON object, or empty if it is not one."""
    try:
        document = response.json()
    except ValueError:
        return {}
    return document if isinstance(document, dict) else {}


def _unavailable(code: str, reason: str) -> ports.TransferResult:
    return ports.TransferResult(outcome=ports.TransferOutcome.UNAVAILABLE, code=code, reason=reason)
