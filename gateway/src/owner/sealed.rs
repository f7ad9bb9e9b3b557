//! An owner's answer to a peer, as it leaves: the result as an Arrow IPC stream cut into
//! frames, each frame's bytes sealed for the requester as they are ([`crate::seal`]),
//! closed by a frame marked last that seals the encoded summary. The completion entry
//! carries the sealed stream's digest, rows and bytes.
//!
//! The digest is computed on a thread of its own, from the same frames gRPC sends, so
//! hashing overlaps with running the query and sealing the next frame.

use std::pin::Pin;
use std::sync::{Arc, Mutex};

use datafusion::execution::SendableRecordBatchStream;
use futures::{Stream, StreamExt};
use prost::Message as _;
use prost::bytes::Bytes;
use sluice_proto::v1::{self, result_frame::Frame};
use tokio::sync::mpsc;

use super::audit::Completion;
use crate::error::{GatewayError, Result};
use crate::ipc::FrameEncoder;
use crate::seal::{self, Sealer, StreamDigest};

/// Wire frames of one answer.
pub type FrameStream = Pin<Box<dyn Stream<Item = Result<v1::ResultFrame>> + Send>>;

/// A sealed frame on its way to the wire and to the hasher, and the rows delivered once
/// it is out.
struct Hashed {
    seq: u64,
    last: bool,
    ciphertext: Bytes,
    rows: u64,
}

/// What the hasher has covered so far: rows, ciphertext bytes and the digest of the
/// frames up to then, which always describe the same prefix of the stream.
#[derive(Clone, Copy, Default)]
struct Covered {
    rows: u64,
    bytes: u64,
    digest: [u8; 32],
}

/// The stream's digest, computed on a blocking thread from the frames it is sent.
struct Hasher {
    frames: mpsc::Sender<Hashed>,
    covered: Arc<Mutex<Covered>>,
    done: tokio::task::JoinHandle<Covered>,
}

impl Hasher {
    fn start(encapsulated_key: &[u8]) -> Self {
        // A few frames of slack: the hasher is faster than sealing, so it rarely waits.
        let (frames, mut rx) = mpsc::channel::<Hashed>(8);
        let covered = Arc::new(Mutex::new(Covered::default()));
        let shared = Arc::clone(&covered);
        let mut digest = StreamDigest::new(encapsulated_key);
        let done = tokio::task::spawn_blocking(move || {
            let mut now = Covered::default();
            while let Some(f) = rx.blocking_recv() {
                digest.add_parts(f.seq, f.last, &f.ciphertext);
                now = Covered {
                    rows: f.rows,
                    bytes: digest.bytes,
                    digest: digest.clone().finish(),
                };
                if let Ok(mut c) = shared.lock() {
                    *c = now;
                }
            }
            now
        });
        Hasher {
            frames,
            covered,
            done,
        }
    }

    /// Hands `frame`, after which `rows` rows are delivered, to the hasher; returns the
    /// wire frame.
    async fn send(&self, frame: seal::SealedFrame, rows: u64) -> Result<v1::ResultFrame> {
        let ciphertext = Bytes::from(frame.ciphertext);
        let hashed = Hashed {
            seq: frame.seq,
            last: frame.last,
            ciphertext: ciphertext.clone(),
            rows,
        };
        self.frames
            .send(hashed)
            .await
            .map_err(|_| GatewayError::Internal("the stream's hasher stopped".into()))?;
        Ok(v1::ResultFrame {
            frame: Some(Frame::Sealed(v1::SealedFrame {
                seq: frame.seq,
                last: frame.last,
                ciphertext,
            })),
        })
    }

    /// What the hasher has covered so far, which may be less than what was sent.
    fn covered(&self) -> Covered {
        self.covered.lock().map(|c| *c).unwrap_or_default()
    }

    /// The digest of every frame sent.
    async fn finish(self) -> Result<Covered> {
        drop(self.frames);
        self.done
            .await
            .map_err(|e| GatewayError::Internal(format!("the stream's hasher failed: {e}")))
    }
}

/// Seals `batches` for `reply_to`; records `completion` when the last frame is out.
pub(super) fn frames(
    mut batches: SendableRecordBatchStream,
    reply_to: &seal::PublicKey,
    query_id: &str,
    mut completion: Option<Completion>,
) -> Result<FrameStream> {
    let (mut sealer, encapsulated_key) = Sealer::new(reply_to, query_id)?;
    let query_id = query_id.to_string();
    let mut enc = FrameEncoder::with_headroom(&batches.schema(), seal::TAG_BYTES)
        .map_err(|e| GatewayError::Internal(format!("encoding the result: {e}")))?;
    Ok(Box::pin(async_stream::try_stream! {
        let hasher = Hasher::start(&encapsulated_key);
        yield v1::ResultFrame {
            frame: Some(Frame::SealedStart(v1::SealedStart { encapsulated_key })),
        };
        let (mut rows, mut count, mut bytes) = (0u64, 0u64, 0u64);
        let schema = enc.take();
        bytes += schema.len() as u64;
        yield hasher.send(sealer.seal_owned(schema, false)?, rows).await?;
        while let Some(batch) = batches.next().await {
            let batch = batch.map_err(GatewayError::from_datafusion)?;
            if batch.num_rows() == 0 {
                continue;
            }
            enc.write(&batch)
                .map_err(|e| GatewayError::Internal(format!("encoding the result: {e}")))?;
            let ipc = enc.take();
            rows += batch.num_rows() as u64;
            count += 1;
            bytes += ipc.len() as u64;
            yield hasher.send(sealer.seal_owned(ipc, false)?, rows).await?;
            // A delivery cut short is recorded with the prefix the hasher has covered.
            if let Some(c) = completion.as_mut() {
                let covered = hasher.covered();
                c.update(covered.rows, covered.bytes, covered.digest);
            }
        }
        enc.finish()
            .map_err(|e| GatewayError::Internal(format!("encoding the result: {e}")))?;
        let end = enc.take();
        bytes += end.len() as u64;
        yield hasher.send(sealer.seal_owned(end, false)?, rows).await?;
        let summary = v1::ResultSummary {
            rows,
            batches: count,
            bytes,
        };
        let last = hasher.send(sealer.seal_owned(summary.encode_to_vec(), true)?, rows).await?;
        let covered = hasher.finish().await?;
        if let Some(mut c) = completion.take() {
            c.update(covered.rows, covered.bytes, covered.digest);
            // The last frame leaves only once its completion is on the chain, so an
            // answer that arrived whole is always recorded.
            let started = std::time::Instant::now();
            c.finish().await?;
            tracing::debug!(
                %query_id,
                completion_commit_us = started.elapsed().as_micros() as u64,
                "completion committed"
            );
        }
        tracing::info!(%query_id, rows, batches = count, bytes, "sealed result delivered");
        yield last;
    }))
}
