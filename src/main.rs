use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;

use webhook_service::auth::{TokenRequest, issue_hs256};
use webhook_service::config::{Cli, Command, Settings, TokenArgs};
use webhook_service::startup::{Application, shutdown_signal};
use webhook_service::telemetry;
use webhook_service::{listen, net};

/// jemalloc, not the C library's malloc: a delivered webhook allocates
/// about 280 times, and glibc's malloc and free were a tenth of the
/// service's CPU per delivery (docs/performance.md, "Issue 26, sixth
/// day: the allocator"). SQLite's own allocations stay with the C
/// library's.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> ExitCode {
    let outcome = match Cli::parse_args().command {
        Command::Serve(settings) => serve(*settings),
        Command::Token(args) => print_token(&args),
        Command::Listen(args) => listen::run(args),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("webhook-service: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn serve(settings: Settings) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    // Inside the runtime: the span exporter runs on it.
    let tracing = {
        let _runtime = runtime.enter();
        telemetry::init(settings.log_format, &settings.traces)?
    };
    net::raise_fd_limit();
    let served = runtime.block_on(async {
        let app = Application::build(&settings).await?;
        // Before saying so: a supervisor may signal as soon as it reads it.
        let shutdown = shutdown_signal();
        if let Some(address) = app.metrics_addr() {
            tracing::info!(%address, "serving metrics at /metrics");
        }
        tracing::info!(address = %app.local_addr(), "serving gRPC");
        if let Some(address) = app.http_addr() {
            tracing::info!(address = %address, "serving REST");
            tracing::info!(url = %format!("http://{address}/console/"), "serving the console");
        }
        // On a worker thread, not this one: a future `block_on` drives
        // runs on the calling thread, a third thread beside the two
        // workers of a two-core machine, woken for every hand-off the
        // dispatcher takes (docs/performance.md, "Issue 26, seventh day").
        tokio::spawn(app.run_until_stopped(shutdown))
            .await
            .context("the service's task failed")?
    });
    // The runtime still runs the exporter: the last spans leave now.
    tracing.shutdown();
    // The grace is over: a host name lookup still running on a blocking
    // thread (it cannot be cancelled) must not hold the exit up.
    runtime.shutdown_timeout(Duration::from_millis(100));
    served?;
    tracing::info!("stopped");
    Ok(())
}

fn print_token(args: &TokenArgs) -> anyhow::Result<()> {
    let Some(secret) = &args.jwt_secret else {
        anyhow::bail!("`token` signs with JWT_SECRET: set it");
    };
    let token = issue_hs256(
        secrecy::ExposeSecret::expose_secret(secret).as_bytes(),
        &TokenRequest {
            subject: &args.sub,
            membership: args.org.zip(args.role.as_deref()),
            scope: args.scope.as_deref(),
            ttl: args.ttl,
            issuer: args.jwt_issuer.as_deref(),
            audience: args.jwt_audience.as_deref(),
        },
    )?;
    println!("{token}");
    Ok(())
}
