//! Chain fixtures the benchmarks and the integration tests share: three fixed agency
//! keys, access entries of a chosen size, and a store filled with many entries.

use std::path::Path;

use sluice_chain::entry::{AccessDecision, Body, ColumnLevel};
use sluice_chain::{AgencySigner, ChainStore, Decision, Entry, TraceFilter, TrustBundle};
use sluice_gateway::error::Result;

/// The agencies of the fixture chains.
pub const AGENCIES: [&str; 3] = ["bj_hf", "sh_hf", "cd_hf"];

/// The fixed signing key of `AGENCIES[i]`.
pub fn signer(i: usize) -> Result<AgencySigner> {
    Ok(AgencySigner::from_seed(AGENCIES[i], [i as u8 + 1; 32])?)
}

/// An access entry whose signed wire form is about `target` bytes.
pub fn sized_entry(author: &str, n: u64, target: usize) -> Entry {
    let mut e = Entry {
        author: author.to_string(),
        time_ms: 1_767_225_600_000 + n,
        body: Body::AccessAllowed(AccessDecision {
            query_id: format!("q{n:012}"),
            principal: format!("{author}/analyst{}", n % 1000),
            purpose: "provident_fund_transfer".into(),
            datasets: vec![format!("{author}.contributions")],
            columns: vec![],
            reason: String::new(),
            cites: vec![],
        }),
    };
    let base = e.to_bytes().map(|b| b.len()).unwrap_or(0) + 4 + 64 + 8;
    if let Body::AccessAllowed(d) = &mut e.body {
        d.reason = "x".repeat(target.saturating_sub(base));
    }
    e
}

/// Fills a store with `entries` access entries: 1,000 principals, 30 datasets, 5
/// purposes, one in ten refused, spread over 30 days. Returns the store.
pub fn fill_store(dir: &Path, entries: u64) -> Result<ChainStore> {
    let store = ChainStore::open(dir)?;
    let signer = signer(0)?;
    let mut trust = TrustBundle::new();
    trust.insert(AGENCIES[0], signer.verifying_key())?;
    let purposes = [
        "provident_fund_transfer",
        "loan_review",
        "statistics",
        "audit",
        "fraud",
    ];
    let mut n = store.len()?;
    while n < entries {
        let end = (n + 10_000).min(entries);
        let batch = (n..end)
            .map(|i| {
                let d = AccessDecision {
                    query_id: format!("q{i:012}"),
                    principal: format!("bj_hf/analyst{}", i % 1000),
                    purpose: purposes[(i % 5) as usize].to_string(),
                    datasets: vec![format!("bj_hf.dataset{}", i % 30)],
                    columns: vec![ColumnLevel {
                        dataset: format!("bj_hf.dataset{}", i % 30),
                        column: format!("col{}", i % 7),
                        level: "plain".into(),
                    }],
                    reason: "benchmark".into(),
                    cites: vec![],
                };
                let body = if i % 10 == 0 {
                    Body::AccessRefused(d)
                } else {
                    Body::AccessAllowed(d)
                };
                let e = Entry {
                    author: AGENCIES[0].into(),
                    time_ms: 1_767_225_600_000 + i * 2_592_000_000 / entries.max(1),
                    body,
                };
                Ok(trust.verify(signer.sign(e)?)?)
            })
            .collect::<Result<Vec<_>>>()?;
        store.append_batch(batch)?;
        n = end;
    }
    Ok(store)
}

/// The traces the benchmark times: a name and a filter.
pub fn trace_queries() -> Vec<(&'static str, TraceFilter)> {
    let day = 86_400_000;
    vec![
        (
            "one principal",
            TraceFilter {
                principal: Some("bj_hf/analyst42".into()),
                ..Default::default()
            },
        ),
        (
            "one dataset, one purpose",
            TraceFilter {
                dataset: Some("bj_hf.dataset7".into()),
                purpose: Some("statistics".into()),
                ..Default::default()
            },
        ),
        (
            "principal + column + refused",
            TraceFilter {
                principal: Some("bj_hf/analyst40".into()),
                column: Some("col5".into()),
                decision: Some(Decision::Refused),
                ..Default::default()
            },
        ),
        (
            "one day, refused",
            TraceFilter {
                from_ms: Some(1_767_225_600_000 + 10 * day),
                to_ms: Some(1_767_225_600_000 + 11 * day),
                decision: Some(Decision::Refused),
                ..Default::default()
            },
        ),
    ]
}
