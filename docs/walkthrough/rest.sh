#!/usr/bin/env bash
# The walk-through with curl (docs/walkthrough/rest.md) as one script. CI
# runs it (docs/walkthrough/run.sh) against a real service and a real
# `webhook-service listen`, so every command the page shows is known to work.
#
# Needs webhook-service on the PATH, curl, jq and python3; RECEIVER set to
# the URL `webhook-service listen` printed, run from the folder it runs in
# (they share listen-secrets.txt). H and JWT_SECRET default to the Quick
# start's.
set -euo pipefail
: "${RECEIVER:?set RECEIVER to the URL webhook-service listen printed}"
RECEIVER=${RECEIVER%/}

# Where the REST face listens, and the secret it checks tokens with.
H=${H:-http://127.0.0.1:8080}
export JWT_SECRET=${JWT_SECRET:-dev}

# Tokens: an owner of a new organization, and a service that publishes.
ORG=$(python3 -c 'import uuid; print(uuid.uuid4())')
TOKEN=$(webhook-service token --org "$ORG" --role OWNER)
PUBLISHER=$(webhook-service token --scope events:publish --sub billing)
auth=(-H "Authorization: Bearer $TOKEN")
json=(-H 'Content-Type: application/json')

# Register a webhook: 201, with the secret, shown only this once.
CREATED=$(curl -sS --fail-with-body "${auth[@]}" "${json[@]}" -X POST "$H/v1/organizations/$ORG/webhooks" \
  -d "{\"url\": \"$RECEIVER/rest\", \"events\": [\"member.added\", \"invite.created\"]}")
echo "$CREATED"
WEBHOOK=$(jq -r .webhook.id <<<"$CREATED")
jq -r .secret <<<"$CREATED" >>listen-secrets.txt

# Another service publishes an event: 200, with the event's id.
curl -sS --fail-with-body -H "Authorization: Bearer $PUBLISHER" "${json[@]}" -X POST "$H/v1/organizations/$ORG/events" \
  -d '{"type": "member.added", "data": {"user_id": "u_42"}, "idempotencyKey": "member-u_42"}'

# Its delivery, once the receiver has answered:
until DELIVERY=$(curl -sS --fail-with-body "${auth[@]}" "$H/v1/organizations/$ORG/deliveries?webhookId=$WEBHOOK&status=DELIVERY_STATUS_SUCCEEDED" | jq -er '.deliveries[0].id'); do sleep 0.2; done
curl -sS --fail-with-body "${auth[@]}" "$H/v1/organizations/$ORG/deliveries/$DELIVERY"

# Errors are a google.rpc.Status as JSON: a bad request 400, no token 401,
# a MEMBER's token 403.
curl -sS -w ' %{http_code}\n' "${auth[@]}" "${json[@]}" -X POST "$H/v1/organizations/$ORG/webhooks" \
  -d '{"url": "http://10.0.0.1/hook", "events": []}'
curl -sS -w ' %{http_code}\n' "$H/v1/organizations/$ORG/webhooks"
MEMBER=$(webhook-service token --org "$ORG" --role MEMBER)
curl -sS -w ' %{http_code}\n' -H "Authorization: Bearer $MEMBER" "${json[@]}" -X POST "$H/v1/organizations/$ORG/webhooks" \
  -d "{\"url\": \"$RECEIVER/member\", \"events\": [\"member.added\"]}"

# List, pause and describe (the mask names what changes), resume.
curl -sS --fail-with-body "${auth[@]}" "$H/v1/organizations/$ORG/webhooks?pageSize=20"
curl -sS --fail-with-body "${auth[@]}" "${json[@]}" -X PATCH \
  "$H/v1/organizations/$ORG/webhooks/$WEBHOOK?updateMask=enabled,description" \
  -d '{"enabled": false, "description": "billing"}'
curl -sS --fail-with-body "${auth[@]}" "${json[@]}" -X PATCH \
  "$H/v1/organizations/$ORG/webhooks/$WEBHOOK" -d '{"enabled": true, "updateMask": "enabled"}'

# Send the delivery once more, now: the answer is the delivery, pending again.
curl -sS --fail-with-body "${auth[@]}" -X POST "$H/v1/organizations/$ORG/deliveries/$DELIVERY:retry"
# Ping the endpoint; replace its secret; resend what failed since a time.
curl -sS --fail-with-body "${auth[@]}" -X POST "$H/v1/organizations/$ORG/webhooks/$WEBHOOK:sendTestEvent"
ROTATED=$(curl -sS --fail-with-body "${auth[@]}" -X POST "$H/v1/organizations/$ORG/webhooks/$WEBHOOK:rotateSecret")
echo "$ROTATED"
jq -r .secret <<<"$ROTATED" >>listen-secrets.txt
curl -sS --fail-with-body "${auth[@]}" "${json[@]}" -X POST "$H/v1/organizations/$ORG/webhooks/$WEBHOOK:recover" \
  -d '{"since": "2026-12-01T00:00:00Z"}'
# Failed deliveries only, and the event types of the catalogue.
curl -sS --fail-with-body "${auth[@]}" "$H/v1/organizations/$ORG/deliveries?webhookId=$WEBHOOK&status=DELIVERY_STATUS_FAILED"
curl -sS --fail-with-body "${auth[@]}" "$H/v1/eventTypes?pageSize=5"

# Delete it: 200 and {}. The OpenAPI document needs no token.
curl -sS --fail-with-body "${auth[@]}" -X DELETE "$H/v1/organizations/$ORG/webhooks/$WEBHOOK"
curl -sS --fail-with-body "$H/v1/openapi.json" | jq '.paths | keys'
