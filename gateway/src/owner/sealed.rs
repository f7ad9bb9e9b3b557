//! An owner's answer to a peer, as it leaves: the result as an Arrow IPC stream cut into
//! frames, each frame's bytes sealed for the requester as they are ([`crate::seal`]),
//! closed by a frame marked last that seals the encoded summary. The completion entry
//! carries the sealed stream's digest, rows and bytes.

use std::pin::Pin;

use datafusion::execution::SendableRecordBatchStream;
use futures::{Stream, StreamExt};
use prost::Message as _;
use sluice_proto::v1::{self, result_frame::Frame};

use super::audit::Completion;
use crate::error::{GatewayError, Result};
use crate::ipc::FrameEncoder;
use crate::seal::{self, Sealer};

/// Wire frames of one answer.
pub type FrameStream = Pin<Box<dyn Stream<Item = Result<v1::ResultFrame>> + Send>>;

fn sealed(frame: seal::SealedFrame) -> v1::ResultFrame {
    v1::ResultFrame {
        frame: Some(Frame::Sealed(v1::SealedFrame {
            seq: frame.seq,
            last: frame.last,
            ciphertext: frame.ciphertext,
        })),
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
        yield v1::ResultFrame {
            frame: Some(Frame::SealedStart(v1::SealedStart { encapsulated_key })),
        };
        let (mut rows, mut count, mut bytes) = (0u64, 0u64, 0u64);
        let schema = enc.take();
        bytes += schema.len() as u64;
        yield sealed(sealer.seal_owned(schema, false)?);
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
            yield sealed(sealer.seal_owned(ipc, false)?);
            if let Some(c) = completion.as_mut() {
                let d = sealer.digest();
                c.update(rows, d.bytes, d.finish());
            }
        }
        enc.finish()
            .map_err(|e| GatewayError::Internal(format!("encoding the result: {e}")))?;
        let end = enc.take();
        bytes += end.len() as u64;
        yield sealed(sealer.seal_owned(end, false)?);
        let summary = v1::ResultSummary {
            rows,
            batches: count,
            bytes,
        };
        let last = sealer.seal_owned(summary.encode_to_vec(), true)?;
        if let Some(mut c) = completion.take() {
            let d = sealer.digest();
            c.update(rows, d.bytes, d.finish());
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
        yield sealed(last);
    }))
}
