//! The owner's defaults are the safe ones: a gateway with no `[policy]` releases no
//! column, `[policy] open = true` releases them all plain, and a gateway with no
//! `[chain]` or no `[identity]` does not serve at all.

use std::path::Path;

use futures::StreamExt;
use sluice_gateway::config::GatewayConfig;
use sluice_gateway::{Gateway, GatewayError};

use sluice_examples::identities::Identities;

use super::common::{caller_at, lone_identity};

fn config(dir: &Path, sections: &str) -> (GatewayConfig, Identities) {
    std::fs::write(
        dir.join("people.csv"),
        "id,name,city\n1,ann,bj\n2,bob,sh\n3,cy,bj\n",
    )
    .unwrap();
    let (identity, ids) = lone_identity(dir, "qa_hf");
    let text = format!(
        "agency = \"qa_hf\"\nlisten = \"127.0.0.1:0\"\n\n[[datasets]]\nname = \"people\"\nconnector = {{ kind = \"csv\", path = \"people.csv\" }}\n{identity}\n{sections}"
    );
    std::fs::write(dir.join("qa.toml"), &text).unwrap();
    (GatewayConfig::load(&dir.join("qa.toml")).unwrap(), ids)
}

/// Opens the gateway of `config`.
async fn open(
    config: &(GatewayConfig, Identities),
) -> Result<(Gateway, &Identities), GatewayError> {
    Ok((Gateway::open(&config.0).await?, &config.1))
}

async fn rows(gw: &(Gateway, &Identities), sql: &str) -> Result<usize, GatewayError> {
    let caller = caller_at(&gw.0, gw.1, "qa_hf");
    let mut stream = gw.0.home.query(&caller, sql).await?;
    let mut n = 0;
    while let Some(b) = stream.next().await {
        n += b.map_err(GatewayError::from_datafusion)?.num_rows();
    }
    Ok(n)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_policy_every_column_is_denied() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), "[chain]\nnone = true\n");
    let gw = open(&config).await.unwrap();
    for (sql, column) in [
        ("SELECT name FROM qa_hf.people", "name"),
        ("SELECT id FROM qa_hf.people WHERE city = 'bj'", "city"),
        ("SELECT COUNT(*) FROM qa_hf.people GROUP BY city", "city"),
        ("SELECT MAX(id) FROM qa_hf.people", "id"),
    ] {
        let err = rows(&gw, sql).await.expect_err(sql);
        let refusal = err
            .refusal()
            .unwrap_or_else(|| panic!("{sql}: expected a refusal, got {err:?}"));
        assert_eq!(refusal.agency, "qa_hf");
        let c = refusal
            .columns
            .iter()
            .find(|c| c.column == column)
            .unwrap_or_else(|| panic!("{sql}: {refusal:?} should name {column}"));
        assert_eq!(c.granted, "deny", "{sql}");
        assert!(
            refusal
                .reason
                .as_deref()
                .is_some_and(|r| r.contains("no [policy] section")),
            "{sql}: {refusal:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_policy_releases_every_column_plain() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(
        dir.path(),
        "[policy]\nopen = true\n\n[chain]\nnone = true\n",
    );
    let gw = open(&config).await.unwrap();
    assert_eq!(
        rows(&gw, "SELECT name FROM qa_hf.people WHERE city = 'bj'")
            .await
            .unwrap(),
        2
    );
    assert_eq!(
        rows(&gw, "SELECT id, name, city FROM qa_hf.people")
            .await
            .unwrap(),
        3
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_chain_the_gateway_does_not_serve() {
    let dir = tempfile::tempdir().unwrap();
    let err = Gateway::open(&config(dir.path(), "[policy]\nopen = true\n").0)
        .await
        .expect_err("a gateway that cannot record must not serve");
    assert!(matches!(err, GatewayError::NoChain { .. }), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains("qa.toml") && text.contains("[chain]"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_an_identity_the_gateway_does_not_serve() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("qa.toml"),
        "agency = \"qa_hf\"\nlisten = \"127.0.0.1:0\"\n\n[policy]\nopen = true\n\n[chain]\nnone = true\n",
    )
    .unwrap();
    let config = GatewayConfig::load(&dir.path().join("qa.toml")).unwrap();
    let err = Gateway::open(&config)
        .await
        .expect_err("a gateway that cannot prove who it is must not serve");
    assert!(matches!(err, GatewayError::NoIdentity { .. }), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains("qa.toml") && text.contains("[identity]") && text.contains("sluice init"),
        "{text}"
    );
}
