#!/usr/bin/env node
// The gRPC walk-through (docs/walkthrough/grpc.md) as a Node.js gRPC client.
//
// Registers a webhook for `member.added`, publishes a `member.added` event,
// follows its delivery with ListDeliveries and GetDelivery until it
// succeeded, then deletes the webhook. Prints each step; exits non-zero on
// any failure.
//
// The client is built from ../../proto at run time by @grpc/proto-loader, so
// it cannot drift from the contract.
//
//   npm ci
//   node walkthrough.js --address 127.0.0.1:50051 --org ORG_UUID \
//       --receiver-url https://receiver.example/hook
//   # tokens: ADMIN_TOKEN (an OWNER or ADMIN of ORG_UUID) and
//   # PUBLISHER_TOKEN (scope events:publish), or --admin-token/--publisher-token
//
// With --check-echo, the receiver must answer each delivery with the request
// it got, as `webhook-service listen --echo` does; the script then checks
// the delivered body and both signatures (`X-Webhook-Signature` and the Standard Webhooks
// `webhook-signature`) against the secret CreateWebhook returned.
"use strict";

const crypto = require("node:crypto");
const path = require("node:path");
const { parseArgs } = require("node:util");
const grpc = require("@grpc/grpc-js");
const protoLoader = require("@grpc/proto-loader");

const PROTO_ROOT = path.resolve(__dirname, "..", "..", "proto");
const PROTO_FILE = "webhooks/v1/webhooks.proto";

class Failure extends Error {}

function step(message) {
  console.log(`== ${message}`);
}

function loadClient(address) {
  const definition = protoLoader.loadSync(PROTO_FILE, {
    includeDirs: [PROTO_ROOT],
    // Field names in lowerCamelCase (organizationId), enums by name,
    // 64-bit integers as strings, and unset fields with their defaults.
    keepCase: false,
    enums: String,
    longs: String,
    defaults: true,
  });
  const v1 = grpc.loadPackageDefinition(definition).webhooks.v1;
  const credentials = grpc.credentials.createInsecure();
  return {
    webhooks: new v1.WebhookService(address, credentials),
    events: new v1.EventService(address, credentials),
  };
}

// One unary call as a promise.
function call(client, method, request, token) {
  const metadata = new grpc.Metadata();
  metadata.set("authorization", `Bearer ${token}`);
  return new Promise((resolve, reject) => {
    client[method](request, metadata, (err, response) => (err ? reject(err) : resolve(response)));
  });
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// Finds the event's delivery with ListDeliveries, then follows it with
// GetDelivery until it succeeded. Fails on FAILED, CANCELLED or timeout.
async function waitForDelivery(webhooks, token, org, webhookId, eventId, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  let deliveryId;
  while (!deliveryId) {
    const page = await call(
      webhooks,
      "ListDeliveries",
      { organizationId: org, webhookId, eventType: "member.added" },
      token,
    );
    const found = page.deliveries.find((d) => d.eventId === eventId);
    if (found) {
      deliveryId = found.id;
      console.log(`   ListDeliveries: delivery ${deliveryId} is ${found.status}`);
    } else if (Date.now() > deadline) {
      throw new Failure(`no delivery of event ${eventId} listed after ${timeoutMs / 1000}s`);
    } else {
      await sleep(200);
    }
  }

  let last;
  for (;;) {
    const delivery = await call(webhooks, "GetDelivery", { organizationId: org, deliveryId }, token);
    if (delivery.status !== last) {
      console.log(`   GetDelivery: ${delivery.status}, ${delivery.attemptCount} attempt(s)`);
      last = delivery.status;
    }
    // The attempt is recorded with the status; wait for both to be visible.
    if (delivery.status === "DELIVERY_STATUS_SUCCEEDED" && delivery.attempts.length > 0) {
      return delivery;
    }
    if (["DELIVERY_STATUS_FAILED", "DELIVERY_STATUS_CANCELLED"].includes(delivery.status)) {
      throw new Failure(`delivery ${deliveryId} ended ${delivery.status}: ${delivery.lastError}`);
    }
    if (Date.now() > deadline) {
      throw new Failure(
        `delivery ${deliveryId} still ${delivery.status} after ${timeoutMs / 1000}s: ${delivery.lastError}`,
      );
    }
    await sleep(200);
  }
}

function safeEqual(a, b) {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && crypto.timingSafeEqual(x, y);
}

// Checks what the echoing receiver says it got: the event, signed twice.
function checkEcho(attempt, secret, eventId) {
  let headers, body;
  try {
    const echo = JSON.parse(attempt.responseExcerpt);
    headers = echo.headers;
    body = Buffer.from(echo.body, "utf8");
  } catch (err) {
    throw new Failure(`the receiver's answer is not an echo (${err.message}): ${attempt.responseExcerpt.slice(0, 200)}`);
  }
  if (!headers || !body) throw new Failure("the receiver's answer is not an echo");

  const payload = JSON.parse(body);
  if (payload.id !== eventId || payload.type !== "member.added") {
    throw new Failure(`the receiver got another event: ${body}`);
  }
  if (JSON.stringify(payload.data) !== JSON.stringify({ user_id: "u_42" })) {
    throw new Failure(`the receiver got other data: ${JSON.stringify(payload.data)}`);
  }

  // X-Webhook-Signature: sha256= + hex HMAC of the body, keyed with the secret string.
  const hex = "sha256=" + crypto.createHmac("sha256", secret).update(body).digest("hex");
  if (!safeEqual(hex, headers["x-webhook-signature"] || "")) {
    throw new Failure("X-Webhook-Signature does not verify");
  }

  // webhook-signature (Standard Webhooks): v1, + base64 HMAC of
  // "<webhook-id>.<webhook-timestamp>.<body>", keyed with the secret's bytes.
  const key = Buffer.from(secret.replace(/^whsec_/, ""), "base64");
  const signed = Buffer.concat([
    Buffer.from(`${headers["webhook-id"]}.${headers["webhook-timestamp"]}.`),
    body,
  ]);
  const v1 = "v1," + crypto.createHmac("sha256", key).update(signed).digest("base64");
  const offered = (headers["webhook-signature"] || "").split(" ");
  if (!offered.some((s) => safeEqual(v1, s))) {
    throw new Failure("webhook-signature does not verify");
  }
  if (headers["webhook-id"] !== eventId) {
    throw new Failure(`webhook-id ${headers["webhook-id"]} is not the event id ${eventId}`);
  }
  console.log("   the receiver got the event; X-Webhook-Signature and webhook-signature verify");
}

function options() {
  const { values } = parseArgs({
    options: {
      address: { type: "string", default: process.env.WEBHOOK_SERVICE_ADDR || "127.0.0.1:50051" },
      org: { type: "string", default: process.env.ORGANIZATION_ID },
      "receiver-url": { type: "string", default: process.env.RECEIVER_URL },
      "admin-token": { type: "string", default: process.env.ADMIN_TOKEN },
      "publisher-token": { type: "string", default: process.env.PUBLISHER_TOKEN },
      timeout: { type: "string", default: "30" },
      "check-echo": { type: "boolean", default: false },
    },
  });
  for (const name of ["org", "receiver-url", "admin-token", "publisher-token"]) {
    if (!values[name]) {
      throw new Failure(`--${name} (or its environment variable) is required`);
    }
  }
  return values;
}

async function main() {
  const args = options();
  const org = args.org;
  const { webhooks, events } = loadClient(args.address);
  try {
    step(`CreateWebhook ${args["receiver-url"]} for member.added`);
    const created = await call(
      webhooks,
      "CreateWebhook",
      { organizationId: org, url: args["receiver-url"], events: ["member.added"] },
      args["admin-token"],
    );
    const webhookId = created.webhook.id;
    if (!created.secret.startsWith("whsec_")) throw new Failure("CreateWebhook returned no whsec_ secret");
    console.log(`   webhook ${webhookId}, secret whsec_… (shown only once)`);

    try {
      step("PublishEvent member.added");
      const published = await call(
        events,
        "PublishEvent",
        {
          organizationId: org,
          type: "member.added",
          // google.protobuf.Struct, spelled out: {"user_id": "u_42"}.
          data: { fields: { user_id: { stringValue: "u_42" } } },
          idempotencyKey: `walkthrough-node-${crypto.randomUUID()}`,
        },
        args["publisher-token"],
      );
      console.log(`   event ${published.eventId}, ${published.deliveriesScheduled} delivery(ies) scheduled`);
      if (published.deliveriesScheduled < 1) {
        throw new Failure("PublishEvent scheduled no delivery for the new webhook");
      }

      step("ListDeliveries / GetDelivery until the delivery succeeded");
      const delivery = await waitForDelivery(
        webhooks,
        args["admin-token"],
        org,
        webhookId,
        published.eventId,
        Number(args.timeout) * 1000,
      );
      const attempt = delivery.attempts[delivery.attempts.length - 1];
      console.log(`   attempt ${attempt.attempt}: HTTP ${attempt.statusCode} in ${attempt.durationMs} ms`);
      if (args["check-echo"]) checkEcho(attempt, created.secret, published.eventId);
    } finally {
      step(`DeleteWebhook ${webhookId}`);
      await call(webhooks, "DeleteWebhook", { organizationId: org, webhookId }, args["admin-token"]);
    }
  } finally {
    webhooks.close();
    events.close();
  }
  step("node walk-through: OK");
}

main().catch((err) => {
  const what = err instanceof Failure ? err.message : err.code !== undefined ? `${grpc.status[err.code]}: ${err.details}` : err.stack;
  console.error(`FAILED: ${what}`);
  process.exit(1);
});
