//! Result streams sealed for their requester with HPKE (RFC 9180, mode base:
//! DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-256-GCM). One HPKE context covers one
//! stream; each frame is one `seal`, so its nonce is the frame's place in the stream.
//!
//! The associated data of frame `n` is `domain ‖ query id ‖ n ‖ last`, so a frame that is
//! reordered, dropped, replayed from another stream or query, or a stream cut before the
//! frame marked last, fails to open. The domain (`sluice/result/v2` for live results,
//! `sluice/export/v1` for export files) keeps a live stream from passing as an export.
//!
//! The digest of a sealed stream, which the owner records on the chain, is SHA-256 over
//! the encapsulated key and then, for each frame, its sequence number, its last flag and
//! its ciphertext, each length-prefixed. The receiver does not need it (every frame's tag
//! already authenticates it), so it is computed only by the owner as it sends, and by whoever
//! later checks what was delivered, with [`StreamDigest`].

use hpke::aead::AeadTag;
use hpke::inout::InOutBuf;
use hpke::{Deserializable, Kem as _, OpModeR, OpModeS, Serializable};
use sha2::{Digest as _, Sha256};

use crate::error::{GatewayError, Result};

/// The KEM of Sluice's ciphersuite.
pub type Kem = hpke::kem::X25519HkdfSha256;
type Aead = hpke::aead::AesGcm256;
type Kdf = hpke::kdf::HkdfSha256;
/// The length of an AES-256-GCM tag, which ends each sealed frame. A buffer with this much
/// spare capacity is sealed without moving.
pub const TAG_BYTES: usize = 16;

/// An agency's HPKE secret key.
pub type SecretKey = <Kem as hpke::Kem>::PrivateKey;
/// An agency's HPKE public key.
pub type PublicKey = <Kem as hpke::Kem>::PublicKey;

/// What a sealed stream is, bound into its key schedule and every frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Domain {
    Result,
    Export,
}

impl Domain {
    fn label(self) -> &'static [u8] {
        match self {
            Domain::Result => b"sluice/result/v2",
            Domain::Export => b"sluice/export/v1",
        }
    }
}

/// A fresh HPKE key pair.
pub fn generate() -> (SecretKey, PublicKey) {
    Kem::gen_keypair()
}

/// The public half of a secret key.
pub fn public_of(secret: &SecretKey) -> PublicKey {
    Kem::sk_to_pk(secret)
}

/// A public key from its 32 bytes.
pub fn public_from_bytes(bytes: &[u8]) -> Result<PublicKey> {
    PublicKey::from_bytes(bytes)
        .map_err(|e| GatewayError::BadRequest(format!("not an X25519 public key: {e}")))
}

/// A secret key from its 32 bytes.
pub fn secret_from_bytes(bytes: &[u8]) -> Result<SecretKey> {
    SecretKey::from_bytes(bytes)
        .map_err(|e| GatewayError::BadRequest(format!("not an X25519 secret key: {e}")))
}

/// The 32 bytes of a public key.
pub fn public_bytes(key: &PublicKey) -> Vec<u8> {
    key.to_bytes().to_vec()
}

/// The 32 bytes of a secret key, for its key file.
pub fn secret_bytes(key: &SecretKey) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(&key.to_bytes());
    out
}

fn info(domain: Domain, query_id: &str) -> Vec<u8> {
    let mut v = domain.label().to_vec();
    v.extend_from_slice(&(query_id.len() as u32).to_be_bytes());
    v.extend_from_slice(query_id.as_bytes());
    v
}

fn aad(domain: Domain, query_id: &str, seq: u64, last: bool) -> Vec<u8> {
    let mut v = info(domain, query_id);
    v.extend_from_slice(&seq.to_be_bytes());
    v.push(u8::from(last));
    v
}

/// One sealed frame as it travels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedFrame {
    pub seq: u64,
    pub last: bool,
    pub ciphertext: Vec<u8>,
}

/// The running digest of a sealed stream, frame by frame in the order they were sealed.
#[derive(Clone)]
pub struct StreamDigest {
    hasher: Sha256,
    /// Ciphertext bytes so far.
    pub bytes: u64,
}

impl StreamDigest {
    /// The digest of a stream that `encapsulated_key` starts, before any frame.
    pub fn new(encapsulated_key: &[u8]) -> Self {
        let mut digest = StreamDigest {
            hasher: Sha256::new(),
            bytes: 0,
        };
        digest.part(encapsulated_key);
        digest
    }

    fn part(&mut self, bytes: &[u8]) {
        self.hasher.update((bytes.len() as u64).to_be_bytes());
        self.hasher.update(bytes);
    }

    /// Adds the stream's next frame.
    pub fn add(&mut self, f: &SealedFrame) {
        self.add_parts(f.seq, f.last, &f.ciphertext);
    }

    /// Adds the stream's next frame, given as its parts.
    pub fn add_parts(&mut self, seq: u64, last: bool, ciphertext: &[u8]) {
        self.hasher.update(seq.to_be_bytes());
        self.hasher.update([u8::from(last)]);
        self.part(ciphertext);
        self.bytes += ciphertext.len() as u64;
    }

    /// The digest so far.
    pub fn finish(self) -> [u8; 32] {
        self.hasher.finalize().into()
    }
}

/// The sending end: seals each frame for one recipient.
pub struct Sealer {
    ctx: hpke::aead::AeadCtxS<Aead, Kdf, Kem>,
    domain: Domain,
    query_id: String,
    next: u64,
    closed: bool,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sealer")
            .field("query_id", &self.query_id)
            .field("next", &self.next)
            .finish_non_exhaustive()
    }
}

impl Sealer {
    /// Starts a result stream for `recipient`; returns the encapsulated key the recipient
    /// needs.
    pub fn new(recipient: &PublicKey, query_id: &str) -> Result<(Self, Vec<u8>)> {
        Self::start(Domain::Result, recipient, query_id)
    }

    /// Starts an export file's stream for `recipient`.
    pub fn for_export(recipient: &PublicKey, query_id: &str) -> Result<(Self, Vec<u8>)> {
        Self::start(Domain::Export, recipient, query_id)
    }

    fn start(domain: Domain, recipient: &PublicKey, query_id: &str) -> Result<(Self, Vec<u8>)> {
        let (encapped, ctx) = hpke::setup_sender::<Aead, Kdf, Kem>(
            &OpModeS::Base,
            recipient,
            &info(domain, query_id),
        )
        .map_err(|e| GatewayError::Internal(format!("HPKE setup: {e}")))?;
        let encapped = encapped.to_bytes().to_vec();
        Ok((
            Sealer {
                ctx,
                domain,
                query_id: query_id.to_string(),
                next: 0,
                closed: false,
            },
            encapped,
        ))
    }

    /// Seals the next frame; `last` marks the stream's final frame.
    pub fn seal(&mut self, plaintext: &[u8], last: bool) -> Result<SealedFrame> {
        self.seal_owned(plaintext.to_vec(), last)
    }

    /// Seals the next frame in the buffer that holds it, which becomes its ciphertext. It
    /// is not moved if it has [`TAG_BYTES`] of spare capacity.
    pub fn seal_owned(&mut self, mut buffer: Vec<u8>, last: bool) -> Result<SealedFrame> {
        if self.closed {
            return Err(GatewayError::Internal(
                "a frame sealed after the last one".into(),
            ));
        }
        let seq = self.next;
        let tag = self
            .ctx
            .seal_inout_detached(
                buffer.as_mut_slice().into(),
                &aad(self.domain, &self.query_id, seq, last),
            )
            .map_err(|e| GatewayError::Internal(format!("HPKE seal: {e}")))?;
        buffer.extend_from_slice(&tag.to_bytes());
        self.next += 1;
        self.closed = last;
        Ok(SealedFrame {
            seq,
            last,
            ciphertext: buffer,
        })
    }
}

/// Why a sealed stream could not be opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpenError {
    #[error("frame {got} arrived where frame {expected} was due (reordered, dropped or replayed)")]
    OutOfOrder { expected: u64, got: u64 },
    #[error(
        "frame {0} does not open: tampered, replayed from another stream, or sealed for another key"
    )]
    Tampered(u64),
    #[error("a frame arrived after the last one")]
    AfterLast,
    #[error("the stream ended before its last frame (truncated after {0} frames)")]
    Truncated(u64),
    #[error("the encapsulated key is malformed")]
    BadKey,
}

/// The receiving end: opens frames in order.
pub struct Opener {
    ctx: hpke::aead::AeadCtxR<Aead, Kdf, Kem>,
    domain: Domain,
    query_id: String,
    next: u64,
    done: bool,
}

impl std::fmt::Debug for Opener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Opener")
            .field("query_id", &self.query_id)
            .field("next", &self.next)
            .finish_non_exhaustive()
    }
}

impl Opener {
    /// Opens the result stream `encapped` starts, with the recipient's secret key.
    pub fn new(secret: &SecretKey, encapped: &[u8], query_id: &str) -> Result<Self, OpenError> {
        Self::start(Domain::Result, secret, encapped, query_id)
    }

    /// Opens an export file's stream.
    pub fn for_export(
        secret: &SecretKey,
        encapped: &[u8],
        query_id: &str,
    ) -> Result<Self, OpenError> {
        Self::start(Domain::Export, secret, encapped, query_id)
    }

    fn start(
        domain: Domain,
        secret: &SecretKey,
        encapped: &[u8],
        query_id: &str,
    ) -> Result<Self, OpenError> {
        let key =
            <Kem as hpke::Kem>::EncappedKey::from_bytes(encapped).map_err(|_| OpenError::BadKey)?;
        let ctx = hpke::setup_receiver::<Aead, Kdf, Kem>(
            &OpModeR::Base,
            secret,
            &key,
            &info(domain, query_id),
        )
        .map_err(|_| OpenError::BadKey)?;
        Ok(Opener {
            ctx,
            domain,
            query_id: query_id.to_string(),
            next: 0,
            done: false,
        })
    }

    /// Opens the next frame.
    pub fn open(&mut self, frame: &SealedFrame) -> Result<Vec<u8>, OpenError> {
        self.open_parts(frame.seq, frame.last, &frame.ciphertext)
    }

    /// Opens the next frame in the buffer that holds it, which becomes its plaintext.
    pub fn open_owned(&mut self, frame: SealedFrame) -> Result<Vec<u8>, OpenError> {
        let (seq, last, mut buffer) = (frame.seq, frame.last, frame.ciphertext);
        let length = self.check(seq, buffer.len())?;
        let tag = self.tag(seq, &buffer[length..])?;
        buffer.truncate(length);
        let aad = aad(self.domain, &self.query_id, seq, last);
        self.ctx
            .open_inout_detached(buffer.as_mut_slice().into(), &aad, &tag)
            .map_err(|_| OpenError::Tampered(seq))?;
        self.advance(last);
        Ok(buffer)
    }

    /// Opens the next frame, `seq`, marked `last` or not, from a ciphertext it may share
    /// with others (the wire's buffer): the plaintext is written straight into a buffer
    /// of its own, with no copy of the ciphertext first.
    pub fn open_parts(
        &mut self,
        seq: u64,
        last: bool,
        ciphertext: &[u8],
    ) -> Result<Vec<u8>, OpenError> {
        let length = self.check(seq, ciphertext.len())?;
        let tag = self.tag(seq, &ciphertext[length..])?;
        let mut plain = vec![0u8; length];
        let buffer = InOutBuf::new(&ciphertext[..length], &mut plain)
            .map_err(|_| OpenError::Tampered(seq))?;
        let aad = aad(self.domain, &self.query_id, seq, last);
        self.ctx
            .open_inout_detached(buffer, &aad, &tag)
            .map_err(|_| OpenError::Tampered(seq))?;
        self.advance(last);
        Ok(plain)
    }

    /// Checks that frame `seq` may come next and is long enough for its tag; returns the
    /// length of its plaintext.
    fn check(&self, seq: u64, ciphertext: usize) -> Result<usize, OpenError> {
        if self.done {
            return Err(OpenError::AfterLast);
        }
        if seq != self.next {
            return Err(OpenError::OutOfOrder {
                expected: self.next,
                got: seq,
            });
        }
        ciphertext
            .checked_sub(TAG_BYTES)
            .ok_or(OpenError::Tampered(seq))
    }

    fn tag(&self, seq: u64, bytes: &[u8]) -> Result<AeadTag<Aead>, OpenError> {
        AeadTag::<Aead>::from_bytes(bytes).map_err(|_| OpenError::Tampered(seq))
    }

    fn advance(&mut self, last: bool) {
        self.next += 1;
        self.done = last;
    }

    /// Checks that the last frame arrived.
    pub fn finish(self) -> Result<(), OpenError> {
        if self.done {
            Ok(())
        } else {
            Err(OpenError::Truncated(self.next))
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn stream(n: usize) -> (SecretKey, Vec<u8>, Vec<SealedFrame>, [u8; 32]) {
        let (sk, pk) = generate();
        let (mut s, encapped) = Sealer::new(&pk, "q1.1").unwrap();
        let mut frames = Vec::new();
        let mut digest = StreamDigest::new(&encapped);
        for i in 0..n {
            let frame = s.seal(format!("frame {i}").as_bytes(), i + 1 == n).unwrap();
            digest.add(&frame);
            frames.push(frame);
        }
        (sk, encapped, frames, digest.finish())
    }

    #[test]
    fn a_stream_opens_in_order_and_its_digest_is_recomputed_from_what_arrived() {
        let (sk, encapped, frames, digest) = stream(4);
        let mut o = Opener::new(&sk, &encapped, "q1.1").unwrap();
        for (i, f) in frames.iter().enumerate() {
            assert_eq!(o.open(f).unwrap(), format!("frame {i}").into_bytes());
        }
        o.finish().unwrap();
        let recomputed = |frames: &[SealedFrame]| {
            let mut d = StreamDigest::new(&encapped);
            frames.iter().for_each(|f| d.add(f));
            d.finish()
        };
        assert_eq!(recomputed(&frames), digest);
        let mut swapped = frames.clone();
        swapped.swap(1, 2);
        assert_ne!(recomputed(&swapped), digest, "the digest follows the order");
        assert_ne!(recomputed(&frames[..3]), digest);
    }

    #[test]
    fn a_buffer_with_room_for_the_tag_is_sealed_where_it_lies() {
        let (sk, pk) = generate();
        let (mut s, encapped) = Sealer::new(&pk, "q1.1").unwrap();
        let mut buffer = Vec::with_capacity(64 + TAG_BYTES);
        buffer.extend_from_slice(&[7u8; 64]);
        let at = buffer.as_ptr();
        let frame = s.seal_owned(buffer, true).unwrap();
        assert_eq!(frame.ciphertext.as_ptr(), at);
        assert_eq!(frame.ciphertext.len(), 64 + TAG_BYTES);
        let mut o = Opener::new(&sk, &encapped, "q1.1").unwrap();
        assert_eq!(o.open_owned(frame).unwrap(), vec![7u8; 64]);
        o.finish().unwrap();
    }

    #[test]
    fn a_frame_is_what_rfc_9180_seal_writes() {
        let (sk, encapped, frames, _) = stream(2);
        let key = <Kem as hpke::Kem>::EncappedKey::from_bytes(&encapped).unwrap();
        let mut ctx = hpke::setup_receiver::<Aead, Kdf, Kem>(
            &OpModeR::Base,
            &sk,
            &key,
            &info(Domain::Result, "q1.1"),
        )
        .unwrap();
        for (i, f) in frames.iter().enumerate() {
            let aad = aad(Domain::Result, "q1.1", f.seq, f.last);
            assert_eq!(
                ctx.open(&f.ciphertext, &aad).unwrap(),
                format!("frame {i}").into_bytes()
            );
        }
    }

    #[test]
    fn frames_open_alike_in_place_and_from_a_shared_buffer() {
        let (sk, encapped, frames, _) = stream(3);
        let mut in_place = Opener::new(&sk, &encapped, "q1.1").unwrap();
        let mut shared = Opener::new(&sk, &encapped, "q1.1").unwrap();
        for (i, f) in frames.iter().enumerate() {
            let a = in_place.open_owned(f.clone()).unwrap();
            let b = shared.open_parts(f.seq, f.last, &f.ciphertext).unwrap();
            assert_eq!(a, b);
            assert_eq!(a, format!("frame {i}").into_bytes());
        }
        in_place.finish().unwrap();
        shared.finish().unwrap();
        // In place, a tampered frame is refused too.
        let mut o = Opener::new(&sk, &encapped, "q1.1").unwrap();
        let mut flipped = frames[0].clone();
        flipped.ciphertext[1] ^= 1;
        assert_eq!(o.open_owned(flipped), Err(OpenError::Tampered(0)));
    }

    #[test]
    fn a_frame_shorter_than_its_tag_is_refused_and_the_stream_stays_where_it_was() {
        let (sk, encapped, frames, _) = stream(2);
        let mut o = Opener::new(&sk, &encapped, "q1.1").unwrap();
        let mut short = frames[0].clone();
        short.ciphertext.truncate(TAG_BYTES - 1);
        assert_eq!(o.open(&short), Err(OpenError::Tampered(0)));
        let mut flipped = frames[0].clone();
        flipped.ciphertext[0] ^= 1;
        assert_eq!(o.open(&flipped), Err(OpenError::Tampered(0)));
        for f in &frames {
            o.open(f).unwrap();
        }
        o.finish().unwrap();
    }

    #[test]
    fn reordered_dropped_truncated_replayed_or_tampered_frames_are_refused() {
        let (sk, encapped, frames, _) = stream(4);
        let open = || Opener::new(&sk, &encapped, "q1.1").unwrap();

        let mut o = open();
        o.open(&frames[0]).unwrap();
        assert_eq!(
            o.open(&frames[2]),
            Err(OpenError::OutOfOrder {
                expected: 1,
                got: 2
            })
        );

        // A frame whose sequence number is rewritten still carries the other nonce.
        let mut o = open();
        o.open(&frames[0]).unwrap();
        let mut moved = frames[2].clone();
        moved.seq = 1;
        assert_eq!(o.open(&moved), Err(OpenError::Tampered(1)));

        let mut o = open();
        o.open(&frames[0]).unwrap();
        o.open(&frames[1]).unwrap();
        assert_eq!(o.finish(), Err(OpenError::Truncated(2)));

        // Marking an early frame last does not end the stream early.
        let mut o = open();
        let mut early_end = frames[0].clone();
        early_end.last = true;
        assert_eq!(o.open(&early_end), Err(OpenError::Tampered(0)));

        let mut o = open();
        let mut flipped = frames[1].clone();
        o.open(&frames[0]).unwrap();
        flipped.ciphertext[0] ^= 1;
        assert_eq!(o.open(&flipped), Err(OpenError::Tampered(1)));

        let mut o = open();
        for f in &frames {
            o.open(f).unwrap();
        }
        assert_eq!(o.open(&frames[3]), Err(OpenError::AfterLast));

        // The frames of one stream do not open in another, or under another query id.
        let (_, other_encapped, _, _) = stream(1);
        assert!(matches!(
            Opener::new(&sk, &other_encapped, "q1.1")
                .unwrap()
                .open(&frames[0]),
            Err(OpenError::Tampered(0))
        ));
        assert!(matches!(
            Opener::new(&sk, &encapped, "q1.2")
                .unwrap()
                .open(&frames[0]),
            Err(OpenError::Tampered(0))
        ));
    }

    #[test]
    fn a_result_stream_does_not_open_as_an_export_or_back() {
        let (sk, encapped, frames, _) = stream(1);
        assert_eq!(
            Opener::for_export(&sk, &encapped, "q1.1")
                .unwrap()
                .open(&frames[0]),
            Err(OpenError::Tampered(0))
        );
        let pk = public_of(&sk);
        let (mut s, encapped) = Sealer::for_export(&pk, "q1.1").unwrap();
        let frame = s.seal(b"export", true).unwrap();
        assert_eq!(
            Opener::new(&sk, &encapped, "q1.1").unwrap().open(&frame),
            Err(OpenError::Tampered(0))
        );
        let mut o = Opener::for_export(&sk, &encapped, "q1.1").unwrap();
        assert_eq!(o.open(&frame).unwrap(), b"export".to_vec());
    }

    #[test]
    fn another_key_cannot_open() {
        let (_, encapped, frames, _) = stream(1);
        let (wrong, _) = generate();
        assert_eq!(
            Opener::new(&wrong, &encapped, "q1.1")
                .unwrap()
                .open(&frames[0]),
            Err(OpenError::Tampered(0))
        );
    }
}
