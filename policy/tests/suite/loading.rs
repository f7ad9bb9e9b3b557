//! Loading policies: broken files are refused with file and line; names that do not
//! exist are refused at load; purposes, wildcards, roles and explicit denies decide as
//! documented.

use sluice_policy::{Error, Level, LoadError, Policy, Request};

use super::common::*;

fn load(policy: &str) -> Result<Policy, LoadError> {
    let f = Files::new(MODEL, policy);
    Policy::load(config(), &f.model(), &f.policy())
}

fn line_of(e: &LoadError) -> (usize, String) {
    match e {
        LoadError::Policy {
            line,
            message,
            file,
        } => {
            assert!(file.ends_with("policy.csv"), "{file}");
            (*line, message.clone())
        }
        other => panic!("expected a policy line error, got {other}"),
    }
}

#[test]
fn a_column_that_does_not_exist_is_an_error_at_load() {
    let e = load("p, a, *, persons.city, *, plain\np, a, *, persons.salry, *, aggregate\n")
        .unwrap_err();
    let (line, msg) = line_of(&e);
    assert_eq!(line, 2);
    assert!(msg.contains("salry") && msg.contains("salary"), "{msg}");
    assert!(e.to_string().contains("policy.csv:2:"), "{e}");

    let e = load("p, a, *, people.city, *, plain\n").unwrap_err();
    assert!(line_of(&e).1.contains("people"), "{e}");

    let e = load("p2, a, *, persons, *, citty = 'x'\n").unwrap_err();
    let (line, msg) = line_of(&e);
    assert_eq!(line, 1);
    assert!(msg.contains("citty"), "{msg}");
}

#[test]
fn broken_lines_are_named() {
    for (policy, line, needle) in [
        (
            "p, a, *, persons.city, *, plain\n\n# c\np, a, *, persons.city, *, plian\n",
            4,
            "plian",
        ),
        ("p, a, *, persons.city, *\n", 1, "fields"),
        ("p, a, *, persons.city, *, masked:rot13\n", 1, "rot13"),
        (
            "p, a, *, persons.salary, *, masked:last:4\n",
            1,
            "cannot mask",
        ),
        ("g, a\n", 1, "fields"),
        ("x, a, b\n", 1, "unknown rule type"),
        ("p, a, *, persons.city, *, \"plain\n", 1, "quote"),
        ("p2, a, *, persons, *, salary + 1\n", 1, "boolean"),
        ("p2, a, *, persons, *, city = (SELECT 1)\n", 1, ""),
        ("p, a, *, persons.city, bad purpose!, plain\n", 1, "purpose"),
        ("p, a, *, persons.city, *, aggregate:1\n", 1, "k"),
    ] {
        let e = load(policy).unwrap_err();
        let (l, msg) = line_of(&e);
        assert_eq!(l, line, "{policy}: {msg}");
        assert!(msg.contains(needle), "{policy}: {msg}");
    }
}

#[test]
fn broken_models_are_refused() {
    let f = Files::new("[request_definition]\nr = sub, obj, act\n", "");
    let e = Policy::load(config(), &f.model(), &f.policy()).unwrap_err();
    assert!(matches!(e, LoadError::Model { .. }), "{e}");
    let no_purpose = MODEL.replace(
        "r = sub, dom, obj, purpose, level",
        "r = sub, dom, obj, level",
    );
    let f = Files::new(&no_purpose, "");
    let e = Policy::load(config(), &f.model(), &f.policy()).unwrap_err();
    assert!(e.to_string().contains("purpose"), "{e}");
    let f = Files::new(MODEL, "");
    let e = Policy::load(config(), &f.model().with_extension("missing"), &f.policy()).unwrap_err();
    assert!(matches!(e, LoadError::Io { .. }), "{e}");
    let mut short = config();
    short.secret = b"short".to_vec();
    assert!(matches!(
        Policy::load(short, &f.model(), &f.policy()),
        Err(LoadError::Config(_))
    ));
}

#[tokio::test]
async fn missing_purpose_is_refused() {
    let w = world();
    let plan = w.plan("SELECT city FROM persons").await;
    let r = Request::new("sh_hf/bob", None).unwrap();
    assert!(matches!(
        w.policy.decide(&plan, &r),
        Err(Error::MissingPurpose)
    ));
    assert!(matches!(
        Request::new("sh_hf/bob", Some("stat*")),
        Err(Error::BadRequest(_))
    ));
    assert!(matches!(
        Request::new("bob", Some("statistics")),
        Err(Error::BadRequest(_))
    ));
}

#[tokio::test]
async fn wrong_purpose_is_refused_and_the_right_one_named() {
    let w = world();
    let r = refusal(
        w.query("sh_hf/bob", "marketing", "SELECT city FROM persons")
            .await,
    );
    let v = &r.violations[0];
    assert_eq!((v.dataset.as_str(), v.column.as_str()), ("persons", "city"));
    assert_eq!(v.granted, Level::Deny);
    assert!(v.rule.is_none());
    let note = v.note.as_deref().unwrap_or_default();
    assert!(
        note.contains("statistics") || note.contains("public_info"),
        "{note}"
    );
    // With the right purpose it is allowed.
    assert!(
        w.query("sh_hf/bob", "statistics", "SELECT city FROM persons")
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn wildcards_and_role_inheritance() {
    let w = world();
    // `sh_hf/*` grants city for public_info to anyone at sh_hf, and nobody else.
    let b = w
        .query(
            "sh_hf/zoe",
            "public_info",
            "SELECT DISTINCT city FROM persons ORDER BY city",
        )
        .await
        .unwrap();
    assert_eq!(
        cells(&b),
        vec!["beijing", "langfang", "tianjin", "xiong_an"]
    );
    refusal(
        w.query("cd_hf/zoe", "public_info", "SELECT city FROM persons")
            .await,
    );
    // `contributions.*` grants every contributions column to officers (aggregate:3).
    let c = w
        .policy
        .column_level(
            &req("sh_hf/carol", "provident_fund_transfer"),
            "contributions",
            "employer",
        )
        .unwrap();
    assert_eq!(c.level, Level::Aggregate { k: 3 });
    assert!(c.rule.unwrap().text.contains("contributions.*"));
    // Carol is an officer, and officers inherit the analysts' grants.
    let c = w
        .policy
        .column_level(&req("sh_hf/carol", "statistics"), "persons", "salary")
        .unwrap();
    assert_eq!(c.level, Level::Aggregate { k: 5 });
    let b = w
        .query(
            "sh_hf/carol",
            "statistics",
            "SELECT city, AVG(salary) FROM persons GROUP BY city ORDER BY city",
        )
        .await
        .unwrap();
    assert_eq!(rows(&b).len(), 2);
    // The domain field is the requesting agency: the clerk's rules are for bj_hf only.
    let clerk = |p: &str| {
        Request::new(p, Some("administration"))
            .unwrap()
            .with_roles(["local_clerk"])
            .unwrap()
    };
    let plan = w.plan("SELECT name FROM persons").await;
    assert!(w.policy.decide(&plan, &clerk("bj_hf/zhou")).is_ok());
    assert!(w.policy.decide(&plan, &clerk("cd_hf/zhou")).is_err());
    // Roles the gateway vouches for count too.
    let r = Request::new("gz_hf/yan", Some("statistics"))
        .unwrap()
        .with_roles(["fund_analyst"])
        .unwrap();
    let plan = w.plan("SELECT city FROM persons").await;
    assert!(w.policy.decide(&plan, &r).is_ok());
    let r = Request::new("gz_hf/yan", Some("statistics")).unwrap();
    assert!(w.policy.decide(&plan, &r).is_err());
}

#[tokio::test]
async fn an_explicit_deny_wins_and_is_named() {
    let w = world();
    let r = refusal(
        w.query("sh_hf/mallory", "statistics", "SELECT city FROM persons")
            .await,
    );
    let v = &r.violations[0];
    assert_eq!(v.granted, Level::Deny);
    assert!(
        v.rule.as_ref().unwrap().text.contains("sh_hf/mallory"),
        "{v}"
    );
}

#[tokio::test]
async fn the_most_permissive_grant_wins_and_is_named() {
    let w = world_with(&format!(
        "{POLICY}\np, fund_analyst, *, persons.salary, statistics, aggregate:10\np, sh_hf/bob, *, persons.city, *, masked:redact\n"
    ));
    let c = w
        .policy
        .column_level(&req("sh_hf/bob", "statistics"), "persons", "salary")
        .unwrap();
    assert_eq!(
        c.level,
        Level::Aggregate { k: 5 },
        "smaller k is more permissive"
    );
    let c = w
        .policy
        .column_level(&req("sh_hf/bob", "statistics"), "persons", "city")
        .unwrap();
    assert_eq!(c.level, Level::Plain);
    assert!(
        c.rule
            .unwrap()
            .text
            .contains("persons.city, statistics, plain")
    );
    let c = w
        .policy
        .column_level(&req("sh_hf/bob", "other"), "persons", "city")
        .unwrap();
    assert_eq!(c.level.to_string(), "masked:redact");
}

#[tokio::test]
async fn unknown_tables_and_statements_are_refused() {
    let w = world();
    w.ctx
        .sql("CREATE VIEW bj_hf.v AS SELECT salary FROM bj_hf.persons")
        .await
        .unwrap();
    // A view is not a dataset the policy knows: refused, never read around the policy.
    let plan = w.plan("SELECT * FROM v").await;
    let e = w
        .policy
        .decide(&plan, &req("sh_hf/bob", "statistics"))
        .unwrap_err();
    assert!(
        matches!(e, Error::Unsupported(_) | Error::Refused(_)),
        "{e}"
    );
    let plan = w.plan("EXPLAIN SELECT city FROM persons").await;
    let e = w
        .policy
        .decide(&plan, &req("sh_hf/bob", "statistics"))
        .unwrap_err();
    assert!(matches!(e, Error::Unsupported(_)), "{e}");
}
