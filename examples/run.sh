#!/usr/bin/env bash
# Runs the example clients (examples/python, examples/node) against the real
# service: a fresh SQLite database in a temporary folder, a local HTTPS
# receiver (`webhook-service listen --echo`, with a CA of its own in the
# temporary folder) that answers each delivery with the request it got, and
# tokens minted by `webhook-service token`. Then generates a REST client from
# the OpenAPI document the service serves, with openapi-python-client, and
# runs examples/openapi-python with it. Every listener takes a free loopback
# port, so it runs beside another instance on the default ports. Fails if any
# walk-through fails or the generator warns; stops everything it started on
# the way out.
#
# Needs python3 (with venv) and node with npm. The service is
# target/debug/webhook-service, built first (WEBHOOK_SERVICE_BIN to run
# another binary as it is).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -n "${WEBHOOK_SERVICE_BIN:-}" ]; then
  bin=$WEBHOOK_SERVICE_BIN
else
  # Nothing to do after `cargo test`, which built the same binary.
  cargo build --locked --quiet --bin webhook-service
  bin=target/debug/webhook-service
fi
bin=$(realpath "$bin")

work=$(mktemp -d)
pids=()
cleanup() {
  local status=$?
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [ "$status" != 0 ] && [ -f "$work/service.log" ]; then
    echo "-- the service's log (last 40 lines):" >&2
    tail -n 40 "$work/service.log" >&2
  fi
  if [ "$status" != 0 ] && [ -f "$work/receiver.log" ]; then
    echo "-- the receiver's log:" >&2
    cat "$work/receiver.log" >&2
  fi
  rm -rf "$work"
}
trap cleanup EXIT

# Waits up to 20 s for a file to exist and hold something.
wait_for() {
  for _ in $(seq 200); do
    [ -s "$1" ] && return 0
    sleep 0.1
  done
  echo "!! $2 did not start" >&2
  return 1
}

# The clients' dependencies, installed again only when their pins changed.
echo "== example clients: dependencies"
venv=examples/python/.venv
if ! cmp -s examples/python/requirements.txt "$venv/installed-requirements.txt"; then
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check -r examples/python/requirements.txt
  cp examples/python/requirements.txt "$venv/installed-requirements.txt"
fi
openapi_venv=examples/openapi-python/.venv
if ! cmp -s examples/openapi-python/requirements.txt "$openapi_venv/installed-requirements.txt"; then
  rm -rf "$openapi_venv"
  python3 -m venv "$openapi_venv"
  "$openapi_venv/bin/pip" install -q --disable-pip-version-check -r examples/openapi-python/requirements.txt
  cp examples/openapi-python/requirements.txt "$openapi_venv/installed-requirements.txt"
fi
if ! cmp -s examples/node/package-lock.json examples/node/node_modules/.installed-lock.json; then
  (cd examples/node && npm ci --no-audit --no-fund --loglevel=error &&
    cp package-lock.json node_modules/.installed-lock.json)
fi

echo "== receiver: webhook-service listen --echo, HTTPS on a free loopback port"
"$bin" listen --echo --json --state-dir "$work/listen" --port-file "$work/receiver.port" \
  >"$work/receiver.log" 2>&1 &
pids+=($!)
wait_for "$work/receiver.port" "the receiver"
receiver="https://127.0.0.1:$(cat "$work/receiver.port")"

echo "== service: $bin on a free loopback port, SQLite in $work"
secret="examples-$(python3 -c 'import secrets; print(secrets.token_hex(16))')"
JWT_SECRET=$secret \
  DATABASE_URL="sqlite://$work/webhooks.db?mode=rwc" \
  WEBHOOK_LISTEN_ADDR=127.0.0.1:0 \
  WEBHOOK_HTTP_ADDR=127.0.0.1:0 \
  WEBHOOK_METRICS_ADDR=127.0.0.1:0 \
  WEBHOOK_ALLOW_PRIVATE_TARGETS=true \
  WEBHOOK_CA_FILE="$work/listen/ca.pem" \
  LOG_FORMAT=json \
  "$bin" >"$work/service.log" 2>&1 &
pids+=($!)
for _ in $(seq 200); do
  grep -q '"serving gRPC"' "$work/service.log" && grep -q '"serving REST"' "$work/service.log" && break
  kill -0 "${pids[-1]}" 2>/dev/null || { echo "!! the service exited" >&2; exit 1; }
  sleep 0.1
done
# The address the service's log line `message` names.
logged_address() {
  python3 -c '
import json, sys
for line in open(sys.argv[1]):
    if line.startswith("{"):
        entry = json.loads(line)
        fields = entry.get("fields", entry)
        if fields.get("message") == sys.argv[2]:
            print(fields["address"])
            break
' "$work/service.log" "$1"
}
address=$(logged_address "serving gRPC")
rest_address=$(logged_address "serving REST")
[ -n "$address" ] && [ -n "$rest_address" ] || { echo "!! the service did not say where it listens" >&2; exit 1; }
echo "   gRPC on $address, REST on $rest_address"

org=$(python3 -c 'import uuid; print(uuid.uuid4())')
export WEBHOOK_SERVICE_ADDR=$address ORGANIZATION_ID=$org
ADMIN_TOKEN=$(JWT_SECRET=$secret "$bin" token --org "$org" --role OWNER --sub examples-owner --ttl 10m)
PUBLISHER_TOKEN=$(JWT_SECRET=$secret "$bin" token --scope events:publish --sub examples-publisher --ttl 10m)
export ADMIN_TOKEN PUBLISHER_TOKEN

echo "== python walk-through (examples/python)"
RECEIVER_URL="$receiver/python" "$venv/bin/python" examples/python/walkthrough.py --check-echo
echo "== node walk-through (examples/node)"
RECEIVER_URL="$receiver/node" node examples/node/walkthrough.js --check-echo

echo "== OpenAPI client: generated by openapi-python-client from GET /v1/openapi.json"
rest="http://$rest_address"
# Any warning is something the document should say better: it fails the run.
if ! PATH="$PWD/$openapi_venv/bin:$PATH" openapi-python-client generate \
  --url "$rest/v1/openapi.json" --config examples/openapi-python/config.yml \
  --meta none --fail-on-warning --output-path "$work/client/webhook_service_client" \
  >"$work/generate.log" 2>&1 || grep -qi 'warning' "$work/generate.log"; then
  cat "$work/generate.log" >&2
  echo "!! openapi-python-client did not generate the client cleanly" >&2
  exit 1
fi
echo "== OpenAPI client walk-through (examples/openapi-python)"
WEBHOOK_REST_URL=$rest RECEIVER_URL="$receiver/openapi" PYTHONPATH="$work/client" \
  "$openapi_venv/bin/python" examples/openapi-python/walkthrough.py

echo "== example clients: python, node and generated OpenAPI walk-throughs passed"
