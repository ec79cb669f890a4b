#!/usr/bin/env python3
"""The gRPC walk-through (docs/walkthrough/grpc.md) as a Python gRPC client.

Registers a webhook for `member.added`, publishes a `member.added` event,
follows its delivery with ListDeliveries and GetDelivery until it succeeded,
then deletes the webhook. Prints each step; exits non-zero on any failure.

The client is generated from ../../proto with grpcio-tools each time it runs
(into a temporary folder), so it cannot drift from the contract.

    pip install -r requirements.txt
    python walkthrough.py --address 127.0.0.1:50051 --org ORG_UUID \\
        --receiver-url https://receiver.example/hook
    # tokens: ADMIN_TOKEN (an OWNER or ADMIN of ORG_UUID) and
    # PUBLISHER_TOKEN (scope events:publish), or --admin-token/--publisher-token

With --check-echo, the receiver must answer each delivery with the request
it got, as `webhook-service listen --echo` does; the script then checks
the delivered body and both signatures (`X-Webhook-Signature` and the Standard Webhooks
`webhook-signature`) against the secret CreateWebhook returned.
"""

import argparse
import atexit
import base64
import hashlib
import hmac
import importlib
import json
import os
import pathlib
import shutil
import sys
import tempfile
import time
import uuid

import grpc
from google.protobuf import struct_pb2

PROTO_ROOT = pathlib.Path(__file__).resolve().parent.parent.parent / "proto"
PROTO_FILE = "webhooks/v1/webhooks.proto"


def generate_client():
    """Compiles the contract with grpcio-tools and imports the generated modules."""
    from grpc_tools import protoc

    out = tempfile.mkdtemp(prefix="webhooks-client-")
    atexit.register(shutil.rmtree, out, ignore_errors=True)
    well_known = pathlib.Path(protoc.__file__).resolve().parent / "_proto"
    status = protoc.main(
        [
            "grpc_tools.protoc",
            f"-I{PROTO_ROOT}",
            f"-I{well_known}",
            f"--python_out={out}",
            f"--grpc_python_out={out}",
            PROTO_FILE,
        ]
    )
    if status != 0:
        raise SystemExit(f"protoc failed on {PROTO_ROOT / PROTO_FILE} (status {status})")
    sys.path.insert(0, out)
    pb = importlib.import_module("webhooks.v1.webhooks_pb2")
    rpc = importlib.import_module("webhooks.v1.webhooks_pb2_grpc")
    return pb, rpc


def step(message):
    print(f"== {message}", flush=True)


def fail(message):
    print(f"FAILED: {message}", file=sys.stderr, flush=True)
    sys.exit(1)


def wait_for_delivery(webhooks, pb, meta, org, webhook_id, event_id, timeout):
    """Finds the event's delivery with ListDeliveries, then follows it with
    GetDelivery until it succeeded. Fails on FAILED, CANCELLED or timeout."""
    deadline = time.monotonic() + timeout
    delivery_id = None
    while delivery_id is None:
        page = webhooks.ListDeliveries(
            pb.ListDeliveriesRequest(
                organization_id=org, webhook_id=webhook_id, event_type="member.added"
            ),
            metadata=meta,
        )
        found = [d for d in page.deliveries if d.event_id == event_id]
        if found:
            delivery_id = found[0].id
            print(f"   ListDeliveries: delivery {delivery_id} is "
                  f"{pb.DeliveryStatus.Name(found[0].status)}")
        elif time.monotonic() > deadline:
            fail(f"no delivery of event {event_id} listed after {timeout}s")
        else:
            time.sleep(0.2)

    last = None
    while True:
        delivery = webhooks.GetDelivery(
            pb.GetDeliveryRequest(organization_id=org, delivery_id=delivery_id), metadata=meta
        )
        status = pb.DeliveryStatus.Name(delivery.status)
        if status != last:
            print(f"   GetDelivery: {status}, {delivery.attempt_count} attempt(s)")
            last = status
        # The attempt is recorded with the status; wait for both to be visible.
        if delivery.status == pb.DELIVERY_STATUS_SUCCEEDED and delivery.attempts:
            return delivery
        if delivery.status in (pb.DELIVERY_STATUS_FAILED, pb.DELIVERY_STATUS_CANCELLED):
            fail(f"delivery {delivery_id} ended {status}: {delivery.last_error}")
        if time.monotonic() > deadline:
            fail(f"delivery {delivery_id} still {status} after {timeout}s: {delivery.last_error}")
        time.sleep(0.2)


def check_echo(attempt, secret, event_id):
    """Checks what the echoing receiver says it got: the event, signed twice."""
    try:
        echo = json.loads(attempt.response_excerpt)
        headers, body = echo["headers"], echo["body"].encode()
    except (ValueError, KeyError) as err:
        fail(f"the receiver's answer is not an echo ({err}): {attempt.response_excerpt[:200]!r}")

    payload = json.loads(body)
    if payload.get("id") != event_id or payload.get("type") != "member.added":
        fail(f"the receiver got another event: {body!r}")
    if payload.get("data") != {"user_id": "u_42"}:
        fail(f"the receiver got other data: {payload.get('data')!r}")

    # X-Webhook-Signature: sha256= + hex HMAC of the body, keyed with the secret string.
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, headers.get("x-webhook-signature", "")):
        fail("X-Webhook-Signature does not verify")

    # webhook-signature (Standard Webhooks): v1, + base64 HMAC of
    # "<webhook-id>.<webhook-timestamp>.<body>", keyed with the secret's bytes.
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
    expected = "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    offered = headers.get("webhook-signature", "").split()
    if not any(hmac.compare_digest(expected, s) for s in offered):
        fail("webhook-signature does not verify")
    if headers["webhook-id"] != event_id:
        fail(f"webhook-id {headers['webhook-id']} is not the event id {event_id}")
    print("   the receiver got the event; X-Webhook-Signature and webhook-signature verify")


def main():
    parser = argparse.ArgumentParser(description="The gRPC walk-through (docs/walkthrough/grpc.md) as a Python gRPC client.")
    parser.add_argument("--address", default=os.environ.get("WEBHOOK_SERVICE_ADDR", "127.0.0.1:50051"),
                        help="the service, host:port (plaintext) [WEBHOOK_SERVICE_ADDR]")
    parser.add_argument("--org", default=os.environ.get("ORGANIZATION_ID"),
                        help="the organization's UUID [ORGANIZATION_ID]")
    parser.add_argument("--receiver-url", default=os.environ.get("RECEIVER_URL"),
                        help="the https URL to register as the webhook [RECEIVER_URL]")
    parser.add_argument("--admin-token", default=os.environ.get("ADMIN_TOKEN"),
                        help="a token of an OWNER or ADMIN of the organization [ADMIN_TOKEN]")
    parser.add_argument("--publisher-token", default=os.environ.get("PUBLISHER_TOKEN"),
                        help="a token with the events:publish scope [PUBLISHER_TOKEN]")
    parser.add_argument("--timeout", type=float, default=30, help="seconds to wait for the delivery")
    parser.add_argument("--check-echo", action="store_true",
                        help="the receiver echoes the request: check body and signatures")
    args = parser.parse_args()
    for name in ("org", "receiver_url", "admin_token", "publisher_token"):
        if not getattr(args, name):
            parser.error(f"--{name.replace('_', '-')} (or its environment variable) is required")

    pb, rpc = generate_client()
    channel = grpc.insecure_channel(args.address)
    webhooks = rpc.WebhookServiceStub(channel)
    events = rpc.EventServiceStub(channel)
    admin = [("authorization", f"Bearer {args.admin_token}")]
    publisher = [("authorization", f"Bearer {args.publisher_token}")]

    try:
        step(f"CreateWebhook {args.receiver_url} for member.added")
        created = webhooks.CreateWebhook(
            pb.CreateWebhookRequest(
                organization_id=args.org, url=args.receiver_url, events=["member.added"]
            ),
            metadata=admin,
        )
        webhook_id, secret = created.webhook.id, created.secret
        if not secret.startswith("whsec_"):
            fail("CreateWebhook returned no whsec_ secret")
        print(f"   webhook {webhook_id}, secret whsec_… (shown only once)")

        try:
            step("PublishEvent member.added")
            data = struct_pb2.Struct()
            data.update({"user_id": "u_42"})
            published = events.PublishEvent(
                pb.PublishEventRequest(
                    organization_id=args.org,
                    type="member.added",
                    data=data,
                    idempotency_key=f"walkthrough-python-{uuid.uuid4()}",
                ),
                metadata=publisher,
            )
            print(f"   event {published.event_id}, "
                  f"{published.deliveries_scheduled} delivery(ies) scheduled")
            if published.deliveries_scheduled < 1:
                fail("PublishEvent scheduled no delivery for the new webhook")

            step("ListDeliveries / GetDelivery until the delivery succeeded")
            delivery = wait_for_delivery(
                webhooks, pb, admin, args.org, webhook_id, published.event_id, args.timeout
            )
            attempt = delivery.attempts[-1]
            print(f"   attempt {attempt.attempt}: HTTP {attempt.status_code} "
                  f"in {attempt.duration_ms} ms")
            if args.check_echo:
                check_echo(attempt, secret, published.event_id)
        finally:
            step(f"DeleteWebhook {webhook_id}")
            webhooks.DeleteWebhook(
                pb.DeleteWebhookRequest(organization_id=args.org, webhook_id=webhook_id),
                metadata=admin,
            )
    except grpc.RpcError as err:
        fail(f"{err.code().name}: {err.details()}")
    finally:
        channel.close()
    step("python walk-through: OK")


if __name__ == "__main__":
    main()
