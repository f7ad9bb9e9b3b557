//! The one signature rule of the chain: ed25519 verification under ZIP-215, single and
//! batched, through `ed25519-consensus`. Under ZIP-215 a batch verifies exactly when each
//! of its signatures does, so what a live replica accepts in a batch, an auditor accepts
//! offline one by one, and the reverse.
//!
//! Also owns [`PublicKey`]: a key is checked once, when it enters a trust bundle, a note
//! verifier or a membership entry; small-order, mixed-order and non-canonical keys are
//! refused there, so no signature can verify under a key that commits to nothing.

use curve25519_dalek::edwards::CompressedEdwardsY;
use ed25519_consensus::{Signature, VerificationKey, VerificationKeyBytes, batch};

use crate::error::{Error, Result};

pub use crate::error::KeyProblem;

/// An ed25519 public key that passed [`PublicKey::from_bytes`].
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct PublicKey {
    bytes: [u8; 32],
    key: VerificationKey,
}

impl std::fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PublicKey({})", hex::encode(self.bytes))
    }
}

impl std::hash::Hash for PublicKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.bytes.hash(state);
    }
}

/// Checks that `bytes` is a key worth trusting (see [`KeyProblem`]).
pub fn check_key(bytes: &[u8; 32]) -> Result<(), KeyProblem> {
    let point = CompressedEdwardsY(*bytes)
        .decompress()
        .ok_or(KeyProblem::NotAPoint)?;
    if point.compress().to_bytes() != *bytes {
        return Err(KeyProblem::NonCanonical);
    }
    if point.is_small_order() {
        return Err(KeyProblem::SmallOrder);
    }
    if !point.is_torsion_free() {
        return Err(KeyProblem::MixedOrder);
    }
    Ok(())
}

impl PublicKey {
    /// Checks and wraps a 32-byte key; a refused key is bad data naming `owner`.
    pub fn from_bytes(owner: &str, bytes: &[u8; 32]) -> Result<Self> {
        let refused = |problem| Error::WeakKey {
            owner: owner.to_owned(),
            problem,
        };
        check_key(bytes).map_err(refused)?;
        let key = VerificationKey::try_from(*bytes).map_err(|_| refused(KeyProblem::NotAPoint))?;
        Ok(Self { bytes: *bytes, key })
    }

    /// The key of a signing key we hold: derived from a seed, so never weak.
    pub(crate) fn of_signing_key(key: &ed25519_consensus::SigningKey) -> Self {
        let key = key.verification_key();
        Self {
            bytes: key.to_bytes(),
            key,
        }
    }

    /// The 32 raw bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.bytes
    }

    /// The 32 raw bytes, by value.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.bytes
    }

    /// Whether `signature` on `msg` verifies under this key (ZIP-215).
    pub fn verifies(&self, msg: &[u8], signature: &[u8; 64]) -> bool {
        self.key.verify(&Signature::from(*signature), msg).is_ok()
    }
}

/// ZIP-215 verification of one signature under raw key bytes, without the entry checks
/// of [`PublicKey`]: the rule itself, for test vectors and for [`verify_batch`]'s fallback.
pub fn verify_single(key: &[u8; 32], msg: &[u8], signature: &[u8; 64]) -> bool {
    VerificationKey::try_from(*key)
        .and_then(|k| k.verify(&Signature::from(*signature), msg))
        .is_ok()
}

/// One signature to check in a batch: key bytes, message and signature.
#[derive(Debug, Clone, Copy)]
pub struct Item<'a> {
    /// The signer's key.
    pub key: &'a [u8; 32],
    /// The signed message.
    pub msg: &'a [u8],
    /// The 64-byte signature.
    pub signature: &'a [u8; 64],
}

/// Verifies every item; on failure names the position of the first bad one.
///
/// One multiscalar multiplication checks the whole batch (terms under one key coalesce, so
/// a batch from a few agencies costs little more than one point operation per signature).
/// Only when it fails does each item get checked alone, in order, so the bad entry is
/// named. ZIP-215 makes the batch equation and the single one accept the same set, so
/// the fallback finds a bad item whenever the batch fails (except with probability
/// 2^-128 over the random coefficients, in which case every item is valid and this
/// returns `Ok`).
pub fn verify_batch(items: &[Item<'_>]) -> Result<(), usize> {
    match items {
        [] => return Ok(()),
        [one] => {
            return verify_single(one.key, one.msg, one.signature)
                .then_some(())
                .ok_or(0);
        }
        _ => {}
    }
    let mut verifier = batch::Verifier::new();
    let mut queued = Vec::with_capacity(items.len());
    for item in items {
        let item = batch::Item::from((
            VerificationKeyBytes::from(*item.key),
            Signature::from(*item.signature),
            item.msg,
        ));
        queued.push(item.clone());
        verifier.queue(item);
    }
    if verifier.verify(rand_core::OsRng).is_ok() {
        return Ok(());
    }
    match queued.into_iter().position(|i| i.verify_single().is_err()) {
        Some(bad) => Err(bad),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn signer(seed: u8) -> ed25519_consensus::SigningKey {
        ed25519_consensus::SigningKey::from([seed; 32])
    }

    #[test]
    fn honest_keys_pass_and_torsion_keys_are_refused() {
        let k = PublicKey::of_signing_key(&signer(1));
        assert_eq!(PublicKey::from_bytes("a", k.as_bytes()).unwrap(), k);
        // The identity, an order-4 point and (0,-1) of order 2 (canonical encodings).
        let mut identity = [0u8; 32];
        identity[0] = 1;
        let order4 = [0u8; 32];
        let mut order2 = [0xffu8; 32];
        order2[0] = 0xec;
        order2[31] = 0x7f;
        for weak in [identity, order4, order2] {
            assert!(matches!(
                PublicKey::from_bytes("bj_hf", &weak).unwrap_err(),
                Error::WeakKey { owner, problem: KeyProblem::SmallOrder } if owner == "bj_hf"
            ));
        }
        // The same identity with its sign bit set: a non-canonical encoding.
        let mut signed_identity = identity;
        signed_identity[31] |= 0x80;
        assert_eq!(check_key(&signed_identity), Err(KeyProblem::NonCanonical));
        // y = 2 is not on the curve.
        let mut two = [0u8; 32];
        two[0] = 2;
        assert_eq!(check_key(&two), Err(KeyProblem::NotAPoint));
    }

    #[test]
    fn a_key_plus_a_torsion_point_is_refused() {
        use curve25519_dalek::constants::EIGHT_TORSION;
        let honest = PublicKey::of_signing_key(&signer(3));
        let a = CompressedEdwardsY(honest.to_bytes()).decompress().unwrap();
        let mixed = (a + EIGHT_TORSION[1]).compress().to_bytes();
        assert_eq!(check_key(&mixed), Err(KeyProblem::MixedOrder));
    }

    #[test]
    fn batch_names_the_one_bad_signature_among_a_thousand() {
        let keys = [signer(1), signer(2), signer(3)];
        let msgs: Vec<Vec<u8>> = (0..1000u32).map(|i| i.to_be_bytes().to_vec()).collect();
        let mut sigs: Vec<[u8; 64]> = msgs
            .iter()
            .enumerate()
            .map(|(i, m)| keys[i % 3].sign(m).to_bytes())
            .collect();
        let pks: Vec<[u8; 32]> = keys
            .iter()
            .map(|k| k.verification_key().to_bytes())
            .collect();
        let items = |sigs: &[[u8; 64]]| -> Vec<(usize, [u8; 64])> {
            sigs.iter().copied().enumerate().collect()
        };
        let check = |sigs: &[[u8; 64]]| {
            let owned = items(sigs);
            let batch: Vec<Item<'_>> = owned
                .iter()
                .map(|(i, s)| Item {
                    key: &pks[i % 3],
                    msg: &msgs[*i],
                    signature: s,
                })
                .collect();
            verify_batch(&batch)
        };
        assert_eq!(check(&sigs), Ok(()));
        sigs[637][40] ^= 1;
        assert_eq!(check(&sigs), Err(637));
        // A valid signature by the wrong agency's key is just as bad.
        sigs[637] = keys[0].sign(&msgs[637]).to_bytes();
        assert_eq!(
            check(&sigs),
            Err(637),
            "637 is signed by key 0, listed as key 1"
        );
    }
}
