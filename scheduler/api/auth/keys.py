"""Where the keys that sign bearer tokens come from: a fixed JWKS document, or a
provider's JWKS URL, cached and fetched again when an unknown `kid` appears."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any, Protocol

import httpx
import jwt

from scheduler.api.auth.principal import KeySourceUnavailable, Unauthenticated

log = logging.getLogger(__name__)


class KeySource(Protocol):
    """Where verification keys come from, by key id."""

    def key_for(self, kid: str) -> jwt.PyJWK:
        """The key with id `kid`; Unauthenticated when there is none."""
        ...


def parse_jwks(document: Mapping[str, Any]) -> dict[str, jwt.PyJWK]:
    """The usable signing keys of a JWKS document by `kid`; others are skipped."""
    keys: dict[str, jwt.PyJWK] = {}
    raw_keys = document.get("keys")
    if not isinstance(raw_keys, list):
        raise ValueError("a JWKS document needs a 'keys' list")
    for raw in raw_keys:
        if not isinstance(raw, dict) or not isinstance(raw.get("kid"), str):
            continue
        if raw.get("use", "sig") != "sig" or raw.get("kty") not in ("RSA", "EC"):
            continue
        try:
            keys[raw["kid"]] = jwt.PyJWK(raw)
        except jwt.PyJWTError as error:
            log.warning("skipping JWKS key %s: %s", raw["kid"], error)
    return keys


def _unknown_key(kid: str) -> Unauthenticated:
    return Unauthenticated("the token is signed with an unknown key", reason="unknown_key", kid=kid)


class StaticJwks:
    """Keys from a JWKS document given up front (the development signer's, tests)."""

    def __init__(self, document: Mapping[str, Any]) -> None:
        self._keys = parse_jwks(document)

    def key_for(self, kid: str) -> jwt.PyJWK:
        try:
            return self._keys[kid]
        except KeyError:
            raise _unknown_key(kid) from None


class JwksUrl:
    """Keys fetched from a JWKS URL (Entra ID's `jwks_uri`), cached.

    The document is fetched on first use and again after `max_age`. An unknown `kid`
    (key rollover) fetches it again at once, but not more often than `min_refresh`, so a
    stream of tokens with made-up key ids cannot make us hammer the identity provider.
    When a fetch fails and cached keys are at hand they are kept (stale beats down);
    when none are, KeySourceUnavailable. The fetch is synchronous and bounded by
    `timeout`; it is rare, so calling from a FastAPI threadpool dependency is fine.
    """

    def __init__(
        self,
        url: str,
        *,
        timeout: float = 5.0,
        max_age: timedelta = timedelta(hours=1),
        min_refresh: timedelta = timedelta(seconds=30),
        client: httpx.Client | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = url
        self._timeout = httpx.Timeout(timeout)
        self._max_age = max_age.total_seconds()
        self._min_refresh = min_refresh.total_seconds()
        self._client = client
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._keys: dict[str, jwt.PyJWK] | None = None
        self._fetched_at = 0.0

    def key_for(self, kid: str) -> jwt.PyJWK:
        with self._lock:
            now = self._monotonic()
            if self._keys is None or now - self._fetched_at >= self._max_age:
                self._refresh(now)
            assert self._keys is not None  # noqa: S101 - _refresh sets it or raises
            if kid not in self._keys and now - self._fetched_at >= self._min_refresh:
                self._refresh(now)
            try:
                return self._keys[kid]
            except KeyError:
                raise _unknown_key(kid) from None

    def _refresh(self, now: float) -> None:
        try:
            self._keys = parse_jwks(self._fetch())
        except (httpx.HTTPError, ValueError) as error:
            # No token content in the message: only the URL and the failure.
            log.warning("fetching the JWKS from %s failed: %s", self.url, error)
            if self._keys is None:
                raise KeySourceUnavailable(reason="jwks_unreachable") from error
            # Keep the stale keys; try again after min_refresh, not on every request.
            self._fetched_at = max(self._fetched_at, now - self._max_age + self._min_refresh)
            return
        self._fetched_at = now

    def _fetch(self) -> Mapping[str, Any]:
        if self._client is not None:
            response = self._client.get(self.url, timeout=self._timeout)
        else:
            with httpx.Client(timeout=self._timeout) as client:
                response = client.get(self.url)
        response.raise_for_status()
        document = response.json()
        if not isinstance(document, dict):
            raise ValueError("the JWKS document is not a JSON object")
        return document
