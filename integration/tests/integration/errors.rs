//! Bad input and failing peers end in a specific, named error, never a panic or a hang.

use std::path::Path;
use std::time::Duration;

use futures::StreamExt;
use sluice_gateway::config::GatewayConfig;
use sluice_gateway::{Gateway, GatewayError};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use sluice_examples::identities::Identities;
use sluice_gateway::owner::Authenticated;

use super::audit::wait_for;
use super::common::{Harness, caller_at, lone_identity, purpose};
use super::databases::{Backend, postgres, postgres_terminate_running};

fn message(e: &GatewayError) -> String {
    e.to_string()
}

/// The error of a result whose success type has no `Debug` (record batch streams).
fn refused<T>(r: Result<T, GatewayError>, what: &str) -> GatewayError {
    match r {
        Ok(_) => panic!("{what}: expected an error"),
        Err(e) => e,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn analyst_errors_are_specific() {
    let h = Harness::start().await;
    type Check = fn(&GatewayError) -> bool;
    let cases: [(&str, &str, Check); 7] = [
        (
            "SELECT * FROM xx_hf.persons",
            "unknown agency `xx_hf`",
            |e| matches!(e, GatewayError::UnknownAgency { agency, .. } if agency == "xx_hf"),
        ),
        (
            "SELECT * FROM bj_hf.nothing",
            "unknown dataset `bj_hf.nothing`",
            |e| matches!(e, GatewayError::UnknownDataset { dataset, .. } if dataset == "nothing"),
        ),
        ("SELEC name FROM bj_hf.persons", "bad SQL", |e| {
            matches!(e, GatewayError::Sql(_))
        }),
        (
            "SELECT * FROM persons",
            "must be named `<agency>.<dataset>`",
            |e| matches!(e, GatewayError::UnqualifiedTable(_)),
        ),
        (
            "SELECT no_such_column FROM bj_hf.persons",
            "no_such_column",
            |e| matches!(e, GatewayError::Sql(_)),
        ),
        ("DROP TABLE bj_hf.persons", "only read-only queries", |e| {
            matches!(e, GatewayError::NotAQuery(_))
        }),
        (
            "CREATE TABLE bj_hf.x AS SELECT 1",
            "only read-only queries",
            |e| matches!(e, GatewayError::NotAQuery(_)),
        ),
    ];
    for (sql, want, variant) in cases {
        let err = h.federated(sql).await.expect_err(sql);
        assert!(variant(&err), "{sql}: {err:?}");
        assert!(
            message(&err).contains(want),
            "{sql}: `{err}` should mention `{want}`"
        );
    }
    // The gateway keeps serving after refusals.
    assert!(
        !h.federated("SELECT count(*) FROM bj_hf.persons")
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn owner_refuses_sql_over_other_agencies_data() {
    let h = Harness::start().await;
    let owner = &h.cluster.gateway("sh_hf").unwrap().gateway.owner;
    let session = h.cluster.session("sh_hf").unwrap();
    let auth = || {
        let ctx = sluice_gateway::RequestContext::new(session.principal().clone(), purpose());
        Authenticated::from_session(&session, ctx).unwrap()
    };
    let err = refused(
        owner.fetch(auth(), "SELECT * FROM bj_hf.persons").await,
        "sh_hf must not answer for bj_hf",
    );
    assert!(
        matches!(err, GatewayError::UnknownDataset { .. }),
        "{err:?}"
    );
    let err = refused(
        owner
            .fetch(
                auth(),
                "INSERT INTO sh_hf.persons SELECT * FROM sh_hf.persons",
            )
            .await,
        "writes are refused",
    );
    assert!(matches!(err, GatewayError::NotAQuery(_)), "{err:?}");
}

async fn free_port() -> String {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    l.local_addr().unwrap().to_string()
}

/// A gateway config for agency `qa_hf`, with fresh identities under `dir`, that waits
/// 300 ms for a peer.
fn config(dir: &Path, extra: &str) -> (GatewayConfig, Identities) {
    let (identity, ids) = lone_identity(dir, "qa_hf");
    (config_text(dir, "qa_hf", 300, &identity, extra), ids)
}

fn config_text(
    dir: &Path,
    agency: &str,
    peer_timeout_ms: u64,
    identity: &str,
    extra: &str,
) -> GatewayConfig {
    let text = format!(
        "agency = \"{agency}\"\nlisten = \"127.0.0.1:0\"\npeer_timeout_ms = {peer_timeout_ms}\n{extra}\n{identity}\n[policy]\nopen = true\n\n[chain]\nnone = true\n"
    );
    GatewayConfig::parse(&text, &dir.join("qa.toml"), dir).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_peer_is_named_with_what_happened() {
    let dir = tempfile::tempdir().unwrap();
    let dead = free_port().await;
    let (cfg, ids) = config(
        dir.path(),
        &format!("[[peers]]\nagency = \"zz_hf\"\naddress = \"{dead}\"\n"),
    );
    let gw = Gateway::open(&cfg).await.unwrap();
    let started = std::time::Instant::now();
    let err = refused(
        gw.home
            .query(
                &caller_at(&gw, &ids, "qa_hf"),
                "SELECT * FROM zz_hf.persons",
            )
            .await,
        "peer is down",
    );
    match &err {
        GatewayError::PeerUnreachable {
            agency,
            address,
            waited,
            ..
        } => {
            assert_eq!(agency, "zz_hf");
            assert_eq!(address, &dead);
            assert_eq!(*waited, Duration::from_millis(300));
        }
        other => panic!("expected PeerUnreachable, got {other:?}"),
    }
    // Nothing listens at that port: the error says the connection was refused, not
    // that the peer took too long.
    assert!(
        err.to_string().contains("zz_hf") && err.to_string().contains("Connection refused"),
        "{err}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "gave up in time"
    );
}

/// A TCP proxy that forwards everything, then cuts both connections once `limit` bytes
/// have come back from upstream, as a network failure mid-stream would.
async fn cutting_proxy(upstream: String, limit: usize) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            let upstream = upstream.clone();
            tokio::spawn(async move {
                let Ok(mut server) = TcpStream::connect(&upstream).await else {
                    return;
                };
                let (mut cr, mut cw) = client.split();
                let (mut sr, mut sw) = server.split();
                let up = async {
                    let mut buf = [0u8; 8192];
                    loop {
                        match cr.read(&mut buf).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => {
                                if sw.write_all(&buf[..n]).await.is_err() {
                                    break;
                                }
                            }
                        }
                    }
                };
                let down = async {
                    let mut buf = [0u8; 8192];
                    let mut sent = 0;
                    while sent < limit {
                        match sr.read(&mut buf).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => {
                                let n = n.min(limit - sent);
                                if cw.write_all(&buf[..n]).await.is_err() {
                                    break;
                                }
                                sent += n;
                            }
                        }
                    }
                };
                tokio::select! { _ = up => {}, _ = down => {} }
            });
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peer_disconnecting_mid_stream_is_an_error_not_a_short_result() {
    let h = Harness::start().await;
    let proxy = cutting_proxy(h.cluster.address("sh_hf").unwrap(), 200_000).await;
    // A second gateway of bj_hf, with bj_hf's keys (sh_hf trusts only the agencies it
    // knows), reaches sh_hf through the proxy. The owner answers only once its access
    // entry is committed; under load that can take longer than the 300 ms the other
    // tests wait.
    let ids = &h.cluster.identities;
    let cfg = config_text(
        &ids.dir,
        "bj_hf",
        10_000,
        &ids.config_section("bj_hf").unwrap(),
        &format!("[[peers]]\nagency = \"sh_hf\"\naddress = \"{proxy}\"\n"),
    );
    let gw = Gateway::open(&cfg).await.unwrap();
    let mut stream = gw
        .home
        .query(
            &caller_at(&gw, ids, "bj_hf"),
            "SELECT * FROM sh_hf.contributions",
        )
        .await
        .unwrap();
    let mut rows = 0;
    let err = loop {
        match stream.next().await {
            Some(Ok(b)) => rows += b.num_rows(),
            Some(Err(e)) => break GatewayError::from_datafusion(e),
            None => {
                panic!("the stream ended cleanly after {rows} rows although the peer was cut off")
            }
        }
    };
    assert!(
        matches!(&err, GatewayError::PeerDisconnected { agency, .. } if agency == "sh_hf"),
        "{err:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn published_schema_that_does_not_match_the_data_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("people.csv"), "id,name\n1,ann\n2,bob\n").unwrap();
    let (cfg, _) = config(
        dir.path(),
        "[[datasets]]\nname = \"people\"\nconnector = { kind = \"csv\", path = \"people.csv\" }\ncolumns = [ { name = \"id\", type = \"Utf8\" }, { name = \"name\", type = \"Utf8\" } ]\n",
    );
    let err = Gateway::open(&cfg)
        .await
        .expect_err("id is an integer in the data");
    match &err {
        GatewayError::SchemaMismatch {
            dataset,
            column,
            published,
            actual,
        } => {
            assert_eq!(dataset, "qa_hf.people");
            assert_eq!(column, "id");
            assert_eq!(published, "Utf8");
            assert_eq!(actual, "Int64");
        }
        other => panic!("expected SchemaMismatch, got {other:?}"),
    }
    let (ok, ids) = config(
        dir.path(),
        "[[datasets]]\nname = \"people\"\nconnector = { kind = \"csv\", path = \"people.csv\" }\ncolumns = [ { name = \"id\", type = \"Int64\" } ]\n",
    );
    let gw = Gateway::open(&ok).await.unwrap();
    let batches: Vec<_> = gw
        .home
        .query(
            &caller_at(&gw, &ids, "qa_hf"),
            "SELECT name FROM qa_hf.people WHERE id = 2",
        )
        .await
        .unwrap()
        .collect::<Vec<_>>()
        .await;
    assert_eq!(
        batches
            .into_iter()
            .map(|b| b.unwrap().num_rows())
            .sum::<usize>(),
        1
    );
}

/// The rows of all `batches`, or the first error.
async fn count_rows(
    r: Result<datafusion::execution::SendableRecordBatchStream, GatewayError>,
) -> Result<Vec<i64>, String> {
    let stream = r.map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    for b in stream.collect::<Vec<_>>().await {
        let b = b.map_err(|e| GatewayError::from_datafusion(e).to_string())?;
        let c = b
            .column(0)
            .as_any()
            .downcast_ref::<arrow::array::Int64Array>()
            .unwrap();
        out.extend(c.values().iter().copied());
    }
    Ok(out)
}

/// A query that needs more memory, or more time, than its gateway gives one query is
/// stopped with an error that says which limit it passed, and the gateway goes on
/// answering.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_query_past_its_memory_or_time_is_stopped_by_name_and_the_gateway_keeps_serving() {
    let dir = tempfile::tempdir().unwrap();
    let mut csv = String::from("id,name\n");
    for i in 0..100_000 {
        csv.push_str(&format!("{i},name{i}\n"));
    }
    std::fs::write(dir.path().join("people.csv"), csv).unwrap();
    let dataset =
        "[[datasets]]\nname = \"people\"\nconnector = { kind = \"csv\", path = \"people.csv\" }\n";
    let count = "SELECT COUNT(*) FROM qa_hf.people";

    // Memory: a hash join must hold its build side, 100,000 rows, in 1 MiB.
    let (cfg, ids) = config(
        dir.path(),
        &format!("{dataset}[limits]\nquery_memory_mb = 1\n"),
    );
    assert_eq!(cfg.limits.memory, 1024 * 1024);
    let gw = Gateway::open(&cfg).await.unwrap();
    let caller = caller_at(&gw, &ids, "qa_hf");
    let join = "SELECT COUNT(*) FROM qa_hf.people a JOIN qa_hf.people b ON a.name = b.name";
    let err = count_rows(gw.home.query(&caller, join).await)
        .await
        .expect_err("the join's build side does not fit in 1 MiB");
    assert!(
        err.contains("more memory than a gateway gives one query"),
        "{err}"
    );
    assert_eq!(
        count_rows(gw.home.query(&caller, count).await)
            .await
            .unwrap(),
        [100_000]
    );

    // Time: a cross join of 10^10 rows, stopped at 1.5 s by the owner (or the home,
    // whichever is first), well before it could finish.
    let (cfg, ids) = config(
        dir.path(),
        &format!("{dataset}[limits]\nquery_time_ms = 1500\n"),
    );
    let gw = Gateway::open(&cfg).await.unwrap();
    let caller = caller_at(&gw, &ids, "qa_hf");
    let started = std::time::Instant::now();
    let cross = "SELECT COUNT(*) FROM qa_hf.people a CROSS JOIN qa_hf.people b";
    let err = count_rows(gw.home.query(&caller, cross).await)
        .await
        .expect_err("10^10 rows take longer than 1.5 s");
    assert!(
        err.contains("ran longer than the 1500 ms a gateway gives one query"),
        "{err}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "stopped in {:?}",
        started.elapsed()
    );
    assert_eq!(
        count_rows(gw.home.query(&caller, count).await)
            .await
            .unwrap(),
        [100_000]
    );
}

/// A database that goes away while a query reads it ends the query with an error that
/// names the dataset and the database, never a value, and the owner records on the chain
/// that the access it allowed failed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_lost_mid_query_fails_the_query_by_name_and_on_the_chain() {
    // At the analyst's own gateway, and at a peer: the cause crosses the wire whole.
    lose_the_database_mid_query(
        [Backend::Postgres, Backend::Parquet, Backend::Parquet],
        "bj_hf",
    )
    .await;
    lose_the_database_mid_query(
        [Backend::Parquet, Backend::Postgres, Backend::Parquet],
        "sh_hf",
    )
    .await;
}

/// `agency`'s persons, in PostgreSQL, lose their database connection while bj_hf's
/// analyst reads them.
async fn lose_the_database_mid_query(layout: [Backend; 3], agency: &str) {
    let h = Harness::start_on(layout).await;
    // The persons become a view that yields a row every 2 ms or so, long enough to be
    // cut off in the middle.
    let table = h.database_table(agency, "persons");
    postgres(&[
        format!("ALTER TABLE {table} RENAME TO {table}_rows"),
        format!(
            "CREATE VIEW {table} AS SELECT * FROM {table}_rows WHERE pg_sleep(0.002)::text = ''"
        ),
    ])
    .await;
    // Once the owner's statement runs in PostgreSQL, end its session.
    let cut = {
        let table = table.clone();
        tokio::spawn(async move {
            for _ in 0..200 {
                if postgres_terminate_running(&table).await > 0 {
                    return true;
                }
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
            false
        })
    };
    let qid = sluice_gateway::QueryId::new();
    let err = match h
        .federated_with_id(
            &qid,
            &format!("SELECT person_id, name FROM {agency}.persons"),
        )
        .await
    {
        Ok(b) => panic!(
            "the query should fail, got {} rows",
            b.iter().map(|b| b.num_rows()).sum::<usize>()
        ),
        Err(e) => e.to_string(),
    };
    assert!(
        cut.await.unwrap(),
        "the statement was never seen running: {err}"
    );
    assert!(err.contains(&format!("{agency}.persons")), "{err}");
    assert!(err.contains("127.0.0.1:5432/test"), "{err}");
    assert!(
        err.contains("terminat") || err.contains("connection"),
        "PostgreSQL's reason reaches the analyst: {err}"
    );
    assert!(
        !err.contains("Wang") && !err.contains("1100"),
        "a value in: {err}"
    );

    let store = h.cluster.chain(agency).unwrap().store();
    let failed = wait_for(store, "failure entry", |b| {
        matches!(b, sluice_chain::entry::Body::AccessRefused(d)
            if d.query_id.starts_with(qid.as_str()) && d.reason.contains("failed while running"))
    })
    .await;
    let allowed = wait_for(store, "access entry", |b| {
        matches!(b, sluice_chain::entry::Body::AccessAllowed(d) if d.query_id.starts_with(qid.as_str()))
    })
    .await;
    assert!(allowed.index < failed.index);
    postgres(&[
        format!("DROP VIEW {table}"),
        format!("ALTER TABLE {table}_rows RENAME TO {table}"),
    ])
    .await;
    h.stop().await;
}
