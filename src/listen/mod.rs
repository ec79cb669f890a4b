//! `webhook-service listen`: a receiver for development, like `svix
//! listen`. It serves HTTPS on loopback with a certificate from its own CA
//! ([`authority`]), prints every request it gets ([`print`]), checks the
//! Standard Webhooks signature with the secrets it is given ([`verify`]),
//! and answers as told ([`server`]). Start-up lines go to stderr, requests
//! to stdout.

mod authority;
mod print;
mod secrets;
mod server;
mod verify;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicU32;

use anyhow::{Context, bail};
use http::StatusCode;
use secrecy::ExposeSecret;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use crate::config::ListenArgs;
use crate::startup::shutdown_signal;
use authority::{Authority, write_new};
use secrets::Secrets;
use server::{Answers, Receiver};
use verify::Secret;

/// Runs the receiver until SIGINT (Ctrl-C) or SIGTERM.
pub fn run(args: ListenArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(listen(args))
}

async fn listen(args: ListenArgs) -> anyhow::Result<()> {
    if !args.addr.ip().is_loopback() && !args.allow_remote {
        bail!(
            "--addr {} is not a loopback address: add --allow-remote to receive from other hosts",
            args.addr
        );
    }
    let secrets = args
        .secret
        .iter()
        .map(|s| Secret::parse(s.expose_secret()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| anyhow::anyhow!("--secret (WEBHOOK_LISTEN_SECRET): {e}"))?;
    let authority = if args.http {
        None
    } else {
        let state_dir = args.state_dir.clone().unwrap_or_else(default_state_dir);
        Some(Authority::open_or_create(&state_dir)?)
    };
    let tls = match &authority {
        Some(authority) => Some(TlsAcceptor::from(authority.server_config()?)),
        None => None,
    };
    let ca_file = match (&authority, &args.ca_file) {
        (Some(authority), Some(copy)) => {
            let pem = std::fs::read(&authority.certificate_file)
                .with_context(|| format!("cannot read {}", authority.certificate_file.display()))?;
            write_new(copy, &pem, 0o644).context("--ca-file")?;
            Some(copy.clone())
        }
        (Some(authority), None) => Some(authority.certificate_file.clone()),
        (None, _) => None,
    };

    let listener = TcpListener::bind(args.addr)
        .await
        .with_context(|| format!("cannot listen on {}", args.addr))?;
    let address = listener.local_addr()?;
    // Before anyone is told where to send: a script may stop the receiver
    // as soon as it reads the port.
    let shutdown = shutdown_signal();
    let status = answered_status(&args)?;
    if let Some(port_file) = &args.port_file {
        write_new(port_file, address.port().to_string().as_bytes(), 0o644)
            .context("--port-file")?;
    }
    eprint!(
        "{}",
        banner(&args, address, ca_file.as_ref(), authority.as_ref(), status)
    );

    let receiver = Arc::new(Receiver {
        answers: Answers {
            status,
            failures_left: AtomicU32::new(args.fail_first),
            echo: args.echo,
        },
        secrets: Secrets::new(secrets, args.secret_file.clone()),
        printer: print::Printer { json: args.json },
    });
    server::serve(listener, tls, receiver, shutdown).await;
    eprintln!("listen: stopped");
    Ok(())
}

/// --status, by default 204 (200 with --echo, an answer with a body).
fn answered_status(args: &ListenArgs) -> anyhow::Result<StatusCode> {
    let code = args.status.unwrap_or(if args.echo { 200 } else { 204 });
    StatusCode::from_u16(code).with_context(|| format!("--status {code} is not an HTTP status"))
}

/// What to register and how to start the service, said once at start.
fn banner(
    args: &ListenArgs,
    address: SocketAddr,
    ca_file: Option<&PathBuf>,
    authority: Option<&Authority>,
    status: StatusCode,
) -> String {
    let scheme = if args.http { "http" } else { "https" };
    // A receiver on every interface is still reached on loopback here.
    let host = match address {
        SocketAddr::V4(a) if a.ip().is_unspecified() => "127.0.0.1".to_owned(),
        SocketAddr::V6(a) if a.ip().is_unspecified() => "[::1]".to_owned(),
        SocketAddr::V4(a) => a.ip().to_string(),
        SocketAddr::V6(a) => format!("[{}]", a.ip()),
    };
    let url = format!("{scheme}://{host}:{}/", address.port());
    let mut text = format!("listen: receiving on {url} (any path)\n");
    match (ca_file, authority) {
        (Some(ca_file), Some(authority)) => {
            let made = if authority.reused {
                "reused"
            } else {
                "made now"
            };
            text.push_str(&format!(
                "listen: CA certificate {} ({made})\n\
                 listen: register a webhook at {url}..., with the service started with\n\
                 \x20   WEBHOOK_CA_FILE={} WEBHOOK_ALLOW_PRIVATE_TARGETS=true\n",
                ca_file.display(),
                ca_file.display(),
            ));
        }
        _ => text.push_str(
            "listen: plain HTTP: the service delivers only to https URLs, so put a TLS \
             tunnel or proxy in front\n",
        ),
    }
    let failing = match args.fail_first {
        0 => String::new(),
        n => format!("500 to the first {n} request(s), then "),
    };
    let signature = if args.secret.is_empty() && args.secret_file.is_none() {
        "signatures not checked (give --secret or --secret-file)"
    } else {
        "signatures checked"
    };
    text.push_str(&format!(
        "listen: answering {failing}{}; {signature}; Ctrl-C stops\n",
        status.as_u16()
    ));
    text
}

/// $XDG_STATE_HOME/webhook-service/listen, else
/// ~/.local/state/webhook-service/listen, else one in the temporary folder.
fn default_state_dir() -> PathBuf {
    let absolute = |var: &str| {
        std::env::var_os(var)
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
    };
    if let Some(state) = absolute("XDG_STATE_HOME") {
        return state.join("webhook-service/listen");
    }
    if let Some(home) = absolute("HOME") {
        return home.join(".local/state/webhook-service/listen");
    }
    std::env::temp_dir().join("webhook-service-listen")
}
