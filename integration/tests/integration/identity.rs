//! Who may ask, proved over real sockets: gateways present certificates from the
//! federation CA and sign every sub-query, analysts log in at their own gateway, and
//! owners seal results to the requester. Each case below is refused with a clear
//! error, and each refusal that reaches an owner is recorded on its chain.

use std::time::{Duration, Instant};

use chrono::{Days, Utc};
use futures::StreamExt;
use prost::Message as _;
use sha2::{Digest as _, Sha256};
use sluice_chain::entry::Body;
use sluice_chain::{ChainStore, TraceFilter};
use sluice_examples::identities;
use sluice_gateway::identity::agency::{Addresses, AgencyKeys, CertificateSource, init};
use sluice_gateway::identity::tls::{TlsSettings, analyst_client};
use sluice_gateway::identity::{ca, envelope};
use sluice_gateway::seal::{OpenError, Opener, SealedFrame, StreamDigest};
use sluice_gateway::{AgencyId, AnalystClient, GatewayError, Principal, QueryId, RequestContext};
use sluice_proto::GatewayClient;
use sluice_proto::v1::{self, result_frame::Frame};
use tonic::transport::{Channel, ClientTlsConfig};

use super::audit::wait_for;
use super::common::{Harness, keys, peer_client, purpose};

const ROLES: [&str; 1] = ["fund_analyst"];

fn roles() -> Vec<String> {
    ROLES.iter().map(|r| r.to_string()).collect()
}

fn ctx(principal: &str) -> RequestContext {
    RequestContext {
        principal: Principal::parse(principal).unwrap(),
        purpose: purpose(),
        query_id: QueryId::new(),
    }
}

/// A channel to `h`'s gateway of `to` with `tls`, or the reason it could not open.
async fn channel(h: &Harness, to: &str, tls: ClientTlsConfig) -> Result<Channel, String> {
    sluice_gateway::peer::remote::connect(
        &h.cluster.address(to).unwrap(),
        tls,
        Duration::from_secs(5),
    )
    .await
}

/// Sends a sub-query and collects its frames; the error is the call's status text.
async fn fetch(
    client: &mut GatewayClient<Channel>,
    signed: v1::SignedRequest,
    sql: &str,
) -> Result<Vec<v1::ResultFrame>, tonic::Status> {
    let mut stream = client
        .fetch(v1::FetchRequest {
            request: Some(signed),
            sql: sql.into(),
        })
        .await?
        .into_inner();
    let mut frames = Vec::new();
    while let Some(f) = stream.next().await {
        frames.push(f?);
    }
    Ok(frames)
}

/// As `fetch`, over a fresh channel with `tls`: the handshake or the call is refused.
async fn fetch_with(h: &Harness, tls: ClientTlsConfig, signed: v1::SignedRequest) -> String {
    let sql = "SELECT COUNT(*) FROM sh_hf.loans";
    match channel(h, "sh_hf", tls).await {
        Err(reason) => reason,
        Ok(ch) => match fetch(&mut GatewayClient::new(ch), signed, sql).await {
            Ok(_) => panic!("the owner answered a caller it must refuse"),
            Err(s) => format!("{:?}: {}", s.code(), s.message()),
        },
    }
}

/// The refusals `store` recorded for requests from `agency`'s gateway, as reasons.
fn authentication_refusals(store: &ChainStore, agency: &str) -> Vec<String> {
    store
        .trace(&TraceFilter::default())
        .unwrap()
        .into_iter()
        .filter_map(|hit| match &hit.entry.entry().body {
            Body::AccessRefused(d)
                if d.purpose == "authentication" && d.principal == format!("{agency}/gateway") =>
            {
                Some(d.reason.clone())
            }
            _ => None,
        })
        .collect()
}

/// Waits until `store` has recorded a refusal from `agency` whose reason contains
/// `needle`.
async fn wait_for_refusal(store: &ChainStore, agency: &str, needle: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if authentication_refusals(store, agency)
            .iter()
            .any(|r| r.contains(needle))
        {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "no refusal containing `{needle}` on the chain: {:?}",
            authentication_refusals(store, agency)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// An envelope signed by `keys` with every field chosen by the test.
fn envelope_at(
    keys: &AgencyKeys,
    ctx: &RequestContext,
    sql: &str,
    time_ms: u64,
) -> v1::SignedRequest {
    let envelope = v1::RequestEnvelope {
        requester: keys.agency().to_string(),
        context: Some(ctx.to_proto()),
        roles: roles(),
        sql_sha256: Sha256::digest(sql.as_bytes()).to_vec(),
        nonce: Sha256::digest(QueryId::new().as_str().as_bytes())[..16].to_vec(),
        time_ms,
        hpke_public_key: sluice_gateway::seal::public_bytes(&keys.hpke_public()),
    }
    .encode_to_vec();
    let signature = keys.sign_request(&envelope).to_vec();
    v1::SignedRequest {
        envelope,
        signature,
    }
}

/// Fresh keys for `agency` in `dir`, with a certificate from `h`'s federation CA valid
/// from `from` to `to`.
fn keys_with_certificate(
    h: &Harness,
    dir: &std::path::Path,
    agency: &str,
    from: chrono::NaiveDate,
    to: chrono::NaiveDate,
) -> AgencyKeys {
    let agency = AgencyId::parse(agency).unwrap();
    let issued = ca::issue(&h.cluster.identities.dir.join("ca"), &agency, from, to).unwrap();
    let (cert, key) = (dir.join("issued.crt"), dir.join("issued.key"));
    std::fs::write(&cert, &issued.cert_pem).unwrap();
    std::fs::write(&key, &issued.key_pem).unwrap();
    let keys = dir.join("keys");
    init(
        &agency,
        &keys,
        CertificateSource::Existing {
            cert: &cert,
            key: &key,
        },
        Addresses::default(),
    )
    .unwrap();
    AgencyKeys::load(&keys, &agency).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn gateways_without_the_right_certificate_are_refused() {
    let h = Harness::start().await;
    let ca_pem = h.cluster.identities.ca_pem().unwrap();
    let bj = keys(&h.cluster, "bj_hf");
    let sh = AgencyId::parse("sh_hf").unwrap();
    let signed = || {
        envelope::sign(
            &bj,
            &ctx("bj_hf/analyst"),
            &roles(),
            "SELECT COUNT(*) FROM sh_hf.loans",
        )
        .unwrap()
    };

    // No client certificate: refused before the owner, and not recorded.
    let err = fetch_with(&h, analyst_client(&ca_pem, &sh), signed()).await;
    assert!(
        err.contains("Unauthenticated") && err.contains("client certificate"),
        "{err}"
    );

    // A certificate from a CA the federation does not trust.
    let other = tempfile::tempdir().unwrap();
    let stranger = identities::create(other.path(), &[("bj_hf", Addresses::default())]).unwrap();
    let stranger_keys = AgencyKeys::load(
        &stranger.get("bj_hf").unwrap().keys_dir,
        &AgencyId::parse("bj_hf").unwrap(),
    )
    .unwrap();
    let err = fetch_with(
        &h,
        TlsSettings::new(&ca_pem, &stranger_keys).client_for(&sh),
        signed(),
    )
    .await;
    assert!(!err.is_empty(), "refused: {err}");

    // An expired certificate from the right CA.
    let today = Utc::now().date_naive();
    let expired = tempfile::tempdir().unwrap();
    let old = keys_with_certificate(
        &h,
        expired.path(),
        "bj_hf",
        today - Days::new(30),
        today - Days::new(2),
    );
    let err = fetch_with(
        &h,
        TlsSettings::new(&ca_pem, &old).client_for(&sh),
        signed(),
    )
    .await;
    assert!(!err.is_empty(), "refused: {err}");

    // A server that is not the agency the client asked for: bj_hf expects cd_hf's
    // certificate at sh_hf's address.
    let cd = AgencyId::parse("cd_hf").unwrap();
    let err = fetch_with(&h, TlsSettings::new(&ca_pem, &bj).client_for(&cd), signed()).await;
    assert!(!err.is_empty(), "refused: {err}");

    // cd_hf's certificate with an envelope that claims bj_hf.
    let mut as_cd = peer_client(&h.cluster, "cd_hf", "sh_hf").await;
    let err = fetch(&mut as_cd, signed(), "SELECT COUNT(*) FROM sh_hf.loans")
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unauthenticated);
    assert!(
        err.message().contains("bj_hf") && err.message().contains("cd_hf"),
        "{}",
        err.message()
    );
    let store = h.cluster.chain("sh_hf").unwrap().store();
    wait_for_refusal(store, "cd_hf", "client certificate").await;

    // None of the refused callers got through, and the right one still does.
    let mut as_bj = peer_client(&h.cluster, "bj_hf", "sh_hf").await;
    let frames = fetch(&mut as_bj, signed(), "SELECT COUNT(*) FROM sh_hf.loans")
        .await
        .unwrap();
    assert!(frames.len() >= 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn signed_requests_cannot_be_forged_replayed_or_delayed() {
    let h = Harness::start().await;
    let bj = keys(&h.cluster, "bj_hf");
    let store = h.cluster.chain("sh_hf").unwrap().store();
    let mut client = peer_client(&h.cluster, "bj_hf", "sh_hf").await;
    let sql = "SELECT COUNT(*) FROM sh_hf.loans";
    let refused = |r: Result<Vec<v1::ResultFrame>, tonic::Status>| {
        let s = r.expect_err("the owner must refuse");
        assert_eq!(s.code(), tonic::Code::Unauthenticated, "{}", s.message());
        s.message().to_string()
    };

    // bj_hf's gateway cannot speak for sh_hf's officer.
    let forged = envelope::sign(&bj, &ctx("sh_hf/officer"), &roles(), sql).unwrap();
    let m = refused(fetch(&mut client, forged, sql).await);
    assert!(m.contains("cannot speak for `sh_hf/officer`"), "{m}");
    wait_for_refusal(store, "bj_hf", "cannot speak for").await;

    // A bad signature.
    let mut bad = envelope::sign(&bj, &ctx("bj_hf/analyst"), &roles(), sql).unwrap();
    bad.signature[7] ^= 1;
    let m = refused(fetch(&mut client, bad, sql).await);
    assert!(m.contains("signature does not verify"), "{m}");

    // A signature over other SQL.
    let other = envelope::sign(&bj, &ctx("bj_hf/analyst"), &roles(), "SELECT 1").unwrap();
    let m = refused(fetch(&mut client, other, sql).await);
    assert!(m.contains("not the SQL the envelope signs"), "{m}");

    // The same request twice: the second is a replay.
    let once = envelope::sign(&bj, &ctx("bj_hf/analyst"), &roles(), sql).unwrap();
    fetch(&mut client, once.clone(), sql).await.unwrap();
    let m = refused(fetch(&mut client, once, sql).await);
    assert!(m.contains("replay"), "{m}");

    // A request made two minutes ago, outside the ±60 s window, and one from the future.
    for skew in [-120_000i64, 120_000] {
        let at = envelope::now_ms().saturating_add_signed(skew);
        let stale = envelope_at(&bj, &ctx("bj_hf/analyst"), sql, at);
        let m = refused(fetch(&mut client, stale, sql).await);
        assert!(m.contains("stale") && m.contains("window"), "{m}");
    }

    // No envelope at all.
    let s = client
        .fetch(v1::FetchRequest {
            request: None,
            sql: sql.into(),
        })
        .await
        .expect_err("no envelope");
    assert_eq!(s.code(), tonic::Code::Unauthenticated);

    // Repeats within one interval are folded into one more entry, not one each.
    wait_for_refusal(store, "bj_hf", "folded into this entry").await;
    let recorded = authentication_refusals(store, "bj_hf");
    assert!(recorded.len() <= 3, "{recorded:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_flood_of_bad_requests_does_not_flood_the_chain() {
    let h = Harness::start().await;
    let bj = keys(&h.cluster, "bj_hf");
    let store = h.cluster.chain("sh_hf").unwrap().store();
    let before = store.len().unwrap();
    let sql = "SELECT COUNT(*) FROM sh_hf.loans";
    let mut client = peer_client(&h.cluster, "bj_hf", "sh_hf").await;
    let ca_pem = h.cluster.identities.ca_pem().unwrap();
    let anonymous = channel(
        &h,
        "sh_hf",
        analyst_client(&ca_pem, &AgencyId::parse("sh_hf").unwrap()),
    )
    .await
    .unwrap();
    let mut anonymous = GatewayClient::new(anonymous);
    for _ in 0..200 {
        let mut bad = envelope::sign(&bj, &ctx("bj_hf/analyst"), &roles(), sql).unwrap();
        bad.signature[0] ^= 1;
        fetch(&mut client, bad.clone(), sql).await.unwrap_err();
        fetch(&mut anonymous, bad, sql).await.unwrap_err();
    }
    // The first refusal of an interval is recorded at once, the rest of the interval's
    // as one folded entry at its end; the anonymous ones never reach the chain.
    let counted = |reasons: &[String]| -> u64 {
        reasons
            .iter()
            .map(
                |r| match r.split("refused ").nth(1).and_then(|t| t.split(' ').next()) {
                    Some(n) if r.contains("more requests") => n.parse().unwrap(),
                    _ => 1,
                },
            )
            .sum()
    };
    let deadline = Instant::now() + Duration::from_secs(40);
    while counted(&authentication_refusals(store, "bj_hf")) < 200 {
        assert!(
            Instant::now() < deadline,
            "{:#?}",
            authentication_refusals(store, "bj_hf")
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let recorded = authentication_refusals(store, "bj_hf");
    assert_eq!(counted(&recorded), 200, "{recorded:#?}");
    assert!(recorded.len() <= 4, "{recorded:#?}");
    let grown = store.len().unwrap() - before;
    assert!(grown <= 4, "the chain grew by {grown}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn analysts_are_who_their_credentials_say() {
    let h = Harness::start().await;
    let ca_pem = h.cluster.identities.ca_pem().unwrap();
    let bj = AgencyId::parse("bj_hf").unwrap();
    let address = h.cluster.address("bj_hf").unwrap();
    let connect = || AnalystClient::connect(&address, &bj, &ca_pem, Duration::from_secs(5));
    let analyst = h.cluster.identities.get("bj_hf").unwrap();

    // A wrong password, and a user the gateway does not know.
    for (who, password) in [
        ("bj_hf/analyst", "not the password"),
        ("bj_hf/mallory", analyst.password.as_str()),
    ] {
        let err = connect()
            .await
            .unwrap()
            .login(who, password)
            .await
            .unwrap_err();
        assert!(
            matches!(err, GatewayError::Unauthenticated(_)),
            "{who}: {err:?}"
        );
    }
    // Another agency's analyst cannot log in here.
    let sh = h.cluster.identities.get("sh_hf").unwrap();
    let err = connect()
        .await
        .unwrap()
        .login("sh_hf/analyst", &sh.password)
        .await
        .unwrap_err();
    assert!(matches!(err, GatewayError::Unauthenticated(_)), "{err:?}");

    // No credentials at all.
    let err = connect()
        .await
        .unwrap()
        .query_all(&purpose(), "SELECT 1")
        .await
        .unwrap_err();
    assert!(
        matches!(&err, GatewayError::Unauthenticated(m) if m.contains("sluice login")),
        "{err:?}"
    );

    // A made-up token, and bj_hf's token at sh_hf's gateway.
    let mut client = connect().await.unwrap();
    let token = client
        .login("bj_hf/analyst", &analyst.password)
        .await
        .unwrap();
    let err = connect()
        .await
        .unwrap()
        .with_token(format!("{}x", &token[..token.len() - 1]))
        .query_all(&purpose(), "SELECT 1")
        .await
        .unwrap_err();
    assert!(matches!(err, GatewayError::Unauthenticated(_)), "{err:?}");
    let at_sh = AnalystClient::connect(
        &h.cluster.address("sh_hf").unwrap(),
        &AgencyId::parse("sh_hf").unwrap(),
        &ca_pem,
        Duration::from_secs(5),
    )
    .await
    .unwrap()
    .with_token(token.clone());
    let err = at_sh.query_all(&purpose(), "SELECT 1").await.unwrap_err();
    assert!(matches!(err, GatewayError::Unauthenticated(_)), "{err:?}");

    // A request that tries to set the principal itself.
    let ch = channel(&h, "bj_hf", analyst_client(&ca_pem, &bj))
        .await
        .unwrap();
    let mut raw = GatewayClient::new(ch);
    let mut req = tonic::Request::new(v1::QueryRequest {
        context: Some(v1::RequestContext {
            principal: "sh_hf/officer".into(),
            purpose: "integration_test".into(),
            query_id: String::new(),
        }),
        sql: "SELECT COUNT(*) FROM sh_hf.loans".into(),
    });
    req.metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    let Err(s) = raw.query(req).await else {
        panic!("the principal field is refused");
    };
    assert!(
        s.message().contains("comes from your credentials"),
        "{}",
        s.message()
    );

    // The logged-in analyst queries, and the owner records the principal of the session.
    let qid = QueryId::new();
    let mut stream = client
        .query_with_id(&purpose(), &qid, "SELECT COUNT(*) FROM sh_hf.loans")
        .await
        .unwrap();
    while let Some(b) = stream.next().await {
        b.unwrap();
    }
    let store = h.cluster.chain("sh_hf").unwrap().store();
    let allowed = wait_for(
        store,
        "access entry",
        |b| matches!(b, Body::AccessAllowed(d) if d.query_id.starts_with(qid.as_str())),
    )
    .await;
    let Body::AccessAllowed(d) = &allowed.entry.entry().body else {
        unreachable!()
    };
    assert_eq!(d.principal, "bj_hf/analyst");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sealed_frames_open_only_whole_in_order_and_for_the_requester() {
    let h = Harness::start().await;
    let bj = keys(&h.cluster, "bj_hf");
    let mut client = peer_client(&h.cluster, "bj_hf", "sh_hf").await;
    let sql = "SELECT person_id, month, amount FROM sh_hf.contributions";
    let request = ctx("bj_hf/analyst");
    let signed = envelope::sign(&bj, &request, &roles(), sql).unwrap();
    let frames = fetch(&mut client, signed, sql).await.unwrap();
    let Some(Frame::SealedStart(start)) = frames.first().and_then(|f| f.frame.clone()) else {
        panic!(
            "a sealed result starts with its encapsulated key: {:?}",
            frames.first()
        );
    };
    let sealed: Vec<SealedFrame> = frames[1..]
        .iter()
        .map(|f| match &f.frame {
            Some(Frame::Sealed(s)) => SealedFrame {
                seq: s.seq,
                last: s.last,
                ciphertext: s.ciphertext.to_vec(),
            },
            other => panic!("every later frame is sealed: {other:?}"),
        })
        .collect();
    assert!(
        sealed.len() >= 3,
        "schema, batches, summary: {}",
        sealed.len()
    );
    let qid = request.query_id.to_string();
    let open_all = |frames: &[SealedFrame], key: &AgencyKeys| -> Result<(), OpenError> {
        let mut opener = Opener::new(key.hpke_secret(), &start.encapsulated_key, &qid)?;
        for f in frames {
            opener.open(f)?;
        }
        opener.finish()
    };

    // Whole and in order, it opens, and its digest, recomputed from what arrived, is the
    // one the owner recorded.
    open_all(&sealed, &bj).unwrap();
    let mut digest = StreamDigest::new(&start.encapsulated_key);
    sealed.iter().for_each(|f| digest.add(f));
    let digest = digest.finish();
    let store = h.cluster.chain("sh_hf").unwrap().store();
    let completed = wait_for(
        store,
        "completion entry",
        |b| matches!(b, Body::AccessCompleted(c) if c.query_id == qid),
    )
    .await;
    let Body::AccessCompleted(c) = &completed.entry.entry().body else {
        unreachable!()
    };
    assert_eq!(
        c.digest, digest,
        "the completion carries the sealed stream's digest"
    );

    // A flipped bit.
    let mut tampered = sealed.clone();
    tampered[1].ciphertext[3] ^= 0x20;
    assert_eq!(open_all(&tampered, &bj), Err(OpenError::Tampered(1)));
    // A relabelled frame: its sequence number is in the associated data.
    let mut relabelled = sealed.clone();
    relabelled.swap(1, 2);
    relabelled[1].seq = 1;
    relabelled[2].seq = 2;
    assert_eq!(open_all(&relabelled, &bj), Err(OpenError::Tampered(1)));
    // Reordered, dropped, replayed.
    let mut reordered = sealed.clone();
    reordered.swap(1, 2);
    assert!(matches!(
        open_all(&reordered, &bj),
        Err(OpenError::OutOfOrder {
            expected: 1,
            got: 2
        })
    ));
    let mut dropped = sealed.clone();
    dropped.remove(1);
    assert!(matches!(
        open_all(&dropped, &bj),
        Err(OpenError::OutOfOrder { .. })
    ));
    let mut replayed = sealed.clone();
    replayed.insert(2, sealed[1].clone());
    assert!(matches!(
        open_all(&replayed, &bj),
        Err(OpenError::OutOfOrder {
            expected: 2,
            got: 1
        })
    ));
    // Truncated: everything but the marked last frame.
    assert_eq!(
        open_all(&sealed[..sealed.len() - 1], &bj),
        Err(OpenError::Truncated(sealed.len() as u64 - 1))
    );
    // The last frame, moved to the end of a shorter stream, still carries its number.
    let mut cut = sealed[..2].to_vec();
    cut.push(sealed[sealed.len() - 1].clone());
    assert!(matches!(
        open_all(&cut, &bj),
        Err(OpenError::OutOfOrder { .. })
    ));
    // Another agency's key opens nothing.
    let cd = keys(&h.cluster, "cd_hf");
    assert!(open_all(&sealed, &cd).is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_chain_node_that_is_not_a_member_is_not_heard() {
    use openraft::Vote;
    use openraft::raft::VoteRequest;
    use sluice_proto::chain_v1::RaftMessage;
    use sluice_proto::chain_v1::chain_peer_client::ChainPeerClient;

    let h = Harness::start().await;
    let ca_pem = h.cluster.identities.ca_pem().unwrap();
    let sh = AgencyId::parse("sh_hf").unwrap();
    let address = h.cluster.chain("sh_hf").unwrap().addr().to_string();
    // A vote request for a far-ahead term: heard, it would depose the leader.
    let vote = |node: u64| RaftMessage {
        body: sluice_chain::raft::encode(&VoteRequest::<u64>::new(Vote::new(99, node), None))
            .unwrap(),
    };
    let ask = |tls: ClientTlsConfig, node: u64| {
        let address = address.clone();
        async move {
            let channel =
                sluice_gateway::peer::remote::connect(&address, tls, Duration::from_secs(5))
                    .await?;
            ChainPeerClient::new(channel)
                .vote(vote(node))
                .await
                .map(|_| ())
                .map_err(|s| format!("{:?}: {}", s.code(), s.message()))
        }
    };

    // qa_hf holds a certificate from the federation CA but runs no node of this chain.
    let dir = tempfile::tempdir().unwrap();
    let today = Utc::now().date_naive();
    let qa = keys_with_certificate(
        &h,
        dir.path(),
        "qa_hf",
        today - Days::new(1),
        today + Days::new(30),
    );
    let err = ask(TlsSettings::new(&ca_pem, &qa).client_for(&sh), 9)
        .await
        .unwrap_err();
    assert!(
        err.contains("PermissionDenied") && err.contains("runs no node"),
        "{err}"
    );

    // cd_hf runs node 3; it cannot speak for bj_hf's node 1.
    let cd = keys(&h.cluster, "cd_hf");
    let err = ask(TlsSettings::new(&ca_pem, &cd).client_for(&sh), 1)
        .await
        .unwrap_err();
    assert!(
        err.contains("PermissionDenied") && err.contains("cannot speak for chain node 1"),
        "{err}"
    );

    // No certificate at all: the chain's TLS requires one.
    let err = ask(analyst_client(&ca_pem, &sh), 3).await.unwrap_err();
    assert!(!err.is_empty());

    // The cluster kept its leader and still records accesses.
    h.federated("SELECT COUNT(*) FROM sh_hf.loans")
        .await
        .unwrap();
    assert!(h.cluster.chain("sh_hf").unwrap().leader().await.is_some());
}
