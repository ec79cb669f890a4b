//! Start-up refuses settings that would hand out wrong links, and warns
//! about settings that lower a guard.

use crate::support::process::ServiceProcess;
use crate::support::{Backend, spawn_app_with, start_failure};
use webhook_service::config::ListenAddr;

#[tokio::test]
async fn a_rest_face_on_every_interface_needs_a_public_url() {
    for unspecified in ["0.0.0.0:0", "[::]:0"] {
        let address = unspecified.parse().unwrap();
        let failure = start_failure(|s| s.http_addr = ListenAddr::At(address)).await;
        assert!(
            failure.contains(&format!("WEBHOOK_HTTP_ADDR {address}"))
                && failure.contains("WEBHOOK_PUBLIC_URL"),
            "{failure}"
        );
    }

    // With one, it starts.
    let app = spawn_app_with(Backend::Sqlite, |s| {
        s.http_addr = ListenAddr::At("0.0.0.0:0".parse().unwrap());
        s.public_url = Some("https://hooks.example.com".to_owned());
    })
    .await;
    assert!(app.http_address.is_some());
}

#[tokio::test]
async fn allowing_private_targets_is_warned_about_at_start_up() {
    let warnings = |log: &str| -> Vec<serde_json::Value> {
        log.lines()
            .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
            .filter(|line| {
                line["level"] == "WARN"
                    && line["message"]
                        .as_str()
                        .is_some_and(|m| m.contains("WEBHOOK_ALLOW_PRIVATE_TARGETS"))
            })
            .collect()
    };
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/w.db", dir.path().display());
    let json = ("LOG_FORMAT", "json");

    let allowed =
        ServiceProcess::start(&url, &[json, ("WEBHOOK_ALLOW_PRIVATE_TARGETS", "true")]).await;
    let log = allowed.log();
    let warned = warnings(&log);
    assert_eq!(warned.len(), 1, "{log}");
    assert!(
        warned[0]["message"]
            .as_str()
            .unwrap()
            .contains("SSRF guard is off"),
        "{log}"
    );
    drop(allowed);

    let guarded = ServiceProcess::start(&url, &[json]).await;
    let log = guarded.log();
    assert!(warnings(&log).is_empty(), "{log}");
}
