//! Group commit: concurrent appends are gathered into one Raft request, so one log write,
//! one replication round and one fsync per replica cover many entries. Several batches
//! are in flight at once, so Raft's pipeline stays full.
//!
//! An entry is acknowledged only after the leader has applied the request, which Raft
//! does only once a majority has it on disk.

use std::sync::Arc;
use std::time::{Duration, Instant};

use openraft::error::{ClientWriteError, RaftError};
use sluice_proto::chain_v1::SubmitRequest;
use sluice_proto::chain_v1::submit_response::Outcome;
use tokio::sync::{Semaphore, mpsc, oneshot};

use super::shared::Shared;
use crate::error::{Error, Result};
use crate::raft::{ChainRequest, ChainResponse, NodeId};

/// Most entries in one Raft request.
const MAX_BATCH: usize = 1024;

/// Proof that an entry is committed: a majority of voters holds it durably, and it has
/// chain index `index`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EntryCommitted {
    index: u64,
}

impl EntryCommitted {
    /// The entry's index on the chain (its Merkle leaf index).
    pub fn index(&self) -> u64 {
        self.index
    }
}

struct Pending {
    bytes: Vec<u8>,
    reply: oneshot::Sender<Result<EntryCommitted>>,
}

/// The handle appends go through; a background task batches them.
#[derive(Debug)]
pub(crate) struct Committer {
    tx: mpsc::Sender<Pending>,
    task: std::sync::Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl std::fmt::Debug for Pending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Pending({} bytes)", self.bytes.len())
    }
}

impl Committer {
    pub(crate) fn start(shared: Arc<Shared>) -> Self {
        let in_flight = shared.config.batches_in_flight.max(1);
        let (tx, rx) = mpsc::channel(MAX_BATCH * in_flight);
        let task = tokio::spawn(run(shared, rx));
        Committer {
            tx,
            task: std::sync::Mutex::new(Some(task)),
        }
    }

    pub(crate) async fn submit(&self, bytes: Vec<u8>) -> Result<EntryCommitted> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Pending { bytes, reply })
            .await
            .map_err(|_| Error::Raft("the chain node is shutting down".into()))?;
        answer
            .await
            .map_err(|_| Error::Raft("the chain node stopped before answering".into()))?
    }

    /// Stops batching; waits until the batching task has let go of the node.
    pub(crate) async fn stop(&self) {
        let task = self.task.lock().ok().and_then(|mut t| t.take());
        if let Some(t) = task {
            t.abort();
            let _ = t.await;
        }
    }
}

async fn run(shared: Arc<Shared>, mut rx: mpsc::Receiver<Pending>) {
    let slots = Arc::new(Semaphore::new(shared.config.batches_in_flight.max(1)));
    while let Some(first) = rx.recv().await {
        let Ok(permit) = Arc::clone(&slots).acquire_owned().await else {
            return;
        };
        // Whatever queued while the previous batches were in flight goes out together.
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(p) => batch.push(p),
                Err(_) => break,
            }
        }
        let shared = Arc::clone(&shared);
        tokio::spawn(async move {
            commit_batch(&shared, batch).await;
            drop(permit);
        });
    }
}

/// Commits a batch and answers every waiter. A refused entry is answered with its reason
/// and the rest of the batch is tried again without it.
async fn commit_batch(shared: &Shared, mut batch: Vec<Pending>) {
    while !batch.is_empty() {
        let entries = batch.iter().map(|p| p.bytes.clone()).collect();
        match submit(shared, ChainRequest { entries }).await {
            Ok(ChainResponse::Appended { first, count }) if count == batch.len() as u64 => {
                for (i, p) in (0u64..).zip(batch) {
                    let _ = p.reply.send(Ok(EntryCommitted { index: first + i }));
                }
                return;
            }
            Ok(ChainResponse::Refused { position, reason }) => {
                let Ok(position) = usize::try_from(position) else {
                    return fail_all(batch, || Error::Internal("refused position overflows"));
                };
                if position >= batch.len() {
                    return fail_all(batch, || {
                        Error::Internal("the chain refused an entry outside the request")
                    });
                }
                let bad = batch.remove(position);
                let _ = bad.reply.send(Err(Error::Refused(reason)));
            }
            Ok(_) => {
                return fail_all(batch, || {
                    Error::Internal("the chain answered a request with the wrong count")
                });
            }
            Err(e) => {
                let msg = e.to_string();
                let fault = e.fault();
                return fail_all(batch, || match fault {
                    crate::Fault::Cluster => Error::Unavailable {
                        peer: "chain".into(),
                        reason: msg.clone(),
                    },
                    _ => Error::Raft(msg.clone()),
                });
            }
        }
    }
}

fn fail_all(batch: Vec<Pending>, err: impl Fn() -> Error) {
    for p in batch {
        let _ = p.reply.send(Err(err()));
    }
}

/// Sends a request to the leader: through local Raft when this node leads, else over
/// the peer protocol. Waits for a leader for at most the append timeout. Never resends a
/// request the leader may have received, so an entry is never appended twice.
pub(crate) async fn submit(shared: &Shared, req: ChainRequest) -> Result<ChainResponse> {
    let deadline = Instant::now() + shared.config.append_timeout;
    loop {
        let leader = shared.raft.current_leader().await;
        match leader {
            Some(l) if l == shared.id => {
                let left = deadline.saturating_duration_since(Instant::now());
                let write = shared.raft.client_write(req.clone());
                match tokio::time::timeout(left, write).await {
                    Ok(Ok(resp)) => return Ok(resp.data),
                    // Lost leadership before the request entered the log: ask the new leader.
                    Ok(Err(RaftError::APIError(ClientWriteError::ForwardToLeader(_)))) => {}
                    Ok(Err(e)) => return Err(Error::Raft(e.to_string())),
                    Err(_) => {
                        return Err(Error::Unavailable {
                            peer: format!("node {} (leader)", shared.id),
                            reason: format!(
                                "no majority committed the entries within {} ms",
                                shared.config.append_timeout.as_millis()
                            ),
                        });
                    }
                }
            }
            Some(l) => match forward(shared, l, req.clone()).await {
                // The node we took for the leader no longer leads and did not take the
                // request: ask again once the cluster has settled.
                Err(Forward::NotLeader) => {}
                Err(Forward::Failed(e)) => return Err(e),
                Ok(resp) => return Ok(resp),
            },
            None => {}
        }
        if Instant::now() >= deadline {
            return Err(Error::NoLeader {
                waited: shared.config.append_timeout,
            });
        }
        let mut metrics = shared.raft.metrics();
        let _ = tokio::time::timeout(Duration::from_millis(50), metrics.changed()).await;
    }
}

/// Why a forwarded request was not answered.
enum Forward {
    /// The peer is not the leader, or could not be connected to, and appended nothing.
    NotLeader,
    /// Anything else: the request may or may not have been appended.
    Failed(Error),
}

/// The gRPC code a node answers with when it is asked to append but does not lead.
pub(crate) const NOT_LEADER: tonic::Code = tonic::Code::FailedPrecondition;

async fn forward(
    shared: &Shared,
    leader: NodeId,
    req: ChainRequest,
) -> Result<ChainResponse, Forward> {
    let (addr, mut client) = shared.peer(leader).ok_or_else(|| {
        Forward::Failed(Error::Raft(format!(
            "leader {leader} is not in the membership"
        )))
    })?;
    let unavailable = |reason: String| {
        Forward::Failed(Error::Unavailable {
            peer: format!("leader {leader} at {addr}"),
            reason,
        })
    };
    let timeout = shared.config.append_timeout;
    let call = client.submit(SubmitRequest {
        entries: req.entries,
    });
    // A leader cut off by a partition never answers; once another node leads, waiting
    // for it only holds the writer. The request may have reached it, so it is not resent:
    // it fails now instead of at the timeout.
    let mut metrics = shared.raft.metrics();
    if metrics.borrow().current_leader.is_some_and(|l| l != leader) {
        // Nothing was sent yet: ask the node that leads now.
        return Err(Forward::NotLeader);
    }
    let replaced = async move {
        loop {
            let now = metrics.borrow().current_leader;
            if now.is_some_and(|l| l != leader) {
                return now;
            }
            if metrics.changed().await.is_err() {
                return None;
            }
        }
    };
    let call = async {
        tokio::select! {
            reply = tokio::time::timeout(timeout, call) => Ok(reply),
            new = replaced => Err(new),
        }
    };
    let reply = match call.await {
        Err(new) => {
            return Err(unavailable(format!(
                "node {} became the leader while the request was in flight; it may or may \
                 not have been appended",
                new.map_or_else(|| "another".to_string(), |n| n.to_string())
            )));
        }
        Ok(reply) => reply,
    };
    let reply = match reply {
        Err(_) => {
            return Err(unavailable(format!(
                "no answer within {} ms",
                timeout.as_millis()
            )));
        }
        Ok(Err(s)) if s.code() == NOT_LEADER => return Err(Forward::NotLeader),
        // The connection was never made, so nothing was sent: the node is down, and a
        // new leader will be elected.
        Ok(Err(s)) if s.code() == tonic::Code::Unavailable && s.message().contains("connect") => {
            return Err(Forward::NotLeader);
        }
        Ok(Err(s)) => return Err(unavailable(s.message().to_string())),
        Ok(Ok(r)) => r.into_inner(),
    };
    match reply.outcome {
        Some(Outcome::Appended(a)) => Ok(ChainResponse::Appended {
            first: a.first,
            count: a.count,
        }),
        Some(Outcome::Refused(r)) => Ok(ChainResponse::Refused {
            position: r.position,
            reason: r.reason,
        }),
        None => Err(unavailable("answered without an outcome".into())),
    }
}

/// Appends a request forwarded by another node, only if this node leads: a forwarded
/// request is never forwarded again, so requests cannot loop while leadership moves.
pub(crate) async fn submit_as_leader(
    shared: &Shared,
    req: ChainRequest,
) -> Result<ChainResponse, tonic::Status> {
    if shared.raft.current_leader().await != Some(shared.id) {
        return Err(tonic::Status::new(
            NOT_LEADER,
            "this node is not the leader",
        ));
    }
    let write = shared.raft.client_write(req);
    match tokio::time::timeout(shared.config.append_timeout, write).await {
        Ok(Ok(resp)) => Ok(resp.data),
        Ok(Err(RaftError::APIError(ClientWriteError::ForwardToLeader(_)))) => Err(
            tonic::Status::new(NOT_LEADER, "this node is no longer the leader"),
        ),
        Ok(Err(e)) => Err(tonic::Status::unavailable(e.to_string())),
        Err(_) => Err(tonic::Status::unavailable(format!(
            "no majority committed the entries within {} ms",
            shared.config.append_timeout.as_millis()
        ))),
    }
}
