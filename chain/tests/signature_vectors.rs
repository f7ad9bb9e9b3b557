//! The signature rule against published edge cases: ZIP-215's small-order vectors (from
//! ed25519-consensus) and the twelve cases of "Taming the many EdDSAs" (from
//! ed25519-speccheck). Each case gets one answer, whether it is checked alone (as
//! `sluice audit verify` and `verify-bundle` do), in a batch (as replicas do), or with
//! `ed25519-consensus` directly; keys of small order never enter a trust bundle.
#![allow(clippy::unwrap_used)]

use sluice_chain::zip215::{self, Item, KeyProblem};
use sluice_chain::{AgencySigner, Error, TrustBundle};

fn unhex<const N: usize>(s: &str) -> [u8; N] {
    hex::decode(s).unwrap().try_into().unwrap()
}

struct Case {
    key: [u8; 32],
    msg: Vec<u8>,
    sig: [u8; 64],
    valid: bool,
}

fn small_order_cases() -> Vec<Case> {
    let text = include_str!("data/zip215_small_order.json");
    let json: serde_json::Value = serde_json::from_str(text).unwrap();
    let msg = hex::decode(json["message"].as_str().unwrap()).unwrap();
    json["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| Case {
            key: unhex(c["vk"].as_str().unwrap()),
            msg: msg.clone(),
            sig: unhex(c["sig"].as_str().unwrap()),
            valid: true,
        })
        .collect()
}

/// What ZIP-215 says of each speccheck case: the row of Zebra (a ZIP-215 implementation)
/// in ed25519-speccheck's results.md. Cases 6 and 7 have S >= L; case 8 has an R that is
/// hashed as if reduced, which ZIP-215 (hashing the bytes as sent) does not accept.
const SPECCHECK_ZIP215: [bool; 12] = [
    true, true, true, true, true, true, false, false, false, true, true, true,
];

fn speccheck_cases() -> Vec<Case> {
    let text = include_str!("data/speccheck_cases.json");
    let json: serde_json::Value = serde_json::from_str(text).unwrap();
    json.as_array()
        .unwrap()
        .iter()
        .zip(SPECCHECK_ZIP215)
        .map(|(c, valid)| Case {
            key: unhex(c["pub_key"].as_str().unwrap()),
            msg: hex::decode(c["message"].as_str().unwrap()).unwrap(),
            sig: unhex(c["signature"].as_str().unwrap()),
            valid,
        })
        .collect()
}

fn consensus_says(c: &Case) -> bool {
    ed25519_consensus::VerificationKey::try_from(c.key)
        .and_then(|k| k.verify(&ed25519_consensus::Signature::from(c.sig), &c.msg))
        .is_ok()
}

/// A batch of honest signatures with the case in the middle.
fn in_a_batch(c: &Case, honest: &[([u8; 32], Vec<u8>, [u8; 64])]) -> Result<(), usize> {
    let mut items: Vec<Item<'_>> = honest
        .iter()
        .map(|(k, m, s)| Item {
            key: k,
            msg: m,
            signature: s,
        })
        .collect();
    items.insert(
        honest.len() / 2,
        Item {
            key: &c.key,
            msg: &c.msg,
            signature: &c.sig,
        },
    );
    zip215::verify_batch(&items)
}

fn honest_signatures() -> Vec<([u8; 32], Vec<u8>, [u8; 64])> {
    (0..20u8)
        .map(|i| {
            let key = ed25519_consensus::SigningKey::from([i % 3 + 1; 32]);
            let msg = vec![i; 40];
            (
                key.verification_key().to_bytes(),
                msg.clone(),
                key.sign(&msg).to_bytes(),
            )
        })
        .collect()
}

fn check_all_paths(name: &str, cases: &[Case]) {
    let honest = honest_signatures();
    for (i, c) in cases.iter().enumerate() {
        let single = zip215::verify_single(&c.key, &c.msg, &c.sig);
        assert_eq!(single, c.valid, "{name} case {i}: single verification");
        assert_eq!(
            consensus_says(c),
            c.valid,
            "{name} case {i}: ed25519-consensus"
        );
        let alone = zip215::verify_batch(&[Item {
            key: &c.key,
            msg: &c.msg,
            signature: &c.sig,
        }]);
        assert_eq!(alone.is_ok(), c.valid, "{name} case {i}: batch of one");
        let batched = in_a_batch(c, &honest);
        let expected = if c.valid {
            Ok(())
        } else {
            Err(honest.len() / 2)
        };
        assert_eq!(batched, expected, "{name} case {i}: in a batch of 21");
    }
    // All the valid cases in one batch together.
    let valid: Vec<Item<'_>> = cases
        .iter()
        .filter(|c| c.valid)
        .map(|c| Item {
            key: &c.key,
            msg: &c.msg,
            signature: &c.sig,
        })
        .collect();
    assert_eq!(
        zip215::verify_batch(&valid),
        Ok(()),
        "{name}: all valid cases at once"
    );
}

#[test]
fn zip215_small_order_vectors_agree_single_batch_and_consensus() {
    let cases = small_order_cases();
    assert_eq!(cases.len(), 196);
    check_all_paths("zip215", &cases);
}

#[test]
fn speccheck_cases_agree_single_batch_and_consensus() {
    let cases = speccheck_cases();
    assert_eq!(cases.len(), 12);
    check_all_paths("speccheck", &cases);
}

/// Every key in the vectors that is small order or non-canonical is refused at the door,
/// so offline verification never sees it; the others enter.
#[test]
fn small_order_and_non_canonical_keys_never_enter_a_trust_bundle() {
    let mut refused = 0;
    for c in small_order_cases() {
        let err = TrustBundle::new()
            .insert_bytes("bj_hf", &c.key)
            .unwrap_err();
        assert!(
            matches!(
                &err,
                Error::WeakKey { owner, problem: KeyProblem::SmallOrder | KeyProblem::NonCanonical }
                    if owner == "bj_hf"
            ),
            "{err}"
        );
        refused += 1;
    }
    assert_eq!(refused, 196);
    // Speccheck (its condition table): cases 0-1 use small-order keys, 10-11 a
    // non-canonical encoding of one; 2-5 and 8-9 keys of mixed order, which honest key
    // generation never makes; 6-7 a prime-order key, which enters, and the offline check
    // through it (the one `TrustBundle::check` makes) still refuses their S >= L.
    for (i, c) in speccheck_cases().iter().enumerate() {
        let expected = match i {
            0 | 1 => Some(KeyProblem::SmallOrder),
            10 | 11 => Some(KeyProblem::NonCanonical),
            6 | 7 => None,
            _ => Some(KeyProblem::MixedOrder),
        };
        assert_eq!(
            zip215::check_key(&c.key).err(),
            expected,
            "speccheck case {i}"
        );
        if expected.is_none() {
            let key = sluice_chain::PublicKey::from_bytes("bj_hf", &c.key).unwrap();
            assert_eq!(key.verifies(&c.msg, &c.sig), c.valid, "speccheck case {i}");
        }
    }
    // An honest key enters.
    let honest = AgencySigner::from_seed("bj_hf", [1; 32]).unwrap();
    TrustBundle::new()
        .insert_bytes("bj_hf", honest.verifying_key().as_bytes())
        .unwrap();
}

/// Signing is plain RFC 8032: its test vectors 1 and 2, key and signature byte for byte.
#[test]
fn signing_is_rfc8032() {
    let vectors = [
        (
            "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
            "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
            "",
            "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
        ),
        (
            "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
            "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
            "72",
            "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
        ),
    ];
    for (seed, public, msg, sig) in vectors {
        let signer = AgencySigner::from_seed("bj_hf", unhex(seed)).unwrap();
        assert_eq!(hex::encode(signer.verifying_key().as_bytes()), public);
        let key = ed25519_consensus::SigningKey::from(unhex::<32>(seed));
        let msg = hex::decode(msg).unwrap();
        assert_eq!(hex::encode(key.sign(&msg).to_bytes()), sig);
        assert!(zip215::verify_single(&unhex(public), &msg, &unhex(sig)));
    }
}
