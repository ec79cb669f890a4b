#!/usr/bin/env bash
# Runs the walk-throughs (grpc.sh, rest.sh) as a reader would, against the
# real service and a real `webhook-service listen`, and fails unless:
# - every command of both scripts succeeds (they stop at the first failure),
# - the receiver got every delivery they caused, each with a signature that
#   verified with the secrets the scripts handed it,
# - every error message the documentation shows (README.md and docs/) is one
#   the service printed during the run.
#
# Needs grpcurl, jq, curl and python3 on the PATH. The service is
# target/debug/webhook-service, built first (WEBHOOK_SERVICE_BIN to run
# another binary as it is).
set -euo pipefail
cd "$(dirname "$0")/../.."
docs=$PWD

if [ -n "${WEBHOOK_SERVICE_BIN:-}" ]; then
  bin=$(realpath "$WEBHOOK_SERVICE_BIN")
else
  cargo build --locked --quiet --bin webhook-service
  bin=$PWD/target/debug/webhook-service
fi
for tool in grpcurl jq curl python3; do
  command -v "$tool" >/dev/null || { echo "!! $tool is needed" >&2; exit 1; }
done
# The scripts call `webhook-service` as the reader's PATH finds it.
path=$(mktemp -d)
ln -s "$bin" "$path/webhook-service"
export PATH="$path:$PATH"

work=$(mktemp -d)
pids=()
cleanup() {
  local status=$?
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [ "$status" != 0 ]; then
    for log in service.log listen.log; do
      [ -f "$work/$log" ] && { echo "-- $log (last 40 lines):" >&2; tail -n 40 "$work/$log" >&2; }
    done
  fi
  if [ -n "${WALKTHROUGH_KEEP:-}" ]; then echo "-- kept $work" >&2; else rm -rf "$work"; fi
  rm -rf "$path"
}
trap cleanup EXIT
cd "$work"

# Waits up to 20 s for `grep -q $1 $2` while process $3 lives.
wait_for() {
  for _ in $(seq 200); do
    grep -q "$1" "$2" 2>/dev/null && return 0
    kill -0 "$3" 2>/dev/null || { echo "!! $2: the process exited" >&2; return 1; }
    sleep 0.1
  done
  echo "!! $2: no $1 in 20 s" >&2
  return 1
}

echo "== receiver: webhook-service listen, HTTPS on loopback"
webhook-service listen --json --state-dir .listen --secret-file listen-secrets.txt \
  --port-file listen.port >listen.log 2>listen.err &
pids+=($!)
wait_for . listen.port "${pids[-1]}"
receiver="https://127.0.0.1:$(cat listen.port)"

echo "== service: free loopback ports, SQLite in $work"
# Retries 100 ms apart, not the 36 s the default schedule takes to fail.
JWT_SECRET=walkthrough \
  DATABASE_URL="sqlite://$work/webhooks.db?mode=rwc" \
  WEBHOOK_LISTEN_ADDR=127.0.0.1:0 WEBHOOK_HTTP_ADDR=127.0.0.1:0 WEBHOOK_METRICS_ADDR=127.0.0.1:0 \
  WEBHOOK_ALLOW_PRIVATE_TARGETS=true WEBHOOK_CA_FILE="$work/.listen/ca.pem" \
  WEBHOOK_RETRY_SCHEDULE=100ms,100ms,100ms \
  LOG_FORMAT=json webhook-service >service.log 2>&1 &
pids+=($!)
wait_for '"serving the console"' service.log "${pids[-1]}"
address() {
  python3 -c '
import json, sys
for line in open("service.log"):
    if line.startswith("{"):
        entry = json.loads(line)
        fields = entry.get("fields", entry)
        if fields.get("message") == sys.argv[1]:
            print(fields[sys.argv[2]]); break
' "$1" "$2"
}
grpc=$(address "serving gRPC" address)
rest=$(address "serving REST" address)
echo "   gRPC on $grpc, REST on $rest, receiver at $receiver"

echo "== walk-through with grpcurl (docs/walkthrough/grpc.sh)"
GRPC=$grpc RECEIVER=$receiver JWT_SECRET=walkthrough \
  timeout 300 bash "$docs/docs/walkthrough/grpc.sh" >grpc.out 2>&1 ||
  { tail -n 40 grpc.out >&2; echo "!! grpc.sh failed" >&2; exit 1; }
echo "== walk-through with curl (docs/walkthrough/rest.sh)"
H=http://$rest RECEIVER=$receiver JWT_SECRET=walkthrough \
  timeout 300 bash "$docs/docs/walkthrough/rest.sh" >rest.out 2>&1 ||
  { tail -n 40 rest.out >&2; echo "!! rest.sh failed" >&2; exit 1; }

echo "== the receiver got every delivery, each verified; the documented errors are real"
python3 - "$docs" <<'PY'
import json, pathlib, re, sys, time

root = pathlib.Path(sys.argv[1])
# Deliveries the scripts cause: by grpc.sh member.added and invite.created
# to the first webhook, a ping, the failed invite.created resent to the
# mended URL, invoice.paid; by rest.sh member.added, its resend, a ping.
# Wait for the last of them (the receiver flushes each line).
deadline = time.time() + 20
while True:
    deliveries = [json.loads(l) for l in open("listen.log") if l.startswith("{")]
    if len(deliveries) >= 8 or time.time() > deadline:
        break
    time.sleep(0.2)
if len(deliveries) < 8:
    sys.exit(f"!! the receiver got {len(deliveries)} deliveries, expected 8 or more")
bad = [d for d in deliveries if d.get("verified") is not True]
if bad:
    sys.exit(f"!! not verified: {json.dumps(bad[0])[:400]}")
print(f"   {len(deliveries)} deliveries, every signature verified")

out = open("grpc.out").read() + open("rest.out").read()
pages = [root / "README.md", *sorted((root / "docs").rglob("*.md"))]
shown = set()
for page in pages:
    text = page.read_text()
    shown.update(m.strip() for m in re.findall(r"^\s*Message: (.+)$", text, re.M))
    for m in re.findall(r'"message": ?"((?:[^"\\]|\\.)*)"', text):
        shown.add(json.loads(f'"{m}"'))
missing = [m for m in sorted(shown) if m not in out and json.dumps(m)[1:-1] not in out]
if missing:
    sys.exit("!! messages the documentation shows that the service did not print:\n  " + "\n  ".join(missing))
print(f"   {len(shown)} documented error messages, each printed by the service")
PY
echo "== walk-throughs passed"
