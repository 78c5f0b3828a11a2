"""POST /api/v1/payments/webhook: the payment provider's callback.

Body: {"idempotencyKey", "userId", "amount" (int cents), "currency", ...provider fields}.
It goes through the same idempotent write as the transaction API (common/ledger.py): the
provider retries callbacks, and a retry must not debit twice. Statuses as for the
transaction API; providers treat 200 and 201 alike as "delivered".

Environment: TABLE_NAME, EVENT_BUS_NAME, WINDOW_SECONDS (300), SHARDS (16).
"""

from __future__ import annotations

from common import ledger

CHANNEL = "webhook"


def handler(event: dict, context: object = None) -> dict:
    if event.get("httpMethod") != "POST":
        return ledger.respond(405, {"error": "method_not_allowed", "message": "use POST"})
    return ledger.handle(event, channel=CHANNEL)
