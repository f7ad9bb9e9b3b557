//! Reading a result stream: gRPC frames back into record batches. A peer's answer is
//! sealed for this gateway and is opened frame by frame; a home gateway's answer to
//! its analyst travels inside TLS as plain frames. Either way the stream must start
//! with its schema and end with a summary that matches what arrived; anything else is
//! a disconnect or bad data, never a silently short result.

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use futures::Stream;
use prost::Message as _;
use sluice_proto::v1::{self, result_frame::Frame};

use super::peer_error;
use crate::error::{GatewayError, Result};
use crate::identity::agency::AgencyKeys;
use crate::ipc::FrameDecoder;
use crate::seal::Opener;

/// Record batches as they arrive.
pub type BatchStream = Pin<Box<dyn Stream<Item = Result<RecordBatch>> + Send>>;

/// How the frames of a stream are wrapped.
pub enum Wrapping {
    /// Plain frames, inside TLS (a home gateway answering its analyst).
    Plain,
    /// Sealed for this agency (an owner answering this home gateway): opened with the
    /// agency's key, for the query the request named.
    Sealed {
        keys: Arc<AgencyKeys>,
        query_id: String,
    },
}

/// The frames one sender sends, unwrapped, with the counts errors report.
struct Source {
    sender: String,
    frames: tonic::Streaming<v1::ResultFrame>,
    idle: Duration,
    wrapping: Wrapping,
    opener: Option<Opener>,
    rows: u64,
    batches: u64,
}

impl Source {
    fn disconnected(&self, reason: String) -> GatewayError {
        GatewayError::PeerDisconnected {
            agency: self.sender.clone(),
            batches: self.batches,
            rows: self.rows,
            reason,
        }
    }

    fn bad(&self, message: String) -> GatewayError {
        GatewayError::BadPeerData {
            agency: self.sender.clone(),
            message,
        }
    }

    async fn wire(&mut self) -> Result<Frame> {
        let next = tokio::time::timeout(self.idle, self.frames.message()).await;
        match next {
            Err(_) => Err(self.disconnected(format!("no data for {:?}", self.idle))),
            Ok(Err(status)) => {
                let (sender, rows, batches) = (self.sender.clone(), self.rows, self.batches);
                Err(peer_error(&sender, status, |reason| {
                    GatewayError::PeerDisconnected {
                        agency: sender.clone(),
                        batches,
                        rows,
                        reason,
                    }
                }))
            }
            Ok(Ok(None)) => Err(self.disconnected("the stream ended before its summary".into())),
            Ok(Ok(Some(v1::ResultFrame { frame: None }))) => Err(self.bad("an empty frame".into())),
            Ok(Ok(Some(v1::ResultFrame { frame: Some(f) }))) => Ok(f),
        }
    }

    /// The next frame of the result itself: IPC bytes or the summary.
    async fn next(&mut self) -> Result<Frame> {
        let Wrapping::Sealed { keys, query_id } = &self.wrapping else {
            return match self.wire().await? {
                f @ (Frame::Ipc(_) | Frame::End(_)) => Ok(f),
                _ => Err(self.bad("a sealed frame in a plain stream".into())),
            };
        };
        let (keys, query_id) = (Arc::clone(keys), query_id.clone());
        if self.opener.is_none() {
            let Frame::SealedStart(start) = self.wire().await? else {
                return Err(self.bad(
                    "the answer is not sealed for this gateway; an owner must seal what it sends"
                        .into(),
                ));
            };
            let opener = Opener::new(keys.hpke_secret(), &start.encapsulated_key, &query_id)
                .map_err(|e| self.bad(e.to_string()))?;
            self.opener = Some(opener);
        }
        let Frame::Sealed(s) = self.wire().await? else {
            return Err(self.bad("an unsealed frame inside a sealed answer".into()));
        };
        let opener = self
            .opener
            .as_mut()
            .ok_or_else(|| GatewayError::Internal("the opener vanished".into()))?;
        let last = s.last;
        // The wire's buffer may be shared: the plaintext goes to a buffer of its own.
        let plain = opener.open_parts(s.seq, s.last, &s.ciphertext);
        let plain = plain.map_err(|e| self.bad(e.to_string()))?;
        // Only the frame marked last holds the summary; the others are the IPC stream's
        // bytes as they are. The mark is in the associated data, so it cannot be moved.
        if last {
            let summary = v1::ResultSummary::decode(plain.as_slice())
                .map_err(|e| self.bad(format!("the last sealed frame holds no summary: {e}")))?;
            Ok(Frame::End(summary))
        } else {
            Ok(Frame::Ipc(plain))
        }
    }
}

/// Reads the stream's schema, then returns it and the batches that follow. `sender`
/// names the sender in errors: a peer agency, or a gateway's address.
pub async fn open(
    sender: String,
    frames: tonic::Streaming<v1::ResultFrame>,
    idle: Duration,
    wrapping: Wrapping,
) -> Result<(SchemaRef, BatchStream)> {
    let mut source = Source {
        sender,
        frames,
        idle,
        wrapping,
        opener: None,
        rows: 0,
        batches: 0,
    };
    let Frame::Ipc(bytes) = source.next().await? else {
        return Err(source.bad("the stream does not start with its schema".into()));
    };
    // The stream decoder completes a message only when bytes after it arrive, so the
    // schema, alone in its frame, is read from the frame itself.
    let schema = arrow::ipc::convert::try_schema_from_ipc_buffer(&bytes)
        .map_err(|e| source.bad(format!("the first frame is not a schema: {e}")))?;
    let mut decoder = FrameDecoder::new();
    let early = decoder.push(bytes).map_err(|e| source.bad(e.to_string()))?;
    if !early.is_empty() {
        return Err(source.bad("the first frame holds more than the schema".into()));
    }
    Ok((Arc::new(schema), batches(source, decoder)))
}

fn batches(mut source: Source, mut decoder: FrameDecoder) -> BatchStream {
    Box::pin(async_stream::stream! {
        loop {
            let frame = match source.next().await {
                Ok(f) => f,
                Err(e) => {
                    yield Err(e);
                    return;
                }
            };
            match frame {
                Frame::Ipc(bytes) => match decoder.push(bytes) {
                    Ok(decoded) => {
                        for b in decoded {
                            source.rows += b.num_rows() as u64;
                            source.batches += 1;
                            yield Ok(b);
                        }
                    }
                    Err(e) => {
                        yield Err(source.bad(e.to_string()));
                        return;
                    }
                },
                Frame::End(summary) => {
                    let (rows, batches) = (source.rows, source.batches);
                    if let Err(e) = decoder.finish() {
                        yield Err(source.bad(format!("the result stream is incomplete: {e}")));
                    } else if summary.rows != rows || summary.batches != batches {
                        yield Err(source.bad(format!(
                            "the summary says {} rows in {} batches, but {rows} rows in {batches} batches arrived",
                            summary.rows, summary.batches
                        )));
                    } else if let Some(opener) = source.opener.take()
                        && let Err(e) = opener.finish()
                    {
                        yield Err(source.bad(e.to_string()));
                    }
                    return;
                }
                _ => {
                    yield Err(source.bad("an unexpected frame".into()));
                    return;
                }
            }
        }
    })
}
