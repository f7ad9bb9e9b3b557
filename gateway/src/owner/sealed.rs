//! An owner's answer to a peer, as it leaves: the result as an Arrow IPC stream cut into
//! frames, each frame's bytes sealed for the requester as they are ([`crate::seal`]),
//! closed by a frame marked last that seals the encoded summary. The completion entry
//! carries the sealed stream's digest, rows and bytes.
//!
//! Three stages overlap, so that neither the query nor gRPC waits for the cryptography:
//! a task runs the query and encodes each batch; a blocking thread seals each frame and
//! adds it to the stream's digest; the stream gRPC reads hands the frames on and keeps
//! the completion up to date with what has left.

use std::pin::Pin;

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

/// Frames each stage may run ahead of the next. Each holds one batch, so this bounds
/// the memory an answer holds between the query and the wire.
const AHEAD: usize = 4;

/// A frame's bytes on their way to be sealed, and the rows delivered once it is out.
struct Plain {
    ipc: Vec<u8>,
    last: bool,
    rows: u64,
}

/// A sealed frame on its way to the wire, and what the stream covers once it is out.
struct Sealed {
    frame: v1::ResultFrame,
    last: bool,
    rows: u64,
    /// Ciphertext bytes and the digest of every frame up to this one.
    bytes: u64,
    digest: [u8; 32],
}

/// Seals `batches` for `reply_to`; records `completion` when the last frame is out.
pub(super) fn frames(
    batches: SendableRecordBatchStream,
    reply_to: &seal::PublicKey,
    query_id: &str,
    mut completion: Option<Completion>,
) -> Result<FrameStream> {
    let (sealer, encapsulated_key) = Sealer::new(reply_to, query_id)?;
    let query_id = query_id.to_string();
    let enc = FrameEncoder::with_headroom(&batches.schema(), seal::TAG_BYTES).map_err(encoding)?;
    let digest = StreamDigest::new(&encapsulated_key);
    let (plain, to_seal) = mpsc::channel(AHEAD);
    let (sealed, mut to_send) = mpsc::channel(AHEAD);
    // Each stage stops when the next one is gone: a caller that hangs up stops the query.
    tokio::spawn(encode(batches, enc, plain, sealed.clone()));
    tokio::task::spawn_blocking(move || seal_frames(sealer, digest, to_seal, sealed));
    Ok(Box::pin(async_stream::try_stream! {
        yield v1::ResultFrame {
            frame: Some(Frame::SealedStart(v1::SealedStart { encapsulated_key })),
        };
        let mut finished = false;
        while let Some(next) = to_send.recv().await {
            let Sealed { frame, last, rows, bytes, digest } = next?;
            if last {
                // The last frame leaves only once its completion is on the chain, so an
                // answer that arrived whole is always recorded.
                if let Some(mut c) = completion.take() {
                    c.update(rows, bytes, digest);
                    let started = std::time::Instant::now();
                    c.finish().await?;
                    tracing::debug!(
                        %query_id,
                        completion_commit_us = started.elapsed().as_micros() as u64,
                        "completion committed"
                    );
                }
                tracing::info!(%query_id, rows, bytes, "sealed result delivered");
                yield frame;
                finished = true;
                break;
            }
            yield frame;
            // A delivery cut short is recorded with the frames that left.
            if let Some(c) = completion.as_mut() {
                c.update(rows, bytes, digest);
            }
        }
        if !finished {
            Err(GatewayError::Internal(
                "the result stopped before its last frame was sealed".into(),
            ))?;
        }
    }))
}

fn encoding(e: arrow::error::ArrowError) -> GatewayError {
    GatewayError::Internal(format!("encoding the result: {e}"))
}

/// The first stage: runs the query and encodes its batches, then the end of the IPC
/// stream, then the summary, marked last. Stops the query as soon as the stream gRPC
/// reads is dropped (`hung_up` closes), even while no batch is due.
async fn encode(
    mut batches: SendableRecordBatchStream,
    mut enc: FrameEncoder,
    to_seal: mpsc::Sender<Result<Plain>>,
    hung_up: mpsc::Sender<Result<Sealed>>,
) {
    let mut summary = v1::ResultSummary::default();
    let schema = enc.take();
    summary.bytes += schema.len() as u64;
    let first = Plain {
        ipc: schema,
        last: false,
        rows: 0,
    };
    if to_seal.send(Ok(first)).await.is_err() {
        return;
    }
    loop {
        let batch = tokio::select! {
            b = batches.next() => b,
            () = hung_up.closed() => return,
        };
        let Some(batch) = batch else { break };
        let frame = batch.map_err(GatewayError::from_datafusion).and_then(|b| {
            if b.num_rows() == 0 {
                return Ok(None);
            }
            enc.write(&b).map_err(encoding)?;
            let ipc = enc.take();
            summary.rows += b.num_rows() as u64;
            summary.batches += 1;
            summary.bytes += ipc.len() as u64;
            Ok(Some(Plain {
                ipc,
                last: false,
                rows: summary.rows,
            }))
        });
        let failed = frame.is_err();
        match frame.transpose() {
            None => continue,
            Some(f) => {
                if to_seal.send(f).await.is_err() || failed {
                    return;
                }
            }
        }
    }
    let end = match enc.finish().map_err(encoding) {
        Ok(()) => enc.take(),
        Err(e) => {
            let _ = to_seal.send(Err(e)).await;
            return;
        }
    };
    summary.bytes += end.len() as u64;
    let rows = summary.rows;
    for (ipc, last) in [(end, false), (summary.encode_to_vec(), true)] {
        if to_seal.send(Ok(Plain { ipc, last, rows })).await.is_err() {
            return;
        }
    }
}

/// The second stage, on a thread of its own: seals each frame and adds it to the
/// stream's digest. A failure passes through and ends the stream.
fn seal_frames(
    mut sealer: Sealer,
    mut digest: StreamDigest,
    mut to_seal: mpsc::Receiver<Result<Plain>>,
    to_send: mpsc::Sender<Result<Sealed>>,
) {
    while let Some(plain) = to_seal.blocking_recv() {
        let sealed = plain.and_then(|p| {
            let f = sealer.seal_owned(p.ipc, p.last)?;
            digest.add_parts(f.seq, f.last, &f.ciphertext);
            Ok(Sealed {
                frame: v1::ResultFrame {
                    frame: Some(Frame::Sealed(v1::SealedFrame {
                        seq: f.seq,
                        last: f.last,
                        ciphertext: Bytes::from(f.ciphertext),
                    })),
                },
                last: f.last,
                rows: p.rows,
                bytes: digest.bytes,
                digest: digest.clone().finish(),
            })
        });
        let end = sealed.as_ref().map_or(true, |s| s.last);
        if to_send.blocking_send(sealed).is_err() || end {
            return;
        }
    }
}
