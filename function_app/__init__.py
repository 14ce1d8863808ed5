"""Blueprint of the plain (non-durable) triggers: the HTTP API and Service Bus.

`main.py` registers `blueprint` on the single function app. Each module here holds the
handlers of one concern and a `register(blueprint)` that declares their triggers, so a
handler stays a plain function that tests call directly.
"""

from __future__ import annotations

import azure.functions as func

from function_app import http_api, schedule_commands

__all__ = ["blueprint", "http_api", "schedule_commands"]

blueprint = func.Blueprint()
"""The HTTP and Service Bus triggers of tsched."""

http_api.register(blueprint)
schedule_commands.register(blueprint)
