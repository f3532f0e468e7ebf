#!/usr/bin/env python3
"""Sends one county's batch to Shuangbai: a token with client credentials, then
POST /api/v1/counties/{id}/updates with an Idempotency-Key, retried safely.

Python 3 standard library only. Usage:

    SHUANGBAI_URL=http://127.0.0.1:8080 SHUANGBAI_CLIENT_ID=... SHUANGBAI_CLIENT_SECRET=... \
        python3 examples/county_sync.py COUNTY_ID batch.json [--dry-run]

Every retry (after a network error or a 5xx) sends the same key and the same body, so the batch
is applied at most once; a 4xx is final and its problem document is printed.
"""

import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid

ATTEMPTS = 6


def token(base, client_id, secret):
    form = urllib.parse.urlencode(
        {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret}
    ).encode()
    req = urllib.request.Request(
        f"{base}/api/v1/auth/token",
        data=form,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    with urllib.request.urlopen(req, timeout=30) as res:
        return json.load(res)["access_token"]


def post_batch(base, access_token, county_id, body, key, dry_run):
    query = "?dry_run=true" if dry_run else ""
    req = urllib.request.Request(
        f"{base}/api/v1/counties/{county_id}/updates{query}",
        data=body,
        method="POST",
        headers={
            "Authorization": f"Bearer {access_token}",
            "Content-Type": "application/json",
            "Idempotency-Key": key,
        },
    )
    with urllib.request.urlopen(req, timeout=120) as res:
        return res.status, json.load(res)


def main():
    args = [a for a in sys.argv[1:] if a != "--dry-run"]
    if len(args) != 2:
        sys.exit(__doc__)
    county_id, path = args
    dry_run = "--dry-run" in sys.argv
    base = os.environ.get("SHUANGBAI_URL", "http://127.0.0.1:8080").rstrip("/")
    client_id = os.environ["SHUANGBAI_CLIENT_ID"]
    secret = os.environ["SHUANGBAI_CLIENT_SECRET"]
    with open(path, "rb") as f:
        body = f.read()
    key = str(uuid.uuid4())  # one key for every retry of this batch
    for attempt in range(1, ATTEMPTS + 1):
        try:
            access = token(base, client_id, secret)
            status, out = post_batch(base, access, county_id, body, key, dry_run)
            counts = out["counts"]
            print(
                f"{'dry run' if out['dry_run'] else 'applied'}: "
                f"{counts['created']} created, {counts['updated']} updated, "
                f"{counts['unchanged']} unchanged (HTTP {status}, key {key})"
            )
            return 0
        except urllib.error.HTTPError as e:
            problem = e.read().decode("utf-8", "replace")
            if e.code < 500 and e.code != 409:  # 409: the same key still running; wait
                print(f"refused: HTTP {e.code}", file=sys.stderr)
                try:
                    doc = json.loads(problem)
                    print(doc.get("detail", ""), file=sys.stderr)
                    for err in doc.get("errors") or []:
                        print(f"  {err['field']}: {err['message']}", file=sys.stderr)
                except ValueError:
                    print(problem, file=sys.stderr)
                return 1
            reason = f"HTTP {e.code}"
        except (urllib.error.URLError, ConnectionError, TimeoutError) as e:
            reason = str(e)
        if attempt == ATTEMPTS:
            print(f"giving up after {attempt} attempts: {reason}", file=sys.stderr)
            return 2
        delay = min(60, 2 ** attempt)
        print(f"attempt {attempt} failed ({reason}); retrying in {delay} s with the same key", file=sys.stderr)
        time.sleep(delay)
    return 2


if __name__ == "__main__":
    sys.exit(main())
