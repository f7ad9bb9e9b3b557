//! The gateways' audit trail on the chain: each owner records every access before data
//! leaves and a completion after, refusals are recorded, and without a majority of
//! the chain no data leaves.

use std::time::{Duration, Instant};

use sluice_chain::entry::Body;
use sluice_chain::{ChainStore, TraceFilter, TrustBundle};
use sluice_gateway::identity::envelope;
use sluice_gateway::{Principal, QueryId, RequestContext};
use sluice_proto::v1;

use super::common::{Harness, keys, peer_client, purpose};

/// Waits until `store` holds an entry matching `pred`, and returns it.
pub(super) async fn wait_for(
    store: &ChainStore,
    what: &str,
    pred: impl Fn(&Body) -> bool,
) -> sluice_chain::TraceHit {
    wait_for_from(store, None, what, pred).await
}

/// As [`wait_for`], among the entries `author` wrote (every agency's store replicates
/// them all).
pub(super) async fn wait_for_from(
    store: &ChainStore,
    author: Option<&str>,
    what: &str,
    pred: impl Fn(&Body) -> bool,
) -> sluice_chain::TraceHit {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let hits = store.trace(&TraceFilter::default()).unwrap();
        if let Some(h) = hits.into_iter().find(|h| {
            let entry = h.entry.entry();
            author.is_none_or(|a| entry.author == a) && pred(&entry.body)
        }) {
            return h;
        }
        assert!(Instant::now() < deadline, "no {what} on the chain");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn owners_record_access_and_completion_and_refusals() {
    let h = Harness::start().await;
    let qid = QueryId::new();
    let batches = h
        .federated_with_id(
            &qid,
            "SELECT person_id, amount FROM sh_hf.contributions WHERE amount > 0 ORDER BY person_id, month LIMIT 25",
        )
        .await
        .unwrap();
    let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
    assert!(rows > 0);

    let sh = h.cluster.chain("sh_hf").unwrap();
    let store = sh.store();
    let allowed = wait_for(
        store,
        "access entry",
        |b| matches!(b, Body::AccessAllowed(d) if d.query_id.starts_with(qid.as_str())),
    )
    .await;
    let completed = wait_for(
        store,
        "completion entry",
        |b| matches!(b, Body::AccessCompleted(c) if c.query_id.starts_with(qid.as_str())),
    )
    .await;
    assert!(
        allowed.index < completed.index,
        "the access is recorded first"
    );
    assert_eq!(allowed.entry.entry().author, "sh_hf");
    let Body::AccessAllowed(d) = &allowed.entry.entry().body else {
        unreachable!()
    };
    assert_eq!(d.principal, "bj_hf/analyst");
    assert_eq!(d.purpose, "integration_test");
    assert_eq!(d.datasets, vec!["sh_hf.contributions".to_string()]);
    let mut cols: Vec<&str> = d.columns.iter().map(|c| c.column.as_str()).collect();
    cols.sort_unstable();
    assert_eq!(
        cols,
        ["amount", "month", "person_id"],
        "only the columns read are recorded"
    );
    let Body::AccessCompleted(c) = &completed.entry.entry().body else {
        unreachable!()
    };
    assert_eq!(
        c.rows as usize, rows,
        "the completion counts the rows delivered"
    );
    assert!(c.bytes > 0);

    // Every replica holds the same entries, and they verify.
    let bj = h.cluster.chain("bj_hf").unwrap();
    bj.wait_for_size(completed.index + 1, Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(
        bj.store().get_bytes(allowed.index).unwrap(),
        store.get_bytes(allowed.index).unwrap()
    );
    let trust = TrustBundle::from_dir(&h.cluster.trust_dir()).unwrap();
    store.verify(&trust).unwrap();

    // A sub-query the owner refuses is recorded as refused, with the reason.
    let mut peer = peer_client(&h.cluster, "bj_hf", "sh_hf").await;
    let refused_ctx = RequestContext {
        principal: Principal::parse("bj_hf/analyst").unwrap(),
        purpose: purpose(),
        query_id: QueryId::parse(&format!("{qid}-refused")).unwrap(),
    };
    let sql = "SELECT * FROM bj_hf.persons";
    let signed = envelope::sign(
        &keys(&h.cluster, "bj_hf"),
        &refused_ctx,
        &["fund_analyst".to_string()],
        sql,
    )
    .unwrap();
    let err = peer
        .fetch(v1::FetchRequest {
            request: Some(signed),
            sql: sql.into(),
        })
        .await
        .unwrap_err();
    assert!(err.message().contains("bj_hf"), "{}", err.message());
    let refused = wait_for(
        store,
        "refusal",
        |b| matches!(b, Body::AccessRefused(d) if d.query_id == format!("{qid}-refused")),
    )
    .await;
    let Body::AccessRefused(d) = &refused.entry.entry().body else {
        unreachable!()
    };
    assert!(d.reason.contains("bj_hf"), "{}", d.reason);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_data_leaves_without_a_committed_access_entry() {
    let h = Harness::start().await;
    // Warm up: the chain has a leader and the query path works.
    h.client
        .query_all(&purpose(), "SELECT COUNT(*) FROM sh_hf.loans")
        .await
        .unwrap();
    // Two of three chain nodes stop: no majority can commit anything.
    for agency in ["bj_hf", "cd_hf"] {
        let node = h
            .cluster
            .gateway(agency)
            .unwrap()
            .gateway
            .chain
            .clone()
            .unwrap();
        node.shutdown().await.unwrap();
    }
    let err = h
        .client
        .query_all(&purpose(), "SELECT loan_id, amount FROM sh_hf.loans")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("no data was released"), "{err}");
}
