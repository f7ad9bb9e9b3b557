//! Entry signatures: ed25519 (RFC 8032 signing, ZIP-215 verification, see [`crate::zip215`])
//! over a domain-separated SHA-256 of the canonical entry bytes.
//!
//! Owns [`AgencySigner`], [`SignedEntry`] (and its wire encoding), the [`TrustBundle`] of
//! agency public keys, and the [`SignatureVerified`] proof token that only the
//! [`TrustBundle`] can make, one entry at a time or a whole Raft batch at once.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use ed25519_consensus::SigningKey;
use sha2::{Digest as _, Sha256};

use crate::codec::{Reader, Writer};
use crate::entry::{Digest, Entry, is_agency_id};
use crate::error::{Error, Result};
use crate::zip215::{self, PublicKey};

/// The domain separator hashed in front of every entry before signing.
pub const ENTRY_DOMAIN: &[u8] = b"sluice/entry/v1\0";

/// SHA-256(`ENTRY_DOMAIN` || canonical entry bytes): what the author signs.
pub fn entry_signing_digest(entry_bytes: &[u8]) -> Digest {
    let mut h = Sha256::new();
    h.update(ENTRY_DOMAIN);
    h.update(entry_bytes);
    h.finalize().into()
}

/// An agency's ed25519 signing key.
pub struct AgencySigner {
    agency: String,
    key: SigningKey,
    public: PublicKey,
}

impl std::fmt::Debug for AgencySigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the secret key.
        f.debug_struct("AgencySigner")
            .field("agency", &self.agency)
            .field("public_key", &self.public)
            .finish()
    }
}

impl AgencySigner {
    /// A signer from a 32-byte ed25519 seed.
    pub fn from_seed(agency: &str, seed: [u8; 32]) -> Result<Self> {
        if !is_agency_id(agency) {
            return Err(Error::InvalidArgument(format!(
                "`{agency}` is not an agency id"
            )));
        }
        let key = SigningKey::from(seed);
        Ok(Self {
            agency: agency.to_owned(),
            public: PublicKey::of_signing_key(&key),
            key,
        })
    }

    /// A signer with a fresh random key from the operating system.
    pub fn generate(agency: &str) -> Result<Self> {
        let mut seed = [0u8; 32];
        getrandom::getrandom(&mut seed)
            .map_err(|_| Error::Internal("the operating system refused random bytes"))?;
        Self::from_seed(agency, seed)
    }

    /// The agency id this key signs for.
    pub fn agency(&self) -> &str {
        &self.agency
    }

    /// The 32-byte seed, for saving the key.
    pub fn seed(&self) -> [u8; 32] {
        self.key.to_bytes()
    }

    /// The public half.
    pub fn verifying_key(&self) -> PublicKey {
        self.public
    }

    /// Signs `entry`. The entry's author must be this signer's agency: a gateway cannot sign
    /// in another agency's name.
    pub fn sign(&self, entry: Entry) -> Result<SignedEntry> {
        if entry.author != self.agency {
            return Err(Error::InvalidArgument(format!(
                "signer for `{}` cannot sign an entry authored by `{}`",
                self.agency, entry.author
            )));
        }
        let entry_bytes = entry.to_bytes()?;
        // RFC 8032 signing: deterministic, and valid under every verification rule.
        let signature = self
            .key
            .sign(&entry_signing_digest(&entry_bytes))
            .to_bytes();
        Ok(SignedEntry {
            entry,
            entry_bytes,
            signature,
        })
    }
}

/// An entry with its author's signature. The canonical bytes are kept so they are hashed
/// exactly as they were signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedEntry {
    entry: Entry,
    entry_bytes: Vec<u8>,
    signature: [u8; 64],
}

impl SignedEntry {
    /// The entry.
    pub fn entry(&self) -> &Entry {
        &self.entry
    }

    /// The canonical bytes that were signed.
    pub fn entry_bytes(&self) -> &[u8] {
        &self.entry_bytes
    }

    /// The raw ed25519 signature.
    pub fn signature(&self) -> &[u8; 64] {
        &self.signature
    }

    /// Wire form: `u32 len || entry bytes || 64-byte signature`. This is also the Merkle leaf.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let mut w = Writer::new();
        w.bytes(&self.entry_bytes)?;
        w.fixed(&self.signature);
        Ok(w.into_bytes())
    }

    /// Parses the wire form. It checks the structure only: call [`TrustBundle::verify`] for
    /// the signature.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let mut r = Reader::new(bytes, "signed entry");
        let entry_bytes = r.bytes()?.to_vec();
        let signature = r.array::<64>()?;
        r.finish()?;
        let entry = Entry::from_bytes(&entry_bytes)?;
        Ok(Self {
            entry,
            entry_bytes,
            signature,
        })
    }

    /// Test hook: replace the signature, to build forged entries in tests.
    #[cfg(test)]
    pub(crate) fn with_signature(mut self, signature: [u8; 64]) -> Self {
        self.signature = signature;
        self
    }
}

/// Proof that a signature was checked. Only [`TrustBundle::verify`] and
/// [`TrustBundle::sign_trusted`] can construct it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignatureVerified(());

/// A signed entry whose signature has been checked against the trust bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedEntry {
    signed: SignedEntry,
    proof: SignatureVerified,
}

impl VerifiedEntry {
    /// The signed entry.
    pub fn signed(&self) -> &SignedEntry {
        &self.signed
    }

    /// The proof token.
    pub fn proof(&self) -> SignatureVerified {
        self.proof
    }

    /// Gives back the signed entry.
    pub fn into_signed(self) -> SignedEntry {
        self.signed
    }
}

/// The agencies' public keys: agency id -> ed25519 key.
#[derive(Debug, Clone, Default)]
pub struct TrustBundle {
    keys: BTreeMap<String, PublicKey>,
}

impl TrustBundle {
    /// An empty bundle.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds or replaces an agency's key (already checked by [`PublicKey::from_bytes`]).
    pub fn insert(&mut self, agency: &str, key: PublicKey) -> Result<()> {
        if !is_agency_id(agency) {
            return Err(Error::InvalidArgument(format!(
                "`{agency}` is not an agency id"
            )));
        }
        self.keys.insert(agency.to_owned(), key);
        Ok(())
    }

    /// Adds an agency's key from its 32 raw bytes. A key that is not a canonical point of
    /// large order is refused with [`Error::WeakKey`]: under it, anyone could forge.
    pub fn insert_bytes(&mut self, agency: &str, key: &[u8; 32]) -> Result<()> {
        let key = PublicKey::from_bytes(agency, key)?;
        self.insert(agency, key)
    }

    /// The key for an agency.
    pub fn get(&self, agency: &str) -> Option<&PublicKey> {
        self.keys.get(agency)
    }

    /// Every agency and its key, in agency order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &PublicKey)> {
        self.keys.iter().map(|(a, k)| (a.as_str(), k))
    }

    /// Reads a trust directory: one `<agency>.pub` file per agency holding the base64
    /// of its 32-byte ed25519 public key. Other files are ignored.
    pub fn from_dir(dir: &std::path::Path) -> Result<Self> {
        let io = |what: String| move |source| Error::Io { what, source };
        let mut bundle = TrustBundle::new();
        let listing = std::fs::read_dir(dir).map_err(io(format!("reading {}", dir.display())))?;
        for item in listing {
            let path = item
                .map_err(io(format!("reading {}", dir.display())))?
                .path();
            let (Some(agency), Some("pub")) = (
                path.file_stem().and_then(|s| s.to_str()),
                path.extension().and_then(|s| s.to_str()),
            ) else {
                continue;
            };
            let text = std::fs::read_to_string(&path)
                .map_err(io(format!("reading {}", path.display())))?;
            let bad =
                |why: &str| Error::malformed("public key", format!("{}: {why}", path.display()));
            let bytes = B64.decode(text.trim()).map_err(|_| bad("not base64"))?;
            let key: [u8; 32] = bytes.try_into().map_err(|_| bad("not 32 bytes"))?;
            bundle
                .insert_bytes(agency, &key)
                .map_err(|e| bad(&e.to_string()))?;
        }
        if bundle.is_empty() {
            return Err(Error::InvalidArgument(format!(
                "{} holds no `<agency>.pub` files",
                dir.display()
            )));
        }
        Ok(bundle)
    }

    /// Writes the bundle as a trust directory (see [`Self::from_dir`]).
    pub fn to_dir(&self, dir: &std::path::Path) -> Result<()> {
        let io = |what: String| move |source| Error::Io { what, source };
        std::fs::create_dir_all(dir).map_err(io(format!("creating {}", dir.display())))?;
        for (agency, key) in &self.keys {
            let path = dir.join(format!("{agency}.pub"));
            std::fs::write(&path, format!("{}\n", B64.encode(key.as_bytes())))
                .map_err(io(format!("writing {}", path.display())))?;
        }
        Ok(())
    }

    /// The number of agencies.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    fn key_of(&self, agency: &str) -> Result<&PublicKey> {
        self.keys.get(agency).ok_or_else(|| Error::UnknownAgency {
            agency: agency.to_owned(),
        })
    }

    /// Checks `signed`'s signature under its author's key: ZIP-215 single verification,
    /// the rule every replica's batch check agrees with.
    pub fn check(&self, signed: &SignedEntry) -> Result<SignatureVerified> {
        let author = &signed.entry.author;
        let key = self.key_of(author)?;
        if !key.verifies(
            &entry_signing_digest(&signed.entry_bytes),
            &signed.signature,
        ) {
            return Err(Error::BadSignature {
                signer: author.clone(),
            });
        }
        Ok(SignatureVerified(()))
    }

    /// Checks the signature and wraps the entry with its proof.
    pub fn verify(&self, signed: SignedEntry) -> Result<VerifiedEntry> {
        let proof = self.check(&signed)?;
        Ok(VerifiedEntry { signed, proof })
    }

    /// Checks a whole batch with one ZIP-215 batch verification, which accepts exactly
    /// what [`Self::verify`] accepts one by one. On failure, the error names the position
    /// of the first entry that is unknown or badly signed; nothing is vouched for then.
    pub fn verify_batch(
        &self,
        signed: Vec<SignedEntry>,
    ) -> Result<Vec<VerifiedEntry>, (usize, Error)> {
        // Entries after the first unknown author cannot be refused any earlier than it.
        let mut keys = Vec::with_capacity(signed.len());
        let mut unknown = None;
        for (pos, s) in signed.iter().enumerate() {
            match self.key_of(&s.entry.author) {
                Ok(k) => keys.push(k),
                Err(e) => {
                    unknown = Some((pos, e));
                    break;
                }
            }
        }
        let digests: Vec<Digest> = signed
            .iter()
            .take(keys.len())
            .map(|s| entry_signing_digest(&s.entry_bytes))
            .collect();
        let items: Vec<zip215::Item<'_>> = keys
            .iter()
            .zip(&signed)
            .zip(&digests)
            .map(|((k, s), d)| zip215::Item {
                key: k.as_bytes(),
                msg: d,
                signature: &s.signature,
            })
            .collect();
        if let Err(bad) = zip215::verify_batch(&items) {
            let signer = signed
                .get(bad)
                .map(|s| s.entry.author.clone())
                .unwrap_or_default();
            return Err((bad, Error::BadSignature { signer }));
        }
        if let Some(first_unknown) = unknown {
            return Err(first_unknown);
        }
        Ok(signed
            .into_iter()
            .map(|signed| VerifiedEntry {
                signed,
                proof: SignatureVerified(()),
            })
            .collect())
    }

    /// Signs `entry` with `signer` and vouches for the result without checking it: an
    /// ed25519 signature just made with the very key this bundle holds for the author is
    /// valid by construction. Refused when the bundle holds no key, or another key, for the
    /// signer's agency, since other replicas would then refuse the entry.
    pub fn sign_trusted(&self, signer: &AgencySigner, entry: Entry) -> Result<VerifiedEntry> {
        let agency = signer.agency();
        let key = self.keys.get(agency).ok_or_else(|| Error::UnknownAgency {
            agency: agency.to_owned(),
        })?;
        if *key != signer.verifying_key() {
            return Err(Error::BadSignature {
                signer: agency.to_owned(),
            });
        }
        let signed = signer.sign(entry)?;
        Ok(VerifiedEntry {
            signed,
            proof: SignatureVerified(()),
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::entry::tests::one_of_each;
    use crate::error::MalformedKind;

    fn bundle(signers: &[&AgencySigner]) -> TrustBundle {
        let mut b = TrustBundle::new();
        for s in signers {
            b.insert(s.agency(), s.verifying_key()).unwrap();
        }
        b
    }

    #[test]
    fn signed_entries_verify_and_round_trip() {
        let bj = AgencySigner::from_seed("bj_hf", [1; 32]).unwrap();
        let trust = bundle(&[&bj]);
        for e in one_of_each("bj_hf") {
            let signed = bj.sign(e).unwrap();
            let wire = signed.to_bytes().unwrap();
            let back = SignedEntry::from_bytes(&wire).unwrap();
            assert_eq!(back, signed);
            let verified = trust.verify(back).unwrap();
            assert_eq!(verified.proof(), SignatureVerified(()));
        }
    }

    #[test]
    fn entry_signed_by_another_agencys_key_is_refused() {
        let bj = AgencySigner::from_seed("bj_hf", [1; 32]).unwrap();
        let sh = AgencySigner::from_seed("sh_hf", [2; 32]).unwrap();
        let trust = bundle(&[&bj, &sh]);
        // sh_hf's key signs an entry that claims bj_hf as author.
        let forger = AgencySigner::from_seed("bj_hf", sh.seed()).unwrap();
        let forged = forger.sign(one_of_each("bj_hf").remove(0)).unwrap();
        let err = trust.verify(forged).unwrap_err();
        assert!(matches!(&err, Error::BadSignature { signer } if signer == "bj_hf"));
        assert_eq!(err.fault(), crate::Fault::Data);
    }

    #[test]
    fn sign_trusted_vouches_only_for_the_bundles_own_key() {
        let bj = AgencySigner::from_seed("bj_hf", [1; 32]).unwrap();
        let sh = AgencySigner::from_seed("sh_hf", [2; 32]).unwrap();
        let trust = bundle(&[&bj, &sh]);
        let entry = one_of_each("bj_hf").remove(0);
        let vouched = trust.sign_trusted(&bj, entry.clone()).unwrap();
        // What it vouches for really verifies.
        trust.verify(vouched.into_signed()).unwrap();
        // A key the bundle does not hold for the agency gets no voucher.
        let impostor = AgencySigner::from_seed("bj_hf", sh.seed()).unwrap();
        assert!(matches!(
            trust.sign_trusted(&impostor, entry.clone()).unwrap_err(),
            Error::BadSignature { signer } if signer == "bj_hf"
        ));
        assert!(matches!(
            TrustBundle::new().sign_trusted(&bj, entry).unwrap_err(),
            Error::UnknownAgency { agency } if agency == "bj_hf"
        ));
    }

    #[test]
    fn signer_refuses_to_sign_for_another_agency() {
        let sh = AgencySigner::from_seed("sh_hf", [2; 32]).unwrap();
        let err = sh.sign(one_of_each("bj_hf").remove(0)).unwrap_err();
        assert!(matches!(err, Error::InvalidArgument(_)));
    }

    #[test]
    fn unknown_author_is_refused() {
        let bj = AgencySigner::from_seed("bj_hf", [1; 32]).unwrap();
        let trust = TrustBundle::new();
        let signed = bj.sign(one_of_each("bj_hf").remove(0)).unwrap();
        assert!(matches!(
            trust.verify(signed).unwrap_err(),
            Error::UnknownAgency { agency } if agency == "bj_hf"
        ));
    }

    #[test]
    fn tampered_entry_or_signature_is_refused() {
        let bj = AgencySigner::from_seed("bj_hf", [1; 32]).unwrap();
        let trust = bundle(&[&bj]);
        let signed = bj.sign(one_of_each("bj_hf").remove(2)).unwrap();
        let wire = signed.to_bytes().unwrap();
        // Flip every byte in turn: each either fails to parse or fails to verify.
        for i in 0..wire.len() {
            let mut bad = wire.clone();
            bad[i] ^= 0x01;
            let refused = match SignedEntry::from_bytes(&bad) {
                Err(Error::Malformed { .. }) => true,
                Err(other) => panic!("unexpected error at byte {i}: {other}"),
                // A flipped author byte names another agency, which the bundle lacks.
                Ok(s) => matches!(
                    trust.verify(s),
                    Err(Error::BadSignature { .. } | Error::UnknownAgency { .. })
                ),
            };
            assert!(refused, "flipping byte {i} went unnoticed");
        }
        let zeroed = signed.with_signature([0; 64]);
        assert!(matches!(
            trust.verify(zeroed).unwrap_err(),
            Error::BadSignature { .. }
        ));
    }

    #[test]
    fn signed_entry_parser_rejects_short_and_trailing_input() {
        let bj = AgencySigner::from_seed("bj_hf", [1; 32]).unwrap();
        let wire = bj
            .sign(one_of_each("bj_hf").remove(0))
            .unwrap()
            .to_bytes()
            .unwrap();
        let short = &wire[..wire.len() - 1];
        assert!(matches!(
            SignedEntry::from_bytes(short).unwrap_err(),
            Error::Malformed {
                kind: MalformedKind::Short { .. },
                ..
            }
        ));
        let mut long = wire.clone();
        long.push(0);
        assert!(matches!(
            SignedEntry::from_bytes(&long).unwrap_err(),
            Error::Malformed {
                kind: MalformedKind::Trailing { extra: 1 },
                ..
            }
        ));
    }

    #[test]
    fn generated_keys_differ_and_debug_hides_the_secret() {
        let a = AgencySigner::generate("bj_hf").unwrap();
        let b = AgencySigner::generate("bj_hf").unwrap();
        assert_ne!(a.seed(), b.seed());
        let shown = format!("{a:?}");
        assert!(!shown.contains(&format!("{:?}", a.seed())));
    }
}
