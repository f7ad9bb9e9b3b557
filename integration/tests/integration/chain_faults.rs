//! The audit chain under faults, with real processes: three `sluice gateway` processes
//! run the voting chain nodes, the test runs a learner node that appends. Nodes are
//! killed with SIGKILL and restarted; stores are tampered with; bundles are forged.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use sluice_chain::{AgencySigner, ChainNode, ChainStore, Entry, Member, NodeConfig, TrustBundle};
use sluice_examples::chain_fixtures::sized_entry;
use tokio::net::TcpListener;

use super::common::{run_sluice, run_sluice_ok, sluice_exe};

pub(super) const VOTERS: [&str; 3] = ["bj_hf", "sh_hf", "cd_hf"];
pub(super) const LEARNER: &str = "audit_office";

pub(super) fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

pub(super) fn signer(agency: &str, i: u8) -> AgencySigner {
    AgencySigner::from_seed(agency, [i + 1; 32]).unwrap()
}

/// Certificates from a fresh federation CA for the voters and the learner, under `dir`
/// (`ca/`, `keys/`, `users/` and the bundles in `trust/`): each voter's `[identity]`
/// section, and the learner's chain TLS. Call it before writing `.pub` files to `trust/`,
/// which it replaces.
pub(super) fn chain_identities(dir: &Path) -> (BTreeMap<String, String>, sluice_chain::PeerTls) {
    use sluice_gateway::identity::agency::{Addresses, AgencyKeys};
    let agencies: Vec<(&str, Addresses)> = VOTERS
        .iter()
        .chain([&LEARNER])
        .map(|a| (*a, Addresses::default()))
        .collect();
    let ids = sluice_examples::identities::create(dir, &agencies).unwrap();
    let sections = VOTERS
        .iter()
        .map(|a| (a.to_string(), ids.config_section(a).unwrap()))
        .collect();
    let learner = ids.get(LEARNER).unwrap();
    let keys = AgencyKeys::load(&learner.keys_dir, &learner.agency).unwrap();
    let tls = sluice_gateway::identity::tls::TlsSettings::new(&ids.ca_pem().unwrap(), &keys)
        .chain_peers();
    (sections, tls)
}

/// A loopback port for a node in another process, which cannot be handed a bound socket.
///
/// The port comes from below the kernel's ephemeral range, so no outgoing connection
/// takes it between now and the node's bind, and from a counter, so no two calls in this
/// process return the same port. A port chosen by binding port 0 and closing again can
/// be handed to the next outgoing connection at once.
pub(super) fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU16, Ordering};
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|r| r.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(32768);
    let floor = 10_000u16;
    assert!(low > floor + 2_000, "ephemeral range starts at {low}");
    let span = low - floor;
    let base = (std::process::id() % u32::from(span)) as u16;
    for _ in 0..span {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let port = floor + (base.wrapping_add(n) % span);
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free loopback port in {floor}..{low}");
}

pub(super) struct Voter {
    pub(super) config: PathBuf,
    pub(super) data: PathBuf,
    pub(super) log: PathBuf,
    pub(super) child: Option<Child>,
    /// The network namespace the process runs in, if not this one.
    pub(super) netns: Option<String>,
}

impl Voter {
    pub(super) fn start(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let mut command = match &self.netns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns]).arg(sluice_exe());
                c
            }
            None => Command::new(sluice_exe()),
        };
        let child = command
            .args(["gateway", "--config"])
            .arg(&self.config)
            .env(
                "SLUICE_LOG",
                std::env::var("SLUICE_TEST_NODE_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        self.child = Some(child);
    }

    /// SIGKILL: no shutdown, no flush beyond what was synced.
    pub(super) fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill().unwrap();
            c.wait().unwrap();
        }
    }

    fn is_running(&self) -> bool {
        self.child.is_some()
    }
}

impl Drop for Voter {
    fn drop(&mut self) {
        self.kill();
    }
}

struct ChainCluster {
    dir: tempfile::TempDir,
    voters: Vec<Voter>,
    learner: Option<ChainNode>,
    learner_cfg: NodeConfig,
    learner_addr: String,
    trust: TrustBundle,
}

impl ChainCluster {
    async fn start() -> ChainCluster {
        let dir = tempfile::tempdir().unwrap();
        let mut members = Vec::new();
        let mut trust = TrustBundle::new();
        for (i, a) in VOTERS.iter().enumerate() {
            let s = signer(a, i as u8);
            trust.insert(a, s.verifying_key()).unwrap();
            members.push((
                i as u64 + 1,
                a.to_string(),
                format!("127.0.0.1:{}", free_port()),
            ));
        }
        let learner_signer = signer(LEARNER, 9);
        trust
            .insert(LEARNER, learner_signer.verifying_key())
            .unwrap();
        let learner_addr = format!("127.0.0.1:{}", free_port());
        let (identity, learner_tls) = chain_identities(dir.path());
        trust.to_dir(&dir.path().join("trust")).unwrap();

        let mut member_toml = String::new();
        for (id, agency, addr) in &members {
            member_toml += &format!(
                "[[chain.members]]\nid = {id}\nagency = \"{agency}\"\naddress = \"{addr}\"\npublic_key = \"{}\"\nrole = \"voter\"\n\n",
                b64(trust.get(agency).unwrap().as_bytes())
            );
        }
        member_toml += &format!(
            "[[chain.members]]\nid = 9\nagency = \"{LEARNER}\"\naddress = \"{learner_addr}\"\npublic_key = \"{}\"\nrole = \"learner\"\n",
            b64(learner_signer.verifying_key().as_bytes())
        );

        let mut voters = Vec::new();
        for (i, (id, agency, addr)) in members.iter().enumerate() {
            let key = dir.path().join(format!("{agency}.key"));
            sluice_gateway::keys::write_key_file(&key, &signer(agency, i as u8).seed()).unwrap();
            let config = dir.path().join(format!("{agency}.toml"));
            let data = dir.path().join(format!("{agency}-chain"));
            std::fs::write(
                &config,
                format!(
                    "agency = \"{agency}\"\nlisten = \"127.0.0.1:{}\"\n{}\n[chain]\nnode_id = {id}\nlisten = \"{addr}\"\ndata_dir = \"{agency}-chain\"\nkey_file = \"{agency}.key\"\n\n{member_toml}",
                    free_port(),
                    identity[agency.as_str()]
                ),
            )
            .unwrap();
            let mut v = Voter {
                config,
                data,
                log: dir.path().join(format!("{agency}.log")),
                child: None,
                netns: None,
            };
            v.start();
            voters.push(v);
        }

        let voter_members: Vec<Member> = members
            .iter()
            .map(|(id, agency, addr)| Member {
                id: *id,
                agency: agency.clone(),
                addr: addr.clone(),
            })
            .collect();
        let mut learner_cfg = NodeConfig::new(9, dir.path().join("learner"), voter_members);
        learner_cfg.learners = vec![Member {
            id: 9,
            agency: LEARNER.into(),
            addr: learner_addr.clone(),
        }];
        learner_cfg.append_timeout = Duration::from_secs(5);
        learner_cfg.tls = Some(learner_tls);
        let mut c = ChainCluster {
            dir,
            voters,
            learner: None,
            learner_cfg,
            learner_addr,
            trust,
        };
        c.start_learner().await;
        c.learner()
            .wait_for_leader(Duration::from_secs(30))
            .await
            .expect("the voters elect a leader");
        c
    }

    async fn start_learner(&mut self) {
        let l = TcpListener::bind(&self.learner_addr).await.unwrap();
        let node = ChainNode::start(
            self.learner_cfg.clone(),
            signer(LEARNER, 9),
            self.trust.clone(),
            l,
        )
        .await
        .unwrap();
        self.learner = Some(node);
    }

    fn learner(&self) -> &ChainNode {
        self.learner.as_ref().unwrap()
    }

    fn trust_dir(&self) -> PathBuf {
        self.dir.path().join("trust")
    }

    /// Stops every process and the learner; returns each voter's chain data directory.
    async fn stop(mut self) -> (tempfile::TempDir, Vec<PathBuf>) {
        for v in &mut self.voters {
            v.kill();
        }
        if let Some(l) = self.learner.take() {
            l.shutdown().await.unwrap();
        }
        let data = self.voters.iter().map(|v| v.data.clone()).collect();
        (self.dir, data)
    }
}

/// An access entry by the learner whose signed form is about 256 bytes.
pub(super) fn access(n: u64) -> Entry {
    sized_entry(LEARNER, n, 256)
}

/// Appends `n` entries from 64 concurrent writers; returns the acknowledged ones.
pub(super) async fn append_many(
    node: Arc<ChainNode>,
    from: u64,
    n: u64,
) -> (BTreeMap<u64, Vec<u8>>, u64) {
    let signer = Arc::new(signer(LEARNER, 9));
    let next = Arc::new(std::sync::atomic::AtomicU64::new(from));
    let mut writers = Vec::new();
    for _ in 0..64 {
        let (node, signer, next) = (Arc::clone(&node), Arc::clone(&signer), Arc::clone(&next));
        writers.push(tokio::spawn(async move {
            let mut acked = Vec::new();
            let mut failed = 0u64;
            loop {
                let k = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if k >= from + n {
                    return (acked, failed);
                }
                let signed = signer.sign(access(k)).unwrap();
                let bytes = signed.to_bytes().unwrap();
                match node.append_signed(signed).await {
                    Ok(c) => acked.push((c.index(), bytes)),
                    Err(e) => {
                        if failed == 0 {
                            eprintln!("append {k} failed: {e}");
                        }
                        failed += 1
                    }
                }
            }
        }));
    }
    let mut all = BTreeMap::new();
    let mut failed = 0;
    for w in writers {
        let (acked, f) = w.await.unwrap();
        failed += f;
        for (i, b) in acked {
            assert!(all.insert(i, b).is_none(), "index {i} acknowledged twice");
        }
    }
    (all, failed)
}

/// Appends in rounds of 1,000 (at least `min_rounds`, at most 40) until `faulting` is
/// cleared, so that how fast the chain commits does not decide how many faults the
/// appends see. Returns the acknowledged entries and the count of failed appends.
pub(super) fn append_during(
    node: Arc<ChainNode>,
    faulting: Arc<std::sync::atomic::AtomicBool>,
    min_rounds: u64,
) -> tokio::task::JoinHandle<(BTreeMap<u64, Vec<u8>>, u64)> {
    tokio::spawn(async move {
        let (mut acked, mut failed) = (BTreeMap::new(), 0);
        for round in 0..40u64 {
            let (a, f) = append_many(Arc::clone(&node), round * 1000, 1000).await;
            acked.extend(a);
            failed += f;
            let done =
                round + 1 >= min_rounds && !faulting.load(std::sync::atomic::Ordering::Relaxed);
            if done {
                break;
            }
        }
        (acked, failed)
    })
}

/// Waits until the store of a running voter process holds `size` entries.
pub(super) async fn wait_store_size(data: &Path, size: u64) {
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let len = ChainStore::open_read_only(data.join("chain")).and_then(|s| s.len());
        if len.as_ref().is_ok_and(|l| *l >= size) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{} did not catch up to {size} entries: {len:?}",
            data.display()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn wait_size(node: &ChainNode, size: u64) {
    node.wait_for_size(size, Duration::from_secs(180))
        .await
        .unwrap_or_else(|e| panic!("the learner did not reach {size} entries: {e}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_minority_during_appends_loses_no_acknowledged_entry() {
    let mut c = ChainCluster::start().await;
    let node = Arc::new(c.learner.take().unwrap());
    let killing = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let appends = append_during(Arc::clone(&node), Arc::clone(&killing), 10);

    // While the appends run, SIGKILL one voter at a time and bring it back.
    let mut rng = 0x2545_f491_4f6c_dd1du64;
    let mut kills = 0;
    while kills < 4 {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let victim = (rng % 3) as usize;
        tokio::time::sleep(Duration::from_millis(500 + rng % 1000)).await;
        c.voters[victim].kill();
        kills += 1;
        tokio::time::sleep(Duration::from_millis(500 + (rng >> 8) % 1000)).await;
        c.voters[victim].start();
    }
    killing.store(false, std::sync::atomic::Ordering::Relaxed);
    let (acked, failed) = appends.await.unwrap();
    eprintln!(
        "{} appends acknowledged, {failed} failed, {kills} kills",
        acked.len()
    );
    assert!(
        acked.len() > 1_000,
        "only {} appends were acknowledged ({failed} failed)",
        acked.len()
    );
    for v in &c.voters {
        assert!(v.is_running());
    }

    // Every node catches up, and every acknowledged entry is on every voter.
    let size = node.store().len().unwrap();
    let size = size.max(acked.keys().next_back().map_or(0, |i| i + 1));
    wait_size(&node, size).await;
    let root = node.store().root_at(size).unwrap();
    c.learner = Some(Arc::try_unwrap(node).unwrap());
    // Every voter, the restarted ones included, catches up while running.
    for v in &c.voters {
        wait_store_size(&v.data, size).await;
    }
    let trust = c.trust.clone();
    let (_dir, stores) = c.stop().await;
    for path in stores {
        let store = ChainStore::open_read_only(path.join("chain")).unwrap();
        assert_eq!(
            store.root_at(size).unwrap(),
            root,
            "{} diverged",
            path.display()
        );
        for (index, bytes) in &acked {
            assert_eq!(
                &store.get_bytes(*index).unwrap(),
                bytes,
                "entry {index} lost"
            );
        }
        store.verify(&trust).unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn leader_killed_new_leader_elected_and_killed_node_catches_up() {
    let mut c = ChainCluster::start().await;
    let node = Arc::new(c.learner.take().unwrap());
    let (acked, _) = append_many(Arc::clone(&node), 0, 500).await;
    assert_eq!(acked.len(), 500);

    let leader = node.leader().await.unwrap();
    let victim = (leader - 1) as usize;
    c.voters[victim].kill();
    let started = Instant::now();
    // The chain commits again once one of the two others is elected: a loose bound here
    // (a loaded CI machine), the tight figure is measured by `sluice bench chain
    // --leader-loss`.
    let probe = signer(LEARNER, 9);
    let mut k = 500;
    loop {
        let attempt = node.append_signed(probe.sign(access(k)).unwrap()).await;
        k += 1;
        if attempt.is_ok() {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "no commit within 10 s of losing the leader: {}",
            attempt.unwrap_err()
        );
    }
    let outage = started.elapsed();
    assert!(
        outage < Duration::from_secs(10),
        "commits stopped for {outage:?}"
    );
    eprintln!("first commit {outage:?} after the leader was killed");
    let (acked2, _) = append_many(Arc::clone(&node), k, 500).await;
    assert!(
        acked2.len() > 400,
        "only {} appends after the leader died",
        acked2.len()
    );
    let new_leader = node.leader().await.unwrap();
    assert_ne!(new_leader, leader);
    eprintln!("new leader {new_leader} after {:?}", started.elapsed());

    // The old leader restarts and catches up to the same tree.
    c.voters[victim].start();
    let size = node.store().len().unwrap();
    let root = node.store().root_at(size).unwrap();
    wait_store_size(&c.voters[victim].data, size).await;
    c.learner = Some(Arc::try_unwrap(node).unwrap());
    let (_dir, stores) = c.stop().await;
    let store = ChainStore::open_read_only(stores[victim].join("chain")).unwrap();
    assert!(store.len().unwrap() >= size);
    assert_eq!(store.root_at(size).unwrap(), root);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn tampering_forgery_and_evidence_bundles() {
    let c = ChainCluster::start().await;
    let node = c.learner();
    for n in 0..20 {
        node.append(access(n)).await.unwrap();
    }

    // An entry in bj_hf's name signed with the learner's key is refused by the replicas.
    let learner_key_as_bj = AgencySigner::from_seed("bj_hf", signer(LEARNER, 9).seed()).unwrap();
    let forged = learner_key_as_bj
        .sign(Entry {
            author: "bj_hf".into(),
            ..access(99)
        })
        .unwrap();
    let err = node.append_signed(forged).await.unwrap_err();
    assert!(matches!(err, sluice_chain::Error::Refused(_)), "{err}");

    // Wait for a cosigned checkpoint covering the 20 entries, then prove entry 7.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if node
            .latest_checkpoint()
            .unwrap()
            .is_some_and(|cp| cp.checkpoint().size >= 20)
        {
            break;
        }
        assert!(Instant::now() < deadline, "no checkpoint of 20 entries");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let trust_dir = c.trust_dir();
    let dir = c.dir.path().to_path_buf();
    let (tmp, stores) = c.stop().await;
    let learner_store = dir.join("learner");
    let bundle = dir.join("entry7.json");
    run_sluice_ok(&[
        "audit",
        "prove",
        "7",
        "--store",
        learner_store.to_str().unwrap(),
        "--out",
        bundle.to_str().unwrap(),
    ]);
    let ok = run_sluice_ok(&[
        "audit",
        "verify-bundle",
        bundle.to_str().unwrap(),
        "--trust",
        trust_dir.to_str().unwrap(),
    ]);
    assert!(String::from_utf8_lossy(&ok.stdout).contains("ok: entry 7"));

    // The readable summary is checked against the signed entry: an edit is refused.
    let text = std::fs::read_to_string(&bundle).unwrap();
    let mut edited: serde_json::Value = serde_json::from_str(&text).unwrap();
    edited["summary"]["body"]["principal"] = serde_json::json!("bj_hf/someone_else");
    let edited_path = dir.join("edited.json");
    std::fs::write(&edited_path, edited.to_string()).unwrap();
    let refused = run_sluice(&[
        "audit",
        "verify-bundle",
        edited_path.to_str().unwrap(),
        "--trust",
        trust_dir.to_str().unwrap(),
    ]);
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("summary.body.principal") && stderr.contains("someone_else"),
        "{stderr}"
    );

    // A forged checkpoint: the root is changed, the signatures kept.
    let text = std::fs::read_to_string(&bundle).unwrap();
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    let note = json["checkpoint"].as_str().unwrap();
    let mut lines: Vec<String> = note.lines().map(String::from).collect();
    lines[2] = b64(&[7u8; 32]);
    let mut forged = json.clone();
    forged["checkpoint"] = serde_json::Value::String(lines.join("\n") + "\n");
    let forged_path = dir.join("forged.json");
    std::fs::write(&forged_path, forged.to_string()).unwrap();
    let bad = run_sluice(&[
        "audit",
        "verify-bundle",
        forged_path.to_str().unwrap(),
        "--trust",
        trust_dir.to_str().unwrap(),
    ]);
    assert!(!bad.status.success());
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("signature"),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );

    // Flip one byte of entry 5 in a follower's RocksDB: `audit verify` names entry 5.
    let follower = stores[1].join("chain");
    {
        let cfs = sluice_chain::store::COLUMN_FAMILIES;
        let db = rocksdb::DB::open_cf(&rocksdb::Options::default(), &follower, cfs).unwrap();
        let cf = db.cf_handle(sluice_chain::store::CF_ENTRIES).unwrap();
        let key = 5u64.to_be_bytes();
        let mut value = db.get_cf(cf, key).unwrap().unwrap();
        let last = value.len() - 10;
        value[last] ^= 0x01;
        db.put_cf(cf, key, value).unwrap();
    }
    let verify = run_sluice(&[
        "audit",
        "verify",
        "--store",
        follower.to_str().unwrap(),
        "--trust",
        trust_dir.to_str().unwrap(),
    ]);
    assert!(!verify.status.success());
    let stderr = String::from_utf8_lossy(&verify.stderr);
    assert!(stderr.contains("entry 5 is bad"), "{stderr}");
    // The untouched voter still verifies.
    run_sluice_ok(&[
        "audit",
        "verify",
        "--store",
        stores[0].to_str().unwrap(),
        "--trust",
        trust_dir.to_str().unwrap(),
    ]);
    drop(tmp);
}
