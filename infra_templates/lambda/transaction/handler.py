"""POST /api/v1/transactions: record a transaction once per idempotency key.

Body: {"idempotencyKey": str, "userId": str, "amount": int cents, "currency": "EUR"}.
201 with the new transaction; 200 with the original one when the key was already used in
this region; 400 on bad input; 409 when the key was used for a different request.
GET /health answers the Route 53 health checks (it exercises API Gateway and Lambda).

Environment: TABLE_NAME, EVENT_BUS_NAME, WINDOW_SECONDS (300), SHARDS (16); AWS_REGION is
the origin region stamped on every item.
"""

from __future__ import annotations

from common import ledger

CHANNEL = "api"


def handler(event: dict, context: object = None) -> dict:
    if event.get("httpMethod") == "GET" and event.get("resource") == "/health":
        return ledger.respond(200, {"status": "ok", "region": ledger.region()})
    if event.get("httpMethod") != "POST":
        return ledger.respond(405, {"error": "method_not_allowed", "message": "use POST"})
    return ledger.handle(event, channel=CHANNEL)
