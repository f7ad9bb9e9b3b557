//! Encrypted exports end to end: an analyst of bj_hf exports a policy-judged result
//! sealed for cd_hf; only cd_hf's keys open it, the file's digest is on bj_hf's chain,
//! and the owners recorded their parts as for any query.

use std::process::Command;
use std::time::Duration;

use sluice_chain::entry::Body;
use sluice_chain::{ChainStore, TraceFilter};
use sluice_examples::provident_fund::{self as demo, Cluster};
use sluice_gateway::export::{self, ExportError};
use sluice_gateway::identity::bundle::TrustStore;
use sluice_gateway::{AgencyId, AnalystClient, GatewayError, Purpose, auditor};

use super::audit::{wait_for, wait_for_from};
use super::common::{SCALE, keys, rows, run_sluice, run_sluice_ok, sluice_exe};

fn transfer() -> Purpose {
    Purpose::parse("provident_fund_transfer").unwrap()
}

fn agency(id: &str) -> AgencyId {
    AgencyId::parse(id).unwrap()
}

fn exports(store: &ChainStore) -> usize {
    store
        .trace(&TraceFilter::default())
        .unwrap()
        .iter()
        .filter(|h| matches!(h.entry.entry().body, Body::Export(_)))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_export_is_judged_sealed_for_one_agency_and_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let data = demo::generate(dir.path(), SCALE).unwrap();
    let cluster = Cluster::start_with_policy(data).await.unwrap();
    let client = cluster.analyst("bj_hf").await.unwrap();
    let trust = TrustStore::load(&cluster.trust_dir()).unwrap();
    let id = demo::mover_id_number();
    let sql = format!(
        "SELECT name, birth_date FROM sh_hf.persons WHERE id_number = '{id}' \
         UNION ALL SELECT name, birth_date FROM bj_hf.persons WHERE id_number = '{id}'"
    );

    let resp = client
        .export(&transfer(), &agency("cd_hf"), &sql)
        .await
        .unwrap();
    let opened = export::open(&resp.file, &keys(&cluster, "cd_hf"), &trust).unwrap();
    // The same policy applies as to a query: masked values, not raw ones.
    let queried = client.query_all(&transfer(), &sql).await.unwrap();
    let (mut got, mut want) = (rows(&opened.batches), rows(&queried));
    got.sort();
    want.sort();
    assert_eq!(got, want);
    assert_eq!(resp.rows, got.len() as u64);
    assert!(!got.is_empty());
    assert_eq!(opened.sender.as_str(), "bj_hf");
    assert_eq!(opened.principal, "bj_hf/analyst");
    assert_eq!(opened.purpose, "provident_fund_transfer");
    assert_eq!(opened.sql, sql);

    // Neither a third agency nor the sender itself can open it.
    for wrong in ["sh_hf", "bj_hf"] {
        let err = export::open(&resp.file, &keys(&cluster, wrong), &trust).unwrap_err();
        assert!(
            matches!(&err, ExportError::WrongRecipient { sealed_for, .. } if sealed_for.as_str() == "cd_hf"),
            "{err}"
        );
    }

    // bj_hf's chain holds the export, with the digest of exactly this file.
    let bj = cluster.chain("bj_hf").unwrap().store();
    let hit = wait_for(
        bj,
        "export entry",
        |b| matches!(b, Body::Export(x) if x.query_id == opened.query_id),
    )
    .await;
    assert_eq!(Some(hit.index), resp.entry);
    let entry = hit.entry.entry();
    assert_eq!(entry.author, "bj_hf");
    let Body::Export(x) = &entry.body else {
        unreachable!()
    };
    assert_eq!(x.recipient, "cd_hf");
    assert_eq!(x.principal, "bj_hf/analyst");
    assert_eq!(x.purpose, "provident_fund_transfer");
    assert_eq!(x.rows, resp.rows);
    assert_eq!(x.bytes, resp.file.len() as u64);
    assert_eq!(x.digest, export::file_digest(&resp.file));
    assert_eq!(x.digest, opened.digest);
    let hex = |d: &[u8]| d.iter().map(|b| format!("{b:02x}")).collect::<String>();
    let delivered = auditor::delivery(bj, &hit.entry).unwrap().unwrap();
    assert!(
        delivered.contains("sealed for cd_hf") && delivered.contains(&hex(&x.digest)),
        "{delivered}"
    );
    // The owner judged and recorded its part as for any query, and sealed it for bj_hf.
    let sh = cluster.chain("sh_hf").unwrap().store();
    wait_for_from(
        sh,
        Some("sh_hf"),
        "sh_hf's access entry for the export",
        |b| matches!(b, Body::AccessAllowed(d) if d.query_id.starts_with(opened.query_id.as_str())),
    )
    .await;
    let completed = wait_for_from(sh, Some("sh_hf"), "sh_hf's completion entry", |b| {
        matches!(b, Body::AccessCompleted(c) if c.query_id.starts_with(opened.query_id.as_str()))
    })
    .await;
    let delivered = auditor::delivery(sh, &completed.entry).unwrap().unwrap();
    assert!(
        delivered.contains("sealed for bj_hf's gateway"),
        "{delivered}"
    );

    // A refused query exports nothing and records no export.
    let before = exports(bj);
    let err = client
        .export(
            &transfer(),
            &agency("cd_hf"),
            "SELECT amount FROM sh_hf.loans",
        )
        .await
        .unwrap_err();
    assert!(matches!(err, GatewayError::Refused { .. }), "{err}");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(exports(bj), before);

    // An agency with no bundle has no key to seal for.
    let err = client
        .export(&transfer(), &agency("gz_hf"), &sql)
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("`gz_hf` is not in this gateway's trust directory"),
        "{err}"
    );

    // No session, no export.
    let anonymous = AnalystClient::connect(
        &cluster.address("bj_hf").unwrap(),
        &agency("bj_hf"),
        &cluster.identities.ca_pem().unwrap(),
        Duration::from_secs(5),
    )
    .await
    .unwrap();
    let err = anonymous
        .export(&transfer(), &agency("cd_hf"), &sql)
        .await
        .unwrap_err();
    assert!(matches!(err, GatewayError::Unauthenticated(_)), "{err}");
    assert_eq!(exports(bj), before);

    // The CLI round trip: `sluice export`, then `sluice import` by each agency.
    let file = dir.path().join("transfer.sluice");
    let out = Command::new(sluice_exe())
        .env("SLUICE_TOKEN", client.token().unwrap())
        .args(["export", "--gateway", &cluster.address("bj_hf").unwrap()])
        .arg("--ca")
        .arg(&cluster.identities.ca_cert)
        .args([
            "--to",
            "cd_hf",
            "--purpose",
            "provident_fund_transfer",
            "--out",
        ])
        .arg(&file)
        .arg(&sql)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bytes = std::fs::read(&file).unwrap();
    let digest = hex(&export::file_digest(&bytes));
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains(&digest), "{said}");
    assert!(said.contains("recorded as chain entry"), "{said}");

    let import = |who: &str| {
        let id = cluster.identities.get(who).unwrap();
        vec![
            "import".to_string(),
            file.display().to_string(),
            "--agency".into(),
            who.into(),
            "--keys".into(),
            id.keys_dir.display().to_string(),
            "--trust".into(),
            cluster.trust_dir().display().to_string(),
            "--format".into(),
            "csv".into(),
        ]
    };
    let refused = run_sluice(&import("sh_hf"));
    assert!(!refused.status.success());
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(
        err.contains("this export is sealed for agency `cd_hf`"),
        "{err}"
    );
    let ok = run_sluice_ok(&import("cd_hf"));
    let csv = String::from_utf8_lossy(&ok.stdout);
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some("name,birth_date"));
    assert_eq!(lines.count(), want.len());
    let said = String::from_utf8_lossy(&ok.stderr);
    assert!(
        said.contains("from bj_hf") && said.contains(&digest),
        "{said}"
    );
    cluster.stop().await.unwrap();
}
