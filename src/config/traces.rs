//! The OpenTelemetry settings: the standard `OTEL_*` variables that say
//! where traces go, how many are kept and what the service calls itself.
//! The SDK reads the rest itself (`OTEL_BSP_*`, `OTEL_EXPORTER_OTLP_HEADERS`,
//! `_TIMEOUT`, `_COMPRESSION`). See docs/tracing.md.

use clap::{Args, ValueEnum};

use super::otlp_tls::OtlpTlsSettings;

/// How traces leave: OTLP over gRPC or over HTTP with protobuf bodies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OtlpProtocol {
    #[value(name = "grpc")]
    Grpc,
    #[value(name = "http/protobuf")]
    HttpProtobuf,
}

impl OtlpProtocol {
    /// Its name as the variable writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Grpc => "grpc",
            Self::HttpProtobuf => "http/protobuf",
        }
    }
}

/// `OTEL_TRACES_SAMPLER`: the samplers of the specification that need no
/// other service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SamplerName {
    #[value(name = "always_on")]
    AlwaysOn,
    #[value(name = "always_off")]
    AlwaysOff,
    #[value(name = "traceidratio")]
    TraceIdRatio,
    #[value(name = "parentbased_always_on")]
    ParentBasedAlwaysOn,
    #[value(name = "parentbased_always_off")]
    ParentBasedAlwaysOff,
    #[value(name = "parentbased_traceidratio")]
    ParentBasedTraceIdRatio,
}

/// Which traces are kept: the sampler with its ratio checked.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Sampling {
    AlwaysOn,
    AlwaysOff,
    /// This fraction of new traces, chosen by trace id.
    Ratio(f64),
    /// As the caller's span says when there is one, else as `root` says.
    ParentBased(Root),
}

/// What a parent-based sampler does with a trace that starts here.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Root {
    AlwaysOn,
    AlwaysOff,
    Ratio(f64),
}

/// The OpenTelemetry settings of `serve`.
#[derive(Debug, Clone, Args)]
pub struct TraceSettings {
    /// Base URL of an OTLP collector, such as `http://otel-collector:4318` (http/protobuf, which sends to its `/v1/traces`) or `https://otel-collector:4317` (grpc, over TLS). Traces are exported only when this or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is set. See docs/tracing.md.
    #[arg(
        long = "otel-exporter-otlp-endpoint",
        env = "OTEL_EXPORTER_OTLP_ENDPOINT",
        value_parser = |s: &str| parse_endpoint(s, "OTEL_EXPORTER_OTLP_ENDPOINT")
    )]
    pub endpoint: Option<url::Url>,
    /// The full URL traces are sent to, used as it is; it wins over OTEL_EXPORTER_OTLP_ENDPOINT.
    #[arg(
        long = "otel-exporter-otlp-traces-endpoint",
        env = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        value_parser = |s: &str| parse_endpoint(s, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    )]
    pub traces_endpoint: Option<url::Url>,
    /// `grpc` or `http/protobuf`.
    #[arg(
        long = "otel-exporter-otlp-protocol",
        env = "OTEL_EXPORTER_OTLP_PROTOCOL",
        default_value = "http/protobuf"
    )]
    pub protocol: OtlpProtocol,
    /// The `service.name` of every span; it wins over a `service.name` in OTEL_RESOURCE_ATTRIBUTES.
    #[arg(
        long = "otel-service-name",
        env = "OTEL_SERVICE_NAME",
        default_value = "webhook-service"
    )]
    pub service_name: String,
    /// Which traces are kept: `always_on`, `always_off`, `traceidratio`, or `parentbased_` and one of them (the caller's choice wins when it sent a `traceparent`).
    #[arg(
        long = "otel-traces-sampler",
        env = "OTEL_TRACES_SAMPLER",
        default_value = "parentbased_always_on"
    )]
    pub sampler: SamplerName,
    /// The ratio of the `traceidratio` samplers, from 0 to 1. Default: 1.
    #[arg(long = "otel-traces-sampler-arg", env = "OTEL_TRACES_SAMPLER_ARG")]
    pub sampler_arg: Option<String>,
    /// Attributes of every span's resource, as `key=value,key=value` (values percent-encoded), such as `deployment.environment.name=production`.
    #[arg(
        long = "otel-resource-attributes",
        env = "OTEL_RESOURCE_ATTRIBUTES",
        value_parser = parse_resource_attributes
    )]
    pub resource_attributes: Option<ResourceAttributes>,
    #[command(flatten)]
    pub tls: OtlpTlsSettings,
}

/// `OTEL_RESOURCE_ATTRIBUTES`, decoded.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ResourceAttributes(pub Vec<(String, String)>);

impl TraceSettings {
    /// Where spans go, when traces are on: `None` when no endpoint is set.
    pub fn export_url(&self) -> Option<String> {
        if let Some(url) = &self.traces_endpoint {
            return Some(url.as_str().to_owned());
        }
        let base = self.endpoint.as_ref()?;
        Some(match self.protocol {
            // gRPC names its method in the path itself.
            OtlpProtocol::Grpc => base.as_str().to_owned(),
            OtlpProtocol::HttpProtobuf => {
                format!("{}/v1/traces", base.as_str().trim_end_matches('/'))
            }
        })
    }

    /// The sampler with its argument, or what is wrong with the argument.
    pub fn sampling(&self) -> Result<Sampling, String> {
        let ratio = || -> Result<f64, String> {
            let Some(arg) = &self.sampler_arg else {
                return Ok(1.0);
            };
            match arg.trim().parse::<f64>() {
                Ok(ratio) if (0.0..=1.0).contains(&ratio) => Ok(ratio),
                _ => Err(format!(
                    "OTEL_TRACES_SAMPLER_ARG must be a ratio from 0 to 1, such as 0.25; `{arg}` is not"
                )),
            }
        };
        Ok(match self.sampler {
            SamplerName::AlwaysOn => Sampling::AlwaysOn,
            SamplerName::AlwaysOff => Sampling::AlwaysOff,
            SamplerName::TraceIdRatio => Sampling::Ratio(ratio()?),
            SamplerName::ParentBasedAlwaysOn => Sampling::ParentBased(Root::AlwaysOn),
            SamplerName::ParentBasedAlwaysOff => Sampling::ParentBased(Root::AlwaysOff),
            SamplerName::ParentBasedTraceIdRatio => Sampling::ParentBased(Root::Ratio(ratio()?)),
        })
    }
}

/// An OTLP endpoint: an http or https URL with a host.
fn parse_endpoint(s: &str, setting: &str) -> Result<url::Url, String> {
    let url = url::Url::parse(s).map_err(|e| {
        format!("{setting} must be a URL such as http://otel-collector:4318: `{s}` is not ({e})")
    })?;
    match url.scheme() {
        "http" | "https" if url.host_str().is_some() => Ok(url),
        _ => Err(format!(
            "{setting} must be an http:// or https:// URL with a host: `{s}` is not"
        )),
    }
}

/// `key=value,key=value`; each value percent-decoded, as the specification
/// writes them (W3C Baggage octets).
fn parse_resource_attributes(s: &str) -> Result<ResourceAttributes, String> {
    let mut attributes = Vec::new();
    for entry in s.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let wrong = |why: &str| {
            format!(
                "OTEL_RESOURCE_ATTRIBUTES must be key=value pairs separated by commas: `{entry}` {why}"
            )
        };
        let (key, value) = entry.split_once('=').ok_or_else(|| wrong("has no `=`"))?;
        let key = key.trim();
        if key.is_empty() {
            return Err(wrong("has no key"));
        }
        let value = percent_encoding::percent_decode_str(value.trim())
            .decode_utf8()
            .map_err(|_| wrong("is not UTF-8 once decoded"))?;
        attributes.push((key.to_owned(), value.into_owned()));
    }
    Ok(ResourceAttributes(attributes))
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Only {
        #[command(flatten)]
        traces: TraceSettings,
    }

    fn settings(args: &[&str]) -> Result<TraceSettings, clap::Error> {
        let args = std::iter::once("test").chain(args.iter().copied());
        Only::try_parse_from(args).map(|only| only.traces)
    }

    #[test]
    fn no_endpoint_means_no_export() {
        let traces = settings(&[]).unwrap();
        assert_eq!(traces.export_url(), None);
        assert_eq!(traces.service_name, "webhook-service");
        assert_eq!(traces.protocol, OtlpProtocol::HttpProtobuf);
        assert_eq!(traces.sampling(), Ok(Sampling::ParentBased(Root::AlwaysOn)));
    }

    #[test]
    fn http_protobuf_sends_to_v1_traces_below_the_base_url() {
        let traces = settings(&["--otel-exporter-otlp-endpoint", "http://c:4318/"]).unwrap();
        assert_eq!(traces.export_url().unwrap(), "http://c:4318/v1/traces");
        let traces = settings(&["--otel-exporter-otlp-endpoint", "http://c:4318/otlp"]).unwrap();
        assert_eq!(traces.export_url().unwrap(), "http://c:4318/otlp/v1/traces");
    }

    #[test]
    fn grpc_uses_the_base_url_and_the_traces_endpoint_wins() {
        let grpc = ["--otel-exporter-otlp-protocol", "grpc"];
        let base = ["--otel-exporter-otlp-endpoint", "http://c:4317"];
        let traces = settings(&[&grpc[..], &base[..]].concat()).unwrap();
        assert_eq!(traces.export_url().unwrap(), "http://c:4317/");
        let own = ["--otel-exporter-otlp-traces-endpoint", "http://t:9/x"];
        let traces = settings(&[&grpc[..], &base[..], &own[..]].concat()).unwrap();
        assert_eq!(traces.export_url().unwrap(), "http://t:9/x");
    }

    #[test]
    fn endpoints_must_be_http_or_https_urls() {
        let traces = settings(&["--otel-exporter-otlp-endpoint", "https://c:4318"]).unwrap();
        assert_eq!(traces.export_url().unwrap(), "https://c:4318/v1/traces");
        for wrong in ["c:4318", "not a url", "https://", "ftp://c"] {
            let err = settings(&["--otel-exporter-otlp-endpoint", wrong]).unwrap_err();
            assert!(
                err.to_string().contains("OTEL_EXPORTER_OTLP_ENDPOINT"),
                "{wrong}: {err}"
            );
        }
        assert!(settings(&["--otel-exporter-otlp-protocol", "http/json"]).is_err());
    }

    #[test]
    fn ratio_samplers_take_a_ratio_from_zero_to_one() {
        let ratio = |sampler: &str, arg: Option<&str>| {
            let mut args = vec![format!("--otel-traces-sampler={sampler}")];
            if let Some(arg) = arg {
                args.push(format!("--otel-traces-sampler-arg={arg}"));
            }
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            settings(&args).unwrap().sampling()
        };
        assert_eq!(
            ratio("traceidratio", Some("0.25")),
            Ok(Sampling::Ratio(0.25))
        );
        assert_eq!(ratio("traceidratio", None), Ok(Sampling::Ratio(1.0)));
        assert_eq!(
            ratio("parentbased_traceidratio", Some("0")),
            Ok(Sampling::ParentBased(Root::Ratio(0.0)))
        );
        for wrong in ["1.5", "-0.1", "half", "NaN"] {
            let err = ratio("traceidratio", Some(wrong)).unwrap_err();
            assert!(err.contains("OTEL_TRACES_SAMPLER_ARG"), "{err}");
        }
        // The specification: other samplers ignore the argument.
        assert_eq!(ratio("always_off", Some("half")), Ok(Sampling::AlwaysOff));
        assert!(settings(&["--otel-traces-sampler", "jaeger_remote"]).is_err());
    }

    #[test]
    fn resource_attributes_are_decoded_pairs() {
        let parsed =
            parse_resource_attributes("a=1, deployment.environment.name=prod%20eu,").unwrap();
        assert_eq!(
            parsed.0,
            vec![
                ("a".to_owned(), "1".to_owned()),
                (
                    "deployment.environment.name".to_owned(),
                    "prod eu".to_owned()
                )
            ]
        );
        for wrong in ["a", "=1", "a=1,b"] {
            let err = parse_resource_attributes(wrong).unwrap_err();
            assert!(err.contains("OTEL_RESOURCE_ATTRIBUTES"), "{err}");
        }
    }
}
