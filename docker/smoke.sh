#!/usr/bin/env bash
# Smoke test of the built image, each step run in it with `buildah run --isolation chroot` as
# the image's own user (containers as such cannot be started on these machines; chroot isolation
# shares the host's network, so the served port is reached from here):
#   `shuangbai --help`; the user is uid 10001; `shuangbai user add` (password from the
#   environment); `shuangbai serve` on a SQLite file in /app/data on a free port answers /readyz and
#   gives a token; `shuangbai healthcheck` exits 0 while it serves and non-zero after; the serving
#   process runs as uid 10001, not root. Prints the image's size.
#
#   bash docker/smoke.sh [tag]      # default tag: shuangbai
set -euo pipefail
tag="${1:-shuangbai}"
export BUILDAH_ISOLATION=chroot
ctr=$(buildah from --pull-never "$tag")
server=
cleanup() {
  [ -n "$server" ] && kill "$server" 2>/dev/null || true
  buildah rm "$ctr" >/dev/null 2>&1 || true
}
trap cleanup EXIT
fail() { echo "smoke test failed: $*"; exit 1; }

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
db=sqlite:///app/data/smoke.db
password=smoke-test-password-0123
# buildah's runtime now and then fails to start a process at all ("sealing memfd copy: Device or
# resource busy"): such a start is tried again, up to three times; a command that ran and failed
# is never run again.
brun() {
  local errors status attempt
  errors=$(mktemp)
  for attempt in 1 2 3; do
    if buildah run "$@" 2>"$errors"; then
      cat "$errors" >&2
      rm -f "$errors"
      return 0
    else
      status=$?
    fi
    if [ "$attempt" -lt 3 ] && grep -q 'memfd' "$errors"; then
      echo "(buildah could not start the process: $(head -n 1 "$errors"); trying again)" >&2
      sleep 1
      continue
    fi
    cat "$errors" >&2
    rm -f "$errors"
    return "$status"
  done
}
in_image() { brun --user shuangbai --env "DATABASE_URL=$db" --env "SHUANGBAI_BIND=127.0.0.1:$port" "$ctr" -- "$@"; }

echo "-- shuangbai --help"
in_image shuangbai --help >/dev/null || fail "--help"
uid=$(in_image id -u)
[ "$uid" = 10001 ] || fail "the image's user is uid $uid, not 10001"

echo "-- user add (password from the environment)"
brun --user shuangbai --env "DATABASE_URL=$db" --env "SHUANGBAI_PASSWORD=$password" "$ctr" -- \
  shuangbai user add smoke.admin --role admin >/dev/null || fail "user add"

echo "-- serve on 127.0.0.1:$port"
# Served without brun, so its log reaches the file as it runs.
buildah run --user shuangbai --env "DATABASE_URL=$db" --env "SHUANGBAI_BIND=127.0.0.1:$port" "$ctr" -- \
  shuangbai serve >/tmp/shuangbai-smoke.log 2>&1 &
server=$!
for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.1; done
curl -fs "http://127.0.0.1:$port/readyz" >/dev/null || { cat /tmp/shuangbai-smoke.log; fail "/readyz"; }
token=$(curl -fs -d grant_type=password -d username=smoke.admin -d "password=$password" \
  "http://127.0.0.1:$port/api/v1/auth/token" | python3 -c 'import sys, json; print(json.load(sys.stdin)["access_token"])') \
  || fail "no token"
curl -fs -H "Authorization: Bearer $token" "http://127.0.0.1:$port/api/v1/me" >/dev/null || fail "/api/v1/me"

pid=$(ss -ltnpH "sport = :$port" | grep -o 'pid=[0-9]*' | head -n 1 | cut -d= -f2)
[ -n "$pid" ] || fail "no process listens on $port"
serving_uid=$(awk '/^Uid:/ {print $2}' "/proc/$pid/status")
[ "$serving_uid" = 10001 ] || fail "the service runs as uid $serving_uid, not 10001"

echo "-- healthcheck while serving, then after"
in_image shuangbai healthcheck || fail "healthcheck while serving"
kill "$pid" 2>/dev/null || true
wait "$server" 2>/dev/null || true
server=
if in_image shuangbai healthcheck 2>/dev/null; then fail "healthcheck passed with nothing serving"; fi

size=$(buildah images --format '{{.Size}}' "$tag" | head -n 1)
echo "smoke test passed: $tag is $size; served as uid $serving_uid"
