//! Starting this gateway's node of the audit chain from its `[chain]` section: its
//! signing key, the members' trust bundle, and the peer listener.

use std::sync::Arc;

use sluice_chain::{AgencySigner, ChainNode, Member, NodeConfig, TrustBundle};
use sluice_core::AgencyId;

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
    let voters = config
        .members
        .iter()
        .filter(|m| m.voter)
        .map(member)
        .collect();
    let mut node_config = NodeConfig::new(config.node_id, &config.data_dir, voters);
    node_config.learners = config
        .members
        .iter()
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
