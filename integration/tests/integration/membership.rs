//! Chain membership through the gateways, as chain officers change it: a change signed
//! by one agency's officer waits; the same change signed by a majority of the voters'
//! officers takes effect on every gateway's node. Analysts cannot sign, and incoherent
//! changes are refused with the chain's reason.

use std::time::{Duration, Instant};

use sluice_chain::AgencySigner;
use sluice_gateway::GatewayError;
use sluice_proto::v1::{ChainMembersResponse, MembershipRequest, membership_request::Action};

use super::common::Harness;

const AGENCIES: [&str; 3] = ["bj_hf", "sh_hf", "cd_hf"];

fn join() -> MembershipRequest {
    let key = AgencySigner::from_seed("gz_hf", [4; 32])
        .unwrap()
        .verifying_key()
        .to_bytes();
    MembershipRequest {
        action: Action::Join as i32,
        agency: "gz_hf".into(),
        node: 4,
        // Nothing listens there: the new member's node is not started in this test.
        address: "127.0.0.1:9".into(),
        public_key: key.to_vec(),
    }
}

fn member<'a>(members: &'a ChainMembersResponse, agency: &str) -> Option<&'a str> {
    members
        .members
        .iter()
        .find(|m| m.agency == agency)
        .map(|m| m.role.as_str())
}

/// Waits, boundedly, until every gateway lists `agency` with `role` (`None`: not at all).
async fn everywhere(h: &Harness, agency: &str, role: Option<&str>) {
    for a in AGENCIES {
        let officer = h.cluster.officer(a).await.unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let members = officer.chain_members().await.unwrap();
            if member(&members, agency) == role {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{a} lists {agency} as {:?}, not {role:?}",
                member(&members, agency)
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_majority_of_chain_officers_adds_and_removes_a_member() {
    let h = Harness::start().await;

    let analyst = h.cluster.analyst("bj_hf").await.unwrap();
    let err = analyst.propose_membership(join()).await.unwrap_err();
    assert!(
        matches!(&err, GatewayError::Forbidden(m) if m.contains("chain_officer")),
        "{err}"
    );

    let bj = h.cluster.officer("bj_hf").await.unwrap();
    let signed = bj.propose_membership(join()).await.unwrap();
    assert!(!signed.effective);
    assert_eq!((signed.signed, signed.needed), (1, 2));
    let pending = bj.chain_members().await.unwrap();
    assert_eq!(
        member(&pending, "gz_hf"),
        None,
        "one officer added a member"
    );
    assert_eq!(pending.pending.len(), 1);
    let again = bj.propose_membership(join()).await.unwrap_err();
    assert!(
        matches!(&again, GatewayError::BadRequest(m) if m.contains("already signed")),
        "{again}"
    );

    let sh = h.cluster.officer("sh_hf").await.unwrap();
    let taken = MembershipRequest { node: 1, ..join() };
    let err = sh.propose_membership(taken).await.unwrap_err();
    assert!(
        matches!(&err, GatewayError::BadRequest(m) if m.contains("node id 1 belongs to `bj_hf`")),
        "{err}"
    );
    let short_key = MembershipRequest {
        public_key: vec![1; 31],
        ..join()
    };
    let err = sh.propose_membership(short_key).await.unwrap_err();
    assert!(
        matches!(&err, GatewayError::BadRequest(m) if m.contains("31 bytes")),
        "{err}"
    );
    let effective = sh.propose_membership(join()).await.unwrap();
    assert!(effective.effective, "{effective:?}");
    everywhere(&h, "gz_hf", Some("learner")).await;

    // Removing it takes a majority again; a change about a non-member is refused.
    let cd = h.cluster.officer("cd_hf").await.unwrap();
    let stranger = MembershipRequest {
        action: Action::Promote as i32,
        agency: "xa_hf".into(),
        ..Default::default()
    };
    let err = cd.propose_membership(stranger).await.unwrap_err();
    assert!(
        matches!(&err, GatewayError::BadRequest(m) if m.contains("not a member")),
        "{err}"
    );
    let remove = MembershipRequest {
        action: Action::Remove as i32,
        agency: "gz_hf".into(),
        ..Default::default()
    };
    assert!(
        !cd.propose_membership(remove.clone())
            .await
            .unwrap()
            .effective
    );
    assert!(bj.propose_membership(remove).await.unwrap().effective);
    everywhere(&h, "gz_hf", None).await;
}
