//! The printed summary: a few lines per backend, for the scenarios that ran.

use crate::Report;
use crate::database::{DatabaseCost, DatabaseRounds, figures, summary_of};
use crate::filters::Filters;
use crate::hostile::{Calls, HostileTenant};
use crate::ordered::OrderedDelivery;
use crate::retry_backlog::{IdleSide, RetryBacklog};
use crate::schema::SchemaValidation;
use crate::signing::Signing;
use crate::tracing::Tracing;

pub fn print(report: &Report) {
    println!(
        "\nwebhook-service delivery benchmark, {} cores, {}",
        report.machine.cores, report.date
    );
    for b in &report.backends {
        println!("\n[{}]", b.backend);
        let throughputs: Vec<_> = [
            ("1 endpoint (N x 1)", &b.one_endpoint),
            ("fan-out (N x 100)", &b.fan_out),
            ("retry load (10% answer 500)", &b.retry_load),
        ]
        .into_iter()
        .filter_map(|(name, t)| Some((name, t.as_ref()?)))
        .collect();
        if !throughputs.is_empty() {
            println!(
                "{:<34} {:>11} {:>9} {:>12} {:>12} {:>7} {:>12} {:>11} {:>11} {:>10} {:>12}",
                "throughput",
                "deliveries",
                "seconds",
                "per second",
                "baseline/s",
                "ratio",
                "cpu us/each",
                "pg us/each",
                "WAL B/each",
                "TLS conns",
                "stmts/each"
            );
        }
        for (name, t) in throughputs {
            println!(
                "{:<34} {:>11} {:>9.2} {:>12.0} {:>12.0} {:>7.3} {:>12.0} {:>11} {:>11} {:>10} {:>12}",
                name,
                t.deliveries,
                t.seconds,
                t.deliveries_per_second,
                t.baseline_per_second,
                t.ratio,
                t.cost.service_cpu_us_per_delivery,
                column(t.cost.database.as_ref(), |d| d.postgres_cpu_us_per_delivery),
                column(t.cost.database.as_ref(), |d| d.wal_bytes_per_delivery),
                t.cost.tls_handshakes,
                t.cost
                    .statements_per_delivery
                    .map_or_else(|| "-".to_owned(), |s| format!("{s:.2}"))
            );
        }
        if let Some(l) = &b.latency {
            println!(
                "latency at {}/s, publish -> arrival: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms; cost {:.0} us, {} TLS connections{}",
                l.rate_per_second,
                l.p50_ms,
                l.p99_ms,
                l.max_ms,
                l.cost.service_cpu_us_per_delivery,
                l.cost.tls_handshakes,
                summary_of(l.cost.database.as_ref())
            );
        }
        if let Some(c) = &b.create_webhook {
            println!(
                "CreateWebhook x{}: {:.0}/s (p50 {:.2} ms, p99 {:.2} ms); Health/Check {:.0}/s (p50 {:.2} ms, p99 {:.2} ms); ratio {:.3}",
                c.concurrency,
                c.per_second,
                c.p50_ms,
                c.p99_ms,
                c.baseline_per_second,
                c.baseline_p50_ms,
                c.baseline_p99_ms,
                c.ratio
            );
        }
        if let Some(k) = &b.backlog {
            println!(
                "backlog {}: published in {:.1} s, drained in {:.1} s ({:.0}/s), peak RSS {:.1} MB while draining, {:.1} MB whole run; cost {:.0} us, {} TLS connections{}",
                k.deliveries,
                k.publish_seconds,
                k.drain_seconds,
                k.drain_per_second,
                k.peak_rss_during_drain_mb,
                k.peak_rss_whole_run_mb,
                k.cost.service_cpu_us_per_delivery,
                k.cost.tls_handshakes,
                summary_of(k.cost.database.as_ref())
            );
        }
        if let Some(n) = &b.noisy_neighbour {
            println!(
                "noisy neighbour: A {} deliveries to {} endpoints answering in {} ms drains in {:.1} s ({:.1} s alone, throughput x{:.2}); B at {}/s: p50/p99 {:.2}/{:.2} ms idle, {:.2}/{:.2} ms under A; B p99 / A drain {:.5}; cost {:.0} us, {} TLS connections{}",
                n.a_deliveries,
                n.a_endpoints,
                n.a_answer_ms,
                n.a_drain_seconds,
                n.a_drain_alone_seconds,
                n.a_throughput_ratio,
                n.b_rate_per_second,
                n.b_idle_p50_ms,
                n.b_idle_p99_ms,
                n.b_p50_ms,
                n.b_p99_ms,
                n.b_p99_over_a_drain,
                n.cost.service_cpu_us_per_delivery,
                n.cost.tls_handshakes,
                summary_of(n.cost.database.as_ref())
            );
        }
        if let Some(h) = &b.hostile_tenant {
            hostile(h);
        }
        if let Some(s) = &b.signing {
            signing(s);
        }
        if let Some(s) = &b.schema_validation {
            schema(s);
        }
        if let Some(f) = &b.filters {
            filters(f);
        }
        if let Some(o) = &b.ordered {
            ordered(o);
        }
        if let Some(t) = &b.tracing {
            tracing(t);
        }
        if let Some(r) = &b.retry_backlog {
            retry_backlog(r);
        }
    }
}

fn hostile(h: &HostileTenant) {
    let s = &h.history;
    println!(
        "hostile tenant: {} deliveries of {} other organizations stored in {:.1} s",
        s.deliveries, s.organizations, s.insert_seconds
    );
    let (empty, full) = (&h.list_empty_store, &h.list_full_store);
    println!(
        "  ListDeliveries, organization with none: {:.0}/s (p50 {:.2} ms) on the empty store, {:.1}/s (p50 {:.2} ms) on the full one; ratio {:.4} (target about 1)",
        empty.per_second, empty.p50_ms, full.per_second, full.p50_ms, h.list_ratio
    );
    let (idle, flood, a) = (&h.b_idle, &h.b_flood, &h.a_flood);
    println!(
        "  B PublishEvent at {}/s: p50/p99 {:.2}/{:.2} ms idle ({} of {} failed{}), {:.2}/{:.2} ms under A's flood (max {:.0} ms, {} of {} failed{}); p99 ratio {:.1} (target at most 2)",
        h.b_rate_per_second,
        idle.p50_ms,
        idle.p99_ms,
        idle.failed,
        idle.calls,
        codes(idle),
        flood.p50_ms,
        flood.p99_ms,
        flood.max_ms,
        flood.failed,
        flood.calls,
        codes(flood),
        h.b_p99_ratio
    );
    println!(
        "  A's flood, {} clients, {} deliveries: ListDeliveries {:.1}/s, p50 {:.2} ms, p99 {:.2} ms, {} failed{}; health: {} NOT_SERVING and {} unanswered of {} checks",
        h.a_clients,
        h.a_deliveries,
        a.per_second,
        a.p50_ms,
        a.p99_ms,
        a.failed,
        codes(a),
        h.health.not_serving,
        h.health.failed,
        h.health.checks
    );
}

/// The codes calls failed with, if any: ": Unavailable 3, DeadlineExceeded 2".
fn codes(calls: &Calls) -> String {
    let listed: Vec<String> = calls
        .failed_by_code
        .iter()
        .map(|(code, n)| format!("{code} {n}"))
        .collect();
    if listed.is_empty() {
        String::new()
    } else {
        format!(": {}", listed.join(", "))
    }
}

fn schema(s: &SchemaValidation) {
    let (v, u) = (&s.validated, &s.unvalidated);
    println!(
        "schema validation, 1 endpoint, {} bytes of data, {} rounds of {} events each: validated {:.0}/s, {:.0} us CPU per delivery; no schema {:.0}/s, {:.0} us; ratio {:.3} (target >= 0.90), validation {:.1} us each (medians; {:.1} us in process)",
        s.data_bytes,
        s.rounds_each,
        s.events_per_round,
        v.median_per_second,
        v.median_cpu_us_per_delivery,
        u.median_per_second,
        u.median_cpu_us_per_delivery,
        s.ratio,
        s.cpu_us_per_validation,
        s.in_process_check_us
    );
    database_medians(&[("validated", &v.database), ("no schema", &u.database)]);
}

fn signing(s: &Signing) {
    let (h, e) = (&s.hmac, &s.ed25519);
    println!(
        "signing, 1 endpoint, {} rounds of {} events each: HMAC {:.0}/s, {:.0} us CPU per delivery; ed25519 {:.0}/s, {:.0} us; ratio {:.3}, ed25519 costs {:.1} us more per delivery (medians; in process {:.1} us HMAC, {:.1} us ed25519)",
        s.rounds_each,
        s.events_per_round,
        h.median_per_second,
        h.median_cpu_us_per_delivery,
        e.median_per_second,
        e.median_cpu_us_per_delivery,
        s.ratio,
        s.cpu_us_more_per_delivery,
        s.in_process_hmac_us,
        s.in_process_ed25519_us
    );
    database_medians(&[("HMAC", &h.database), ("ed25519", &e.database)]);
}

fn tracing(t: &Tracing) {
    println!(
        "tracing, 1 endpoint, {} rounds of {} events each (medians):",
        t.rounds_each, t.events_per_round
    );
    for (s, ratio) in [
        (&t.off, 1.0),
        (&t.sampled_1_percent, t.cpu_ratio_1_percent),
        (&t.sampled_100_percent, t.cpu_ratio_100_percent),
    ] {
        println!(
            "  {:<30} {:>6.0}/s, {:>5.0} us CPU per delivery ({:.3}x off), {:.2} spans per event{}",
            s.sampler,
            s.median_per_second,
            s.median_cpu_us_per_delivery,
            ratio,
            s.spans_per_event,
            s.database.summary()
        );
    }
}

fn filters(f: &Filters) {
    let (w, wo) = (&f.filtered, &f.unfiltered);
    println!(
        "filters, {} webhooks a type, {} bytes of data, {} rounds of {} events each (medians; baseline {:.0}/s of {:.0?}):",
        f.webhooks_each,
        f.data_bytes,
        f.rounds_each,
        f.events_per_round,
        f.baseline_per_second,
        f.baselines_per_second
    );
    for (name, r) in [("with filters (half match)", w), ("without", wo)] {
        println!(
            "  {:<26} {:>7.0} deliveries/s, fan-out ratio {:.3}, CPU {:.0} us per delivery, {:.0} us per event{}",
            name,
            r.median_per_second,
            r.fan_out_ratio,
            r.median_cpu_us_per_delivery,
            r.median_cpu_us_per_event,
            r.database.summary()
        );
    }
    let p = &f.in_process;
    println!(
        "  fan-out ratio kept {:.3} (target about 1); CPU per event {:+.0} us with filters; in process: matches {:.2} us per pair ({:.2} through the cache), EventView::new {:.2} us per event; target < {} us per pair {}",
        f.fan_out_ratio_kept,
        f.cpu_us_per_event_saved,
        p.matches_us_per_pair,
        p.cached_matches_us_per_pair,
        p.event_view_us_per_event,
        p.target_us_per_pair,
        if p.target_held { "held" } else { "NOT held" }
    );
    let c = &f.check;
    println!(
        "  left out: {} no_match counted of {} expected, {} errors; {} deliveries succeeded of {} expected",
        c.metric_no_match,
        c.expected_no_match,
        c.metric_error,
        c.succeeded_deliveries,
        c.expected_deliveries
    );
}

fn ordered(o: &OrderedDelivery) {
    println!(
        "ordered delivery, 1 endpoint, {} keys, {} events from {} publishers, {} rounds each (medians), ratio ordered / unordered {:.3}:",
        o.keys, o.events, o.publishers, o.rounds_each, o.ratio
    );
    for s in [&o.ordered, &o.unordered] {
        let late: Vec<usize> = s.rounds.iter().map(|r| r.late).collect();
        let peak: Vec<usize> = s.rounds.iter().map(|r| r.peak_in_flight_per_key).collect();
        let turns: Vec<String> = s
            .rounds
            .iter()
            .map(|r| {
                let t = &r.key_turn;
                format!("{:.2}/{:.2}/{:.1}", t.p50_ms, t.p99_ms, t.max_ms)
            })
            .collect();
        println!(
            "  {:<10} {:>7.2} s {:>7.0} deliveries/s, CPU {:.0} us per delivery{}; late {:?}, peak per key {:?}, key turn p50/p99/max ms {}",
            s.ordering,
            s.median_seconds,
            s.median_per_second,
            s.median_cpu_us_per_delivery,
            match (
                s.median_postgres_cpu_us_per_delivery,
                s.median_wal_bytes_per_delivery
            ) {
                (Some(cpu), Some(wal)) =>
                    format!("; PostgreSQL {} per delivery", figures(cpu, wal)),
                _ => String::new(),
            },
            late,
            peak,
            turns.join(", ")
        );
    }
}

/// One line of the database's medians beside a two-sided scenario's, on
/// PostgreSQL; nothing on SQLite.
fn database_medians(sides: &[(&str, &DatabaseRounds)]) {
    let parts: Vec<String> = sides
        .iter()
        .filter_map(|(name, d)| Some(format!("{name} {}", d.figures()?)))
        .collect();
    if !parts.is_empty() {
        println!("  PostgreSQL per delivery: {}", parts.join("; "));
    }
}

/// A throughput table's database column: "-" on SQLite.
fn column(database: Option<&DatabaseCost>, figure: fn(&DatabaseCost) -> f64) -> String {
    database.map_or_else(|| "-".to_owned(), |d| format!("{:.0}", figure(d)))
}

fn retry_backlog(r: &RetryBacklog) {
    println!(
        "retry backlog: {} deliveries due in an hour (stored in {:.1} s); {} rounds each, empty and backlog alternating (medians):",
        r.backlog_deliveries, r.insert_seconds, r.rounds_each
    );
    for (name, c) in [
        ("fan-out (N x 100)", &r.fan_out),
        ("1 endpoint", &r.one_endpoint),
    ] {
        let (e, b) = (&c.empty, &c.backlog);
        println!(
            "  {:<18} empty {:>6.0}/s, {:>4.0} us CPU{}; backlog {:>6.0}/s, {:>4.0} us CPU{}; ratios {:.3} /s, {:.3} CPU{} (target within 10%)",
            name,
            e.median_per_second,
            e.median_cpu_us_per_delivery,
            e.database.summary(),
            b.median_per_second,
            b.median_cpu_us_per_delivery,
            b.database.summary(),
            c.per_second_ratio,
            c.cpu_ratio,
            c.postgres_cpu_ratio
                .map_or_else(String::new, |r| format!(", {r:.3} PostgreSQL CPU"))
        );
    }
    let idle = |s: &IdleSide| {
        let pg = match (s.median_postgres_cpu_ms, s.median_service_backends_cpu_ms) {
            (Some(all), Some(own)) => {
                format!(", PostgreSQL {all:.0} ms (its backends {own:.0} ms)")
            }
            _ => String::new(),
        };
        format!("service {:.0} ms{pg}", s.median_service_cpu_ms)
    };
    println!(
        "  idle {:.0} s: empty: {}; backlog: {} (target: database under 20 ms)",
        r.idle.seconds,
        idle(&r.idle.empty),
        idle(&r.idle.backlog)
    );
}
