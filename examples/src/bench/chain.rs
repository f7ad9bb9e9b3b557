//! `sluice bench chain`: how fast the audit chain commits, three nodes on loopback with
//! fsync on and many concurrent writers.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sluice_chain::{ChainNode, Member, NodeConfig, TrustBundle};
use sluice_gateway::error::{GatewayError, Result};
use tokio::net::TcpListener;

use crate::chain_fixtures::{AGENCIES, signer, sized_entry};

/// What the commit benchmark measured.
#[derive(Debug)]
pub struct CommitResult {
    pub entries: u64,
    pub entry_bytes: usize,
    pub elapsed: Duration,
    pub p50: Duration,
    pub p99: Duration,
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
