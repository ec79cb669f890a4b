//! The W3C trace context an event was published in (docs/tracing.md): kept
//! with the event, so that its delivery attempts, made later and maybe by
//! another process, continue the publisher's trace.

/// `traceparent` and, when the trace has one, `tracestate`, as the W3C
/// Trace Context headers carry them. Made and checked by `telemetry::traces`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceContext {
    pub traceparent: String,
    pub tracestate: Option<String>,
}

impl TraceContext {
    /// The stored form: `traceparent`, then a newline and `tracestate`
    /// when there is one (neither holds a newline: both are header values).
    pub fn to_stored(&self) -> String {
        match &self.tracestate {
            Some(state) => format!("{}\n{state}", self.traceparent),
            None => self.traceparent.clone(),
        }
    }

    /// Reads [`TraceContext::to_stored`]'s form back.
    pub fn from_stored(stored: &str) -> Self {
        match stored.split_once('\n') {
            Some((parent, state)) => Self {
                traceparent: parent.to_owned(),
                tracestate: Some(state.to_owned()),
            },
            None => Self {
                traceparent: stored.to_owned(),
                tracestate: None,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stored_form_reads_back_with_and_without_a_tracestate() {
        let parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
        for state in [None, Some("congo=t61rcWkgMzE,rojo=00f067aa0ba902b7")] {
            let context = TraceContext {
                traceparent: parent.into(),
                tracestate: state.map(Into::into),
            };
            assert_eq!(TraceContext::from_stored(&context.to_stored()), context);
        }
    }
}
