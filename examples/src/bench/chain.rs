//! `sluice bench chain`: how fast the audit chain commits (three nodes on loopback in one
//! process, fsync on, many concurrent writers), what each committed entry costs in CPU,
//! how long a lost leader stops commits, how long proofs and snapshot installs take.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use sluice_chain::checkpoint::{Checkpoint, NoteSigner, SignedCheckpoint};
use sluice_chain::{ChainNode, ChainStateMachine, ChainStore, Member, NodeConfig, TrustBundle};
use sluice_gateway::error::{GatewayError, Result};
use tokio::net::TcpListener;

use crate::chain_fixtures::{AGENCIES, fill_store, signer, sized_entry};

/// What one commit run measured.
#[derive(Debug)]
pub struct CommitResult {
    pub entries: u64,
    pub writers: usize,
    pub entry_bytes: usize,
    pub elapsed: Duration,
    pub p50: Duration,
    pub p99: Duration,
    /// User + system CPU time of the whole process (all three nodes) during the run.
    pub cpu: Duration,
}

impl CommitResult {
    /// Committed entries per second.
    pub fn per_second(&self) -> f64 {
        self.entries as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// CPU microseconds per committed entry, over the three nodes.
    pub fn cpu_us_per_entry(&self) -> f64 {
        self.cpu.as_secs_f64() * 1e6 / self.entries.max(1) as f64
    }
}

/// User + system CPU time of this process so far, from `/proc/self/stat` (fields 14 and
/// 15, in clock ticks of 1/100 s, the fixed USER_HZ of Linux).
pub fn process_cpu() -> Result<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat")
        .map_err(|e| GatewayError::Internal(format!("reading /proc/self/stat: {e}")))?;
    // The command name may hold spaces: fields are counted after its closing parenthesis.
    let after = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .ok_or_else(|| GatewayError::Internal("/proc/self/stat has no command".into()))?;
    let fields: Vec<&str> = after.split_whitespace().collect();
    let tick = |i: usize| -> Result<u64> {
        fields
            .get(i)
            .and_then(|f| f.parse().ok())
            .ok_or_else(|| GatewayError::Internal(format!("/proc/self/stat field {i}")))
    };
    // After ")", field 3 (state) is index 0, so utime (14) and stime (15) are 11 and 12.
    Ok(Duration::from_millis((tick(11)? + tick(12)?) * 10))
}

/// Three voters on loopback in this process.
pub struct BenchCluster {
    pub nodes: Vec<Arc<ChainNode>>,
}

impl BenchCluster {
    /// Starts three voters with data under `dir`.
    pub async fn start(dir: &Path) -> Result<Self> {
        Self::start_with(dir, sluice_chain::node::DEFAULT_BATCHES_IN_FLIGHT).await
    }

    /// As [`Self::start`], each node keeping `in_flight` group-commit batches in flight.
    pub async fn start_with(dir: &Path, in_flight: usize) -> Result<Self> {
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
            let mut config = NodeConfig::new(i as u64 + 1, dir.join(AGENCIES[i]), members.clone());
            config.batches_in_flight = in_flight;
            nodes.push(Arc::new(
                ChainNode::start(config, signer(i)?, trust.clone(), l).await?,
            ));
        }
        nodes[0].wait_for_leader(Duration::from_secs(30)).await?;
        Ok(Self { nodes })
    }

    /// The node that leads now.
    pub async fn leader(&self) -> Result<Arc<ChainNode>> {
        let id = self.nodes[0]
            .wait_for_leader(Duration::from_secs(30))
            .await?;
        self.nodes
            .iter()
            .find(|n| n.id() == id)
            .cloned()
            .ok_or_else(|| GatewayError::Internal(format!("leader {id} is not a node")))
    }

    /// Stops every node that still runs.
    pub async fn shutdown(self) -> Result<()> {
        for n in self.nodes {
            n.shutdown().await?;
        }
        Ok(())
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted
        .get(((sorted.len() as f64 * p) as usize).min(sorted.len().saturating_sub(1)))
        .copied()
        .unwrap_or_default()
}

/// Commits `entries` entries of about `entry_bytes` bytes from `writers` concurrent
/// writers to a three-node chain on loopback, with every write synced to disk, each node
/// keeping `in_flight` group-commit batches in flight.
pub async fn commit_throughput(
    dir: &Path,
    entries: u64,
    writers: usize,
    entry_bytes: usize,
    in_flight: usize,
) -> Result<CommitResult> {
    let cluster = BenchCluster::start_with(dir, in_flight).await?;
    let node = cluster.leader().await?;
    let author = node.agency().to_string();
    // One round of appends before the clock starts: the first replication to each
    // follower opens its connection, which is not what a running chain pays per entry.
    let warmup: Vec<_> = (0..writers)
        .map(|i| node.append(sized_entry(&author, entries + i as u64, entry_bytes)))
        .collect();
    for w in futures::future::join_all(warmup).await {
        w?;
    }

    let next = Arc::new(AtomicU64::new(0));
    let cpu_before = process_cpu()?;
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..writers {
        let (node, next, author) = (Arc::clone(&node), Arc::clone(&next), author.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= entries {
                    return Ok::<_, GatewayError>(latencies);
                }
                let t = Instant::now();
                node.append(sized_entry(&author, n, entry_bytes)).await?;
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
    let cpu = process_cpu()?.saturating_sub(cpu_before);
    latencies.sort_unstable();
    let result = CommitResult {
        entries,
        writers,
        entry_bytes,
        elapsed,
        p50: percentile(&latencies, 0.50),
        p99: percentile(&latencies, 0.99),
        cpu,
    };
    cluster.shutdown().await?;
    Ok(result)
}

/// What losing the leader under load cost.
#[derive(Debug)]
pub struct LeaderLoss {
    /// The longest time after the leader stopped in which no append was acknowledged.
    pub no_commits: Duration,
    /// From stopping the leader to the last append refused because of it.
    pub refusing_for: Duration,
    /// Appends refused in all.
    pub refused: u64,
    /// Appends committed in all.
    pub committed: u64,
}

/// `writers` writers append through a follower; after `warmup`, the leader is stopped.
/// Measures how long commits stop and how long appends are refused.
pub async fn leader_loss(
    dir: &Path,
    writers: usize,
    warmup: Duration,
    entry_bytes: usize,
) -> Result<LeaderLoss> {
    let cluster = BenchCluster::start(dir).await?;
    let leader = cluster.leader().await?;
    let via = cluster
        .nodes
        .iter()
        .find(|n| n.id() != leader.id())
        .cloned()
        .ok_or_else(|| GatewayError::Internal("no follower".into()))?;
    let author = via.agency().to_string();
    let origin = Instant::now();
    let stop_at = warmup + Duration::from_secs(4);
    let next = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for _ in 0..writers {
        let (via, next, author) = (Arc::clone(&via), Arc::clone(&next), author.clone());
        tasks.push(tokio::spawn(async move {
            // (time the append ended, whether it committed)
            let mut outcomes = Vec::new();
            while origin.elapsed() < stop_at {
                let n = next.fetch_add(1, Ordering::Relaxed);
                let ok = via
                    .append(sized_entry(&author, n, entry_bytes))
                    .await
                    .is_ok();
                outcomes.push((origin.elapsed(), ok));
            }
            outcomes
        }));
    }
    tokio::time::sleep(warmup).await;
    let killed_at = origin.elapsed();
    leader.shutdown().await?;
    let mut outcomes = Vec::new();
    for t in tasks {
        outcomes.extend(t.await.map_err(|e| GatewayError::Internal(e.to_string()))?);
    }
    // Appends in flight when the leader stopped may still be acknowledged just after it:
    // the outage is the longest stretch after the stop with no commit acknowledged.
    let mut commits: Vec<Duration> = outcomes
        .iter()
        .filter(|(t, ok)| *ok && *t >= killed_at)
        .map(|(t, _)| *t)
        .collect();
    commits.sort_unstable();
    let mut longest_gap = Duration::ZERO;
    let mut previous = killed_at;
    for t in commits.iter().copied().chain([stop_at.max(previous)]) {
        longest_gap = longest_gap.max(t.saturating_sub(previous));
        previous = t;
        if t >= stop_at {
            break;
        }
    }
    let last_refusal = outcomes
        .iter()
        .filter(|(t, ok)| !*ok && *t >= killed_at)
        .map(|(t, _)| *t)
        .max()
        .unwrap_or(killed_at);
    let result = LeaderLoss {
        no_commits: longest_gap,
        refusing_for: last_refusal.saturating_sub(killed_at),
        refused: outcomes.iter().filter(|(_, ok)| !ok).count() as u64,
        committed: outcomes.iter().filter(|(_, ok)| *ok).count() as u64,
    };
    cluster.shutdown().await?;
    Ok(result)
}

/// Proof and root times at size n/2 in a store of n entries.
#[derive(Debug)]
pub struct ProofTimes {
    pub size: u64,
    pub root_at_half: Duration,
    pub inclusion_at_half: Duration,
    pub consistency_half_to_full: Duration,
    /// Stored hashes read for the three.
    pub hashes_read: u64,
}

/// Fills (or reuses) a store of `entries` entries and times a root, an inclusion proof
/// and a consistency proof at half its size (median of 5 each).
pub fn proof_times(dir: &Path, entries: u64) -> Result<ProofTimes> {
    let store = fill_store(dir, entries)?;
    let n = store.len()?;
    let half = n / 2;
    let median = |f: &dyn Fn() -> Result<()>| -> Result<Duration> {
        let mut times = Vec::new();
        for _ in 0..5 {
            let t = Instant::now();
            f()?;
            times.push(t.elapsed());
        }
        times.sort_unstable();
        Ok(times[2])
    };
    let reads_before = store.node_reads();
    let root_at_half = median(&|| store.root_at(half).map(|_| ()).map_err(Into::into))?;
    let inclusion_at_half = median(&|| {
        store
            .inclusion_proof(half / 2, half)
            .map(|_| ())
            .map_err(Into::into)
    })?;
    let consistency_half_to_full = median(&|| {
        store
            .consistency_proof(half, n)
            .map(|_| ())
            .map_err(Into::into)
    })?;
    Ok(ProofTimes {
        size: n,
        root_at_half,
        inclusion_at_half,
        consistency_half_to_full,
        hashes_read: (store.node_reads() - reads_before) / 5,
    })
}

/// How long a node takes to install (check and write) a snapshot of `entries` entries.
pub async fn snapshot_install(dir: &Path, entries: u64) -> Result<(u64, Duration)> {
    use openraft::RaftSnapshotBuilder as _;
    use openraft::storage::RaftStateMachine as _;
    let store = Arc::new(fill_store(&dir.join("source"), entries)?);
    let note_signer = NoteSigner::from_seed(AGENCIES[0], signer(0)?.seed())?;
    let (size, root) = store.root()?;
    let note = SignedCheckpoint::sign(Checkpoint::new("sluice/bench", size, root), &note_signer)?;
    let verified = note.verify(&[note_signer.verifier()], 1)?;
    store.keep_checkpoint(&note, &verified)?;
    let mut trust = TrustBundle::new();
    trust.insert(AGENCIES[0], signer(0)?.verifying_key())?;
    let rule = || (vec![note_signer.verifier()], 1);
    let (voters, k) = rule();
    let mut source =
        ChainStateMachine::new(Arc::clone(&store), trust.clone()).with_checkpoint_rule(voters, k);
    let storage = |e: openraft::StorageError<u64>| GatewayError::Internal(e.to_string());
    source.build_snapshot().await.map_err(storage)?;
    let snapshot = source
        .get_current_snapshot()
        .await
        .map_err(storage)?
        .ok_or_else(|| GatewayError::Internal("no snapshot was built".into()))?;
    let target_dir = dir.join("target");
    let (voters, k) = rule();
    let mut target = ChainStateMachine::new(Arc::new(ChainStore::open(&target_dir)?), trust)
        .with_checkpoint_rule(voters, k);
    let t = Instant::now();
    target
        .install_snapshot(&snapshot.meta, snapshot.snapshot)
        .await
        .map_err(storage)?;
    Ok((target.store().len()?, t.elapsed()))
}
