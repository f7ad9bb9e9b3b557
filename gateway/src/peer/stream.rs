//! Reading a result stream: gRPC frames back into record batches. The stream must end
//! with a summary frame that matches what arrived; anything else is a disconnect or bad
//! data, never a silently short result.

use std::pin::Pin;
use std::time::Duration;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use futures::Stream;
use sluice_proto::v1::{self, result_frame::Frame};

use super::peer_error;
use crate::error::{GatewayError, Result};
use crate::ipc::FrameDecoder;

/// Record batches as they arrive.
pub type BatchStream = Pin<Box<dyn Stream<Item = Result<RecordBatch>> + Send>>;

/// Turn the frames `agency` sends into record batches, waiting at most `idle` between
/// frames. `agency` names the sender in errors: a peer agency, or a gateway's address.
pub fn decode_frames(
    agency: String,
    frames: tonic::Streaming<v1::ResultFrame>,
    idle: Duration,
) -> BatchStream {
    batches(agency, frames, idle, FrameDecoder::new())
}

/// As [`decode_frames`], but first wait for the stream's schema, which comes before any
/// batch, so that even an empty result has its columns.
pub async fn decode_frames_with_schema(
    agency: String,
    mut frames: tonic::Streaming<v1::ResultFrame>,
    idle: Duration,
) -> Result<(SchemaRef, BatchStream)> {
    let disconnected = |reason: String| GatewayError::PeerDisconnected {
        agency: agency.clone(),
        batches: 0,
        rows: 0,
        reason,
    };
    let bad = |message: String| GatewayError::BadPeerData {
        agency: agency.clone(),
        message,
    };
    let first = match tokio::time::timeout(idle, frames.message()).await {
        Err(_) => return Err(disconnected(format!("no data for {idle:?}"))),
        Ok(Err(status)) => return Err(peer_error(&agency, status, disconnected)),
        Ok(Ok(None)) => return Err(disconnected("the stream ended before its schema".into())),
        Ok(Ok(Some(frame))) => frame,
    };
    let Some(Frame::Ipc(bytes)) = first.frame else {
        return Err(bad("the stream does not start with its schema".into()));
    };
    // The stream decoder completes a message only when bytes after it arrive, so the
    // schema, alone in its frame, is read from the frame itself.
    let schema = arrow::ipc::convert::try_schema_from_ipc_buffer(&bytes)
        .map_err(|e| bad(format!("the first frame is not a schema: {e}")))?;
    let mut decoder = FrameDecoder::new();
    let early = decoder.push(bytes).map_err(|e| bad(e.to_string()))?;
    if !early.is_empty() {
        return Err(bad("the first frame holds more than the schema".into()));
    }
    let schema = std::sync::Arc::new(schema);
    Ok((schema, batches(agency, frames, idle, decoder)))
}

fn batches(
    agency: String,
    mut frames: tonic::Streaming<v1::ResultFrame>,
    idle: Duration,
    mut decoder: FrameDecoder,
) -> BatchStream {
    Box::pin(async_stream::stream! {
        let (mut rows, mut batches) = (0u64, 0u64);
        let bad = |message: String| GatewayError::BadPeerData {
            agency: agency.to_string(),
            message,
        };
        loop {
            let disconnected = |reason: String| GatewayError::PeerDisconnected {
                agency: agency.to_string(),
                batches,
                rows,
                reason,
            };
            let frame = match tokio::time::timeout(idle, frames.message()).await {
                Err(_) => Err(disconnected(format!("no data for {idle:?}"))),
                Ok(Err(status)) => Err(peer_error(&agency, status, disconnected)),
                Ok(Ok(None)) => Err(disconnected("the stream ended without its summary".into())),
                Ok(Ok(Some(frame))) => Ok(frame),
            };
            let frame = match frame {
                Ok(f) => f,
                Err(e) => {
                    yield Err(e);
                    return;
                }
            };
            match frame.frame {
                Some(Frame::Ipc(bytes)) => match decoder.push(bytes) {
                    Ok(decoded) => {
                        for b in decoded {
                            rows += b.num_rows() as u64;
                            batches += 1;
                            yield Ok(b);
                        }
                    }
                    Err(e) => {
                        yield Err(bad(e.to_string()));
                        return;
                    }
                },
                Some(Frame::End(summary)) => {
                    if let Err(e) = decoder.finish() {
                        yield Err(bad(format!("the result stream is incomplete: {e}")));
                    } else if summary.rows != rows || summary.batches != batches {
                        yield Err(bad(format!(
                            "the summary says {} rows in {} batches, but {rows} rows in {batches} batches arrived",
                            summary.rows, summary.batches
                        )));
                    }
                    return;
                }
                None => {
                    yield Err(bad("an empty frame".into()));
                    return;
                }
            }
        }
    })
}
