#!/usr/bin/env bash
# Clients generated from openapi/openapi.json work unedited: generates a Python client
# (openapi-python-client) and TypeScript types (openapi-typescript), failing on any generator
# warning; compiles clients/typescript/check.ts with `tsc --strict`; then runs both checks against
# the service at SHUANGBAI_URL as SHUANGBAI_USERNAME / SHUANGBAI_PASSWORD.
# The generators are pinned and installed once under ~/.cache/shuangbai/clients (PyPI, npm).
set -euo pipefail
cd "$(dirname "$0")/.."
spec="$PWD/openapi/openapi.json"
tools="$HOME/.cache/shuangbai/clients"
PY_GEN=0.29.1 TS_GEN=7.13.0 FETCH=0.17.0 TSC=5.9.3
mkdir -p "$tools"
if ! "$tools/py/bin/openapi-python-client" --version 2>/dev/null | grep -q "$PY_GEN"; then
  python3 -m venv "$tools/py"
  "$tools/py/bin/pip" install -q "openapi-python-client==$PY_GEN" ruff
fi
if ! grep -q "\"version\": \"$TS_GEN\"" "$tools/ts/node_modules/openapi-typescript/package.json" 2>/dev/null; then
  mkdir -p "$tools/ts"
  echo '{"private": true}' > "$tools/ts/package.json"
  (cd "$tools/ts" && npm install --no-audit --no-fund --silent \
    "openapi-typescript@$TS_GEN" "openapi-fetch@$FETCH" "typescript@$TSC" "@types/node@20")
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "-- Python client (openapi-python-client $PY_GEN)"
PATH="$tools/py/bin:$PATH" "$tools/py/bin/openapi-python-client" generate --path "$spec" \
  --config clients/python/config.yaml --output-path "$work/python" --fail-on-warning

echo "-- TypeScript types (openapi-typescript $TS_GEN), tsc --strict"
mkdir -p "$work/ts"
cp clients/typescript/check.ts clients/typescript/tsconfig.json "$work/ts/"
echo '{"private": true, "type": "module"}' > "$work/ts/package.json"
ln -s "$tools/ts/node_modules" "$work/ts/node_modules"
out=$("$tools/ts/node_modules/.bin/openapi-typescript" "$spec" -o "$work/ts/schema.d.ts" 2>&1)
echo "$out"
if echo "$out" | grep -qiE 'warn|error'; then echo "openapi-typescript warned"; exit 1; fi
(cd "$work/ts" && node_modules/.bin/tsc -p tsconfig.json)

echo "-- both against ${SHUANGBAI_URL:?}"
PYTHONPATH="$work/python" "$tools/py/bin/python" clients/python/check.py
node "$work/ts/out/check.js"
