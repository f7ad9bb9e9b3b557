//! Encrypted exports for offline exchange: a query's result sealed with HPKE for one
//! recipient agency, signed by the sending agency, and recorded on the sender's chain
//! before the file is handed out. `sluice export` makes one, `sluice import` opens it.
//!
//! A file is a `SealedExport`: the envelope bytes, and the sender's ed25519 signature over
//! `sluice/export/v1\n` followed by exactly those bytes. The envelope names sender,
//! recipient and query id and carries the HPKE encapsulated key and the sealed frames
//! (domain `sluice/export/v1`, see [`crate::seal`]): frame 0 is the `ExportHeader`
//! (principal, purpose, SQL), then the Arrow IPC stream as `ResultFrame`s, then the
//! summary, marked last. The chain's export entry carries SHA-256 of the whole file.

use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use futures::StreamExt;
use prost::Message as _;
use sha2::{Digest as _, Sha256};
use sluice_chain::entry::ExportRecord;
use sluice_core::AgencyId;
use sluice_proto::v1::{self, result_frame::Frame};

use crate::error::{GatewayError, Result};
use crate::home::Home;
use crate::identity::agency::{AgencyKeys, verify_export};
use crate::identity::bundle::TrustStore;
use crate::identity::envelope::now_ms;
use crate::ipc::{FrameDecoder, FrameEncoder, MAX_MESSAGE_BYTES};
use crate::owner::audit::Audit;
use crate::peer::Caller;
use crate::seal::{self, OpenError, Opener, SealedFrame, Sealer};

/// The largest export file: it travels back to the analyst as one gRPC message.
pub const MAX_EXPORT_BYTES: usize = MAX_MESSAGE_BYTES - 1024 * 1024;

/// Why an export file does not open.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("not a Sluice export file: {0}")]
    Malformed(String),
    #[error("the export claims to come from agency `{0}`, which is not in the trust directory")]
    UnknownSender(AgencyId),
    #[error("the export's signature is not `{0}`'s: the file was altered or forged")]
    BadSignature(AgencyId),
    #[error(
        "this export is sealed for agency `{sealed_for}`, not for `{ours}`: only `{sealed_for}`'s keys open it"
    )]
    WrongRecipient {
        sealed_for: AgencyId,
        ours: AgencyId,
    },
    #[error("the export's sealed content does not open: {0}")]
    Sealed(#[from] OpenError),
    #[error("the export's content is corrupt: {0}")]
    Corrupt(String),
}

/// An export file as the sending gateway hands it out.
#[derive(Debug)]
pub struct ExportFile {
    pub bytes: Vec<u8>,
    pub rows: u64,
    /// The export entry's index on the sender's chain; `None` on an unaudited gateway.
    pub entry: Option<u64>,
}

/// An opened export: who sent it, for what, and the result.
#[derive(Debug)]
pub struct OpenedExport {
    pub sender: AgencyId,
    pub recipient: AgencyId,
    pub query_id: String,
    pub created_ms: u64,
    pub principal: String,
    pub purpose: String,
    pub sql: String,
    pub schema: SchemaRef,
    pub batches: Vec<RecordBatch>,
    /// SHA-256 of the whole file, as on the sender's export entry.
    pub digest: [u8; 32],
}

/// SHA-256 of a whole export file, as `sha256sum` prints it and the export entry holds it.
pub fn file_digest(file: &[u8]) -> [u8; 32] {
    Sha256::digest(file).into()
}

/// Makes export files for one gateway's analysts.
#[derive(Debug)]
pub struct Exporter {
    keys: Arc<AgencyKeys>,
    trust: TrustStore,
    audit: Audit,
}

impl Exporter {
    pub fn new(keys: Arc<AgencyKeys>, trust: TrustStore, audit: Audit) -> Self {
        Exporter { keys, trust, audit }
    }

    /// Runs `sql` for `caller` as any query (every owner judges and records its part),
    /// seals the result for `recipient`, and records the export on this agency's chain.
    /// The file is returned only once its entry is committed.
    pub async fn export(
        &self,
        home: &Home,
        caller: &Caller,
        sql: &str,
        recipient: &AgencyId,
    ) -> Result<ExportFile> {
        let bundle = self.trust.get(recipient).map_err(|_| {
            GatewayError::BadRequest(format!(
                "agency `{recipient}` is not in this gateway's trust directory, so there is no key to seal an export for (it knows: {})",
                self.trust
                    .agencies()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })?;
        let mut stream = home.query(caller, sql).await?;
        let schema = stream.schema();
        let mut batches = Vec::new();
        while let Some(batch) = stream.next().await {
            batches.push(batch.map_err(GatewayError::from_datafusion)?);
        }
        let ctx = &caller.ctx;
        let header = v1::ExportHeader {
            principal: ctx.principal.to_string(),
            purpose: ctx.purpose.to_string(),
            sql: sql.to_string(),
        };
        let (bytes, rows) = seal_export(
            &self.keys,
            recipient,
            &bundle.hpke_key,
            ctx.query_id.as_str(),
            &header,
            &schema,
            &batches,
        )?;
        let record = ExportRecord {
            query_id: ctx.query_id.to_string(),
            principal: ctx.principal.to_string(),
            purpose: ctx.purpose.to_string(),
            recipient: recipient.to_string(),
            rows,
            bytes: bytes.len() as u64,
            digest: file_digest(&bytes),
        };
        let entry = self.audit.exported(record).await?;
        tracing::info!(
            query_id = %ctx.query_id,
            principal = %ctx.principal,
            %recipient,
            rows,
            bytes = bytes.len(),
            "export sealed"
        );
        Ok(ExportFile { bytes, rows, entry })
    }
}

fn encoding(e: arrow::error::ArrowError) -> GatewayError {
    GatewayError::Internal(format!("encoding the export: {e}"))
}

/// Seals `batches` into an export file from `keys`' agency for `recipient`; returns the
/// file and its row count.
fn seal_export(
    keys: &AgencyKeys,
    recipient: &AgencyId,
    recipient_key: &seal::PublicKey,
    query_id: &str,
    header: &v1::ExportHeader,
    schema: &SchemaRef,
    batches: &[RecordBatch],
) -> Result<(Vec<u8>, u64)> {
    let (mut sealer, encapped) = Sealer::for_export(recipient_key, query_id)?;
    let mut frames = vec![sealer.seal(&header.encode_to_vec(), false)?];
    let mut size = 0usize;
    let mut seal_frame = |frames: &mut Vec<SealedFrame>, frame: Frame, last: bool| {
        let sealed = sealer.seal(
            &v1::ResultFrame { frame: Some(frame) }.encode_to_vec(),
            last,
        )?;
        size += sealed.ciphertext.len();
        if size > MAX_EXPORT_BYTES {
            return Err(GatewayError::BadRequest(format!(
                "the export would exceed {} MiB; narrow the query or split it",
                MAX_EXPORT_BYTES / (1024 * 1024)
            )));
        }
        frames.push(sealed);
        Ok(())
    };
    let mut enc = FrameEncoder::new(schema).map_err(encoding)?;
    let (mut rows, mut count, mut ipc_bytes) = (0u64, 0u64, 0u64);
    let first = enc.take();
    ipc_bytes += first.len() as u64;
    seal_frame(&mut frames, Frame::Ipc(first), false)?;
    for batch in batches.iter().filter(|b| b.num_rows() > 0) {
        enc.write(batch).map_err(encoding)?;
        let bytes = enc.take();
        rows += batch.num_rows() as u64;
        count += 1;
        ipc_bytes += bytes.len() as u64;
        seal_frame(&mut frames, Frame::Ipc(bytes), false)?;
    }
    enc.finish().map_err(encoding)?;
    let end = enc.take();
    ipc_bytes += end.len() as u64;
    seal_frame(&mut frames, Frame::Ipc(end), false)?;
    let summary = v1::ResultSummary {
        rows,
        batches: count,
        bytes: ipc_bytes,
    };
    seal_frame(&mut frames, Frame::End(summary), true)?;
    let envelope = v1::ExportEnvelope {
        sender: keys.agency().to_string(),
        recipient: recipient.to_string(),
        query_id: query_id.to_string(),
        created_ms: now_ms(),
        encapsulated_key: encapped,
        frames: frames
            .into_iter()
            .map(|f| v1::SealedFrame {
                seq: f.seq,
                last: f.last,
                ciphertext: f.ciphertext.into(),
            })
            .collect(),
    }
    .encode_to_vec();
    let signature = keys.sign_export(&envelope).to_vec();
    Ok((
        v1::SealedExport {
            envelope,
            signature,
        }
        .encode_to_vec(),
        rows,
    ))
}

/// Verifies and opens an export file with the recipient's `keys`; `trust` holds the
/// sender's public bundle. The signature is checked over exactly the envelope bytes in
/// the file before anything the envelope says is believed.
pub fn open(
    file: &[u8],
    keys: &AgencyKeys,
    trust: &TrustStore,
) -> std::result::Result<OpenedExport, ExportError> {
    let sealed =
        v1::SealedExport::decode(file).map_err(|e| ExportError::Malformed(e.to_string()))?;
    let envelope = v1::ExportEnvelope::decode(sealed.envelope.as_slice())
        .map_err(|e| ExportError::Malformed(format!("its envelope: {e}")))?;
    let sender = AgencyId::parse(&envelope.sender)
        .map_err(|e| ExportError::Malformed(format!("its sender: {e}")))?;
    let bundle = trust
        .get(&sender)
        .map_err(|_| ExportError::UnknownSender(sender.clone()))?;
    if !verify_export(&bundle.signing_key, &sealed.envelope, &sealed.signature) {
        return Err(ExportError::BadSignature(sender));
    }
    let recipient = AgencyId::parse(&envelope.recipient)
        .map_err(|e| ExportError::Malformed(format!("its recipient: {e}")))?;
    if &recipient != keys.agency() {
        return Err(ExportError::WrongRecipient {
            sealed_for: recipient,
            ours: keys.agency().clone(),
        });
    }
    let mut opener = Opener::for_export(
        keys.hpke_secret(),
        &envelope.encapsulated_key,
        &envelope.query_id,
    )?;
    let mut frames = envelope.frames.into_iter().map(|f| SealedFrame {
        seq: f.seq,
        last: f.last,
        ciphertext: Vec::from(f.ciphertext),
    });
    let first = frames.next().ok_or(OpenError::Truncated(0))?;
    let header = v1::ExportHeader::decode(opener.open(&first)?.as_slice())
        .map_err(|e| ExportError::Corrupt(format!("its header: {e}")))?;
    let mut decoder = FrameDecoder::new();
    let mut batches = Vec::new();
    let mut summary = None;
    for frame in frames {
        let plain = opener.open(&frame)?;
        let inner = v1::ResultFrame::decode(plain.as_slice())
            .map_err(|e| ExportError::Corrupt(format!("frame {}: {e}", frame.seq)))?;
        match inner.frame {
            Some(Frame::Ipc(bytes)) => batches.extend(
                decoder
                    .push(bytes)
                    .map_err(|e| ExportError::Corrupt(format!("frame {}: {e}", frame.seq)))?,
            ),
            Some(Frame::End(s)) => summary = Some(s),
            _ => {
                return Err(ExportError::Corrupt(format!(
                    "frame {} is neither result bytes nor the summary",
                    frame.seq
                )));
            }
        }
    }
    opener.finish()?;
    decoder
        .finish()
        .map_err(|e| ExportError::Corrupt(format!("the Arrow stream: {e}")))?;
    let schema = decoder
        .schema()
        .ok_or_else(|| ExportError::Corrupt("no schema".into()))?;
    let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
    match summary {
        Some(s) if s.rows == rows as u64 => {}
        Some(s) => {
            return Err(ExportError::Corrupt(format!(
                "the summary counts {} rows, the stream holds {rows}",
                s.rows
            )));
        }
        None => return Err(ExportError::Corrupt("no summary".into())),
    }
    Ok(OpenedExport {
        sender,
        recipient,
        query_id: envelope.query_id,
        created_ms: envelope.created_ms,
        principal: header.principal,
        purpose: header.purpose,
        sql: header.sql,
        schema,
        batches,
        digest: file_digest(file),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::identity::agency::{Addresses, CertificateSource, init};
    use arrow::array::{Int64Array, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};

    struct Agencies {
        _dir: tempfile::TempDir,
        bj: AgencyKeys,
        cd: AgencyKeys,
        sh: AgencyKeys,
        trust: TrustStore,
    }

    fn agencies() -> Agencies {
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("ca");
        crate::identity::ca::init_ca(&ca, "test", 30).unwrap();
        let load = |id: &str| {
            let agency = AgencyId::parse(id).unwrap();
            let keys = dir.path().join(id);
            init(
                &agency,
                &keys,
                CertificateSource::Ca { dir: &ca, days: 30 },
                Addresses::default(),
            )
            .unwrap();
            AgencyKeys::load(&keys, &agency).unwrap()
        };
        let (bj, cd, sh) = (load("bj_hf"), load("cd_hf"), load("sh_hf"));
        let trust =
            TrustStore::from_bundles([&bj, &cd, &sh].map(|k| k.bundle(Addresses::default())));
        Agencies {
            _dir: dir,
            bj,
            cd,
            sh,
            trust,
        }
    }

    fn result() -> (SchemaRef, Vec<RecordBatch>) {
        let schema = Arc::new(Schema::new(vec![
            Field::new("person_id", DataType::Int64, false),
            Field::new("city", DataType::Utf8, true),
        ]));
        let batch = |ids: Vec<i64>, cities: Vec<&str>| {
            RecordBatch::try_new(
                Arc::clone(&schema),
                vec![
                    Arc::new(Int64Array::from(ids)),
                    Arc::new(StringArray::from(cities)),
                ],
            )
            .unwrap()
        };
        let batches = vec![
            batch(vec![1, 2], vec!["beijing", "chengdu"]),
            batch(vec![], vec![]),
            batch(vec![3], vec!["shanghai"]),
        ];
        (schema, batches)
    }

    fn header() -> v1::ExportHeader {
        v1::ExportHeader {
            principal: "bj_hf/alice".into(),
            purpose: "audit".into(),
            sql: "SELECT person_id, city FROM bj_hf.persons".into(),
        }
    }

    /// bj_hf's export of [`result`] for cd_hf.
    fn file(a: &Agencies) -> Vec<u8> {
        let (schema, batches) = result();
        let (bytes, rows) = seal_export(
            &a.bj,
            a.cd.agency(),
            &a.cd.hpke_public(),
            "q-export",
            &header(),
            &schema,
            &batches,
        )
        .unwrap();
        assert_eq!(rows, 3);
        bytes
    }

    fn parts(file: &[u8]) -> (v1::SealedExport, v1::ExportEnvelope) {
        let sealed = v1::SealedExport::decode(file).unwrap();
        let envelope = v1::ExportEnvelope::decode(sealed.envelope.as_slice()).unwrap();
        (sealed, envelope)
    }

    /// `envelope` re-signed by `signer`, as a dishonest sender would.
    fn resigned(envelope: &v1::ExportEnvelope, signer: &AgencyKeys) -> Vec<u8> {
        let bytes = envelope.encode_to_vec();
        v1::SealedExport {
            signature: signer.sign_export(&bytes).to_vec(),
            envelope: bytes,
        }
        .encode_to_vec()
    }

    #[test]
    fn the_recipient_opens_what_the_sender_sealed() {
        let a = agencies();
        let file = file(&a);
        let opened = open(&file, &a.cd, &a.trust).unwrap();
        assert_eq!(opened.sender.as_str(), "bj_hf");
        assert_eq!(opened.recipient.as_str(), "cd_hf");
        assert_eq!(opened.query_id, "q-export");
        assert_eq!(opened.principal, "bj_hf/alice");
        assert_eq!(opened.purpose, "audit");
        assert_eq!(opened.sql, header().sql);
        assert_eq!(opened.digest, file_digest(&file));
        let (schema, batches) = result();
        assert_eq!(opened.schema, schema);
        let want = arrow::compute::concat_batches(&schema, &batches).unwrap();
        let got = arrow::compute::concat_batches(&schema, &opened.batches).unwrap();
        assert_eq!(got, want);
    }

    #[test]
    fn another_agency_gets_a_clear_error_not_garbage() {
        let a = agencies();
        let file = file(&a);
        for wrong in [&a.sh, &a.bj] {
            let err = open(&file, wrong, &a.trust).unwrap_err();
            assert!(
                matches!(&err, ExportError::WrongRecipient { sealed_for, ours }
                    if sealed_for.as_str() == "cd_hf" && ours == wrong.agency()),
                "{err}"
            );
            assert!(
                err.to_string()
                    .contains("this export is sealed for agency `cd_hf`"),
                "{err}"
            );
        }
        // Relabelling the recipient breaks the sender's signature ...
        let (sealed, mut envelope) = parts(&file);
        envelope.recipient = "sh_hf".into();
        let relabelled = v1::SealedExport {
            envelope: envelope.encode_to_vec(),
            signature: sealed.signature,
        }
        .encode_to_vec();
        assert!(matches!(
            open(&relabelled, &a.sh, &a.trust),
            Err(ExportError::BadSignature(s)) if s.as_str() == "bj_hf"
        ));
        // ... and even re-signed, the content stays sealed to cd_hf's key.
        let resealed = resigned(&envelope, &a.bj);
        assert!(matches!(
            open(&resealed, &a.sh, &a.trust),
            Err(ExportError::Sealed(OpenError::Tampered(0)))
        ));
    }

    #[test]
    fn forged_unknown_or_malformed_files_are_refused() {
        let a = agencies();
        let file = file(&a);
        assert!(matches!(
            open(b"not an export", &a.cd, &a.trust),
            Err(ExportError::Malformed(_))
        ));
        // Signed by sh_hf but claiming bj_hf.
        let (_, envelope) = parts(&file);
        assert!(matches!(
            open(&resigned(&envelope, &a.sh), &a.cd, &a.trust),
            Err(ExportError::BadSignature(s)) if s.as_str() == "bj_hf"
        ));
        let only_cd = TrustStore::from_bundles([a.cd.bundle(Addresses::default())]);
        assert!(matches!(
            open(&file, &a.cd, &only_cd),
            Err(ExportError::UnknownSender(s)) if s.as_str() == "bj_hf"
        ));
        let mut flipped = file.clone();
        let at = flipped.len() - 10;
        flipped[at] ^= 1;
        assert!(open(&flipped, &a.cd, &a.trust).is_err());
    }

    #[test]
    fn cut_reordered_or_spliced_frames_are_refused_even_when_re_signed() {
        let a = agencies();
        let (_, envelope) = parts(&file(&a));
        // The sender re-signs each variant: the sealing alone must catch it.
        let mut cut = envelope.clone();
        cut.frames.pop();
        assert!(matches!(
            open(&resigned(&cut, &a.bj), &a.cd, &a.trust),
            Err(ExportError::Sealed(OpenError::Truncated(_)))
        ));
        let mut swapped = envelope.clone();
        swapped.frames.swap(1, 2);
        assert!(matches!(
            open(&resigned(&swapped, &a.bj), &a.cd, &a.trust),
            Err(ExportError::Sealed(OpenError::OutOfOrder { .. }))
        ));
        let mut renamed = envelope.clone();
        renamed.query_id = "q-other".into();
        assert!(matches!(
            open(&resigned(&renamed, &a.bj), &a.cd, &a.trust),
            Err(ExportError::Sealed(OpenError::Tampered(0)))
        ));
    }
}
