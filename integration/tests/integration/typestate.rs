//! The owner's typestate, from outside the gateway crate: code that tries to skip a state
//! (make one up, swap the plan a policy judged, run a query with no access entry, claim
//! the unaudited token) does not compile, each for the reason expected. Every probe is
//! compiled by rustc against the `sluice_gateway` library this test binary was built
//! with, beside a control that must compile, so a probe cannot fail for a wrong reason
//! (a typo, a moved path) and still pass.

use std::path::{Path, PathBuf};
use std::process::Command;

/// What the control may do: read every state, and walk them through `Owner::fetch`.
const CONTROL: &str = r#"
use sluice_gateway::owner::audit::Receipt;
use sluice_gateway::owner::{Authenticated, Judged, Logged, Planned, Recipient};
use sluice_gateway::{Owner, RequestContext};

pub fn read(auth: &Authenticated, planned: &Planned, judged: &Judged, logged: &Logged) {
    let _: &RequestContext = auth.context();
    let _: &Recipient = auth.recipient();
    let _ = planned.datasets();
    let _: &Planned = judged.planned();
    let _: &Receipt = logged.receipt();
}

pub async fn run(owner: &Owner, auth: Authenticated) {
    let _ = owner.fetch(auth, "SELECT 1").await;
}
"#;

/// Each probe, the error code rustc must give for every error in it, and a part of the
/// message of at least one of them.
const PROBES: &[(&str, &str, &str, &str)] = &[
    (
        "nobody can claim that a request was authenticated",
        r#"
use sluice_gateway::RequestContext;
use sluice_gateway::owner::{Authenticated, Recipient};

pub fn forge(ctx: RequestContext) -> Authenticated {
    Authenticated { ctx, roles: vec!["officer".into()], recipient: Recipient::Local }
}
"#,
        "E0451",
        "of struct `Authenticated` are private",
    ),
    (
        "nobody can plan a query without the owner's intake",
        r#"
use sluice_gateway::owner::{Authenticated, Planned};

pub fn forge(auth: Authenticated) -> Planned {
    Planned {
        ctx: auth.context().clone(),
        roles: auth.roles().to_vec(),
        plan: unimplemented!(),
        datasets: Vec::new(),
    }
}
"#,
        "E0451",
        "of struct `Planned` are private",
    ),
    (
        "nobody can swap the plan a policy judged for another",
        r#"
use sluice_gateway::owner::Judged;

pub fn swap(mut judged: Judged, other: Judged) -> Judged {
    judged.plan = other.plan;
    judged
}
"#,
        "E0616",
        "field `plan` of struct `Judged` is private",
    ),
    (
        "nobody can run a judged query without its access entry",
        r#"
use sluice_gateway::Owner;
use sluice_gateway::owner::Judged;

pub async fn run_unlogged(owner: &Owner, judged: Judged) {
    let _ = owner.execute(judged).await;
}
"#,
        "E0624",
        "method `execute` is private",
    ),
    (
        "nobody can make up a logged query, whose committed entry is a private field",
        r#"
use sluice_gateway::owner::audit::Receipt;
use sluice_gateway::owner::{Logged, Planned};

pub fn forge(planned: Planned, receipt: Receipt) -> Logged {
    Logged {
        ctx: planned.context().clone(),
        plan: unimplemented!(),
        datasets: planned.datasets().to_vec(),
        receipt,
        protected: Vec::new(),
    }
}
"#,
        "E0451",
        "of struct `Logged` are private",
    ),
    (
        "nobody can claim that an access needs no chain entry",
        r#"
use sluice_gateway::owner::audit::{Receipt, Unaudited};

pub fn claim() -> Receipt {
    Receipt::Unaudited(Unaudited(()))
}
"#,
        "E0423",
        "private fields",
    ),
];

/// The directory of this test binary's dependencies, which holds the gateway's rlib.
fn deps_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.parent().unwrap().to_path_buf()
}

/// The gateway rlibs in `deps`, newest first. Several builds of one checkout (with and
/// without clippy's driver, say) leave several; the newest that compiles the control is
/// the one this binary was built with, or one built from the same source.
fn gateway_rlibs(deps: &Path) -> Vec<PathBuf> {
    let mut found: Vec<(std::time::SystemTime, PathBuf)> = std::fs::read_dir(deps)
        .unwrap()
        .filter_map(|e| {
            let path = e.ok()?.path();
            let name = path.file_name()?.to_str()?;
            if name.starts_with("libsluice_gateway-") && name.ends_with(".rlib") {
                Some((path.metadata().ok()?.modified().ok()?, path))
            } else {
                None
            }
        })
        .collect();
    found.sort_by_key(|f| std::cmp::Reverse(f.0));
    found.into_iter().map(|(_, p)| p).collect()
}

/// One error rustc reported: its code and message.
#[derive(Debug)]
struct Diagnostic {
    code: Option<String>,
    message: String,
}

/// Compiles `source` as a library crate against `gateway`; returns its errors.
fn compile(name: &str, source: &str, deps: &Path, gateway: &Path, out: &Path) -> Vec<Diagnostic> {
    let file = out.join(format!("{name}.rs"));
    std::fs::write(&file, source).unwrap();
    let output = Command::new(std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into()))
        .args([
            "--edition",
            "2024",
            "--crate-type",
            "lib",
            "--emit",
            "metadata",
        ])
        .args(["--error-format", "json", "--crate-name", name])
        .arg("-L")
        .arg(format!("dependency={}", deps.display()))
        .arg("--extern")
        .arg(format!("sluice_gateway={}", gateway.display()))
        .arg("--out-dir")
        .arg(out)
        .arg(&file)
        .output()
        .expect("rustc runs");
    String::from_utf8_lossy(&output.stderr)
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|d| d["level"] == "error")
        // rustc's closing summary, not an error of its own.
        .filter(|d| {
            !d["message"]
                .as_str()
                .unwrap_or_default()
                .starts_with("aborting due to")
        })
        .map(|d| Diagnostic {
            code: d["code"]["code"].as_str().map(str::to_string),
            message: d["message"].as_str().unwrap_or_default().to_string(),
        })
        .collect()
}

#[test]
fn code_outside_the_owner_cannot_skip_a_state() {
    let deps = deps_dir();
    let out = tempfile::tempdir().unwrap();
    let candidates = gateway_rlibs(&deps);
    assert!(
        !candidates.is_empty(),
        "no libsluice_gateway rlib in {}",
        deps.display()
    );
    let mut tried = Vec::new();
    let gateway = candidates
        .iter()
        .find(|rlib| {
            let errors = compile("control", CONTROL, &deps, rlib, out.path());
            let ok = errors.is_empty();
            tried.push((rlib.display().to_string(), errors));
            ok
        })
        .unwrap_or_else(|| panic!("the control compiles against no gateway rlib: {tried:#?}"));

    std::thread::scope(|scope| {
        let runs: Vec<_> = PROBES
            .iter()
            .enumerate()
            .map(|(i, (why, source, code, message))| {
                let (deps, out) = (&deps, out.path());
                scope.spawn(move || {
                    let errors = compile(&format!("probe{i}"), source, deps, gateway, out);
                    (why, code, message, errors)
                })
            })
            .collect();
        for run in runs {
            let (why, code, message, errors) = run.join().unwrap();
            assert!(!errors.is_empty(), "{why}: the probe compiled");
            assert!(
                errors.iter().all(|e| e.code.as_deref() == Some(*code)),
                "{why}: every error must be {code}, got {errors:#?}"
            );
            assert!(
                errors.iter().any(|e| e.message.contains(*message)),
                "{why}: no error says `{message}`: {errors:#?}"
            );
        }
    });
}
