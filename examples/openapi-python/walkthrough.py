#!/usr/bin/env python3
"""The walk-through over REST, with a client that openapi-python-client
generated from the document the running service serves (GET
/v1/openapi.json): a check that the document makes a client that works.

Registers a webhook for `member.added`, lists it, publishes a
`member.added` event, finds its delivery with ListDeliveries and reads it
with GetDelivery until it succeeded, then deletes the webhook. Prints each
step; exits non-zero on any failure. ../run.sh generates the client and
runs this; by hand:

    pip install -r requirements.txt
    openapi-python-client generate --url http://127.0.0.1:8080/v1/openapi.json \\
        --config config.yml --meta none --output-path client/webhook_service_client
    PYTHONPATH=client python walkthrough.py --rest-url http://127.0.0.1:8080 \\
        --org ORG_UUID --receiver-url https://receiver.example/hook
    # tokens: ADMIN_TOKEN (an OWNER or ADMIN of ORG_UUID) and
    # PUBLISHER_TOKEN (scope events:publish)
"""

import argparse
import os
import sys
import time
import uuid

from webhook_service_client import AuthenticatedClient
from webhook_service_client.api.event_service import publish_event
from webhook_service_client.api.webhook_service import (
    create_webhook,
    delete_webhook,
    get_delivery,
    list_deliveries,
    list_webhooks,
)
from webhook_service_client.models import (
    CreateWebhookBody,
    CreateWebhookResponse,
    Delivery,
    DeliveryStatus,
    ListDeliveriesResponse,
    ListWebhooksResponse,
    PublishEventBody,
    PublishEventBodyData,
    PublishEventResponse,
    Status,
)

# How long a delivery to the local receiver may take to succeed.
DELIVERY_WAIT_SECONDS = 20


def step(text):
    print(f"-- {text}", flush=True)


def expect(answer, kind, what):
    """The answer, if it is a `kind`; else exits naming the call."""
    if isinstance(answer, kind):
        return answer
    if isinstance(answer, Status):
        sys.exit(f"!! {what}: error {answer.code}: {answer.message}")
    sys.exit(f"!! {what}: unexpected answer {answer!r}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rest-url", default=os.environ.get("WEBHOOK_REST_URL"))
    parser.add_argument("--org", default=os.environ.get("ORGANIZATION_ID"))
    parser.add_argument("--receiver-url", default=os.environ.get("RECEIVER_URL"))
    args = parser.parse_args()
    for name in ("rest_url", "org", "receiver_url"):
        if not getattr(args, name):
            parser.error(f"--{name.replace('_', '-')} is required")
    for name in ("ADMIN_TOKEN", "PUBLISHER_TOKEN"):
        if not os.environ.get(name):
            parser.error(f"{name} is not set")
    org = uuid.UUID(args.org)
    admin = AuthenticatedClient(base_url=args.rest_url, token=os.environ["ADMIN_TOKEN"])
    publisher = AuthenticatedClient(
        base_url=args.rest_url, token=os.environ["PUBLISHER_TOKEN"]
    )

    step("CreateWebhook")
    created = expect(
        create_webhook.sync(
            org,
            client=admin,
            body=CreateWebhookBody(
                url=args.receiver_url,
                events=["member.added"],
                description="openapi-python walk-through",
            ),
        ),
        CreateWebhookResponse,
        "CreateWebhook",
    )
    webhook = created.webhook
    assert isinstance(webhook.id, uuid.UUID), webhook.id
    assert created.secret.startswith("whsec_"), "the secret is returned once"
    print(f"   webhook {webhook.id}, created {webhook.created_at.isoformat()}")

    step("ListWebhooks")
    listed = expect(
        list_webhooks.sync(org, client=admin), ListWebhooksResponse, "ListWebhooks"
    )
    ids = [w.id for w in listed.webhooks]
    assert webhook.id in ids, f"{webhook.id} not among {ids}"

    step("PublishEvent")
    data = PublishEventBodyData.from_dict({"member_id": "m_42", "role": "admin"})
    published = expect(
        publish_event.sync(
            org,
            client=publisher,
            body=PublishEventBody(type_="member.added", data=data),
        ),
        PublishEventResponse,
        "PublishEvent",
    )
    assert published.deliveries_scheduled == 1, published
    print(f"   event {published.event_id}")

    step("ListDeliveries (of this webhook)")
    page = expect(
        list_deliveries.sync(org, client=admin, webhook_id=webhook.id),
        ListDeliveriesResponse,
        "ListDeliveries",
    )
    matching = [d for d in page.deliveries if d.event_id == published.event_id]
    assert len(matching) == 1, page
    delivery_id = matching[0].id

    step(f"GetDelivery until it succeeds (at most {DELIVERY_WAIT_SECONDS} s)")
    deadline = time.monotonic() + DELIVERY_WAIT_SECONDS
    while True:
        delivery = expect(
            get_delivery.sync(org, delivery_id, client=admin), Delivery, "GetDelivery"
        )
        if delivery.status == DeliveryStatus.DELIVERY_STATUS_SUCCEEDED:
            break
        if time.monotonic() > deadline:
            sys.exit(f"!! the delivery did not succeed: {delivery.to_dict()}")
        time.sleep(0.2)
    assert delivery.event_type == "member.added", delivery
    attempt = delivery.attempts[-1]
    print(f"   attempt {attempt.attempt}: HTTP {attempt.status_code}")

    step("DeleteWebhook")
    response = delete_webhook.sync_detailed(org, webhook.id, client=admin)
    assert response.status_code == 200, response

    print("== the generated client works")


if __name__ == "__main__":
    main()
