//! `sluice bench chain` and `sluice bench trace`: how fast the audit chain commits
//! (three nodes on loopback, fsync on, many concurrent writers) and how fast auditors'
//! filtered traces answer over a large store.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sluice_chain::entry::{AccessDecision, Body, ColumnLevel};
use sluice_chain::{
    AgencySigner, ChainNode, ChainStore, Decision, Entry, Member, NodeConfig, TraceFilter,
    TrustBundle,
};
use tokio::net::TcpListener;

use crate::error::{GatewayError, Result};

const AGENCIES: [&str; 3] = ["bj_hf", "sh_hf", "cd_hf"];

/// What the commit benchmark measured.
#[derive(Debug)]
pub struct CommitResult {
    pub entries: u64,
    pub entry_bytes: usize,
    pub elapsed: Duration,
    pub p50: Duration,
    pub p99: Duration,
}

fn signer(i: usize) -> Result<AgencySigner> {
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
            consents: vec![],
        }),
    };
    let base = e.to_bytes().map(|b| b.len()).unwrap_or(0) + 4 + 64 + 8;
    if let Body::AccessAllowed(d) = &mut e.body {
        d.reason = "x".repeat(target.saturating_sub(base));
    }
    e
}

/// Commits `entries` entries of about `entry_bytes` bytes from `writers` concurrent
/// writers to a three-node chain on loopback, with every write synced to disk.
pub async fn commit_throughput(
    dir: &Path,
    entries: u64,
    writers: usize,
    entry_bytes: usize,
) -> Result<CommitResult> {
    let mut trust = TrustBundle::new();
    let mut listeners = Vec::new();
    let mut members = Vec::new();
    for (i, a) in AGENCIES.iter().enumerate() {
        trust.insert(a, signer(i)?.verifying_key())?;
        let l = TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| GatewayError::Transport(e.to_string()))?;
        let addr = l
            .local_addr()
            .map_err(|e| GatewayError::Transport(e.to_string()))?;
        members.push(Member {
            id: i as u64 + 1,
            agency: a.to_string(),
            addr: addr.to_string(),
        });
        listeners.push(l);
    }
    let mut nodes = Vec::new();
    for (i, l) in listeners.into_iter().enumerate() {
        let config = NodeConfig::new(i as u64 + 1, dir.join(AGENCIES[i]), members.clone());
        nodes.push(Arc::new(
            ChainNode::start(config, signer(i)?, trust.clone(), l).await?,
        ));
    }
    let leader = nodes[0].wait_for_leader(Duration::from_secs(30)).await?;
    let node = Arc::clone(&nodes[(leader - 1) as usize]);
    let author = AGENCIES[(leader - 1) as usize];

    let next = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..writers {
        let (node, next) = (Arc::clone(&node), Arc::clone(&next));
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            loop {
                let n = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if n >= entries {
                    return Ok::<_, GatewayError>(latencies);
                }
                let t = Instant::now();
                node.append(sized_entry(author, n, entry_bytes)).await?;
                latencies.push(t.elapsed());
            }
        }));
    }
    let mut latencies = Vec::new();
    for t in tasks {
        latencies.extend(
            t.await
                .map_err(|e| GatewayError::Internal(e.to_string()))??,
        );
    }
    let elapsed = start.elapsed();
    latencies.sort_unstable();
    let pct = |p: f64| {
        latencies
            .get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1)))
            .copied()
            .unwrap_or_default()
    };
    let result = CommitResult {
        entries,
        entry_bytes,
        elapsed,
        p50: pct(0.50),
        p99: pct(0.99),
    };
    for n in nodes {
        n.shutdown().await?;
    }
    Ok(result)
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
                    consents: vec![],
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
