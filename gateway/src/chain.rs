//! This gateway's node of the audit chain: starting it from the `[chain]` section (its
//! signing key, the members' trust bundle, the peer listener), and the chain officers'
//! membership changes, which the node signs in this agency's name.

use std::sync::Arc;

use sluice_chain::entry::{Body, MemberRole, MembershipAction, MembershipChange};
use sluice_chain::membership::Roster;
use sluice_chain::{AgencySigner, ChainNode, Entry, Member, NodeConfig, TrustBundle};
use sluice_core::AgencyId;
use sluice_proto::v1;

use crate::config::{ChainConfig, ChainMemberConfig};
use crate::error::{GatewayError, Result};
use crate::keys::read_key_file;

/// The trust bundle a chain config names: every member's public key.
pub fn trust_bundle(config: &ChainConfig) -> Result<TrustBundle> {
    let mut trust = TrustBundle::new();
    for m in &config.members {
        trust.insert_bytes(m.agency.as_str(), &m.public_key)?;
    }
    Ok(trust)
}

/// Starts `agency`'s chain node as its `[chain]` section says, signing with
/// `identity_seed` (the `[identity]` signing key) unless the section names a key file,
/// and talking to the other nodes over mutual TLS with `tls`. The node serves on
/// `listener` if one is given (bound by the caller to the section's `listen`), else it
/// binds that address itself.
pub async fn start_node(
    agency: &AgencyId,
    config: &ChainConfig,
    identity_seed: [u8; 32],
    tls: sluice_chain::PeerTls,
    listener: Option<tokio::net::TcpListener>,
) -> Result<Arc<ChainNode>> {
    let seed = match &config.key_file {
        Some(f) => read_key_file(f)?,
        None => identity_seed,
    };
    let signer = AgencySigner::from_seed(agency.as_str(), seed)?;
    let own = config
        .members
        .iter()
        .find(|m| m.id == config.node_id)
        .ok_or_else(|| GatewayError::Internal("the chain config lost its own node".into()))?;
    if signer.verifying_key().to_bytes() != own.public_key {
        return Err(GatewayError::KeyFile {
            file: config
                .key_file
                .clone()
                .unwrap_or_else(|| "the [identity] signing key".into()),
            message: format!(
                "this key's public half is not the public_key the chain members list for `{agency}`"
            ),
        });
    }
    let member = |m: &ChainMemberConfig| Member {
        id: m.id,
        agency: m.agency.to_string(),
        addr: m.address.clone(),
    };
    // A joining agency's own entry is not part of the membership the chain started with,
    // which every node must start from alike.
    let bootstrap = |m: &&ChainMemberConfig| !(config.joining && m.id == config.node_id);
    let voters = config
        .members
        .iter()
        .filter(bootstrap)
        .filter(|m| m.voter)
        .map(member)
        .collect();
    let mut node_config = NodeConfig::new(config.node_id, &config.data_dir, voters);
    node_config.learners = config
        .members
        .iter()
        .filter(bootstrap)
        .filter(|m| !m.voter)
        .map(member)
        .collect();
    node_config.origin = config.origin.clone();
    node_config.tls = Some(tls);
    node_config.append_timeout = config.append_timeout;
    if let Some(k) = config.checkpoint_quorum {
        node_config.checkpoint_quorum = k;
    }
    let listener = match listener {
        Some(l) => l,
        None => tokio::net::TcpListener::bind(config.listen)
            .await
            .map_err(|e| GatewayError::Transport(format!("chain listen {}: {e}", config.listen)))?,
    };
    let node = ChainNode::start(node_config, signer, trust_bundle(config)?, listener).await?;
    Ok(Arc::new(node))
}

/// The role an agency gives the users who may sign membership changes in its name
/// (`sluice user add bj_hf/ops --role chain_officer`).
pub const CHAIN_OFFICER: &str = "chain_officer";

/// How long a membership change waits for this gateway's own node to apply it.
const APPLIED_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// Signs the change `request` asks for in `node`'s agency's name and appends it; says
/// whether it took effect. Joins carry the new member's node, address and key; the other
/// actions take them from the roster.
pub async fn propose_membership(
    node: &ChainNode,
    request: &v1::MembershipRequest,
) -> Result<v1::MembershipResponse> {
    use v1::membership_request::Action;
    let agency = AgencyId::parse(&request.agency)?;
    let roster = node.roster()?;
    let current = roster.members().get(agency.as_str());
    let action = Action::try_from(request.action).unwrap_or(Action::Unspecified);
    let change = match (action, current) {
        (Action::Join, _) => MembershipChange {
            agency: agency.to_string(),
            action: MembershipAction::Join,
            role: MemberRole::Learner,
            public_key: request.public_key.as_slice().try_into().map_err(|_| {
                GatewayError::BadRequest(format!(
                    "the public key of `{agency}` has {} bytes, not 32",
                    request.public_key.len()
                ))
            })?,
            address: request.address.clone(),
            node: request.node,
        },
        (Action::Unspecified, _) => {
            return Err(GatewayError::BadRequest(
                "the membership request names no action".into(),
            ));
        }
        (_, None) => {
            return Err(GatewayError::BadRequest(format!(
                "`{agency}` is not a member of the chain"
            )));
        }
        (action, Some(m)) => MembershipChange {
            agency: agency.to_string(),
            action: if action == Action::Remove {
                MembershipAction::Leave
            } else {
                MembershipAction::Update
            },
            role: if action == Action::Demote {
                MemberRole::Learner
            } else {
                MemberRole::Voter
            },
            public_key: m.key,
            address: m.addr.clone(),
            node: m.node,
        },
    };
    let entry = Entry {
        author: node.agency().to_string(),
        time_ms: crate::identity::envelope::now_ms(),
        body: Body::Membership(change.clone()),
    };
    let committed = node.append(entry).await.map_err(|e| match e {
        sluice_chain::Error::Refused(reason) => {
            GatewayError::BadRequest(format!("the chain refused the change: {reason}"))
        }
        other => other.into(),
    })?;
    // Committed means the leader applied it; this node's roster shows it once this node
    // has applied it too.
    node.wait_for_size(committed.index() + 1, APPLIED_WAIT)
        .await?;
    let roster = node.roster()?;
    let pending = roster.pending().find(|(c, _)| **c == change);
    let needed = u32::try_from(roster.majority()).unwrap_or(u32::MAX);
    Ok(match pending {
        Some((_, signed)) => v1::MembershipResponse {
            index: committed.index(),
            effective: false,
            signed: u32::try_from(signed).unwrap_or(u32::MAX),
            needed,
        },
        None => v1::MembershipResponse {
            index: committed.index(),
            effective: true,
            signed: needed,
            needed,
        },
    })
}

/// The roster as `node` has applied it, and the changes waiting for signatures.
pub fn chain_members(roster: &Roster) -> v1::ChainMembersResponse {
    let needed = u32::try_from(roster.majority()).unwrap_or(u32::MAX);
    v1::ChainMembersResponse {
        members: roster
            .members()
            .iter()
            .map(|(agency, m)| v1::ChainMember {
                agency: agency.clone(),
                node: m.node,
                address: m.addr.clone(),
                role: m.role.as_str().into(),
            })
            .collect(),
        pending: roster
            .pending()
            .map(|(c, signed)| v1::PendingMembership {
                agency: c.agency.clone(),
                action: c.action.as_str().into(),
                role: c.role.as_str().into(),
                signed: u32::try_from(signed).unwrap_or(u32::MAX),
                needed,
            })
            .collect(),
    }
}
