//! The directory: five departments' catalogs on one chain, read from every copy of it;
//! access requests approved (at narrower levels), denied and expired on the chain, and
//! enforced by the owner; catalog versions, withdrawals and another agency's forgery
//! refused by every replica; planning while an owner is down; schema drift; ranked
//! search against an independent BM25; and the DCAT-AP export against the official
//! shapes.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use sluice_chain::entry::{Body, CatalogRecord, EntryKind};
use sluice_chain::{ChainStore, Entry};
use sluice_examples::directory::{self, DEPARTMENTS, Federation, data};
use sluice_gateway::peer::Caller;
use sluice_gateway::{AnalystClient, GatewayError, Purpose};
use sluice_proto::v1::{self, directory_request::Ask};

use super::common::{run_sluice, run_sluice_ok};

fn now_ms() -> u64 {
    sluice_gateway::identity::envelope::now_ms()
}

fn purpose() -> Purpose {
    Purpose::parse(directory::PURPOSE).unwrap()
}

/// Waits, boundedly, until `done` holds.
async fn eventually(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(
            Instant::now() < deadline,
            "{what} did not happen within {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Lists access cases until `done` holds of the list, or ten seconds pass; returns the
/// last list either way, so the caller's assertion reports what was there.
async fn list_until(
    client: &AnalystClient,
    ask: v1::AccessListRequest,
    done: impl Fn(&v1::AccessListResponse) -> bool,
) -> v1::AccessListResponse {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let list = client.list_access(ask).await.unwrap();
        if done(&list) || Instant::now() > deadline {
            return list;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn current(store: &ChainStore, dataset: &str) -> Option<CatalogRecord> {
    store
        .directory()
        .dataset(dataset)
        .unwrap()
        .map(|p| p.record)
}

fn refusal(e: &GatewayError) -> &sluice_gateway::Refusal {
    match e {
        GatewayError::Refused(r) => r,
        other => panic!("expected a policy refusal, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn request_approve_query_expire_and_refuse() {
    let dir = tempfile::tempdir().unwrap();
    let fed = Federation::start(dir.path()).await.unwrap();
    let all = data::published();

    // Every department's copy of the chain lists every department's datasets.
    for d in DEPARTMENTS {
        let store = fed.chain(d.id).unwrap().store();
        assert_eq!(
            store.directory().datasets(None).unwrap().len(),
            all.len(),
            "{}",
            d.id
        );
    }
    let analyst = fed.analyst("bj_hf").await.unwrap();
    let psb = fed.officer("bj_psb").await.unwrap();

    // The analyst finds the household registration by searching.
    let found = analyst
        .directory(v1::DirectoryRequest {
            ask: Ask::Search as i32,
            words: "household registration".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let hits = directory::bodies(&found.records).unwrap();
    assert!(matches!(&hits[0].1, Body::CatalogPublish(r) if r.dataset == directory::WANTED));

    // Without a grant the owner refuses, naming the columns, and records it.
    let e = analyst
        .query_all(&purpose(), &directory::district_query())
        .await
        .unwrap_err();
    let r = refusal(&e);
    assert_eq!(r.agency, "bj_psb");
    assert!(r.columns.iter().any(|c| c.column == "district"), "{e}");

    // `none` and `unconditional` datasets take no request.
    for (dataset, why) in [
        ("bj_psb.vehicles", "cannot be requested"),
        ("bj_hc.hospitals", "needs no request"),
        ("bj_psb.nothing", "not in the catalog"),
    ] {
        let e = analyst
            .request_access(v1::AccessAsk {
                dataset: dataset.into(),
                columns: vec![v1::ColumnLevelSpec {
                    column: "name".into(),
                    level: "plain".into(),
                }],
                ..directory::request(now_ms() + 60_000)
            })
            .await
            .unwrap_err();
        assert!(e.to_string().contains(why), "{dataset}: {e}");
    }
    // A level outside the policy's grammar is refused before it reaches the chain.
    let mut bad = directory::request(now_ms() + 60_000);
    bad.columns[0].level = "everything".into();
    assert!(analyst.request_access(bad).await.is_err());

    let receipt = analyst
        .request_access(directory::request(now_ms() + 3_600_000))
        .await
        .unwrap();
    // The owner's copy of the chain may apply the request a moment after the
    // requester's.
    let pending = list_until(
        &psb,
        v1::AccessListRequest {
            to_my_agency: true,
            pending_only: true,
        },
        |l| !l.cases.is_empty(),
    )
    .await;
    assert_eq!(pending.cases.len(), 1);
    assert_eq!(pending.cases[0].request_id, receipt.request_id);

    // Only the owner's data officer decides: not an analyst, not another agency.
    let approve = |until_ms: u64| directory::approval(&receipt.request_id, until_ms);
    let e = analyst
        .decide_access(approve(now_ms() + 600_000))
        .await
        .unwrap_err();
    assert!(matches!(e, GatewayError::Forbidden(_)), "{e:?}");
    let tax = fed.officer("bj_tax").await.unwrap();
    let e = tax
        .decide_access(approve(now_ms() + 600_000))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("only `bj_psb` may"), "{e}");
    // Wider than asked is refused by the chain's rule.
    let mut wider = approve(now_ms() + 600_000);
    wider.columns.push(v1::ColumnLevelSpec {
        column: "id_number".into(),
        level: "plain".into(),
    });
    assert!(psb.decide_access(wider).await.is_err());

    let approved = psb
        .decide_access(approve(now_ms() + 600_000))
        .await
        .unwrap();

    // The query succeeds, and bj_psb's access entry cites the approval.
    let batches = analyst
        .query_all(&purpose(), &directory::district_query())
        .await
        .unwrap();
    let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
    assert_eq!(rows, 6, "one row per district");
    let store = fed.chain("bj_psb").unwrap().store();
    let cites: Vec<Vec<u64>> = store
        .by_kind(EntryKind::AccessAllowed)
        .unwrap()
        .into_iter()
        .filter_map(|i| match &store.get(i).unwrap().entry().body {
            Body::AccessAllowed(d) if d.principal == "bj_hf/analyst" => Some(d.cites.clone()),
            _ => None,
        })
        .collect();
    assert!(
        cites.iter().any(|c| c == &vec![approved.index]),
        "{cites:?}"
    );

    // Narrower than asked: the year leaves only inside an aggregate.
    let year = "SELECT person_id, registered_year FROM bj_psb.households LIMIT 3";
    let e = analyst.query_all(&purpose(), year).await.unwrap_err();
    let col = refusal(&e)
        .columns
        .iter()
        .find(|c| c.column == "registered_year")
        .unwrap();
    assert_eq!(col.granted, "aggregate");
    assert!(
        col.rule.as_deref().unwrap().contains(&receipt.request_id),
        "{e}"
    );
    analyst
        .query_all(
            &purpose(),
            "SELECT district, AVG(registered_year) FROM bj_psb.households GROUP BY district",
        )
        .await
        .unwrap();

    // A denial carries its reason to the requester.
    let second = analyst
        .request_access(v1::AccessAsk {
            dataset: "bj_ca.assistance".into(),
            columns: vec![v1::ColumnLevelSpec {
                column: "monthly_amount".into(),
                level: "plain".into(),
            }],
            ..directory::request(now_ms() + 60_000)
        })
        .await
        .unwrap();
    let ca = fed.officer("bj_ca").await.unwrap();
    ca.decide_access(v1::AccessDecide {
        request_id: second.request_id.clone(),
        approve: false,
        reason: "individual amounts are not needed for a district review".into(),
        ..Default::default()
    })
    .await
    .unwrap();
    // The denial was committed through bj_ca's copy of the chain; the analyst reads
    // bj_hf's, which applies it a moment later.
    let mine = list_until(&analyst, v1::AccessListRequest::default(), |l| {
        l.cases
            .iter()
            .any(|c| c.request_id == second.request_id && c.status != "pending")
    })
    .await;
    let denied = mine
        .cases
        .iter()
        .find(|c| c.request_id == second.request_id)
        .unwrap();
    assert_eq!(denied.status, "denied");
    let Some(Body::AccessDeny(d)) = denied.decision.as_ref().map(|r| {
        sluice_chain::SignedEntry::from_bytes(&r.entry)
            .unwrap()
            .entry()
            .body
            .clone()
    }) else {
        panic!("no denial entry")
    };
    assert_eq!(
        d.reason,
        "individual amounts are not needed for a district review"
    );

    // A short grant for another purpose: once it ends, bj_psb records the expiry and
    // the query is refused, naming the grant that ended.
    let short = analyst
        .request_access(v1::AccessAsk {
            purpose: "fraud_check".into(),
            ..directory::request(now_ms() + 60_000)
        })
        .await
        .unwrap();
    psb.decide_access(v1::AccessDecide {
        request_id: short.request_id.clone(),
        approve: true,
        until_ms: now_ms() + 1_500,
        ..Default::default()
    })
    .await
    .unwrap();
    eventually("the expiry entry", Duration::from_secs(20), || {
        store
            .directory()
            .request(&short.request_id)
            .unwrap()
            .is_some_and(|c| c.state.status.name() == "expired")
    })
    .await;
    // Every replica agrees.
    for d in DEPARTMENTS {
        let s = fed.chain(d.id).unwrap().store();
        eventually("the expiry everywhere", Duration::from_secs(10), || {
            s.directory()
                .request(&short.request_id)
                .unwrap()
                .is_some_and(|c| c.state.status.name() == "expired")
        })
        .await;
    }
    let e = analyst
        .query_all(
            &Purpose::parse("fraud_check").unwrap(),
            &directory::district_query(),
        )
        .await
        .unwrap_err();
    let note = refusal(&e)
        .columns
        .iter()
        .find_map(|c| c.note.clone())
        .unwrap_or_default();
    assert!(
        note.contains(&short.request_id) && note.contains("ended"),
        "{e}"
    );

    // The auditor reads the whole story at the owner, by principal.
    let hits = store
        .trace(&sluice_chain::TraceFilter {
            principal: Some("bj_hf/analyst".into()),
            ..Default::default()
        })
        .unwrap();
    let kinds: Vec<EntryKind> = hits.iter().map(|h| h.entry.entry().kind()).collect();
    for k in [
        EntryKind::AccessRequest,
        EntryKind::AccessApprove,
        EntryKind::AccessDeny,
        EntryKind::AccessExpire,
        EntryKind::AccessAllowed,
        EntryKind::AccessRefused,
    ] {
        assert!(kinds.contains(&k), "no {k:?} in {kinds:?}");
    }
    fed.stop().await.unwrap();
}

/// Replaces `from` with `to` in `agency`'s config file.
fn edit(fed: &Federation, agency: &str, from: &str, to: &str) {
    let path = fed.config_path(agency);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains(from), "{from}");
    std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
}

fn catalog_entries(store: &ChainStore) -> usize {
    [
        EntryKind::CatalogPublish,
        EntryKind::CatalogChange,
        EntryKind::CatalogWithdraw,
    ]
    .iter()
    .map(|k| store.by_kind(*k).unwrap().len())
    .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn versions_withdrawals_forgeries_downtime_and_drift() {
    let dir = tempfile::tempdir().unwrap();
    let mut fed = Federation::start(dir.path()).await.unwrap();
    let hf = std::sync::Arc::clone(fed.chain("bj_hf").unwrap());

    // A change is the next version; a dataset no longer served is withdrawn.
    fed.stop_department("bj_tax").await.unwrap();
    edit(
        &fed,
        "bj_tax",
        "title = \"Registered enterprises\"",
        "title = \"Enterprises registered for tax\"",
    );
    edit(
        &fed,
        "bj_tax",
        "{ name = \"employees\", type = \"Int64\", classification = \"internal\" }",
        "{ name = \"employees\", type = \"Int64\", classification = \"sensitive\" }",
    );
    let text = std::fs::read_to_string(fed.config_path("bj_tax")).unwrap();
    let start = text.find("[[datasets]]\nname = \"income\"").unwrap();
    let end = text[start + 1..]
        .find("[[datasets]]")
        .map_or(text.len(), |e| start + 1 + e);
    std::fs::write(
        fed.config_path("bj_tax"),
        format!("{}{}", &text[..start], &text[end..]),
    )
    .unwrap();
    // The policy named no income rule, so it still loads; its subject key must go too.
    edit(
        &fed,
        "bj_tax",
        "{ dataset = \"income\", column = \"person_id\" }",
        "",
    );
    fed.start_department("bj_tax").await.unwrap();
    eventually(
        "the new version and the tombstone",
        Duration::from_secs(30),
        || {
            current(hf.store(), "bj_tax.enterprises").is_some_and(|r| r.version == 2)
                && current(hf.store(), "bj_tax.income").is_none()
        },
    )
    .await;
    let enterprises = current(hf.store(), "bj_tax.enterprises").unwrap();
    assert_eq!(enterprises.title, "Enterprises registered for tax");
    let history = hf
        .store()
        .directory()
        .history("bj_tax.enterprises")
        .unwrap();
    assert_eq!(
        history.iter().map(|e| e.body.kind()).collect::<Vec<_>>(),
        [EntryKind::CatalogPublish, EntryKind::CatalogChange]
    );
    let income = hf.store().directory().history("bj_tax.income").unwrap();
    assert_eq!(
        income.iter().map(|e| e.body.kind()).collect::<Vec<_>>(),
        [EntryKind::CatalogPublish, EntryKind::CatalogWithdraw]
    );

    // `sluice catalog history` shows each version, its author and the schema diff.
    let analyst = fed.analyst("bj_hf").await.unwrap();
    let token = analyst.token().unwrap().to_string();
    let address = fed.gateway("bj_hf").unwrap().addr.to_string();
    let ca = fed.identities.ca_cert.clone();
    let cli = |args: &[&str]| {
        let mut all: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        all.extend([
            "--gateway".into(),
            address.clone(),
            "--ca".into(),
            ca.display().to_string(),
        ]);
        Command::new(super::common::sluice_exe())
            .args(&all)
            .env("SLUICE_TOKEN", &token)
            .output()
            .unwrap()
    };
    let out = cli(&["catalog", "history", "bj_tax.enterprises"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("~ employees: internal -> sensitive"),
        "{text}"
    );
    assert!(text.contains("change") && text.contains("bj_tax"), "{text}");

    // Starting again unchanged appends nothing.
    let before = catalog_entries(hf.store());
    fed.stop_department("bj_tax").await.unwrap();
    fed.start_department("bj_tax").await.unwrap();
    fed.ready(&["bj_tax.enterprises".to_string()])
        .await
        .unwrap();
    let publisher_ran = fed
        .gateway("bj_tax")
        .unwrap()
        .gateway
        .publish()
        .await
        .unwrap();
    assert!(publisher_ran.published.is_empty() && publisher_ran.changed.is_empty());
    assert_eq!(catalog_entries(hf.store()), before);
    // `sluice catalog publish` reads the config again: an edited description is the
    // next version, without a restart.
    edit(
        &fed,
        "bj_tax",
        "description = \"Enterprises registered for tax",
        "description = \"Every enterprise registered for tax",
    );
    let report = fed
        .gateway("bj_tax")
        .unwrap()
        .gateway
        .publish()
        .await
        .unwrap();
    assert_eq!(report.changed, ["bj_tax.enterprises"]);
    eventually("version 3 at bj_hf", Duration::from_secs(10), || {
        current(hf.store(), "bj_tax.enterprises").is_some_and(|r| r.version == 3)
    })
    .await;
    let enterprises = current(hf.store(), "bj_tax.enterprises").unwrap();

    // Another agency's record of bj_tax's dataset is refused by every replica.
    let mut forged = enterprises.clone();
    forged.version = 4;
    forged.title = "Forged".into();
    let e = hf
        .append(Entry {
            author: "bj_hf".into(),
            time_ms: now_ms(),
            body: Body::CatalogChange(forged),
        })
        .await
        .unwrap_err();
    assert!(e.to_string().contains("only `bj_tax` may"), "{e}");
    for d in DEPARTMENTS {
        let s = fed.chain(d.id).unwrap().store();
        assert_eq!(
            current(s, "bj_tax.enterprises").unwrap().title,
            "Enterprises registered for tax"
        );
        assert!(
            s.directory()
                .history("bj_tax.enterprises")
                .unwrap()
                .iter()
                .all(|e| e.author == "bj_tax")
        );
    }

    // While bj_tax is down, bj_hf still plans from the chain's catalog, and running the
    // query names the owner it could not reach.
    fed.stop_department("bj_tax").await.unwrap();
    let home = &fed.gateway("bj_hf").unwrap().gateway;
    let id = fed.identities.get("bj_hf").unwrap();
    let (_, session) = home
        .sessions
        .login(&id.analyst.to_string(), &id.password)
        .unwrap();
    let caller = Caller::new(session, purpose());
    let sql = "SELECT district, COUNT(*) FROM bj_tax.enterprises GROUP BY district";
    let plan = home.home.plan(&caller, sql).await.unwrap();
    assert_eq!(plan.sub_queries.len(), 1);
    let e = analyst.query_all(&purpose(), sql).await.unwrap_err();
    assert!(e.to_string().contains("bj_tax"), "{e}");
    let e = home
        .home
        .plan(&caller, "SELECT * FROM bj_tax.income")
        .await
        .unwrap_err();
    assert!(matches!(e, GatewayError::UnknownDataset { .. }), "{e:?}");

    // A source whose schema drifts is refused, with the column, and the refusal is
    // recorded by its owner.
    let hospitals = fed.dir.join("bj_hc").join("hospitals.csv");
    let rows = std::fs::read_to_string(&hospitals).unwrap();
    let drifted: String = rows
        .lines()
        .enumerate()
        .map(|(i, l)| {
            if i == 0 {
                format!("{l},ward\n")
            } else {
                format!("{l},west\n")
            }
        })
        .collect();
    std::fs::write(&hospitals, drifted).unwrap();
    let q = "SELECT district, SUM(beds) FROM bj_hc.hospitals GROUP BY district";
    let deadline = Instant::now() + Duration::from_secs(20);
    // Until the owner reads the source again, the query fails reading the file instead.
    let e = loop {
        match analyst.query_all(&purpose(), q).await {
            Err(e @ GatewayError::SchemaMismatch { .. }) => break e,
            _ => {
                assert!(Instant::now() < deadline, "the drift was never noticed");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    };
    match &e {
        GatewayError::SchemaMismatch {
            dataset, column, ..
        } => {
            assert_eq!(
                (dataset.as_str(), column.as_str()),
                ("bj_hc.hospitals", "ward")
            );
        }
        other => panic!("expected a schema mismatch, got {other:?}"),
    }
    let hc = fed.chain("bj_hc").unwrap().store();
    eventually(
        "the drift refusal on the chain",
        Duration::from_secs(10),
        || {
            hc.by_kind(EntryKind::AccessRefused)
                .unwrap()
                .into_iter()
                .any(|i| {
                    matches!(&hc.get(i).unwrap().entry().body,
                Body::AccessRefused(d) if d.reason.contains("ward"))
                })
        },
    )
    .await;

    // The DCAT-AP export is valid JSON-LD and conforms to the official shapes.
    let out_file = dir.path().join("catalog.jsonld");
    let out = cli(&[
        "catalog",
        "export",
        "--format",
        "dcat",
        "--out",
        out_file.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let checked = shacl(&out_file);
    assert_eq!(
        checked.trim(),
        format!("conforms {}", data::published().len() - 1)
    );
    fed.stop().await.unwrap();
}

/// Runs `tests/dcat_shacl.py` on `file`; its stdout, or the test fails with its report.
fn shacl(file: &Path) -> String {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/dcat_shacl.py");
    let out = Command::new("python3")
        .arg(script)
        .arg(file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn a_dcat_export_that_breaks_a_shape_is_refused() {
    let mut records: Vec<(u64, CatalogRecord)> = Vec::new();
    let dir = tempfile::tempdir().unwrap();
    let fed_data = data::published();
    let d = &fed_data[0];
    let record = CatalogRecord {
        dataset: d.dataset(),
        version: 1,
        title: d.title.into(),
        description: d.description.into(),
        keywords: d.keywords.iter().map(|k| k.to_string()).collect(),
        department: d.department.into(),
        legal_basis: d.legal_basis.into(),
        columns: Vec::new(),
        sharing: sluice_chain::entry::SharingClass::Conditional,
        update_frequency: "monthly".into(),
        row_count: Some(400),
        last_update: "2026-11-30".into(),
        contact: "office@example.org".into(),
    };
    records.push((now_ms(), record));
    let mut doc = sluice_gateway::directory::dcat::catalog(&records);
    let good = dir.path().join("good.jsonld");
    std::fs::write(&good, doc.to_string()).unwrap();
    assert_eq!(shacl(&good).trim(), "conforms 1");
    // A dataset without a title breaks the mandatory-title shape.
    doc["dcat:dataset"][0]
        .as_object_mut()
        .unwrap()
        .remove("dct:title");
    let bad = dir.path().join("bad.jsonld");
    std::fs::write(&bad, doc.to_string()).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/dcat_shacl.py");
    let out = Command::new("python3")
        .arg(script)
        .arg(&bad)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("title"));
}

#[test]
fn search_ranks_as_an_independent_bm25_does() {
    let records = super::directory_corpus::records();
    let index = sluice_chain::directory::SearchIndex::build(records.clone());
    let queries = super::directory_corpus::QUERIES;
    let corpus: Vec<serde_json::Value> = records
        .iter()
        .map(|r| {
            serde_json::json!({
                "dataset": r.dataset,
                "title": r.title,
                "description": r.description,
                "keywords": r.keywords,
                "columns": r.columns.iter().map(|c| c.name.clone()).collect::<Vec<_>>(),
            })
        })
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("corpus.json");
    std::fs::write(
        &input,
        serde_json::json!({ "records": corpus, "queries": queries }).to_string(),
    )
    .unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/bm25_reference.py");
    let out = Command::new("python3")
        .arg(script)
        .arg(&input)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let expected: Vec<Vec<(String, f64)>> = serde_json::from_slice(&out.stdout).unwrap();
    for (q, want) in queries.iter().zip(expected) {
        let got = index.search(q, &Default::default(), 1_000);
        let got_names: Vec<&str> = got.iter().map(|h| h.dataset.as_str()).collect();
        let want_names: Vec<&str> = want.iter().map(|(d, _)| d.as_str()).collect();
        assert_eq!(got_names, want_names, "query {q:?}");
        for (g, (_, w)) in got.iter().zip(&want) {
            assert!(
                (g.score - w).abs() < 1e-9,
                "query {q:?}: {} vs {w}",
                g.score
            );
        }
    }
}

#[test]
fn the_cli_names_a_bad_until() {
    let out = run_sluice(&[
        "access",
        "request",
        "bj_psb.households",
        "--columns",
        "district",
        "--purpose",
        "x",
        "--until",
        "next week",
        "--reason",
        "r",
        "--gateway",
        "127.0.0.1:9",
        "--ca",
        "/nonexistent",
    ]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("`next week`"), "{stderr}");
    run_sluice_ok(&["access", "--help"]);
}
