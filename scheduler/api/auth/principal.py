"""The caller of the HTTP API (a `Principal`), its roles, and the errors of
authentication and authorisation. Messages never contain the token."""

from __future__ import annotations

import dataclasses
from enum import StrEnum

from scheduler.domain.errors import SchedulerError

CUSTOMER_HEADER = "X-Customer-Id"


class Role(StrEnum):
    """An Entra ID app role, as it appears in the token's `roles` claim."""

    CUSTOMER = "customer"
    CHANNEL = "channel"
    OPERATIONS = "operations"
    AUDITOR = "auditor"
    ADMIN = "admin"


class AuthError(SchedulerError):
    """The caller could not be authenticated or authorised."""

    code = "auth_error"


class Unauthenticated(AuthError):
    """A valid bearer token is required."""

    code = "unauthenticated"


class Forbidden(AuthError):
    """The caller may not do this."""

    code = "forbidden"


class KeySourceUnavailable(AuthError):
    """The keys that sign tokens could not be fetched; try again shortly."""

    code = "auth_unavailable"


@dataclasses.dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated caller.

    `subject` is the token's `sub`: the customer's user, the channel's own (service
    principal) id or the staff member. `customer_id` is the customer whose data the
    request may touch: the caller itself for a customer, the customer a channel acts for
    (then `acting_for` is true), None for staff and for a channel not acting for anyone.
    `token_id` is the token's `jti`, for the audit trail.
    """

    subject: str
    roles: frozenset[Role]
    customer_id: str | None = None
    acting_for: bool = False
    token_id: str | None = None

    def has(self, *roles: Role) -> bool:
        """Whether the caller holds any of `roles`."""
        return not self.roles.isdisjoint(roles)

    def require(self, *roles: Role) -> None:
        """Raise Forbidden unless the caller holds one of `roles`."""
        if not self.has(*roles):
            raise Forbidden(
                f"needs one of the roles: {', '.join(sorted(roles))}",
                required_roles=sorted(roles),
            )

    def require_customer(self) -> str:
        """The customer this request is for; Forbidden when the caller names none."""
        if self.customer_id is None:
            raise Forbidden(f"this request must be for a customer (send {CUSTOMER_HEADER})")
        return self.customer_id


def bearer_token(authorization: str | None) -> str:
    """The token in an `Authorization: Bearer <token>` header value."""
    if not authorization:
        raise Unauthenticated("an Authorization: Bearer token is required", reason="missing")
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise Unauthenticated("the Authorization header must be 'Bearer <token>'", reason="scheme")
    return token
