//! The settings as the command line and environment give them.

use super::*;

#[test]
fn a_public_url_is_http_or_https_with_a_host_and_nothing_after_its_path() {
    assert_eq!(
        parse_public_url("https://hooks.example.com/").unwrap(),
        "https://hooks.example.com"
    );
    assert_eq!(
        parse_public_url("http://10.0.0.1:8080/webhooks/").unwrap(),
        "http://10.0.0.1:8080/webhooks"
    );
    for wrong in [
        "hooks.example.com",
        "ftp://hooks.example.com",
        "https://hooks.example.com/?a=b",
        "https://hooks.example.com/#x",
        "https://me:pw@hooks.example.com",
    ] {
        let error = parse_public_url(wrong).unwrap_err();
        assert!(error.contains("WEBHOOK_PUBLIC_URL"), "{wrong}: {error}");
    }
}

#[test]
fn metrics_are_served_on_loopback_by_default_and_off_turns_them_off() {
    let settings = |args: &[&str]| {
        let mut all = vec!["webhook-service"];
        all.extend_from_slice(args);
        Cli::try_parse_args_from(all).map(|cli| match cli.command {
            Command::Serve(settings) => settings.metrics_addr,
            other => panic!("{other:?}"),
        })
    };
    if std::env::var_os("WEBHOOK_METRICS_ADDR").is_none() {
        let default = "127.0.0.1:9464".parse().unwrap();
        assert_eq!(settings(&[]).unwrap(), ListenAddr::At(default));
    }
    assert_eq!(
        settings(&["--metrics-addr", "off"]).unwrap(),
        ListenAddr::Off
    );
    assert_eq!(
        settings(&["--metrics-addr", "0.0.0.0:0"]).unwrap(),
        ListenAddr::At("0.0.0.0:0".parse().unwrap())
    );
    let wrong = settings(&["--metrics-addr", "nowhere"])
        .unwrap_err()
        .to_string();
    assert!(
        wrong.contains("--metrics-addr") && wrong.contains("`off`"),
        "{wrong}"
    );
}

#[test]
fn a_command_line_naming_no_command_serves() {
    let parsed = |args: &[&str]| Cli::try_parse_args_from(args.iter().copied());
    let serve = parsed(&["webhook-service", "--listen-addr", "127.0.0.1:1"]).unwrap();
    let Command::Serve(settings) = serve.command else {
        panic!("{serve:?}")
    };
    assert_eq!(settings.listen_addr, "127.0.0.1:1".parse().unwrap());
    assert!(matches!(
        parsed(&["webhook-service"]).unwrap().command,
        Command::Serve(_)
    ));
    let token = parsed(&["webhook-service", "token", "--scope", "events:publish"]);
    assert!(matches!(token.unwrap().command, Command::Token(_)));
    assert!(matches!(
        parsed(&["webhook-service", "listen"]).unwrap().command,
        Command::Listen(_)
    ));
    // Server settings belong to `serve`, not to the other commands.
    assert!(
        parsed(&[
            "webhook-service",
            "token",
            "--scope",
            "x",
            "--database-url",
            "x"
        ])
        .is_err()
    );
    // A mistyped command is an error, not a server setting.
    assert!(parsed(&["webhook-service", "srve"]).is_err());
}
