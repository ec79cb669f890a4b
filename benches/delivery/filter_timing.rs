//! The filters scenario's timing in the bench's own process, on the
//! scenario's events and filters: what evaluating costs, free of the
//! service's and the machine's noise.

use std::collections::BTreeMap;
use std::time::Instant;

use serde::Serialize;
use serde_json::Value;
use uuid::Uuid;

use webhook_service::domain::filter::{EventView, Filter, FilterCache};

use crate::filters::{FILTERED, data, labels, matches};
use crate::rounds::median;

/// What `Filter::matches` should take per (event, webhook) pair.
const TARGET_US_PER_PAIR: f64 = 5.0;

/// The filters timed in the bench's own process on the bench's events:
/// medians of 5 passes.
#[derive(Debug, Clone, Serialize)]
pub struct InProcess {
    /// (event, webhook) pairs per pass: 200 events x 100 filters.
    pub pairs_per_pass: usize,
    /// `Filter::matches` per pair, the event already converted.
    pub matches_us_per_pair: f64,
    /// `FilterCache::get` by the filter's text and `Filter::matches`, per
    /// pair: what publishing does per subscriber.
    pub cached_matches_us_per_pair: f64,
    /// Events converted per pass.
    pub events_per_pass: usize,
    /// `EventView::new` per event (and its drop): once per published event
    /// when any subscriber has a filter.
    pub event_view_us_per_event: f64,
    pub target_us_per_pair: f64,
    /// Whether `matches_us_per_pair` is under the target (stated, not
    /// asserted: a noisy machine does not fail the bench).
    pub target_held: bool,
}

/// `Filter::matches` per pair and `EventView::new` per event on the
/// bench's own events, in this process.
pub fn time_in_process(texts: &[String]) -> InProcess {
    const EVENTS: usize = 200;
    const VIEWS: usize = 20_000;
    let compiled: Vec<Filter> = texts
        .iter()
        .map(|t| Filter::parse(t).expect("the bench's filters compile"))
        .collect();
    let cache = FilterCache::new(texts.len());
    let events: Vec<(BTreeMap<String, String>, Value)> =
        (0..EVENTS).map(|n| (labels(n), data(n))).collect();
    let organization = Uuid::new_v4().to_string();
    let views: Vec<EventView<'_>> = events
        .iter()
        .map(|(labels, data)| EventView::new(&organization, FILTERED, labels, data))
        .collect();
    let pairs = EVENTS * texts.len();
    let pass = |evaluate: &dyn Fn(usize, &EventView<'_>) -> bool| {
        let mut matched = vec![0; EVENTS];
        let started = Instant::now();
        for (view, matched) in views.iter().zip(&mut matched) {
            for i in 0..texts.len() {
                *matched += usize::from(evaluate(i, std::hint::black_box(view)));
            }
        }
        let us = started.elapsed().as_secs_f64() * 1e6 / pairs as f64;
        // Every filter agrees on every event: the bench measures the
        // matches and the misses it says it does.
        for (n, matched) in matched.into_iter().enumerate() {
            assert_eq!(matched, if matches(n) { texts.len() } else { 0 });
        }
        us
    };
    let direct = |i: usize, view: &EventView<'_>| compiled[i].matches(view).expect("no error");
    let cached = |i: usize, view: &EventView<'_>| {
        let filter = cache.get(&texts[i]).expect("compiles");
        filter.matches(view).expect("no error")
    };
    let matches_us = median(&(0..5).map(|_| pass(&direct)).collect::<Vec<_>>());
    let cached_us = median(&(0..5).map(|_| pass(&cached)).collect::<Vec<_>>());
    let view_passes: Vec<f64> = (0..5)
        .map(|_| {
            let started = Instant::now();
            for k in 0..VIEWS {
                let (labels, data) = &events[k % EVENTS];
                std::hint::black_box(EventView::new(&organization, FILTERED, labels, data));
            }
            started.elapsed().as_secs_f64() * 1e6 / VIEWS as f64
        })
        .collect();
    InProcess {
        pairs_per_pass: pairs,
        matches_us_per_pair: matches_us,
        cached_matches_us_per_pair: cached_us,
        events_per_pass: VIEWS,
        event_view_us_per_event: median(&view_passes),
        target_us_per_pair: TARGET_US_PER_PAIR,
        target_held: matches_us < TARGET_US_PER_PAIR,
    }
}
