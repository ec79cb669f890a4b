//! Schema validation at publish (issue 20, item 8): what checking `data`
//! against an event type's JSON Schema costs. One service, one endpoint
//! subscribed to two types made through CreateEventType: one with a
//! realistic schema, one without any; the same ~1 KiB `data` published to
//! either. Rounds of each alternate (ABBA, so a drift of the machine falls
//! on both alike) and medians are compared: deliveries per second and the
//! service's CPU per delivery.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::{Value, json};
use tonic::Code;
use uuid::Uuid;

use webhook_service::domain::catalogue::check_published;
use webhook_service::domain::schema::Schema;
use webhook_service::grpc::proto::webhook_service_client::WebhookServiceClient;
use webhook_service::grpc::proto::{CreateEventTypeRequest, PublishEventRequest};

use crate::database::DatabaseRounds;
use crate::receiver::Receiver;
use crate::rounds::{self, median};
use crate::scenarios::{Databases, GRPC_CHANNELS};
use crate::service::{Service, authorized, catalogue_token};

const VALIDATED: &str = "bench.order.placed";
const UNVALIDATED: &str = "bench.order.placed.unchecked";
/// Rounds of each type, after one of each to warm up.
const ROUNDS: usize = 5;
const LIMIT: Duration = Duration::from_secs(300);

#[derive(Debug, Clone, Serialize)]
pub struct SchemaValidation {
    pub events_per_round: usize,
    pub rounds_each: usize,
    /// `data` of every event, serialized (the same for both types).
    pub data_bytes: usize,
    /// The validated type's schema, serialized.
    pub schema_bytes: usize,
    pub validated: Rounds,
    pub unvalidated: Rounds,
    /// Median deliveries/s validated over unvalidated. Target: >= 0.90.
    pub ratio: f64,
    /// Median CPU per delivery validated minus unvalidated: what checking
    /// one event's `data` costs the service, as far as the noise lets it
    /// show.
    pub cpu_us_per_validation: f64,
    /// The check PublishEvent runs (`check_published`, the schema compiled
    /// once), timed in the bench's own process on the same data: µs per
    /// call, median of 5 passes over 20,000 events. Free of the service's
    /// and the machine's noise.
    pub in_process_check_us: f64,
}

/// One type's rounds, in the order run, and their medians.
#[derive(Debug, Clone, Serialize)]
pub struct Rounds {
    pub event_type: &'static str,
    pub deliveries_per_second: Vec<f64>,
    pub service_cpu_us_per_delivery: Vec<f64>,
    pub median_per_second: f64,
    pub median_cpu_us_per_delivery: f64,
    /// On PostgreSQL, the database's CPU and WAL per delivery, each round
    /// and their medians.
    #[serde(flatten)]
    pub database: DatabaseRounds,
}

impl Rounds {
    fn new(event_type: &'static str) -> Self {
        Self {
            event_type,
            deliveries_per_second: Vec::new(),
            service_cpu_us_per_delivery: Vec::new(),
            median_per_second: f64::NAN,
            median_cpu_us_per_delivery: f64::NAN,
            database: DatabaseRounds::default(),
        }
    }

    fn finish(mut self) -> Self {
        self.median_per_second = median(&self.deliveries_per_second);
        self.median_cpu_us_per_delivery = median(&self.service_cpu_us_per_delivery);
        self.database.finish();
        self
    }
}

pub async fn schema_validation(
    databases: &dyn Databases,
    receiver: &Arc<Receiver>,
    events_per_round: usize,
) -> SchemaValidation {
    let service = Service::start(&databases.fresh(), &receiver.ca_file, &[]).await;
    let schema = order_schema();
    create_event_types(&service, &[(VALIDATED, Some(&schema)), (UNVALIDATED, None)]).await;
    let path = format!("/{}/schema", Uuid::new_v4().simple());
    service
        .subscribe_in_to(service.organization, &[VALIDATED, UNVALIDATED], 1, |_| {
            receiver.url(&path)
        })
        .await;
    schema_is_enforced(&service).await;

    let clients = service.event_clients(GRPC_CHANNELS).await;
    let (mut validated, mut unvalidated) = (Rounds::new(VALIDATED), Rounds::new(UNVALIDATED));
    // One round of each to warm up (connections made, the schema compiled
    // and cached), then V U U V V U ...
    for i in 0..2 * ROUNDS + 2 {
        let (validates, warm_up) = rounds::kind(i);
        let side = if validates {
            &mut validated
        } else {
            &mut unvalidated
        };
        let (event_type, first) = (side.event_type, i * events_per_round);
        let token = service.publisher_token();
        let spent = rounds::publish_and_wait(
            &service,
            &clients,
            (first, events_per_round),
            |n| {
                rounds::publish_request(
                    service.organization,
                    event_type,
                    BTreeMap::new(),
                    order(n),
                    &token,
                )
            },
            // One endpoint: one delivery per event.
            (first + events_per_round) as u64,
            LIMIT,
        )
        .await;
        if !warm_up {
            let count = events_per_round as f64;
            side.deliveries_per_second.push(count / spent.seconds);
            side.service_cpu_us_per_delivery
                .push(spent.cpu_seconds * 1e6 / count);
            side.database
                .push(spent.database.map(|d| d.per_delivery(events_per_round)));
        }
    }
    let (validated, unvalidated) = (validated.finish(), unvalidated.finish());
    SchemaValidation {
        in_process_check_us: check_in_process(&schema),
        events_per_round,
        rounds_each: ROUNDS,
        data_bytes: serde_json::to_vec(&order(0)).unwrap().len(),
        schema_bytes: serde_json::to_vec(&schema).unwrap().len(),
        ratio: validated.median_per_second / unvalidated.median_per_second,
        cpu_us_per_validation: validated.median_cpu_us_per_delivery
            - unvalidated.median_cpu_us_per_delivery,
        validated,
        unvalidated,
    }
}

/// Event types (name, schema if any) through CreateEventType, as a
/// platform's backend would: an order was placed.
pub async fn create_event_types(service: &Service, types: &[(&str, Option<&Value>)]) {
    let mut client = WebhookServiceClient::new(service.channel().await);
    let token = catalogue_token();
    for &(name, schema) in types {
        let request = CreateEventTypeRequest {
            name: name.into(),
            description: "An order was placed (bench).".into(),
            schema: schema.map(|s| serde_json::from_value(s.clone()).expect("schema as a Struct")),
            ..Default::default()
        };
        client
            .create_event_type(authorized(request, &token))
            .await
            .expect("create event type");
    }
}

/// The validated type refuses `data` its schema forbids (so the rounds
/// measure a schema that is checked); nothing is delivered for it.
async fn schema_is_enforced(service: &Service) {
    let mut client = service.event_clients(1).await.remove(0);
    let token = service.publisher_token();
    let mut data = order(0);
    data["customer"]["loyalty_tier"] = json!("gold");
    data["status"] = json!("lost");
    let request = PublishEventRequest {
        organization_id: service.organization.to_string(),
        r#type: VALIDATED.into(),
        data: Some(serde_json::from_value(data).unwrap()),
        ..Default::default()
    };
    let refused = client
        .publish_event(authorized(request, &token))
        .await
        .expect_err("data against the schema is refused");
    assert_eq!(refused.code(), Code::InvalidArgument, "{refused:?}");
}

/// A schema as a platform would write one for an order: 11 properties, a
/// nested object closed with `additionalProperties: false`, a list of
/// objects, an enum, a pattern, the formats `uuid`, `date-time` and
/// `email`, and `required` lists.
fn order_schema() -> Value {
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "required": ["order_id", "status", "placed_at", "customer", "items", "total", "currency"],
        "properties": {
            "order_id": {"type": "string", "format": "uuid"},
            "status": {"enum": ["placed", "paid", "shipped", "delivered", "cancelled"]},
            "placed_at": {"type": "string", "format": "date-time"},
            "customer": {
                "type": "object",
                "required": ["id", "email", "name"],
                "additionalProperties": false,
                "properties": {
                    "id": {"type": "string", "minLength": 1, "maxLength": 64},
                    "email": {"type": "string", "format": "email"},
                    "name": {"type": "string", "maxLength": 200},
                    "country": {"type": "string", "pattern": "^[A-Z]{2}$"}
                }
            },
            "shipping_address": {
                "type": "object",
                "required": ["line1", "city", "postal_code", "country"],
                "properties": {
                    "line1": {"type": "string", "maxLength": 200},
                    "line2": {"type": "string", "maxLength": 200},
                    "city": {"type": "string", "maxLength": 100},
                    "postal_code": {"type": "string", "maxLength": 16},
                    "country": {"type": "string", "pattern": "^[A-Z]{2}$"}
                }
            },
            "items": {
                "type": "array",
                "minItems": 1,
                "maxItems": 100,
                "items": {
                    "type": "object",
                    "required": ["sku", "quantity", "unit_price"],
                    "properties": {
                        "sku": {"type": "string", "maxLength": 32},
                        "description": {"type": "string", "maxLength": 200},
                        "quantity": {"type": "integer", "minimum": 1},
                        "unit_price": {"type": "integer", "minimum": 0}
                    }
                }
            },
            "total": {"type": "integer", "minimum": 0},
            "currency": {"type": "string", "pattern": "^[A-Z]{3}$"},
            "coupon": {"type": ["string", "null"], "maxLength": 32},
            "gift": {"type": "boolean"},
            "note": {"type": "string", "maxLength": 1000}
        }
    })
}

/// Order `n`: about 1 KiB serialized, the same size for every `n`.
pub fn order(n: usize) -> Value {
    let item = |i: usize, quantity: usize, price: usize| {
        json!({
            "sku": format!("SKU-{i:04}-{:06}", n % 1_000_000),
            "description": format!("Item {i} of order {n:08}, standard packaging"),
            "quantity": quantity,
            "unit_price": price
        })
    };
    json!({
        "order_id": Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0000 | n as u128).to_string(),
        "status": "placed",
        "placed_at": format!("2026-12-06T10:{:02}:{:02}.{:03}Z", n / 60 % 60, n % 60, n % 1000),
        "customer": {
            "id": format!("cus_{n:012}"),
            "email": format!("customer{n:08}@example.com"),
            "name": "Ada Lovelace",
            "country": "GB"
        },
        "shipping_address": {
            "line1": "12 St James's Square",
            "line2": "Flat 4",
            "city": "London",
            "postal_code": "SW1Y 4JH",
            "country": "GB"
        },
        "items": [item(1, 2, 1_250), item(2, 1, 4_999), item(3, 3, 799), item(4, 1, 15_000)],
        "total": 2 * 1_250 + 4_999 + 3 * 799 + 15_000,
        "currency": "GBP",
        "coupon": null,
        "gift": false,
        "note": "Leave the parcel with the concierge if nobody answers; call ahead. Fragile: glassware inside, keep upright."
    })
}

/// µs per `check_published` of the same data, in this process.
fn check_in_process(schema: &Value) -> f64 {
    const EVENTS: usize = 20_000;
    let schema = Schema::compile(schema).expect("the bench schema compiles");
    let data: Vec<Value> = (0..EVENTS).map(order).collect();
    let passes: Vec<f64> = (0..5)
        .map(|_| {
            let started = Instant::now();
            for d in &data {
                check_published(&schema, std::hint::black_box(d)).expect("valid data");
            }
            started.elapsed().as_secs_f64() * 1e6 / EVENTS as f64
        })
        .collect();
    median(&passes)
}
