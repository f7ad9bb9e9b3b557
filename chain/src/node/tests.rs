//! A three-node cluster in one process over real sockets: appends through every node,
//! forwarding to the leader, refusal of entries in another agency's name, cosigned
//! checkpoints, and a node that restarts and catches up.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use tokio::net::TcpListener;

use super::*;
use crate::entry::{AccessDecision, Body};

pub(crate) const AGENCIES: [&str; 3] = ["bj_hf", "sh_hf", "cd_hf"];

pub(crate) fn signer(i: usize) -> AgencySigner {
    AgencySigner::from_seed(AGENCIES[i], [i as u8 + 1; 32]).unwrap()
}

pub(crate) fn trust() -> TrustBundle {
    let mut t = TrustBundle::new();
    for (i, agency) in AGENCIES.iter().enumerate() {
        t.insert(agency, signer(i).verifying_key()).unwrap();
    }
    t
}

pub(crate) fn access(author: &str, n: u64) -> Entry {
    Entry {
        author: author.into(),
        time_ms: 1_700_000_000_000 + n,
        body: Body::AccessAllowed(AccessDecision {
            query_id: format!("q{n}"),
            principal: format!("{author}/alice"),
            purpose: "audit".into(),
            datasets: vec![format!("{author}.persons")],
            columns: vec![],
            reason: "test".into(),
            cites: vec![],
        }),
    }
}

struct Cluster {
    dir: tempfile::TempDir,
    members: Vec<Member>,
    nodes: Vec<Option<ChainNode>>,
    snapshot_every: Option<u64>,
}

impl Cluster {
    async fn start() -> Cluster {
        Self::start_with(None).await
    }

    /// A cluster that snapshots every `snapshot_every` Raft log entries and keeps 5.
    async fn start_with(snapshot_every: Option<u64>) -> Cluster {
        let dir = tempfile::tempdir().unwrap();
        let mut listeners = Vec::new();
        let mut members = Vec::new();
        for (i, agency) in AGENCIES.iter().enumerate() {
            let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
            members.push(Member {
                id: i as u64 + 1,
                agency: agency.to_string(),
                addr: l.local_addr().unwrap().to_string(),
            });
            listeners.push(l);
        }
        let mut c = Cluster {
            dir,
            members,
            nodes: Vec::new(),
            snapshot_every,
        };
        for (i, l) in listeners.into_iter().enumerate() {
            let node = c.start_node(i, l).await;
            c.nodes.push(Some(node));
        }
        c
    }

    fn config(&self, i: usize) -> NodeConfig {
        let mut cfg = NodeConfig::new(
            i as u64 + 1,
            self.dir.path().join(AGENCIES[i]),
            self.members.clone(),
        );
        cfg.checkpoint_interval = Duration::from_millis(200);
        cfg.heartbeat = Duration::from_millis(50);
        if let Some(n) = self.snapshot_every {
            cfg.snapshot_every = n;
            cfg.logs_kept_after_snapshot = 5;
        }
        cfg
    }

    async fn start_node(&self, i: usize, l: TcpListener) -> ChainNode {
        ChainNode::start(self.config(i), signer(i), trust(), l)
            .await
            .unwrap()
    }

    fn node(&self, i: usize) -> &ChainNode {
        self.nodes[i].as_ref().unwrap()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_nodes_replicate_forward_refuse_and_checkpoint() {
    let mut c = Cluster::start().await;
    c.node(0)
        .wait_for_leader(Duration::from_secs(10))
        .await
        .unwrap();

    // Every node appends concurrently; followers forward to the leader.
    let mut tasks = Vec::new();
    for round in 0..50u64 {
        for (i, agency) in AGENCIES.iter().enumerate() {
            let entry = access(agency, round * 3 + i as u64);
            tasks.push((i, c.node(i).append(entry)));
        }
    }
    let mut indexes = Vec::new();
    for (_, t) in tasks {
        indexes.push(t.await.unwrap().index());
    }
    indexes.sort_unstable();
    assert_eq!(indexes, (0..150).collect::<Vec<_>>());
    for i in 0..3 {
        c.node(i)
            .wait_for_size(150, Duration::from_secs(10))
            .await
            .unwrap();
        assert_eq!(
            c.node(i).store().root().unwrap(),
            c.node(0).store().root().unwrap()
        );
    }

    // An entry naming bj_hf as author but signed with sh_hf's key is refused by every
    // replica.
    let sh_key_as_bj = AgencySigner::from_seed("bj_hf", signer(1).seed()).unwrap();
    let forged = sh_key_as_bj.sign(access("bj_hf", 999)).unwrap();
    let err = c.node(0).append_signed(forged).await.unwrap_err();
    assert!(matches!(err, Error::Refused(_)), "{err}");
    assert_eq!(c.node(0).store().len().unwrap(), 150);

    // The leader publishes a checkpoint cosigned by a majority; every node keeps it.
    let mut cp = None;
    for _ in 0..100 {
        if let Some(got) = c.node(2).latest_checkpoint().unwrap()
            && got.checkpoint().size == 150
        {
            cp = Some(got);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let cp = cp.expect("a checkpoint of size 150 reaches every node");
    let verified = cp.verify(&c.node(0).voter_keys().unwrap(), 2).unwrap();
    assert!(verified.signers().len() >= 2);
    assert_eq!(cp.checkpoint().root, c.node(1).store().root().unwrap().1);

    // Stop one node, keep appending, restart it: it catches up from the log.
    let stopped = c.nodes[2].take().unwrap();
    let addr = stopped.addr();
    stopped.shutdown().await.unwrap();
    drop(stopped);
    for n in 0..20 {
        c.node(0).append(access("bj_hf", 1000 + n)).await.unwrap();
    }
    let l = TcpListener::bind(addr).await.unwrap();
    let restarted = c.start_node(2, l).await;
    restarted
        .wait_for_size(170, Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(
        restarted.store().root().unwrap(),
        c.node(0).store().root().unwrap()
    );
    restarted.store().verify(&trust()).unwrap();
    c.nodes[2] = Some(restarted);
    for n in c.nodes.into_iter().flatten() {
        n.shutdown().await.unwrap();
    }
}

/// A node that was down while the others purged their logs behind snapshots catches up
/// by installing the chain from the leader, then verifies and keeps appending.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_behind_a_purged_log_catches_up_by_snapshot() {
    let mut c = Cluster::start_with(Some(20)).await;
    c.node(0)
        .wait_for_leader(Duration::from_secs(10))
        .await
        .unwrap();
    for n in 0..10 {
        c.node(0).append(access("bj_hf", n)).await.unwrap();
    }
    let stopped = c.nodes[2].take().unwrap();
    let addr = stopped.addr();
    stopped.shutdown().await.unwrap();
    drop(stopped);
    // One append at a time: each is its own Raft log entry, so the log passes several
    // snapshot points while node 3 is away.
    for n in 10..200 {
        let i = n as usize % 2;
        c.node(i).append(access(AGENCIES[i], n)).await.unwrap();
    }
    let leader = c.node(0).leader().await.unwrap();
    let leader_node = c.node((leader - 1) as usize);
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while leader_node.purged_index().is_none_or(|p| p < 50) {
        assert!(
            std::time::Instant::now() < deadline,
            "the leader never purged its log"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let l = TcpListener::bind(addr).await.unwrap();
    let restarted = c.start_node(2, l).await;
    restarted
        .wait_for_size(200, Duration::from_secs(30))
        .await
        .unwrap();
    assert!(
        restarted.snapshot_index().is_some(),
        "node 3 caught up without a snapshot"
    );
    assert_eq!(
        restarted.store().root_at(200).unwrap(),
        c.node(0).store().root_at(200).unwrap()
    );
    restarted.store().verify(&trust()).unwrap();
    c.nodes[2] = Some(restarted);
    // It goes on replicating from the log.
    for n in 200..210 {
        c.node(2).append(access("cd_hf", n)).await.unwrap();
    }
    c.node(2)
        .wait_for_size(210, Duration::from_secs(10))
        .await
        .unwrap();
    for n in c.nodes.into_iter().flatten() {
        n.shutdown().await.unwrap();
    }
}

fn membership(author: &str, change: &crate::entry::MembershipChange) -> Entry {
    Entry {
        author: author.into(),
        time_ms: 1_800_000_000_000,
        body: Body::Membership(change.clone()),
    }
}

/// Waits, boundedly, until `done` holds.
async fn eventually(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + limit;
    while !done() {
        assert!(
            std::time::Instant::now() < deadline,
            "{what} within {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A fourth agency joins a running chain of 100,000 entries whose voters have purged their
/// logs. Two of the three voters sign its join (one alone is not enough); the leader then
/// adds it as a Raft learner, and it catches up by installing the chain (every signature
/// and the cosigned root checked). Two voters sign its promotion, after which it votes in
/// Raft and cosigns checkpoints. Its own signature on a membership change counted for
/// nothing while it was only a learner.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_fourth_agency_joins_a_chain_of_100_000_entries_by_snapshot_and_is_promoted() {
    use crate::entry::{MemberRole, MembershipAction, MembershipChange};
    // The nodes' warnings, shown if the test fails.
    let _ = tracing_subscriber::fmt()
        .with_env_filter("warn,sluice_chain=info")
        .with_test_writer()
        .try_init();
    const ENTRIES: u64 = 100_000;
    let dir = tempfile::tempdir().unwrap();
    let joiner = AgencySigner::from_seed("gz_hf", [4; 32]).unwrap();
    let mut listeners = Vec::new();
    let mut voters = Vec::new();
    for (i, agency) in AGENCIES.iter().enumerate() {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        voters.push(Member {
            id: i as u64 + 1,
            agency: agency.to_string(),
            addr: l.local_addr().unwrap().to_string(),
        });
        listeners.push(l);
    }
    let joiner_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let config = |id: u64, name: &str| {
        let mut cfg = NodeConfig::new(id, dir.path().join(name), voters.clone());
        cfg.checkpoint_interval = Duration::from_millis(200);
        cfg.snapshot_every = 20;
        cfg.logs_kept_after_snapshot = 5;
        cfg
    };
    let mut nodes = Vec::new();
    for (i, l) in listeners.into_iter().enumerate() {
        let node = ChainNode::start(config(i as u64 + 1, AGENCIES[i]), signer(i), trust(), l)
            .await
            .unwrap();
        nodes.push(std::sync::Arc::new(node));
    }
    let leader = nodes[0]
        .wait_for_leader(Duration::from_secs(10))
        .await
        .unwrap();
    let leader = std::sync::Arc::clone(&nodes[(leader - 1) as usize]);
    let author = leader.agency().to_string();
    let next = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let mut writers = Vec::new();
    for _ in 0..256 {
        let (node, next, author) = (
            std::sync::Arc::clone(&leader),
            std::sync::Arc::clone(&next),
            author.clone(),
        );
        writers.push(tokio::spawn(async move {
            loop {
                let n = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if n >= ENTRIES {
                    return;
                }
                node.append(access(&author, n)).await.unwrap();
            }
        }));
    }
    for w in writers {
        w.await.unwrap();
    }
    assert_eq!(leader.store().len().unwrap(), ENTRIES);
    assert!(
        leader.purged_index().is_some(),
        "the leader kept its whole log"
    );

    // gz_hf is unknown: its entries are refused, and its node is not heard.
    let mut with_joiner = trust();
    with_joiner.insert("gz_hf", joiner.verifying_key()).unwrap();
    let early = with_joiner
        .sign_trusted(&joiner, access("gz_hf", 0))
        .unwrap();
    assert!(matches!(
        leader.append_signed(early.into_signed()).await,
        Err(Error::Refused(_))
    ));

    let join = MembershipChange {
        agency: "gz_hf".into(),
        action: MembershipAction::Join,
        role: MemberRole::Learner,
        public_key: joiner.verifying_key().to_bytes(),
        address: joiner_listener.local_addr().unwrap().to_string(),
        node: 4,
    };
    nodes[0].append(membership("bj_hf", &join)).await.unwrap();
    assert!(
        leader.roster().unwrap().members().get("gz_hf").is_none(),
        "one voter's signature added a member"
    );
    let joined_at = nodes[1]
        .append(membership("sh_hf", &join))
        .await
        .unwrap()
        .index();
    for n in &nodes {
        n.wait_for_size(joined_at + 1, Duration::from_secs(10))
            .await
            .unwrap();
        assert_eq!(
            n.roster().unwrap().members()["gz_hf"].role,
            MemberRole::Learner
        );
    }
    // A checkpoint at the full size, so the snapshot's root is cosigned.
    let size = joined_at + 1;
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while leader
        .latest_checkpoint()
        .unwrap()
        .is_none_or(|c| c.checkpoint().size < size)
    {
        assert!(
            std::time::Instant::now() < deadline,
            "no checkpoint of the full chain"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let started = std::time::Instant::now();
    let joined = ChainNode::start(
        config(4, "gz_hf"),
        joiner,
        with_joiner.clone(),
        joiner_listener,
    )
    .await
    .unwrap();
    joined
        .wait_for_size(size, Duration::from_secs(120))
        .await
        .unwrap();
    eprintln!(
        "the fourth agency caught up with {size} entries in {:?}",
        started.elapsed()
    );
    // Openraft records the installed snapshot in its metrics just after the entries land.
    eventually("the joiner's snapshot", Duration::from_secs(5), || {
        joined.snapshot_index().is_some()
    })
    .await;
    assert_eq!(
        joined.store().root_at(size).unwrap(),
        leader.store().root_at(size).unwrap()
    );
    joined.store().verify(&with_joiner).unwrap();
    assert_eq!(
        joined.roster().unwrap(),
        leader.roster().unwrap(),
        "replaying the chain gave the joiner the same roster"
    );
    // As a learner it appends through the leader like any member.
    joined.append(access("gz_hf", ENTRIES)).await.unwrap();
    // The checkpoints the leader publishes reach it: it keeps one once one covers no more
    // than its chain (the snapshot's may have covered more, checked by consistency).
    eventually(
        "a cosigned checkpoint on the joiner",
        Duration::from_secs(20),
        || {
            joined
                .store()
                .latest_checkpoint()
                .unwrap()
                .is_some_and(|c| c.checkpoint().size > size)
        },
    )
    .await;
    // But it cannot sign a membership change, not even its own promotion.
    let promote = MembershipChange {
        action: MembershipAction::Update,
        role: MemberRole::Voter,
        ..join.clone()
    };
    let refused = joined.append(membership("gz_hf", &promote)).await;
    assert!(
        matches!(&refused, Err(Error::Refused(r)) if r.contains("not a voter")),
        "{refused:?}"
    );

    nodes[2]
        .append(membership("cd_hf", &promote))
        .await
        .unwrap();
    let promoted_at = nodes[0]
        .append(membership("bj_hf", &promote))
        .await
        .unwrap()
        .index();
    joined
        .wait_for_size(promoted_at + 1, Duration::from_secs(10))
        .await
        .unwrap();
    assert!(joined.roster().unwrap().is_voter("gz_hf"));
    let all: BTreeSet<NodeId> = [1, 2, 3, 4].into();
    eventually(
        "Raft counts the fourth agency as a voter",
        Duration::from_secs(20),
        || leader.raft_voters() == all && joined.raft_voters() == all,
    )
    .await;

    // It cosigns: a checkpoint past its promotion carries its signature, at 3 of 4.
    leader.append(access(&author, ENTRIES + 1)).await.unwrap();
    let target = promoted_at + 2;
    eventually(
        "a checkpoint cosigned by the fourth agency",
        Duration::from_secs(20),
        || {
            let Some(cp) = leader.latest_checkpoint().ok().flatten() else {
                return false;
            };
            let keys = leader.voter_keys().unwrap();
            cp.checkpoint().size >= target
                && cp
                    .verify(&keys, 3)
                    .unwrap()
                    .signers()
                    .iter()
                    .any(|s| s == "gz_hf")
        },
    )
    .await;
    assert_eq!(leader.voter_keys().unwrap().len(), 4);
    joined.shutdown().await.unwrap();
    for n in nodes {
        n.shutdown().await.unwrap();
    }
}
