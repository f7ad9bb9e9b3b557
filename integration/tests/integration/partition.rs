//! The chain across a real network: three `sluice gateway` voters, each in its own network
//! namespace on a veth pair into one bridge, and the test's learner (which appends) on the
//! bridge. Faults are made in the kernel: a link taken down (the leader cut off, a voter
//! flapping) and 1% packet loss (nft, in each voter's namespace). This kernel has no
//! `sch_netem`, so the 20 ms round trip is added by a relay in front of each voter that
//! holds every chunk 10 ms in each direction.
//!
//! After each fault: no acknowledged entry is lost, no two nodes differ at any index,
//! every checkpoint any node kept is cosigned and consistent with the final tree, and
//! `sluice audit verify` passes on every node. Every address is in the test's own
//! namespaces and bridge (10.201.<test>.0/24); every loop is bounded in count and time.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sluice_chain::checkpoint::NoteVerifier;
use sluice_chain::{ChainNode, ChainStore, Member, NodeConfig, SignedCheckpoint, TrustBundle};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::chain_faults::{
    LEARNER, VOTERS, Voter, append_during, append_many, b64, chain_identities, signer,
    wait_store_size,
};
use super::common::run_sluice_ok;

const CHAIN_PORT: u16 = 7400;

/// Runs `ip`/`nft` and fails the test with its stderr if it fails.
fn sh(program: &str, args: &[&str]) {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!("{program} {args:?}: {e} (the partition tests need root, iproute2 and nftables)")
        });
    assert!(
        out.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The namespaces, veths and bridge of one test, removed on drop.
struct Net {
    k: u8,
}

impl Net {
    fn ns(&self, i: usize) -> String {
        format!("s14-{}-{i}", self.k)
    }
    fn host_link(&self, i: usize) -> String {
        format!("s14k{}h{i}", self.k)
    }
    fn bridge(&self) -> String {
        format!("s14k{}br", self.k)
    }
    fn ip(&self, i: usize) -> String {
        format!("10.201.{}.{}", self.k, i + 1)
    }
    fn bridge_ip(&self) -> String {
        format!("10.201.{}.254", self.k)
    }

    fn create(k: u8) -> Net {
        let net = Net { k };
        net.remove();
        let br = net.bridge();
        sh("ip", &["link", "add", &br, "type", "bridge"]);
        sh(
            "ip",
            &[
                "addr",
                "add",
                &format!("{}/24", net.bridge_ip()),
                "dev",
                &br,
            ],
        );
        sh("ip", &["link", "set", &br, "up"]);
        for i in 0..VOTERS.len() {
            let (ns, host) = (net.ns(i), net.host_link(i));
            let inner = format!("s14k{}n{i}", k);
            sh("ip", &["netns", "add", &ns]);
            sh(
                "ip",
                &["link", "add", &host, "type", "veth", "peer", "name", &inner],
            );
            sh("ip", &["link", "set", &inner, "netns", &ns]);
            sh("ip", &["link", "set", &host, "master", &br, "up"]);
            sh(
                "ip",
                &[
                    "-n",
                    &ns,
                    "addr",
                    "add",
                    &format!("{}/24", net.ip(i)),
                    "dev",
                    &inner,
                ],
            );
            sh("ip", &["-n", &ns, "link", "set", &inner, "up"]);
            sh("ip", &["-n", &ns, "link", "set", "lo", "up"]);
        }
        net
    }

    /// Cuts voter `i` off from everyone (or joins it back).
    fn set_link(&self, i: usize, up: bool) {
        sh(
            "ip",
            &[
                "link",
                "set",
                &self.host_link(i),
                if up { "up" } else { "down" },
            ],
        );
    }

    /// Drops `percent`% of the packets each voter sends, at random.
    fn lose(&self, percent: u8) {
        for i in 0..VOTERS.len() {
            let ns = self.ns(i);
            sh(
                "ip",
                &[
                    "netns", "exec", &ns, "nft", "add", "table", "inet", "s14loss",
                ],
            );
            sh(
                "ip",
                &[
                    "netns",
                    "exec",
                    &ns,
                    "nft",
                    "add",
                    "chain",
                    "inet",
                    "s14loss",
                    "out",
                    "{ type filter hook output priority 0; }",
                ],
            );
            sh(
                "ip",
                &[
                    "netns",
                    "exec",
                    &ns,
                    "nft",
                    "add",
                    "rule",
                    "inet",
                    "s14loss",
                    "out",
                    "numgen",
                    "random",
                    "mod",
                    "100",
                    "<",
                    &percent.to_string(),
                    "drop",
                ],
            );
        }
    }

    fn remove(&self) {
        for i in 0..VOTERS.len() {
            let _ = Command::new("ip")
                .args(["netns", "del", &self.ns(i)])
                .output();
            let _ = Command::new("ip")
                .args(["link", "del", &self.host_link(i)])
                .output();
        }
        let _ = Command::new("ip")
            .args(["link", "del", &self.bridge()])
            .output();
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        self.remove();
    }
}

/// Forwards connections from `listener` to `target`, holding every chunk `delay` in each
/// direction. Ends when its task is aborted.
async fn delay_relay(listener: TcpListener, target: String, delay: Duration) {
    loop {
        let Ok((inbound, _)) = listener.accept().await else {
            return;
        };
        let target = target.clone();
        tokio::spawn(async move {
            let Ok(outbound) = TcpStream::connect(&target).await else {
                return;
            };
            let _ = inbound.set_nodelay(true);
            let _ = outbound.set_nodelay(true);
            let (ri, wi) = inbound.into_split();
            let (ro, wo) = outbound.into_split();
            tokio::spawn(pump(ri, wo, delay));
            tokio::spawn(pump(ro, wi, delay));
        });
    }
}

async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    delay: Duration,
) {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(Instant, Vec<u8>)>();
    let writer = tokio::spawn(async move {
        while let Some((due, chunk)) = rx.recv().await {
            tokio::time::sleep_until(due.into()).await;
            if to.write_all(&chunk).await.is_err() {
                return;
            }
        }
    });
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if tx
                    .send((Instant::now() + delay, buf[..n].to_vec()))
                    .is_err()
                {
                    break;
                }
            }
        }
    }
    drop(tx);
    let _ = writer.await;
}

/// Fields drop in order: the processes go before their data and their namespaces.
struct NetCluster {
    voters: Vec<Voter>,
    learner: Option<Arc<ChainNode>>,
    relays: Vec<tokio::task::JoinHandle<()>>,
    watcher: Option<tokio::task::JoinHandle<()>>,
    /// Every checkpoint any node was seen keeping, by its note text.
    seen: Arc<Mutex<BTreeMap<String, ()>>>,
    trust: TrustBundle,
    dir: tempfile::TempDir,
    net: Net,
}

impl NetCluster {
    /// Starts the voters in their namespaces and the learner on the bridge; with `delay`,
    /// each voter is reached through a relay that adds it in each direction.
    async fn start(k: u8, delay: Option<Duration>) -> NetCluster {
        let net = Net::create(k);
        let dir = tempfile::tempdir().unwrap();
        let mut trust = TrustBundle::new();
        let mut relays = Vec::new();
        let mut members = Vec::new();
        for (i, a) in VOTERS.iter().enumerate() {
            trust.insert(a, signer(a, i as u8).verifying_key()).unwrap();
            let real = format!("{}:{CHAIN_PORT}", net.ip(i));
            let advertised = match delay {
                Some(d) => {
                    let l = TcpListener::bind(format!("{}:0", net.bridge_ip()))
                        .await
                        .unwrap();
                    let addr = l.local_addr().unwrap().to_string();
                    relays.push(tokio::spawn(delay_relay(l, real.clone(), d)));
                    addr
                }
                None => real.clone(),
            };
            members.push((i as u64 + 1, a.to_string(), real, advertised));
        }
        let learner_signer = signer(LEARNER, 9);
        trust
            .insert(LEARNER, learner_signer.verifying_key())
            .unwrap();
        let learner_listener = TcpListener::bind(format!("{}:0", net.bridge_ip()))
            .await
            .unwrap();
        let learner_addr = learner_listener.local_addr().unwrap().to_string();
        let (identity, learner_tls) = chain_identities(dir.path());
        trust.to_dir(&dir.path().join("trust")).unwrap();

        let mut member_toml = String::new();
        for (id, agency, _, advertised) in &members {
            member_toml += &format!(
                "[[chain.members]]\nid = {id}\nagency = \"{agency}\"\naddress = \"{advertised}\"\npublic_key = \"{}\"\nrole = \"voter\"\n\n",
                b64(trust.get(agency).unwrap().as_bytes())
            );
        }
        member_toml += &format!(
            "[[chain.members]]\nid = 9\nagency = \"{LEARNER}\"\naddress = \"{learner_addr}\"\npublic_key = \"{}\"\nrole = \"learner\"\n",
            b64(learner_signer.verifying_key().as_bytes())
        );
        let mut voters = Vec::new();
        for (i, (id, agency, real, _)) in members.iter().enumerate() {
            let key = dir.path().join(format!("{agency}.key"));
            sluice_gateway::keys::write_key_file(&key, &signer(agency, i as u8).seed()).unwrap();
            let config = dir.path().join(format!("{agency}.toml"));
            std::fs::write(
                &config,
                format!(
                    "agency = \"{agency}\"\nlisten = \"127.0.0.1:7300\"\n{}\n[chain]\nnode_id = {id}\nlisten = \"{real}\"\ndata_dir = \"{agency}-chain\"\nkey_file = \"{agency}.key\"\nappend_timeout_ms = 5000\n\n{member_toml}",
                    identity[agency.as_str()]
                ),
            )
            .unwrap();
            let mut v = Voter {
                config,
                data: dir.path().join(format!("{agency}-chain")),
                log: dir.path().join(format!("{agency}.log")),
                child: None,
                netns: Some(net.ns(i)),
            };
            v.start();
            voters.push(v);
        }
        let voter_members: Vec<Member> = members
            .iter()
            .map(|(id, agency, _, advertised)| Member {
                id: *id,
                agency: agency.clone(),
                addr: advertised.clone(),
            })
            .collect();
        let mut cfg = NodeConfig::new(9, dir.path().join("learner"), voter_members);
        cfg.learners = vec![Member {
            id: 9,
            agency: LEARNER.into(),
            addr: learner_addr,
        }];
        cfg.append_timeout = Duration::from_secs(5);
        cfg.tls = Some(learner_tls);
        let learner = ChainNode::start(cfg, learner_signer, trust.clone(), learner_listener)
            .await
            .unwrap();
        learner
            .wait_for_leader(Duration::from_secs(60))
            .await
            .expect("the namespaced voters elect a leader");
        let mut c = NetCluster {
            dir,
            voters,
            learner: Some(Arc::new(learner)),
            trust,
            relays,
            seen: Arc::default(),
            watcher: None,
            net,
        };
        c.watch_checkpoints();
        c
    }

    fn learner(&self) -> Arc<ChainNode> {
        Arc::clone(self.learner.as_ref().unwrap())
    }

    /// Every 200 ms, records the checkpoint each node keeps, while the test runs.
    fn watch_checkpoints(&mut self) {
        let stores: Vec<PathBuf> = self.voters.iter().map(|v| v.data.join("chain")).collect();
        let (seen, learner) = (Arc::clone(&self.seen), self.learner());
        self.watcher = Some(tokio::spawn(async move {
            for _ in 0..3000 {
                let mut notes = Vec::new();
                for s in &stores {
                    if let Ok(Some(cp)) =
                        ChainStore::open_read_only(s).and_then(|s| s.latest_checkpoint())
                    {
                        notes.push(cp.to_note());
                    }
                }
                if let Ok(Some(cp)) = learner.latest_checkpoint() {
                    notes.push(cp.to_note());
                }
                if let Ok(mut seen) = seen.lock() {
                    for n in notes {
                        seen.insert(n, ());
                    }
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }));
    }

    /// The leader's index among the voters.
    async fn leader(&self) -> usize {
        let id = self
            .learner()
            .wait_for_leader(Duration::from_secs(30))
            .await
            .unwrap();
        (id - 1) as usize
    }

    /// The properties every fault must leave intact.
    async fn check(mut self, acked: &BTreeMap<u64, Vec<u8>>) {
        let learner = self.learner();
        let size = learner
            .store()
            .len()
            .unwrap()
            .max(acked.keys().next_back().map_or(0, |i| i + 1));
        learner
            .wait_for_size(size, Duration::from_secs(120))
            .await
            .unwrap_or_else(|e| panic!("the learner did not reach {size}: {e}"));
        for v in &self.voters {
            wait_store_size(&v.data, size).await;
        }
        // A checkpoint published at the end covers what was appended.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        if let Some(w) = self.watcher.take() {
            w.abort();
        }
        for v in &mut self.voters {
            v.kill();
        }
        for r in &self.relays {
            r.abort();
        }
        if let Some(l) = self.learner.take() {
            l.shutdown().await.unwrap();
        }
        let voter_keys: Vec<NoteVerifier> = VOTERS
            .iter()
            .map(|a| NoteVerifier::new(a, *self.trust.get(a).unwrap()).unwrap())
            .collect();
        let mut stores = vec![(
            "learner".to_string(),
            self.dir.path().join("learner").join("chain"),
        )];
        stores.extend(
            self.voters
                .iter()
                .zip(VOTERS)
                .map(|(v, a)| (a.to_string(), v.data.join("chain"))),
        );
        let reference = ChainStore::open_read_only(&stores[0].1).unwrap();
        let final_size = reference.len().unwrap();
        let final_root = reference.root_at(final_size).unwrap();
        for (name, path) in &stores {
            let store = ChainStore::open_read_only(path).unwrap();
            // No divergence: the same tree over the same entries on every node.
            let n = store.len().unwrap().min(final_size);
            assert!(n >= size, "{name} holds {n} entries, {size} were committed");
            assert_eq!(
                store.root_at(n).unwrap(),
                reference.root_at(n).unwrap(),
                "{name} diverged"
            );
            for (index, bytes) in acked {
                assert_eq!(
                    &store.get_bytes(*index).unwrap(),
                    bytes,
                    "{name} lost acknowledged entry {index}"
                );
            }
            run_sluice_ok(&[
                "audit",
                "verify",
                "--store",
                path.to_str().unwrap(),
                "--trust",
                self.dir.path().join("trust").to_str().unwrap(),
            ]);
        }
        // Every checkpoint any node kept is cosigned and a prefix of the final tree.
        let seen = self.seen.lock().unwrap().clone();
        assert!(!seen.is_empty(), "no node kept a checkpoint");
        for note in seen.keys() {
            let cp = SignedCheckpoint::parse(note).unwrap();
            cp.verify(&voter_keys, 2).unwrap();
            let c = cp.checkpoint();
            let proof = reference.consistency_proof(c.size, final_size).unwrap();
            sluice_chain::merkle::verify_consistency(
                c.size,
                final_size,
                &proof,
                &c.root,
                &final_root,
            )
            .unwrap_or_else(|e| panic!("checkpoint at {} is not a prefix: {e}", c.size));
        }
        eprintln!(
            "{} entries acknowledged, {final_size} on the chain, {} checkpoints checked",
            acked.len(),
            seen.len()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn partition_leader_cut_off_during_appends_then_healed() {
    let c = NetCluster::start(1, None).await;
    let node = c.learner();
    let cutting = Arc::new(AtomicBool::new(true));
    let appends = append_during(Arc::clone(&node), Arc::clone(&cutting), 8);
    tokio::time::sleep(Duration::from_millis(800)).await;
    let old = c.leader().await;
    c.net.set_link(old, false);
    let cut = Instant::now();
    let size_at_cut = node.store().len().unwrap();
    // A new leader is elected among the two that still see each other.
    let deadline = cut + Duration::from_secs(20);
    let new = loop {
        let l = c.leader().await;
        if l != old {
            break l;
        }
        assert!(
            Instant::now() < deadline,
            "no new leader after cutting off {old}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    eprintln!(
        "leader {old} cut off; {new} leads after {:?}",
        cut.elapsed()
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    let size_at_heal = node.store().len().unwrap();
    c.net.set_link(old, true);
    cutting.store(false, Ordering::Relaxed);
    let (acked, failed) = appends.await.unwrap();
    eprintln!(
        "{} acknowledged, {failed} failed; {size_at_cut} entries at the cut, {size_at_heal} at the heal",
        acked.len()
    );
    // Writers waiting on the cut-off leader give up once another node leads, so the
    // majority side goes on committing during the cut.
    assert!(
        size_at_heal > size_at_cut + 100,
        "the majority committed only {} entries while the leader was cut off",
        size_at_heal - size_at_cut
    );
    assert!(
        acked.len() > 4000,
        "only {} of at least 8000 acknowledged",
        acked.len()
    );
    c.check(&acked).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn partition_voter_flapping() {
    const FLAPS: u64 = 4;
    let c = NetCluster::start(2, None).await;
    let node = c.learner();
    let flapping = Arc::new(AtomicBool::new(true));
    let appends = append_during(Arc::clone(&node), Arc::clone(&flapping), 8);
    let mut rng = 0x9e37_79b9_7f4a_7c15u64;
    for flap in 0..FLAPS {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        // Flap a voter that does not lead, so commits go on; the last time, the leader.
        let leader = c.leader().await;
        let victim = if flap == FLAPS - 1 {
            leader
        } else {
            (leader + 1 + (rng % 2) as usize) % 3
        };
        c.net.set_link(victim, false);
        tokio::time::sleep(Duration::from_millis(300 + rng % 600)).await;
        c.net.set_link(victim, true);
        tokio::time::sleep(Duration::from_millis(300 + (rng >> 9) % 600)).await;
    }
    flapping.store(false, Ordering::Relaxed);
    let (acked, failed) = appends.await.unwrap();
    eprintln!(
        "{FLAPS} flaps; {} acknowledged, {failed} failed",
        acked.len()
    );
    assert!(
        acked.len() > 4000,
        "only {} of at least 8000 acknowledged",
        acked.len()
    );
    c.check(&acked).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn partition_20ms_round_trips_and_1_percent_loss() {
    let c = NetCluster::start(3, Some(Duration::from_millis(10))).await;
    c.net.lose(1);
    let node = c.learner();
    let started = Instant::now();
    let (acked, failed) = append_many(Arc::clone(&node), 0, 1500).await;
    let took = started.elapsed();
    eprintln!(
        "20 ms RTT, 1% loss: {} acknowledged, {failed} failed, {:.0} entries/s",
        acked.len(),
        acked.len() as f64 / took.as_secs_f64()
    );
    assert!(
        acked.len() > 1000,
        "only {} of 1500 acknowledged",
        acked.len()
    );
    c.check(&acked).await;
}
