//! Checkpoints in the C2SP tlog-checkpoint text form, wrapped in C2SP signed notes.
//!
//! Owns [`Checkpoint`] (origin, size, root), the ed25519 note keys ([`NoteSigner`],
//! [`NoteVerifier`], key id = first 4 bytes of SHA-256(name || "\n" || 0x01 || pubkey)), and
//! [`SignedCheckpoint`]: signed by the leader, cosigned by the others, valid at k of n.

use std::collections::BTreeSet;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use ed25519_consensus::SigningKey;
use sha2::{Digest as _, Sha256};

use crate::error::{Error, Result};
use crate::merkle::Hash;
use crate::zip215::PublicKey;

/// The signature-type byte of ed25519 note keys.
pub const ED25519_ALG: u8 = 0x01;

/// A note may carry at most this many signatures (as in Go's `sumdb/note`).
pub const MAX_SIGNATURES: usize = 100;

/// A note larger than this is refused before parsing.
pub const MAX_NOTE_BYTES: usize = 1 << 20;

const SIG_PREFIX: &str = "\u{2014} ";

/// The state of a log: its origin, size and root hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The log's unique name, e.g. `sluice.example/chain`.
    pub origin: String,
    /// The number of entries.
    pub size: u64,
    /// The RFC 6962 root of those entries.
    pub root: Hash,
    /// Optional extra lines after the root (kept and signed as they are; never empty).
    pub extensions: Vec<String>,
}

fn is_valid_line(line: &str) -> bool {
    !line.is_empty() && !line.chars().any(char::is_control)
}

impl Checkpoint {
    /// A checkpoint with no extension lines.
    pub fn new(origin: &str, size: u64, root: Hash) -> Self {
        Self {
            origin: origin.to_owned(),
            size,
            root,
            extensions: Vec::new(),
        }
    }

    /// The note text: `origin\nsize\nbase64(root)\n` plus any extension lines.
    pub fn body(&self) -> Result<String> {
        if !is_valid_line(&self.origin) {
            return Err(Error::InvalidArgument(
                "checkpoint origin must be a non-empty line without control characters".into(),
            ));
        }
        if let Some(bad) = self.extensions.iter().find(|l| !is_valid_line(l)) {
            return Err(Error::InvalidArgument(format!(
                "checkpoint extension line {bad:?} is empty or has control characters"
            )));
        }
        let mut s = format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            B64.encode(self.root)
        );
        for line in &self.extensions {
            s.push_str(line);
            s.push('\n');
        }
        Ok(s)
    }

    /// Parses a checkpoint body (the note text).
    pub fn parse_body(text: &str) -> Result<Self> {
        let bad = |why: String| Error::malformed("checkpoint", why);
        let Some(body) = text.strip_suffix('\n') else {
            return Err(bad("body does not end with a newline".into()));
        };
        let mut lines = body.split('\n');
        let origin = lines.next().unwrap_or_default();
        if !is_valid_line(origin) {
            return Err(bad("origin line is empty or has control characters".into()));
        }
        let size_line = lines
            .next()
            .ok_or_else(|| bad("tree size line is missing".into()))?;
        let canonical = size_line == "0"
            || (!size_line.starts_with('0')
                && !size_line.is_empty()
                && size_line.bytes().all(|b| b.is_ascii_digit()));
        if !canonical {
            return Err(bad(format!(
                "tree size {size_line:?} is not a canonical decimal"
            )));
        }
        let size = size_line
            .parse::<u64>()
            .map_err(|_| bad(format!("tree size {size_line:?} does not fit in u64")))?;
        let root_line = lines
            .next()
            .ok_or_else(|| bad("root hash line is missing".into()))?;
        let root_bytes = B64
            .decode(root_line)
            .map_err(|e| bad(format!("root hash is not base64: {e}")))?;
        let root = Hash::try_from(root_bytes.as_slice())
            .map_err(|_| bad(format!("root hash has {} bytes, not 32", root_bytes.len())))?;
        let mut extensions = Vec::new();
        for line in lines {
            if !is_valid_line(line) {
                return Err(bad(
                    "extension line is empty or has control characters".into()
                ));
            }
            extensions.push(line.to_owned());
        }
        Ok(Self {
            origin: origin.to_owned(),
            size,
            root,
            extensions,
        })
    }
}

/// Whether `name` is a valid note key name: non-empty, no whitespace, no `+`.
pub fn is_valid_key_name(name: &str) -> bool {
    !name.is_empty() && !name.contains('+') && !name.chars().any(char::is_whitespace)
}

/// The C2SP key id: the first 4 bytes of SHA-256(name || "\n" || 0x01 || pubkey).
pub fn key_id(name: &str, key: &PublicKey) -> [u8; 4] {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update(b"\n");
    h.update([ED25519_ALG]);
    h.update(key.as_bytes());
    let d: [u8; 32] = h.finalize().into();
    let [a, b, c, e, ..] = d;
    [a, b, c, e]
}

/// A named ed25519 key that signs notes.
pub struct NoteSigner {
    name: String,
    key: SigningKey,
}

impl std::fmt::Debug for NoteSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NoteSigner")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl NoteSigner {
    /// A signer from a key name and a 32-byte ed25519 seed.
    pub fn from_seed(name: &str, seed: [u8; 32]) -> Result<Self> {
        if !is_valid_key_name(name) {
            return Err(Error::InvalidArgument(format!(
                "note key name {name:?} is empty or has whitespace or '+'"
            )));
        }
        Ok(Self {
            name: name.to_owned(),
            key: SigningKey::from(seed),
        })
    }

    /// The key's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The matching verifier.
    pub fn verifier(&self) -> NoteVerifier {
        NoteVerifier::from_parts(self.name.clone(), PublicKey::of_signing_key(&self.key))
    }

    fn sign(&self, text: &str) -> NoteSignature {
        let vk = PublicKey::of_signing_key(&self.key);
        NoteSignature {
            name: self.name.clone(),
            key_id: key_id(&self.name, &vk),
            signature: self.key.sign(text.as_bytes()).to_bytes().to_vec(),
        }
    }
}

/// A named ed25519 public key that checks note signatures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteVerifier {
    name: String,
    key_id: [u8; 4],
    key: PublicKey,
}

impl NoteVerifier {
    fn from_parts(name: String, key: PublicKey) -> Self {
        let key_id = key_id(&name, &key);
        Self { name, key_id, key }
    }

    /// A verifier from a name and a public key.
    pub fn new(name: &str, key: PublicKey) -> Result<Self> {
        if !is_valid_key_name(name) {
            return Err(Error::InvalidArgument(format!(
                "note key name {name:?} is empty or has whitespace or '+'"
            )));
        }
        Ok(Self::from_parts(name.to_owned(), key))
    }

    /// The key's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The 4-byte key id.
    pub fn key_id(&self) -> [u8; 4] {
        self.key_id
    }

    /// The verifier key string `name+hex(key id)+base64(0x01 || pubkey)`.
    pub fn to_vkey(&self) -> String {
        let mut material = vec![ED25519_ALG];
        material.extend_from_slice(self.key.as_bytes());
        let id = hex::encode(self.key_id);
        format!("{}+{}+{}", self.name, id, B64.encode(material))
    }

    /// Parses a verifier key string; the key id must match the name and key.
    pub fn from_vkey(vkey: &str) -> Result<Self> {
        let bad = |why: &str| Error::malformed("verifier key", why);
        let mut parts = vkey.splitn(3, '+');
        let (Some(name), Some(id_hex), Some(material)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(bad("expected name+keyid+key"));
        };
        if !is_valid_key_name(name) {
            return Err(bad("bad key name"));
        }
        if id_hex.len() != 8 || !id_hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad("key id is not 8 hex digits"));
        }
        let id = u32::from_str_radix(id_hex, 16)
            .map_err(|_| bad("key id is not hex"))?
            .to_be_bytes();
        let raw = B64.decode(material).map_err(|_| bad("key is not base64"))?;
        let Some((&alg, key)) = raw.split_first() else {
            return Err(bad("key is empty"));
        };
        if alg != ED25519_ALG {
            return Err(bad("key is not an ed25519 note key"));
        }
        let key: [u8; 32] = key.try_into().map_err(|_| bad("key is not 32 bytes"))?;
        let key = PublicKey::from_bytes(name, &key)?;
        let v = Self::from_parts(name.to_owned(), key);
        if v.key_id != id {
            return Err(bad("key id does not match the name and key"));
        }
        Ok(v)
    }

    fn verify(&self, text: &str, signature: &[u8]) -> bool {
        let Ok(sig) = <[u8; 64]>::try_from(signature) else {
            return false;
        };
        // ZIP-215, the same rule as entry signatures.
        self.key.verifies(text.as_bytes(), &sig)
    }
}

/// One signature line: `— name base64(key id || signature)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteSignature {
    /// The key name.
    pub name: String,
    /// The 4-byte key id.
    pub key_id: [u8; 4],
    /// The raw signature (64 bytes for ed25519).
    pub signature: Vec<u8>,
}

impl NoteSignature {
    fn line(&self) -> String {
        let mut blob = self.key_id.to_vec();
        blob.extend_from_slice(&self.signature);
        format!("{SIG_PREFIX}{} {}\n", self.name, B64.encode(blob))
    }
}

/// Proof that a checkpoint carries at least k valid signatures from trusted keys. Only
/// [`SignedCheckpoint::verify`] makes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckpointVerified {
    checkpoint: Checkpoint,
    signers: Vec<String>,
}

impl CheckpointVerified {
    /// The verified checkpoint.
    pub fn checkpoint(&self) -> &Checkpoint {
        &self.checkpoint
    }

    /// Names of the trusted keys whose signatures verified.
    pub fn signers(&self) -> &[String] {
        &self.signers
    }
}

/// A checkpoint with its signatures, as a C2SP signed note.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedCheckpoint {
    checkpoint: Checkpoint,
    text: String,
    signatures: Vec<NoteSignature>,
}

impl SignedCheckpoint {
    /// The leader signs a new checkpoint.
    pub fn sign(checkpoint: Checkpoint, leader: &NoteSigner) -> Result<Self> {
        let text = checkpoint.body()?;
        let signatures = vec![leader.sign(&text)];
        Ok(Self {
            checkpoint,
            text,
            signatures,
        })
    }

    /// Another agency adds its cosignature. Signing twice with one key keeps one signature.
    pub fn cosign(&mut self, signer: &NoteSigner) {
        let sig = signer.sign(&self.text);
        if !self
            .signatures
            .iter()
            .any(|s| s.name == sig.name && s.key_id == sig.key_id)
        {
            self.signatures.push(sig);
        }
    }

    /// Adds the signatures of `other`, a copy of the same checkpoint signed elsewhere. The
    /// signatures are not checked here: [`Self::verify`] checks them all.
    pub fn merge(&mut self, other: &SignedCheckpoint) -> Result<()> {
        if other.text != self.text {
            return Err(Error::InvalidArgument(
                "cannot merge signatures of a different checkpoint".into(),
            ));
        }
        for sig in &other.signatures {
            if !self
                .signatures
                .iter()
                .any(|s| s.name == sig.name && s.key_id == sig.key_id)
            {
                self.signatures.push(sig.clone());
            }
        }
        Ok(())
    }

    /// The checkpoint (not yet verified, unless this came from [`Self::verify`]).
    pub fn checkpoint(&self) -> &Checkpoint {
        &self.checkpoint
    }

    /// The signature lines.
    pub fn signatures(&self) -> &[NoteSignature] {
        &self.signatures
    }

    /// The signed note: body, a blank line, then one line per signature.
    pub fn to_note(&self) -> String {
        let mut s = self.text.clone();
        s.push('\n');
        for sig in &self.signatures {
            s.push_str(&sig.line());
        }
        s
    }

    /// Parses a signed note. It checks the form only: call [`Self::verify`].
    pub fn parse(note: &str) -> Result<Self> {
        let bad = |why: String| Error::malformed("signed note", why);
        if note.len() > MAX_NOTE_BYTES {
            return Err(bad(format!("note is larger than {MAX_NOTE_BYTES} bytes")));
        }
        if note.chars().any(|c| c.is_control() && c != '\n') {
            return Err(bad("note contains control characters".into()));
        }
        let Some(split) = note.rfind("\n\n") else {
            return Err(bad("no blank line before the signatures".into()));
        };
        let Some((text, sigs)) = note.split_at_checked(split + 1) else {
            return Err(Error::Internal("split of a note is not at a char boundary"));
        };
        let Some(sigs) = sigs.strip_prefix('\n') else {
            return Err(Error::Internal("split at \\n\\n lost its second newline"));
        };
        let Some(sigs) = sigs.strip_suffix('\n') else {
            return Err(bad(
                "signature block is empty or lacks a final newline".into()
            ));
        };
        let mut signatures = Vec::new();
        for line in sigs.split('\n') {
            let Some(rest) = line.strip_prefix(SIG_PREFIX) else {
                return Err(bad(format!(
                    "signature line {line:?} does not start with \"— \""
                )));
            };
            let Some((name, b64)) = rest.split_once(' ') else {
                return Err(bad(format!("signature line {line:?} has no signature")));
            };
            if !is_valid_key_name(name) {
                return Err(bad(format!("bad key name {name:?}")));
            }
            let blob = B64
                .decode(b64)
                .map_err(|e| bad(format!("signature of {name:?} is not base64: {e}")))?;
            let Some((id, signature)) = blob.split_first_chunk::<4>() else {
                return Err(bad(format!("signature of {name:?} is too short")));
            };
            if signature.is_empty() {
                return Err(bad(format!("signature of {name:?} is too short")));
            }
            signatures.push(NoteSignature {
                name: name.to_owned(),
                key_id: *id,
                signature: signature.to_vec(),
            });
            if signatures.len() > MAX_SIGNATURES {
                return Err(bad(format!("more than {MAX_SIGNATURES} signatures")));
            }
        }
        let checkpoint = Checkpoint::parse_body(text)?;
        Ok(Self {
            checkpoint,
            text: text.to_owned(),
            signatures,
        })
    }

    /// Counts valid signatures from distinct `trusted` keys and requires at least `k`.
    ///
    /// Signatures by keys not in `trusted` are ignored. A signature that names a trusted key
    /// but does not verify is a forgery: the whole checkpoint fails with
    /// [`Error::BadSignature`].
    pub fn verify(&self, trusted: &[NoteVerifier], k: usize) -> Result<CheckpointVerified> {
        if k == 0 {
            return Err(Error::InvalidArgument(
                "a checkpoint quorum of 0 would accept anything".into(),
            ));
        }
        let mut counted: BTreeSet<(&str, [u8; 4])> = BTreeSet::new();
        let mut signers = Vec::new();
        for sig in &self.signatures {
            let Some(v) = trusted
                .iter()
                .find(|v| v.name == sig.name && v.key_id == sig.key_id)
            else {
                continue;
            };
            if !v.verify(&self.text, &sig.signature) {
                return Err(Error::BadSignature {
                    signer: sig.name.clone(),
                });
            }
            if counted.insert((v.name.as_str(), v.key_id)) {
                signers.push(v.name.clone());
            }
        }
        if signers.len() < k {
            return Err(Error::QuorumNotMet {
                valid: signers.len(),
                required: k,
            });
        }
        Ok(CheckpointVerified {
            checkpoint: self.checkpoint.clone(),
            signers,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::error::MalformedKind;

    const ORIGIN: &str = "sluice.example/chain";

    fn signers() -> Vec<NoteSigner> {
        ["bj_hf", "sh_hf", "gz_hf"]
            .iter()
            .zip(1u8..)
            .map(|(n, s)| NoteSigner::from_seed(n, [s; 32]).unwrap())
            .collect()
    }

    fn cosigned(k: usize) -> (SignedCheckpoint, Vec<NoteVerifier>) {
        let s = signers();
        let cp = Checkpoint::new(ORIGIN, 42, [5; 32]);
        let mut sc = SignedCheckpoint::sign(cp, &s[0]).unwrap();
        for other in s.iter().skip(1).take(k.saturating_sub(1)) {
            sc.cosign(other);
        }
        (sc, s.iter().map(NoteSigner::verifier).collect())
    }

    /// golang.org/x/mod/sumdb/note's published example: an independent implementation of
    /// key ids, verifier keys and the note format.
    #[test]
    fn matches_go_sumdb_note_known_answer() {
        let skey = "AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
        let raw = B64.decode(skey).unwrap();
        assert_eq!(raw[0], ED25519_ALG);
        let seed: [u8; 32] = raw[1..].try_into().unwrap();
        let signer = NoteSigner::from_seed("PeterNeumann", seed).unwrap();
        let vkey = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
        assert_eq!(signer.verifier().to_vkey(), vkey);
        assert_eq!(NoteVerifier::from_vkey(vkey).unwrap(), signer.verifier());
        let text = "If you think cryptography is the answer to your problem,\n\
                    then you don't know what your problem is.\n";
        let sig = signer.sign(text);
        assert_eq!(
            sig.line(),
            "\u{2014} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
        );
    }

    #[test]
    fn note_text_is_the_c2sp_form_and_round_trips() {
        let (sc, verifiers) = cosigned(3);
        let note = sc.to_note();
        let root_b64 = B64.encode([5u8; 32]);
        assert!(note.starts_with(&format!("{ORIGIN}\n42\n{root_b64}\n\n\u{2014} bj_hf ")));
        assert_eq!(
            note.lines().filter(|l| l.starts_with('\u{2014}')).count(),
            3
        );
        let back = SignedCheckpoint::parse(&note).unwrap();
        assert_eq!(back, sc);
        let ok = back.verify(&verifiers, 3).unwrap();
        assert_eq!(ok.checkpoint().size, 42);
        assert_eq!(ok.signers(), ["bj_hf", "sh_hf", "gz_hf"]);
    }

    #[test]
    fn quorum_counts_distinct_trusted_keys() {
        let (sc, verifiers) = cosigned(2);
        sc.verify(&verifiers, 2).unwrap();
        assert!(matches!(
            sc.verify(&verifiers, 3).unwrap_err(),
            Error::QuorumNotMet {
                valid: 2,
                required: 3
            }
        ));
        // A key that signs twice still counts once, even if the line is duplicated by hand.
        let mut note = sc.to_note();
        let first_sig = note.lines().find(|l| l.starts_with('\u{2014}')).unwrap();
        note.push_str(&format!("{first_sig}\n"));
        let dup = SignedCheckpoint::parse(&note).unwrap();
        assert_eq!(dup.signatures().len(), 3);
        assert!(matches!(
            dup.verify(&verifiers, 3).unwrap_err(),
            Error::QuorumNotMet { valid: 2, .. }
        ));
        // Signatures from untrusted keys do not count.
        let stranger = NoteSigner::from_seed("stranger", [9; 32]).unwrap();
        let mut sc2 = sc.clone();
        sc2.cosign(&stranger);
        assert!(matches!(
            sc2.verify(&verifiers, 3).unwrap_err(),
            Error::QuorumNotMet { valid: 2, .. }
        ));
        assert!(matches!(
            sc.verify(&verifiers, 0).unwrap_err(),
            Error::InvalidArgument(_)
        ));
    }

    #[test]
    fn forged_root_fails() {
        let (sc, verifiers) = cosigned(3);
        let note = sc.to_note();
        let forged = note.replace(&B64.encode([5u8; 32]), &B64.encode([6u8; 32]));
        assert_ne!(forged, note);
        let parsed = SignedCheckpoint::parse(&forged).unwrap();
        assert!(matches!(
            parsed.verify(&verifiers, 1).unwrap_err(),
            Error::BadSignature { signer } if signer == "bj_hf"
        ));
        let bigger = note.replacen("\n42\n", "\n43\n", 1);
        assert!(matches!(
            SignedCheckpoint::parse(&bigger)
                .unwrap()
                .verify(&verifiers, 1)
                .unwrap_err(),
            Error::BadSignature { .. }
        ));
    }

    #[test]
    fn bad_signature_from_trusted_key_fails() {
        let (sc, verifiers) = cosigned(3);
        let mut bad = sc.clone();
        bad.signatures[1].signature[0] ^= 1;
        assert!(matches!(
            bad.verify(&verifiers, 2).unwrap_err(),
            Error::BadSignature { signer } if signer == "sh_hf"
        ));
        // A signature from an impostor key that reuses a trusted name has a different key
        // id, so it is ignored rather than counted.
        let impostor = NoteSigner::from_seed("sh_hf", [77; 32]).unwrap();
        let cp = sc.checkpoint().clone();
        let only_impostor = SignedCheckpoint::sign(cp, &impostor).unwrap();
        assert!(matches!(
            only_impostor.verify(&verifiers, 1).unwrap_err(),
            Error::QuorumNotMet { valid: 0, .. }
        ));
    }

    #[test]
    fn malformed_notes_are_rejected() {
        let (sc, _) = cosigned(1);
        let note = sc.to_note();
        let body_end = note.find("\n\n").unwrap() + 1;
        let body = &note[..body_end];
        let sigs = &note[body_end + 1..];
        let cases: Vec<String> = vec![
            body.to_string(),                                               // no signatures
            note.trim_end_matches('\n').to_string(),                        // no final newline
            note.replace('\u{2014}', "-"),                                  // wrong prefix
            note.replace("bj_hf ", "bj_hf"), // no space before signature
            note.replace("bj_hf ", "bj+hf "), // bad key name
            format!("{body}\n\u{2014} bj_hf !!!!\n"), // signature not base64
            format!("{body}\n\u{2014} bj_hf AAAA\n"), // signature too short
            format!("{body}\n\n{sigs}"),     // extra blank line
            format!("{ORIGIN}\r\n42\n{}\n\n{sigs}", B64.encode([5u8; 32])), // control char
        ];
        for (i, bad) in cases.iter().enumerate() {
            let err = SignedCheckpoint::parse(bad).unwrap_err();
            assert!(
                matches!(err, Error::Malformed { .. }),
                "case {i} gave {err}"
            );
        }
    }

    #[test]
    fn malformed_checkpoint_bodies_are_rejected() {
        let root = B64.encode([5u8; 32]);
        let short_root = B64.encode([5u8; 31]);
        for body in [
            format!("{ORIGIN}\n42\n{root}"),    // no final newline
            format!("\n42\n{root}\n"),          // empty origin
            format!("{ORIGIN}\n042\n{root}\n"), // leading zero
            format!("{ORIGIN}\n-1\n{root}\n"),  // negative
            format!("{ORIGIN}\n+1\n{root}\n"),  // sign
            format!("{ORIGIN}\n99999999999999999999\n{root}\n"), // overflow
            format!("{ORIGIN}\n42\n"),          // no root
            format!("{ORIGIN}\n42\n{short_root}\n"), // short root
            format!("{ORIGIN}\n42\nnot base64\n"), // bad base64
            format!("{ORIGIN}\n42\n{root}\n\n"), // empty extension line
        ] {
            assert!(
                matches!(
                    Checkpoint::parse_body(&body).unwrap_err(),
                    Error::Malformed {
                        what: "checkpoint",
                        kind: MalformedKind::Invalid(_)
                    }
                ),
                "accepted {body:?}"
            );
        }
        let with_ext = Checkpoint::parse_body(&format!("{ORIGIN}\n0\n{root}\nx y\n")).unwrap();
        assert_eq!(with_ext.size, 0);
        assert_eq!(with_ext.extensions, vec!["x y".to_string()]);
        assert_eq!(
            with_ext.body().unwrap(),
            format!("{ORIGIN}\n0\n{root}\nx y\n")
        );
    }

    #[test]
    fn bad_verifier_keys_are_rejected() {
        let good = signers()[0].verifier().to_vkey();
        let mut wrong_id = good.clone();
        let id_at = good.find('+').unwrap() + 1;
        let flipped = if &good[id_at..id_at + 1] == "0" {
            "1"
        } else {
            "0"
        };
        wrong_id.replace_range(id_at..id_at + 1, flipped);
        for bad in [
            "".to_string(),
            "name".to_string(),
            "name+abcd+AAAA".to_string(),
            wrong_id,
            good.replacen("bj_hf", "bj hf", 1),
        ] {
            assert!(
                matches!(
                    NoteVerifier::from_vkey(&bad).unwrap_err(),
                    Error::Malformed { .. }
                ),
                "accepted {bad:?}"
            );
        }
    }

    #[test]
    fn invalid_names_and_origins_are_caller_faults() {
        assert!(matches!(
            NoteSigner::from_seed("a b", [0; 32]).unwrap_err(),
            Error::InvalidArgument(_)
        ));
        let s = &signers()[0];
        assert!(matches!(
            SignedCheckpoint::sign(Checkpoint::new("", 1, [0; 32]), s).unwrap_err(),
            Error::InvalidArgument(_)
        ));
        assert!(matches!(
            SignedCheckpoint::sign(Checkpoint::new("a\nb", 1, [0; 32]), s).unwrap_err(),
            Error::InvalidArgument(_)
        ));
    }
}
