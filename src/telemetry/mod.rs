//! Logging and traces: `RUST_LOG` filters both, `LOG_FORMAT` picks text
//! or JSON lines, and the `OTEL_*` settings send spans to a collector
//! ([`traces`]).

use std::ffi::OsString;
use std::io::IsTerminal;

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use crate::config::{LogFormat, TraceSettings};

pub mod context;
mod export;
pub mod traces;

pub use export::Tracing;

/// Installs the global subscriber, with the OpenTelemetry layer when an
/// OTLP endpoint is set; call once, first thing, inside the tokio runtime
/// (the span exporter runs on it). A wrong `OTEL_*` setting is an error.
pub fn init(format: LogFormat, settings: &TraceSettings) -> anyhow::Result<Tracing> {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,sea_orm=warn,h2=warn"));
    let colour = colour(
        std::io::stderr().is_terminal(),
        std::env::var_os("NO_COLOR"),
    );
    let logs = tracing_subscriber::fmt::layer()
        .with_ansi(colour)
        .with_writer(std::io::stderr);
    let logs = match format {
        LogFormat::Json => logs.json().flatten_event(true).boxed(),
        LogFormat::Text => logs.boxed(),
    };
    let (spans, tracing) = export::start(settings)?;
    // RUST_LOG filters the log lines only: a quiet log keeps its traces.
    tracing_subscriber::registry()
        .with(logs.with_filter(filter))
        .with(spans)
        .init();
    if let Some(url) = settings.export_url().filter(|_| traces::enabled()) {
        tracing::info!(
            endpoint = %url,
            protocol = settings.protocol.as_str(),
            service = %settings.service_name,
            "exporting traces"
        );
    }
    Ok(tracing)
}

/// Colour codes only for a person at a terminal: a file, a pipe or a log
/// collector would keep them as noise. `NO_COLOR` set to anything but the
/// empty string turns them off (<https://no-color.org>).
fn colour(stderr_is_terminal: bool, no_color: Option<OsString>) -> bool {
    stderr_is_terminal && no_color.is_none_or(|v| v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logs_are_coloured_only_on_a_terminal_without_no_color() {
        assert!(colour(true, None));
        assert!(colour(true, Some("".into())), "an empty NO_COLOR is unset");
        assert!(!colour(true, Some("1".into())));
        assert!(!colour(false, None));
        assert!(!colour(false, Some("1".into())));
    }
}
