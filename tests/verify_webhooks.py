"""Verifies captured webhook deliveries with the standardwebhooks package, an implementation
independent of the service's: reads [{secret, headers, body}] as JSON on stdin, exits 1 at the
first delivery it refuses. Run by tests/api/webhooks.rs when SHUANGBAI_WEBHOOK_VERIFIER names a
Python that has the package (CI sets it)."""

import json
import sys

from standardwebhooks.webhooks import Webhook

captured = json.load(sys.stdin)
for n, c in enumerate(captured):
    try:
        Webhook(c["secret"]).verify(c["body"], c["headers"])
    except Exception as e:  # the package raises its own WebhookVerificationError
        print(f"delivery {n} ({c['headers'].get('webhook-id')}) refused: {e!r}")
        sys.exit(1)
print(f"standardwebhooks verified {len(captured)} deliveries")
