//! Result streams on the wire: a standard Arrow IPC stream cut into frames, one record
//! batch per frame, closed by a summary. The writer never holds more than one batch.

use arrow::array::RecordBatch;
use arrow::buffer::Buffer;
use arrow::datatypes::SchemaRef;
use arrow::error::ArrowError;
use arrow::ipc::reader::StreamDecoder;
use arrow::ipc::writer::StreamWriter;

/// Largest gRPC message a gateway sends or accepts; a frame holds one record batch.
pub const MAX_MESSAGE_BYTES: usize = 256 * 1024 * 1024;

/// Encodes record batches as successive pieces of one Arrow IPC stream.
pub struct FrameEncoder {
    writer: StreamWriter<Vec<u8>>,
    headroom: usize,
}

impl FrameEncoder {
    /// Start a stream; [`Self::take`] then returns the schema message.
    pub fn new(schema: &SchemaRef) -> Result<Self, ArrowError> {
        Self::with_headroom(schema, 0)
    }

    /// Start a stream whose taken frames keep `headroom` bytes of spare capacity where
    /// they are likely to fit, so that appending that much to one (a seal's tag) does
    /// not move it.
    pub fn with_headroom(schema: &SchemaRef, headroom: usize) -> Result<Self, ArrowError> {
        Ok(FrameEncoder {
            writer: StreamWriter::try_new(Vec::new(), schema)?,
            headroom,
        })
    }

    /// Append one batch; [`Self::take`] then returns its bytes.
    pub fn write(&mut self, batch: &RecordBatch) -> Result<(), ArrowError> {
        self.writer.write(batch)
    }

    /// Write the end-of-stream marker; [`Self::take`] then returns it.
    pub fn finish(&mut self) -> Result<(), ArrowError> {
        self.writer.finish()
    }

    /// The bytes written since the last call. The next frame's buffer is sized for a
    /// frame as large as this one, plus the headroom: batches of one stream are mostly
    /// alike, and a buffer that grows by doubling copies the frame each time.
    pub fn take(&mut self) -> Vec<u8> {
        let next = Vec::with_capacity(self.writer.get_ref().len() + self.headroom);
        std::mem::replace(self.writer.get_mut(), next)
    }
}

/// Decodes frames produced by [`FrameEncoder`] back into record batches.
#[derive(Default)]
pub struct FrameDecoder {
    decoder: StreamDecoder,
}

impl FrameDecoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Feed one frame, returning the batches it completes (usually zero or one).
    pub fn push(&mut self, frame: Vec<u8>) -> Result<Vec<RecordBatch>, ArrowError> {
        let mut buf = Buffer::from_vec(frame);
        let mut out = Vec::new();
        while !buf.is_empty() {
            match self.decoder.decode(&mut buf)? {
                Some(batch) => out.push(batch),
                None => {
                    if buf.is_empty() {
                        break;
                    }
                }
            }
        }
        Ok(out)
    }

    /// The schema, once the first frame has been decoded.
    pub fn schema(&self) -> Option<SchemaRef> {
        self.decoder.schema()
    }

    /// Check that the stream ended cleanly, with no partial message left over.
    pub fn finish(&mut self) -> Result<(), ArrowError> {
        self.decoder.finish()
    }
}

/// Encode a schema alone as a complete Arrow IPC stream (schema message + end marker).
pub fn schema_to_bytes(schema: &SchemaRef) -> Result<Vec<u8>, ArrowError> {
    let mut enc = FrameEncoder::new(schema)?;
    enc.finish()?;
    Ok(enc.take())
}

/// Decode a schema written by [`schema_to_bytes`].
pub fn schema_from_bytes(bytes: &[u8]) -> Result<SchemaRef, ArrowError> {
    let mut dec = FrameDecoder::new();
    dec.push(bytes.to_vec())?;
    dec.finish()?;
    dec.schema()
        .ok_or_else(|| ArrowError::IpcError("the schema bytes hold no schema message".into()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::sync::Arc;

    use arrow::array::{Int64Array, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};

    use super::*;

    #[test]
    fn frames_round_trip() {
        let schema: SchemaRef = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("name", DataType::Utf8, true),
        ]));
        let batch = RecordBatch::try_new(
            Arc::clone(&schema),
            vec![
                Arc::new(Int64Array::from(vec![1, 2, 3])),
                Arc::new(StringArray::from(vec![Some("a"), None, Some("c")])),
            ],
        )
        .unwrap();
        let mut enc = FrameEncoder::new(&schema).unwrap();
        let mut frames = vec![enc.take()];
        for _ in 0..3 {
            enc.write(&batch).unwrap();
            frames.push(enc.take());
        }
        enc.finish().unwrap();
        frames.push(enc.take());

        let mut dec = FrameDecoder::new();
        let mut got = Vec::new();
        for f in frames {
            got.extend(dec.push(f).unwrap());
        }
        dec.finish().unwrap();
        assert_eq!(got.len(), 3);
        assert_eq!(got[2], batch);
        assert_eq!(dec.schema().unwrap(), schema);
    }

    #[test]
    fn a_frame_like_the_last_one_keeps_its_headroom() {
        let schema: SchemaRef =
            Arc::new(Schema::new(vec![Field::new("id", DataType::Int64, false)]));
        let batch = RecordBatch::try_new(
            Arc::clone(&schema),
            vec![Arc::new(Int64Array::from_iter_values(0..1000))],
        )
        .unwrap();
        let mut enc = FrameEncoder::with_headroom(&schema, 16).unwrap();
        enc.take();
        enc.write(&batch).unwrap();
        enc.take();
        enc.write(&batch).unwrap();
        let frame = enc.take();
        assert!(frame.capacity() >= frame.len() + 16);
    }

    #[test]
    fn schema_round_trips_and_garbage_is_refused() {
        let schema: SchemaRef =
            Arc::new(Schema::new(vec![Field::new("x", DataType::Date32, true)]));
        assert_eq!(
            schema_from_bytes(&schema_to_bytes(&schema).unwrap()).unwrap(),
            schema
        );
        assert!(schema_from_bytes(b"not arrow at all").is_err());
        assert!(schema_from_bytes(&[]).is_err());
    }
}
