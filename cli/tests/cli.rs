//! The `sluice` binary as a user meets it: help, exit codes and error messages.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::{Command, Output};

fn sluice(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(args)
        .env("SLUICE_LOG", "error")
        .output()
        .expect("the sluice binary runs")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn every_command_has_help() {
    for args in [
        vec!["--help"],
        vec!["gateway", "--help"],
        vec!["query", "--help"],
        vec!["catalog", "--help"],
        vec!["catalog", "list", "--help"],
        vec!["demo", "--help"],
        vec!["bench", "--help"],
    ] {
        let o = sluice(&args);
        assert!(o.status.success(), "{args:?}: {}", stderr(&o));
        assert!(stdout(&o).contains("Usage"), "{args:?}: {}", stdout(&o));
    }
}

#[test]
fn bad_config_names_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(&path, "agency = \"bj_hf\"\nlisten = \"not an address\"\n").unwrap();
    let o = sluice(&["gateway", "--config", path.to_str().unwrap()]);
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(err.contains("bad.toml:2:10"), "{err}");
    assert!(err.contains("not a socket address"), "{err}");
}

#[test]
fn missing_config_is_a_clear_error() {
    let o = sluice(&["gateway", "--config", "/nonexistent/gw.toml"]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("cannot read config /nonexistent/gw.toml"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn unreachable_gateway_is_named_with_what_happened() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let o = sluice(&[
        "query",
        "--gateway",
        &addr,
        "--as",
        "bj_hf/alice",
        "--purpose",
        "audit",
        "--timeout",
        "1",
        "SELECT 1",
    ]);
    assert!(!o.status.success());
    let err = stderr(&o);
    // Nothing listens there: the connection is refused at once, and the error says so
    // rather than claiming a timeout.
    assert!(
        err.contains(&addr) && err.contains("Connection refused") && !err.contains("within"),
        "{err}"
    );
}

#[test]
fn malformed_principal_is_refused_before_connecting() {
    let o = sluice(&[
        "query",
        "--gateway",
        "127.0.0.1:1",
        "--as",
        "alice",
        "--purpose",
        "audit",
        "SELECT 1",
    ]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("`alice` is not a valid principal"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn demo_runs_the_whole_story() {
    let dir = tempfile::tempdir().unwrap();
    let o = sluice(&[
        "demo",
        "--scale",
        "0.02",
        "--dir",
        dir.path().to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    for needle in [
        "gateway bj_hf",
        "sh_hf.contributions",
        "Per-city contributions",
        "crossed the wire",
        "Demo finished",
    ] {
        assert!(out.contains(needle), "missing `{needle}` in:\n{out}");
    }
    assert!(
        dir.path().join("bj_hf.toml").exists(),
        "the demo leaves its configs for reuse"
    );
}
