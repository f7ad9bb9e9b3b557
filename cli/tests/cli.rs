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
        vec!["catalog", "search", "--help"],
        vec!["catalog", "history", "--help"],
        vec!["catalog", "export", "--help"],
        vec!["access", "--help"],
        vec!["access", "request", "--help"],
        vec!["access", "approve", "--help"],
        vec!["bench", "directory", "--help"],
        vec!["demo", "--help"],
        vec!["bench", "--help"],
        vec!["init", "--help"],
        vec!["ca", "init", "--help"],
        vec!["ca", "issue", "--help"],
        vec!["user", "add", "--help"],
        vec!["login", "--help"],
        vec!["chain", "--help"],
        vec!["chain", "add-member", "--help"],
        vec!["chain", "members", "--help"],
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

/// `sluice` with `env` set and no session or password inherited from the caller.
fn sluice_with(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sluice"));
    cmd.args(args)
        .env("SLUICE_LOG", "error")
        .env_remove("SLUICE_TOKEN")
        .env_remove("SLUICE_PASSWORD")
        .env_remove("SLUICE_CA");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("the sluice binary runs")
}

/// A federation CA in `dir/ca`; returns its certificate's path.
fn ca(dir: &std::path::Path) -> String {
    let out = dir.join("ca");
    let o = sluice(&["ca", "init", "--out", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    out.join("ca.crt").to_str().unwrap().to_owned()
}

#[test]
fn unreachable_gateway_is_named_with_what_happened() {
    let dir = tempfile::tempdir().unwrap();
    let ca = ca(dir.path());
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let o = sluice_with(
        &[
            "login",
            "--gateway",
            &addr,
            "--as",
            "bj_hf/alice",
            "--ca",
            &ca,
            "--timeout",
            "1",
        ],
        &[("SLUICE_PASSWORD", "not used")],
    );
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
    let o = sluice_with(
        &[
            "login",
            "--gateway",
            "127.0.0.1:1",
            "--as",
            "alice",
            "--ca",
            "/dev/null",
        ],
        &[("SLUICE_PASSWORD", "x")],
    );
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("`alice` is not a valid principal"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn a_membership_change_with_a_key_that_is_not_base64_is_refused_before_connecting() {
    let dir = tempfile::tempdir().unwrap();
    let ca = ca(dir.path());
    let o = sluice_with(
        &[
            "chain",
            "add-member",
            "--gateway",
            "127.0.0.1:1",
            "--ca",
            &ca,
            "--agency",
            "gz_hf",
            "--node",
            "4",
            "--address",
            "127.0.0.1:7504",
            "--public-key",
            "not base64!",
        ],
        &[],
    );
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(err.contains("--public-key is not base64"), "{err}");
}

#[test]
fn a_query_without_a_session_says_how_to_get_one() {
    let dir = tempfile::tempdir().unwrap();
    let ca = ca(dir.path());
    let o = sluice_with(
        &[
            "query",
            "--gateway",
            "127.0.0.1:1",
            "--ca",
            &ca,
            "--purpose",
            "audit",
            "SELECT 1",
        ],
        &[],
    );
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(
        err.contains("sluice login") && err.contains("SLUICE_TOKEN"),
        "{err}"
    );
}

#[test]
fn init_writes_keys_a_bundle_and_private_files_only_the_owner_reads() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    ca(dir.path());
    let keys = dir.path().join("keys");
    let ca_dir = dir.path().join("ca");
    let args = [
        "init",
        "--agency",
        "qa_hf",
        "--out",
        keys.to_str().unwrap(),
        "--ca",
        ca_dir.to_str().unwrap(),
        "--gateway",
        "10.0.0.7:7100",
    ];
    let o = sluice(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    let mut secrets = 0;
    for entry in std::fs::read_dir(&keys).unwrap() {
        let path = entry.unwrap().path();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.ends_with(".key") {
            secrets += 1;
            assert_eq!(mode, 0o600, "{name} must be private");
        }
    }
    assert_eq!(secrets, 3, "signing, HPKE and TLS keys");
    let bundle = std::fs::read_to_string(keys.join("qa_hf.bundle.toml")).unwrap();
    assert!(
        bundle.contains("10.0.0.7:7100") && bundle.contains("BEGIN CERTIFICATE"),
        "{bundle}"
    );
    assert!(!bundle.contains("PRIVATE KEY"), "{bundle}");
    // Existing keys are never replaced.
    let again = sluice(&args);
    assert!(!again.status.success());
    assert!(
        stderr(&again).contains("refusing to replace"),
        "{}",
        stderr(&again)
    );
    // The CA's key stays with the CA.
    let mode = std::fs::metadata(dir.path().join("ca").join("ca.key"))
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600);
}

#[test]
fn user_add_stores_an_argon2_hash_never_the_password() {
    let dir = tempfile::tempdir().unwrap();
    let users = dir.path().join("users.toml");
    let o = sluice_with(
        &[
            "user",
            "add",
            "qa_hf/alice",
            "--role",
            "fund_analyst",
            "--users",
            users.to_str().unwrap(),
        ],
        &[("SLUICE_PASSWORD", "correct horse battery")],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let text = std::fs::read_to_string(&users).unwrap();
    assert!(text.contains("$argon2id$"), "{text}");
    assert!(!text.contains("correct horse"), "{text}");
    assert!(text.contains("fund_analyst"), "{text}");
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

/// Every secret the demo made, in each form it could leak: the file's text, the bytes
/// it encodes in hex and in base64, and each line of a PEM body.
fn secrets_under(dir: &std::path::Path) -> Vec<String> {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if !(name.ends_with(".key") || name.ends_with(".password") || name.ends_with(".secret"))
            {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            if text.contains("-----BEGIN") {
                out.extend(
                    text.lines()
                        .filter(|l| !l.starts_with("-----") && l.len() >= 16)
                        .map(str::to_owned),
                );
                continue;
            }
            let text = text.trim().to_owned();
            if let Ok(bytes) = b64.decode(&text) {
                out.push(bytes.iter().map(|b| format!("{b:02x}")).collect());
                out.push(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&bytes));
            }
            out.push(text);
        }
    }
    out
}

#[test]
fn the_demo_under_trace_logging_leaks_no_secret() {
    let dir = tempfile::tempdir().unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args([
            "demo",
            "--scale",
            "0.01",
            "--dir",
            dir.path().to_str().unwrap(),
        ])
        .env("SLUICE_LOG", "trace")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let secrets = secrets_under(dir.path());
    assert!(
        secrets.len() >= 3 * 4,
        "the demo's keys were found: {}",
        secrets.len()
    );
    let logged = format!("{}{}", stdout(&o), stderr(&o));
    assert!(logged.len() > 10_000, "trace logging was on");
    for s in &secrets {
        assert!(!logged.contains(s.as_str()), "a secret reached the output");
    }
}
