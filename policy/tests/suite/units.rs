//! Small pieces: level parsing and order, the CSV reader's quoting, the mask context.

use sluice_policy::mask::{self, MaskContext};
use sluice_policy::{Level, LoadError, Need, Policy};

use super::common::*;

#[test]
fn levels_parse_and_print() {
    for s in [
        "plain",
        "masked:redact",
        "masked:last:4",
        "masked:first:2",
        "masked:year",
        "masked:null",
        "masked:hash",
        "aggregate",
        "aggregate:10",
        "join",
        "deny",
    ] {
        assert_eq!(Level::parse(s).unwrap().to_string(), s);
    }
    assert_eq!(
        Level::parse("aggregate:5").unwrap(),
        Level::Aggregate { k: 5 }
    );
    for bad in [
        "plan",
        "masked:",
        "masked:rot13",
        "masked:last",
        "masked:last:x",
        "aggregate:1",
        "aggregate:",
        "Plain",
    ] {
        assert!(Level::parse(bad).is_err(), "{bad}");
    }
}

#[test]
fn levels_allow_uses() {
    let agg = Level::Aggregate { k: 5 };
    assert!(agg.allows(Need::Aggregate) && !agg.allows(Need::Plain) && !agg.allows(Need::Join));
    assert!(Level::Join.allows(Need::Join) && !Level::Join.allows(Need::Aggregate));
    assert!(!Level::Deny.allows(Need::Join) && !Level::Deny.allows(Need::Aggregate));
    let masked = Level::parse("masked:hash").unwrap();
    assert!(masked.allows(Need::Plain) && masked.allows(Need::Join));
}

#[test]
fn mask_context_hides_its_key() {
    let a = MaskContext::new(SECRET, "sh_hf");
    assert_eq!(format!("{a:?}"), "MaskContext { .. }");
    assert_ne!(a, MaskContext::new(SECRET, "cd_hf"));
    let mut names = mask::names();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), mask::KINDS.len());
}

fn load(policy: &str) -> Result<Policy, LoadError> {
    Policy::from_bytes(
        config(),
        "model.conf",
        MODEL.as_bytes(),
        "policy.csv",
        policy.as_bytes(),
    )
}

#[test]
fn csv_quotes_and_comments() {
    // Quoted fields hold commas and doubled quotes; comments and blank lines are skipped
    // but still count for line numbers.
    load(
        "# c\n\n  p2, a, *, persons, *, \"city IN ('a', 'b')\"  \np2, a, *, persons, *, \"name = 'say \"\"hi\"\"'\"\n",
    )
    .unwrap();
    let e = load("# c\np, a, *, persons.city, *, \"plain\n").unwrap_err();
    assert!(e.to_string().contains("policy.csv:2:"), "{e}");
    let e = load("p, a, *, persons.city, *, pl\"ain\n").unwrap_err();
    assert!(e.to_string().contains("policy.csv:1:"), "{e}");
    let e = load("p, a, *, persons.city, *, \"plain\" x\n").unwrap_err();
    assert!(e.to_string().contains("policy.csv:1:"), "{e}");
    let e = load("p, a, , persons.city, *, plain\n").unwrap_err();
    assert!(e.to_string().contains("empty field"), "{e}");
}

#[test]
fn the_digest_covers_model_and_policy() {
    let a = sluice_policy::policy_digest(b"ab", b"c");
    let b = sluice_policy::policy_digest(b"a", b"bc");
    assert_ne!(a, b, "moving bytes between the files changes the digest");
    assert_eq!(a.len(), 64);
    assert_eq!(
        load("").unwrap().digest(),
        sluice_policy::policy_digest(MODEL.as_bytes(), b"")
    );
}

#[test]
fn policies_are_shared_across_threads() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Policy>();
    send_sync::<sluice_policy::ReloadingPolicy>();
    send_sync::<sluice_policy::Decided>();
    send_sync::<sluice_policy::Error>();
}
