//! Mutual TLS between agencies, through tonic's rustls support. Every certificate must
//! chain to the federation CA; a gateway serves with its agency's certificate, asks
//! peers for theirs (analysts, who log in with a password, present none), and connects
//! to a peer under the DNS name that peer's agency's certificate carries.

use std::sync::Arc;

use sluice_core::AgencyId;
use tonic::transport::{Certificate, ClientTlsConfig, Identity, ServerTlsConfig};

use super::agency::AgencyKeys;
use super::ca::agency_of;
use crate::error::{GatewayError, Result};

/// How long a TLS handshake may take before the connection is dropped.
const HANDSHAKE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// One gateway's TLS material: the CA it trusts and its own certificate and key.
#[derive(Clone)]
pub struct TlsSettings {
    ca: Certificate,
    identity: Identity,
}

impl std::fmt::Debug for TlsSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsSettings").finish_non_exhaustive()
    }
}

impl TlsSettings {
    pub fn new(ca_pem: &str, keys: &AgencyKeys) -> Self {
        TlsSettings {
            ca: Certificate::from_pem(ca_pem),
            identity: Identity::from_pem(keys.tls_cert_pem(), keys.tls_key_pem()),
        }
    }

    /// The gateway's server side: its certificate, and client certificates that must
    /// chain to the CA when presented.
    pub fn server(&self) -> ServerTlsConfig {
        ServerTlsConfig::new()
            .identity(self.identity.clone())
            .client_ca_root(self.ca.clone())
            .client_auth_optional(true)
            .timeout(HANDSHAKE_TIMEOUT)
    }

    /// A chain node's server side: every caller must present a certificate.
    pub fn server_requiring_clients(&self) -> ServerTlsConfig {
        self.server().client_auth_optional(false)
    }

    /// Mutual TLS for this agency's chain node: callers must present a certificate, and
    /// are heard only as the agency it names.
    pub fn chain_peers(&self) -> sluice_chain::PeerTls {
        let me = self.clone();
        sluice_chain::PeerTls {
            server: self.server_requiring_clients(),
            client_for: Arc::new(move |agency: &str| match AgencyId::parse(agency) {
                Ok(a) => me.client_for(&a),
                // Member agencies were validated when the config loaded; an invalid one
                // gets a name no certificate carries, so the handshake fails.
                Err(_) => me.client_for_name("invalid.agency.sluice"),
            }),
            agency_of: Arc::new(|der: &[u8]| agency_of(der).ok().map(|a| a.to_string())),
        }
    }

    /// Connecting to `peer`'s gateway or chain node, presenting this agency's
    /// certificate.
    pub fn client_for(&self, peer: &AgencyId) -> ClientTlsConfig {
        self.client_for_name(&peer.tls_server_name())
    }

    fn client_for_name(&self, name: &str) -> ClientTlsConfig {
        ClientTlsConfig::new()
            .ca_certificate(self.ca.clone())
            .identity(self.identity.clone())
            .domain_name(name)
            .timeout(HANDSHAKE_TIMEOUT)
    }
}

/// An analyst connecting to the home gateway of `agency`: the gateway must present that
/// agency's certificate from the CA; the analyst presents none.
pub fn analyst_client(ca_pem: &str, agency: &AgencyId) -> ClientTlsConfig {
    ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(ca_pem))
        .domain_name(agency.tls_server_name())
        .timeout(HANDSHAKE_TIMEOUT)
}

/// The agency the caller's TLS client certificate names, if it presented one. The
/// certificate already chained to the CA during the handshake.
pub fn caller_agency<T>(request: &tonic::Request<T>) -> Result<Option<AgencyId>> {
    let Some(certs) = request.peer_certs() else {
        return Ok(None);
    };
    let certs: Arc<Vec<_>> = certs;
    match certs.first() {
        None => Ok(None),
        Some(leaf) => agency_of(leaf.as_ref())
            .map(Some)
            .map_err(|e| GatewayError::Unauthenticated(format!("client certificate: {e}"))),
    }
}
