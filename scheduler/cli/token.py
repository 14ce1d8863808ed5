"""`tsched token`: development bearer tokens for the HTTP API, from a local signing key."""

from __future__ import annotations

import argparse
from datetime import timedelta
from pathlib import Path

from scheduler.api.auth import DEV_AUDIENCE, DevelopmentSigner, Role
from scheduler.cli import output
from scheduler.cli.output import Commands

DEFAULT_KEY_DIR = Path(".tsched")


def register(commands: Commands) -> None:
    """Add `token`."""
    token = commands.add_parser(
        "token",
        help="print a development bearer token (issuer tsched-dev) signed with a local key",
    )
    token.add_argument(
        "--role",
        action="append",
        choices=[role.value for role in Role],
        help="a role for the token; repeat for several (default: customer)",
    )
    token.add_argument("--customer", help="the customer the token is for (customer, channel)")
    token.add_argument("--subject", help="the token's sub (default: the customer or dev-ROLE)")
    token.add_argument(
        "--ttl", type=output.positive, default=3600, help="lifetime in seconds (default 3600)"
    )
    token.add_argument(
        "--key-dir",
        type=Path,
        default=DEFAULT_KEY_DIR,
        help=f"where the signing key is kept, created if absent (default {DEFAULT_KEY_DIR})",
    )
    token.add_argument("--audience", default=DEV_AUDIENCE, help=f"default {DEV_AUDIENCE}")
    token.add_argument(
        "--jwks", action="store_true", help="print the public key set (JWKS) instead"
    )
    token.set_defaults(run=_run_token)


def _run_token(args: argparse.Namespace) -> int:
    signer = DevelopmentSigner(args.key_dir, audience=args.audience)
    if args.jwks:
        output.print_json(signer.jwks())
        return 0
    roles = [Role(name) for name in args.role or [Role.CUSTOMER.value]]
    subject = args.subject or args.customer or f"dev-{roles[0].value}"
    print(signer.issue(subject, roles, args.customer, timedelta(seconds=args.ttl)))
    return 0
