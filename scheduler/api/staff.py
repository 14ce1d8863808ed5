"""Staff callers (operations, auditors, admins): who may call which staff route, and
under what name a staff member's `Idempotency-Key`s are kept.

Staff tokens are not scoped to a customer (the verifier refuses `X-Customer-Id` on
them), so a staff member's `Idempotency-Key`s are kept under their own name,
``staff:<subject>``, in the column that holds a customer's id for customers' keys.
"""

from __future__ import annotations

import hashlib
from typing import Annotated

from fastapi import Depends

from scheduler.api import requests
from scheduler.api.auth import Principal, Role
from scheduler.api.schedule_routes import Caller

PREFIX = "staff:"
#: Characters the idempotency store keeps for whose keys they are (api_idempotency).
KEY_OWNER_LENGTH = 64


def _operations_staff(caller: Caller) -> Principal:
    caller.require(Role.OPERATIONS, Role.ADMIN)
    return caller


def _auditor(caller: Caller) -> Principal:
    caller.require(Role.AUDITOR, Role.ADMIN)
    return caller


#: A caller with the operations or admin role; anyone else is refused (403) before the
#: request's parameters are looked at.
OperationsStaff = Annotated[Principal, Depends(_operations_staff)]
#: A caller with the auditor or admin role.
Auditor = Annotated[Principal, Depends(_auditor)]


def key_owner(caller: Principal) -> str:
    """Whose `Idempotency-Key`s these are: the actor, or a digest of the subject when
    that is too long for the store (a cut-off name could be another staff member's)."""
    name = requests.actor(caller)
    if len(name) <= KEY_OWNER_LENGTH:
        return name
    digest = hashlib.sha256(caller.subject.encode()).hexdigest()
    return f"{PREFIX}{digest}"[:KEY_OWNER_LENGTH]
