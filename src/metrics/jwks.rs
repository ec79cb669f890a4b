//! The identity provider's key set fetches (JWT_JWKS_URL), read from the
//! verifier's own counters at each scrape.

use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;

use crate::auth::JwksStats;

/// `webhook_jwks_refreshes_total{result}`: fetches that installed a key
/// set (`success`, the one at start-up included) and fetches that failed
/// while the last good set stayed in use (`failure`).
#[derive(Debug)]
pub(super) struct JwksCollector(pub(super) Arc<JwksStats>);

impl Collector for JwksCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let mut family = encoder.encode_descriptor(
            "webhook_jwks_refreshes",
            "Fetches of the identity provider's key set, by result",
            None,
            prometheus_client::metrics::MetricType::Counter,
        )?;
        for (result, count) in [
            ("success", self.0.refreshes()),
            ("failure", self.0.refresh_failures()),
        ] {
            let counter = ConstCounter::new(count);
            counter.encode(family.encode_family(&[("result", result)])?)?;
        }
        Ok(())
    }
}
