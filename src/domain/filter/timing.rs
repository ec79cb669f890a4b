//! Timings, run by hand in release (they assert nothing about speed):
//! `cargo test --release --lib domain::filter::timing -- --ignored --nocapture --test-threads 1`

use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::Instant;

use serde_json::{Value as Json, json};

use super::*;

/// The median, over 7 runs, of the time per call of `f`, in ns.
fn median_ns(iters: u32, mut f: impl FnMut()) -> f64 {
    for _ in 0..iters.min(1000) {
        f();
    }
    let mut runs: Vec<f64> = (0..7)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..iters {
                f();
            }
            start.elapsed().as_nanos() as f64 / f64::from(iters)
        })
        .collect();
    runs.sort_by(f64::total_cmp);
    runs[3]
}

/// The spike's event: `data` grown with items to about `bytes` of JSON.
fn event_data(bytes: usize) -> Json {
    let mut data = json!({
        "amount": 1200,
        "created_at": "2024-06-01T12:00:00Z",
        "customer": {"name": "Ann Lee", "email": "ann@example.com", "id": 7},
        "items": [{"sku": "X1", "qty": 2, "price": 60.0}],
    });
    let mut i = 0;
    while serde_json::to_string(&data).unwrap().len() < bytes {
        data["items"].as_array_mut().unwrap().push(
            json!({"sku": format!("S{i:05}"), "qty": i % 7, "price": 1.25, "name": "widget"}),
        );
        i += 1;
    }
    data
}

#[test]
#[ignore = "a measurement, run by hand in release"]
fn per_pair_evaluation_on_a_1_kib_event() {
    let labels: BTreeMap<String, String> = [("region", "eu"), ("vip", "yes"), ("tier", "gold")]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    let data = event_data(1024);
    let size = serde_json::to_string(&data).unwrap().len();
    let items = data["items"].as_array().unwrap().len();
    let build = median_ns(100_000, || {
        black_box(EventView::new(
            "org_42",
            "member.added",
            &labels,
            black_box(&data),
        ));
    });
    println!("EventView::new, data {size} B ({items} items): {build:.0} ns");
    let view = EventView::new("org_42", "member.added", &labels, &data);
    for source in [
        r#"type == "member.added" && labels.region == "eu""#,
        "data.amount > 1000",
        r#""vip" in labels && data.items.exists(i, i.sku.startsWith("X"))"#,
        r#"has(data.customer.email) && data.customer.email.endsWith("@example.com") && organization_id == "org_42""#,
        r#"organization_id.matches("^org_[0-9]+$")"#,
        r#"timestamp(data.created_at) > timestamp("2024-01-01T00:00:00Z")"#,
    ] {
        let filter = Filter::parse(source).unwrap();
        assert_eq!(filter.matches(&view), Ok(true), "{source}");
        let ns = median_ns(100_000, || {
            black_box(filter.matches(black_box(&view)).ok());
        });
        let compile = median_ns(1_000, || {
            black_box(Filter::parse(black_box(source)).ok());
        });
        println!("{ns:>7.0} ns eval | {compile:>7.0} ns parse | {source}");
    }
}

/// What one item-step costs, to set [`MAX_STEPS`]: comprehensions that
/// find nothing, so they visit every item.
#[test]
#[ignore = "a measurement, run by hand in release"]
fn cost_of_an_item_step() {
    let labels = BTreeMap::new();
    let objects: Vec<Json> = (0..2_000)
        .map(|i| json!({"sku": format!("S{i:05}"), "qty": i % 7, "price": 1.25, "name": "widget"}))
        .collect();
    let numbers: Vec<Json> = (0..2_000).map(|_| json!(0)).collect();
    let data = json!({"objects": objects, "numbers": numbers});
    let view = EventView::new("o", "t", &labels, &data);
    for source in [
        "data.objects.exists(i, i.sku == 'nope')",
        "data.objects.exists(i, i.sku.startsWith('nope') || i.name.contains('nope') || i.qty > 100.0)",
        "data.objects.all(i, has(i.sku))",
        "data.numbers.exists(i, i == 1.0)",
        "data.numbers.filter(i, i == 0.0).size() == 0",
    ] {
        let filter = Filter::parse(source).unwrap();
        let nodes_per_item = if source.contains("objects") { 5 } else { 1 };
        let steps: u64 = filter
            .compiled
            .ranges
            .iter()
            .map(|r| (r.body_nodes + nodes_per_item) * 2_000)
            .sum();
        let ns = median_ns(20, || {
            black_box(Value::resolve(&filter.compiled.expr, view.context()).ok());
        });
        println!(
            "{:>6.0} µs per evaluation, {:>5.1} ns per step, {:>5.0} ns per item ({steps} steps) | {source}",
            ns / 1000.0,
            ns / steps as f64,
            ns / 2_000.0
        );
    }
}

/// The costliest filters the rules admit, on a 256 KiB event.
#[test]
#[ignore = "a measurement, run by hand in release"]
fn worst_cases_the_rules_admit() {
    let labels = BTreeMap::new();
    let blob = "a".repeat(200 * 1024);
    let items: Vec<Json> = (0..(MAX_STEPS / 11))
        .map(|i| json!({"sku": format!("S{i:05}")}))
        .collect();
    // Items of 25 fields: the copy of each item into the body's scope.
    let fat: Vec<Json> = (0..(MAX_STEPS / 35))
        .map(|i| {
            let mut item = serde_json::Map::new();
            for f in 0..24 {
                item.insert(format!("f{f}"), json!(f));
            }
            item.insert("sku".to_owned(), json!(format!("S{i}")));
            Json::Object(item)
        })
        .collect();
    let data = json!({"blob": blob, "items": items, "fat": fat});
    let view = EventView::new("o", "t", &labels, &data);
    let concat = format!("(data.blob{}).size() == 0", " + data.blob".repeat(MAX_PLUS));
    let upper = format!("{}data.blob{}.size() == 0", "", ".upperAscii()".repeat(20));
    for source in [
        concat.as_str(),
        upper.as_str(),
        "data.items.exists(i, i.sku == 'nope')",
        "data.fat.exists(i, i.sku == 'nope')",
    ] {
        let filter = Filter::parse(source).unwrap();
        let start = Instant::now();
        let result = filter.matches(&view);
        println!(
            "{:>6} µs -> {result:?} | {:.80}",
            start.elapsed().as_micros(),
            source
        );
    }
}
