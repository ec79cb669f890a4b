#!/usr/bin/env bash
# The walk-through with grpcurl (docs/walkthrough/grpc.md) as one script. CI
# runs it (docs/walkthrough/run.sh) against a real service and a real
# `webhook-service listen`, so every command the page shows is known to work.
#
# Needs webhook-service on the PATH, grpcurl, jq and python3; RECEIVER set to
# the URL `webhook-service listen` printed, run from the folder it runs in
# (they share listen-secrets.txt). GRPC and JWT_SECRET default to the Quick
# start's.
set -euo pipefail
: "${RECEIVER:?set RECEIVER to the URL webhook-service listen printed}"
RECEIVER=${RECEIVER%/}

# Where the service listens, and the secret it checks tokens with.
GRPC=${GRPC:-127.0.0.1:50051}
export JWT_SECRET=${JWT_SECRET:-dev}

# A development token for a new organization, signed with JWT_SECRET.
ORG=$(python3 -c 'import uuid; print(uuid.uuid4())')
TOKEN=$(webhook-service token --org "$ORG" --role OWNER)
call() { grpcurl -plaintext -H "authorization: Bearer $TOKEN" -d "$2" "$GRPC" "webhooks.v1.WebhookService/$1"; }

# Register a webhook at the receiver. The answer holds its secret, shown only
# this once: the receiver checks signatures with the secrets in this file.
CREATED=$(call CreateWebhook "{\"organizationId\": \"$ORG\", \"url\": \"$RECEIVER/members\", \"events\": [\"member.added\", \"invite.created\"]}")
echo "$CREATED"
WEBHOOK=$(jq -r .webhook.id <<<"$CREATED")
jq -r .secret <<<"$CREATED" >>listen-secrets.txt

# Another service publishes an event, with a token holding the events:publish scope.
PUBLISHER=$(webhook-service token --scope events:publish --sub billing)
grpcurl -plaintext -H "authorization: Bearer $PUBLISHER" \
  -d "{\"organizationId\": \"$ORG\", \"type\": \"member.added\", \"data\": {\"user_id\": \"u_42\"}, \"idempotencyKey\": \"member-u_42\"}" \
  "$GRPC" webhooks.v1.EventService/PublishEvent

# Its delivery, once the receiver has answered (in a few milliseconds):
until DELIVERY=$(call ListDeliveries "{\"organizationId\": \"$ORG\", \"webhookId\": \"$WEBHOOK\", \"status\": \"DELIVERY_STATUS_SUCCEEDED\"}" | jq -er '.deliveries[0].id'); do sleep 0.2; done
call GetDelivery "{\"organizationId\": \"$ORG\", \"deliveryId\": \"$DELIVERY\"}"

# What does the server offer? Reflection and health need no token.
grpcurl -plaintext "$GRPC" list
grpcurl -plaintext "$GRPC" describe webhooks.v1.WebhookService
grpcurl -plaintext "$GRPC" grpc.health.v1.Health/Check

set +e # The next call fails, as it should; run.sh checks the message the page shows.
call CreateWebhook "{\"organizationId\": \"$ORG\", \"url\": \"http://10.0.0.1/hook\", \"events\": []}"
set -e

# Manage it: list, read, pause and describe, resume, limit to 10 deliveries a second.
call ListWebhooks "{\"organizationId\": \"$ORG\", \"pageSize\": 20}"
call GetWebhook "{\"organizationId\": \"$ORG\", \"webhookId\": \"$WEBHOOK\"}"
call UpdateWebhook "{\"organizationId\": \"$ORG\", \"webhookId\": \"$WEBHOOK\", \"enabled\": false, \"description\": \"members\", \"updateMask\": {\"paths\": [\"enabled\", \"description\"]}}"
call UpdateWebhook "{\"organizationId\": \"$ORG\", \"webhookId\": \"$WEBHOOK\", \"enabled\": true, \"updateMask\": {\"paths\": [\"enabled\"]}}"
call UpdateWebhook "{\"organizationId\": \"$ORG\", \"webhookId\": \"$WEBHOOK\", \"rateLimitPerSecond\": 10, \"updateMask\": {\"paths\": [\"rate_limit_per_second\"]}}"
# Is the endpoint reachable? Send it a webhook.ping.
call SendTestEvent "{\"organizationId\": \"$ORG\", \"webhookId\": \"$WEBHOOK\"}"
# A leaked secret: replace it. The old one keeps signing beside the new one
# for WEBHOOK_SECRET_GRACE (24 h), so the receiver can switch at leisure.
ROTATED=$(call RotateWebhookSecret "{\"organizationId\": \"$ORG\", \"webhookId\": \"$WEBHOOK\"}")
echo "$ROTATED"
jq -r .secret <<<"$ROTATED" >>listen-secrets.txt

# A webhook whose endpoint is wrong: nothing listens on port 1.
BROKEN=$(call CreateWebhook "{\"organizationId\": \"$ORG\", \"url\": \"https://127.0.0.1:1/invites\", \"events\": [\"invite.created\"]}")
BROKEN_ID=$(jq -r .webhook.id <<<"$BROKEN")
jq -r .secret <<<"$BROKEN" >>listen-secrets.txt
grpcurl -plaintext -H "authorization: Bearer $PUBLISHER" \
  -d "{\"organizationId\": \"$ORG\", \"type\": \"invite.created\", \"data\": {\"email\": \"ada@example.com\"}}" \
  "$GRPC" webhooks.v1.EventService/PublishEvent
# Its delivery fails once every retry has failed too: 1 s, 5 s and 30 s after
# the first attempt (WEBHOOK_RETRY_SCHEDULE), so wait about 40 s.
until FAILED=$(call ListDeliveries "{\"organizationId\": \"$ORG\", \"webhookId\": \"$BROKEN_ID\", \"status\": \"DELIVERY_STATUS_FAILED\"}" | jq -er '.deliveries[0].id'); do sleep 1; done
call GetDelivery "{\"organizationId\": \"$ORG\", \"deliveryId\": \"$FAILED\"}"

# Fix the URL, then try that delivery once more, now: the answer is the
# delivery, pending again.
call UpdateWebhook "{\"organizationId\": \"$ORG\", \"webhookId\": \"$BROKEN_ID\", \"url\": \"$RECEIVER/invites\", \"updateMask\": {\"paths\": [\"url\"]}}"
call RetryDelivery "{\"organizationId\": \"$ORG\", \"deliveryId\": \"$FAILED\"}"
# Or resend everything that failed since a time (a webhook the service
# disabled for failing too long: enable it first, then recover it).
call RecoverWebhook "{\"organizationId\": \"$ORG\", \"webhookId\": \"$BROKEN_ID\", \"since\": \"2026-12-01T00:00:00Z\"}"
until call GetDelivery "{\"organizationId\": \"$ORG\", \"deliveryId\": \"$FAILED\"}" | jq -e '.status == "DELIVERY_STATUS_SUCCEEDED"'; do sleep 0.2; done

# Your own event types: the platform registers them in the catalogue with a
# token holding the event-types:write scope, optionally with a JSON Schema
# (draft 2020-12) that every published event's data must meet.
PLATFORM=$(webhook-service token --scope event-types:write --sub platform-admin)
grpcurl -plaintext -H "authorization: Bearer $PLATFORM" -d @ "$GRPC" webhooks.v1.WebhookService/CreateEventType <<'JSON'
{
  "name": "invoice.paid",
  "description": "An invoice was paid in full.",
  "schema": {
    "type": "object",
    "required": ["invoice_id", "amount", "currency"],
    "properties": {
      "invoice_id": {"type": "string"},
      "amount": {"type": "integer", "minimum": 1},
      "currency": {"enum": ["EUR", "USD"]},
      "paid_at": {"type": "string", "format": "date-time"}
    }
  },
  "example": {"invoice_id": "in_42", "amount": 1200, "currency": "EUR", "paid_at": "2026-12-06T10:00:00Z"}
}
JSON
call GetEventType '{"name": "invoice.paid"}'
call ListEventTypes '{"pageSize": 5}'

# Organizations subscribe to it like to any other type, and services publish it.
call UpdateWebhook "{\"organizationId\": \"$ORG\", \"webhookId\": \"$WEBHOOK\", \"events\": [\"member.added\", \"invoice.paid\"], \"updateMask\": {\"paths\": [\"events\"]}}"
grpcurl -plaintext -H "authorization: Bearer $PUBLISHER" \
  -d "{\"organizationId\": \"$ORG\", \"type\": \"invoice.paid\", \"data\": {\"invoice_id\": \"in_42\", \"amount\": 1200, \"currency\": \"EUR\"}}" \
  "$GRPC" webhooks.v1.EventService/PublishEvent

set +e # Data that does not meet the schema is refused; nothing is stored.
grpcurl -plaintext -H "authorization: Bearer $PUBLISHER" \
  -d "{\"organizationId\": \"$ORG\", \"type\": \"invoice.paid\", \"data\": {\"invoice_id\": \"in_43\", \"amount\": \"12.00\", \"currency\": \"GBP\"}}" \
  "$GRPC" webhooks.v1.EventService/PublishEvent
set -e

# Done: delete both webhooks.
call DeleteWebhook "{\"organizationId\": \"$ORG\", \"webhookId\": \"$WEBHOOK\"}"
call DeleteWebhook "{\"organizationId\": \"$ORG\", \"webhookId\": \"$BROKEN_ID\"}"
