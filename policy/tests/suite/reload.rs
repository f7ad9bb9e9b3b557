//! Hot reload: a changed policy takes effect on the next use; a broken one is rejected
//! with its line while the last good policy stays in force.

use sluice_policy::{LoadError, ReloadingPolicy};

use super::common::*;

const BEFORE: &str = "p, sh_hf/bob, *, persons.city, statistics, plain\n";
const AFTER: &str =
    "# city is now masked\np, sh_hf/bob, *, persons.city, statistics, masked:redact\n";

async fn city_cells(w: &World, p: &ReloadingPolicy) -> Result<Vec<String>, sluice_policy::Error> {
    let plan = w
        .plan("SELECT DISTINCT city FROM persons ORDER BY city")
        .await;
    let d = p.decide(&plan, &req("sh_hf/bob", "statistics"))?;
    Ok(cells(&execute(&w.ctx, d.plan).await))
}

#[tokio::test]
async fn a_changed_policy_takes_effect_and_a_broken_one_is_rejected() {
    let w = world_with(BEFORE);
    let files = Files::new(MODEL, BEFORE);
    let p = ReloadingPolicy::open(config(), files.model(), files.policy()).unwrap();
    let first_digest = p.digest();
    assert_eq!(first_digest, w.policy.digest());
    assert_eq!(
        city_cells(&w, &p).await.unwrap(),
        vec!["beijing", "langfang", "tianjin", "xiong_an"]
    );

    std::fs::write(files.policy(), AFTER).unwrap();
    assert_eq!(city_cells(&w, &p).await.unwrap(), vec!["***"]);
    let second_digest = p.digest();
    assert_ne!(second_digest, first_digest);
    assert!(p.last_error().is_none());

    // Broken: an unknown column on line 3. The masked policy stays in force.
    std::fs::write(
        files.policy(),
        format!("{AFTER}p, sh_hf/bob, *, persons.cty, statistics, plain\n"),
    )
    .unwrap();
    assert_eq!(city_cells(&w, &p).await.unwrap(), vec!["***"]);
    match p.last_error() {
        Some(LoadError::Policy { line, message, .. }) => {
            assert_eq!(line, 3);
            assert!(message.contains("cty"), "{message}");
        }
        other => panic!("expected the broken line, got {other:?}"),
    }
    assert_eq!(p.digest(), second_digest);

    // Deleting the grant: refused from the next query on.
    std::fs::write(files.policy(), "# nothing is granted\n").unwrap();
    let e = city_cells(&w, &p).await.unwrap_err();
    assert!(e.refusal().is_some(), "{e}");
    assert!(p.last_error().is_none());

    // A changed model is noticed too.
    std::fs::write(files.policy(), BEFORE).unwrap();
    std::fs::write(files.model(), format!("{MODEL}\n# edited\n")).unwrap();
    assert_eq!(city_cells(&w, &p).await.unwrap().len(), 4);
    assert_ne!(p.digest(), first_digest, "the digest covers the model too");
}

#[test]
fn the_first_load_must_succeed() {
    let files = Files::new(MODEL, "p, a, *, persons.nope, *, plain\n");
    let e = ReloadingPolicy::open(config(), files.model(), files.policy()).unwrap_err();
    assert!(e.to_string().contains("policy.csv:1:"), "{e}");
}
