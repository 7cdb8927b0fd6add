#!/usr/bin/env python3
"""Verifies captured webhook requests with the Standard Webhooks reference library (the
`standardwebhooks` package, not our own code) and prints, as one JSON list in the same order,
what the tests check of each: {"verified", "id", "payload"} (`payload` is the verified body,
parsed; null when verification failed, with "error" saying why).

Input on stdin: {"secret": "whsec_...", "requests": [{"headers": {name: value}, "body": "..."}]}.
Usage: scripts/webhook_check.py < requests.json  (needs `standardwebhooks`: scripts/lib.sh puts
it in .venv)
"""

from __future__ import annotations

import json
import sys

from standardwebhooks.webhooks import Webhook, WebhookVerificationError


def check(webhook: Webhook, request: dict) -> dict:
    headers = {name.lower(): value for name, value in request["headers"].items()}
    try:
        payload = webhook.verify(request["body"], headers)
    except WebhookVerificationError as error:
        return {"verified": False, "id": headers.get("webhook-id"), "payload": None,
                "error": str(error)}
    return {"verified": True, "id": headers.get("webhook-id"), "payload": payload}


def main() -> None:
    given = json.load(sys.stdin)
    webhook = Webhook(given["secret"])
    json.dump([check(webhook, request) for request in given["requests"]], sys.stdout)


if __name__ == "__main__":
    main()
