//! What an agency's peers know of it: its public bundle (id, addresses, ed25519 and
//! HPKE public keys, TLS certificate), one `<agency>.bundle.toml` per agency in a trust
//! directory, in the way X-Road's global configuration lists its members.

use std::collections::BTreeMap;
use std::path::Path;

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use sluice_core::AgencyId;

use super::ca::{agency_of, first_der, io_error};
use crate::error::{GatewayError, Result};
use crate::seal;

/// The file a bundle is written to in a trust directory.
pub fn file_name(agency: &AgencyId) -> String {
    format!("{agency}.bundle.toml")
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBundle {
    agency: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    gateway: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    chain: Option<String>,
    signing_key: String,
    hpke_key: String,
    certificate: String,
}

/// One agency's public identity.
#[derive(Clone)]
pub struct AgencyBundle {
    pub agency: AgencyId,
    /// `host:port` of its gateway, if published.
    pub gateway: Option<String>,
    /// `host:port` of its chain node, if published.
    pub chain: Option<String>,
    /// Checks the agency's signatures on requests and chain entries.
    pub signing_key: ed25519_consensus::VerificationKey,
    /// Results sealed for the agency are sealed to this key.
    pub hpke_key: seal::PublicKey,
    /// Its TLS certificate, PEM.
    pub certificate: String,
}

impl std::fmt::Debug for AgencyBundle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgencyBundle")
            .field("agency", &self.agency)
            .field("gateway", &self.gateway)
            .field("chain", &self.chain)
            .finish_non_exhaustive()
    }
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

impl AgencyBundle {
    /// The bundle as TOML.
    pub fn to_toml(&self) -> Result<String> {
        toml::to_string(&RawBundle {
            agency: self.agency.to_string(),
            gateway: self.gateway.clone(),
            chain: self.chain.clone(),
            signing_key: b64(self.signing_key.as_bytes()),
            hpke_key: b64(&seal::public_bytes(&self.hpke_key)),
            certificate: self.certificate.clone(),
        })
        .map_err(|e| GatewayError::Internal(format!("writing a bundle: {e}")))
    }

    /// Parses and checks a bundle; `file` names it in errors. The certificate must name
    /// the bundle's agency.
    pub fn parse(text: &str, file: &Path) -> Result<Self> {
        let bad = |message: String| GatewayError::Config {
            file: file.to_path_buf(),
            line: 1,
            column: 1,
            message,
        };
        let raw: RawBundle = toml::from_str(text).map_err(|e| {
            let (line, column) = e
                .span()
                .map(|s| crate::error::line_col(text, s.start))
                .unwrap_or((1, 1));
            GatewayError::Config {
                file: file.to_path_buf(),
                line,
                column,
                message: e.message().trim().to_string(),
            }
        })?;
        let agency = AgencyId::parse(&raw.agency).map_err(|e| bad(e.to_string()))?;
        let key = |name: &str, text: &str| {
            base64::engine::general_purpose::STANDARD
                .decode(text.trim())
                .map_err(|e| bad(format!("{name}: not base64: {e}")))
        };
        let signing = key("signing_key", &raw.signing_key)?;
        let signing_key = <[u8; 32]>::try_from(signing.as_slice())
            .ok()
            .and_then(|b| ed25519_consensus::VerificationKey::try_from(b).ok())
            .ok_or_else(|| bad("signing_key: not an ed25519 public key".into()))?;
        let hpke_key = seal::public_from_bytes(&key("hpke_key", &raw.hpke_key)?)
            .map_err(|e| bad(format!("hpke_key: {e}")))?;
        let named = agency_of(&first_der(&raw.certificate).map_err(|e| bad(e.to_string()))?)
            .map_err(|e| bad(e.to_string()))?;
        if named != agency {
            return Err(bad(format!(
                "the certificate names agency `{named}`, not `{agency}`"
            )));
        }
        Ok(AgencyBundle {
            agency,
            gateway: raw.gateway,
            chain: raw.chain,
            signing_key,
            hpke_key,
            certificate: raw.certificate,
        })
    }
}

/// Every agency a gateway trusts, by id, from its trust directory.
#[derive(Debug, Clone, Default)]
pub struct TrustStore {
    bundles: BTreeMap<AgencyId, AgencyBundle>,
}

impl TrustStore {
    /// Reads every `*.bundle.toml` in `dir`.
    pub fn load(dir: &Path) -> Result<Self> {
        let mut bundles = BTreeMap::new();
        let entries = std::fs::read_dir(dir).map_err(|e| io_error(dir, e))?;
        for entry in entries {
            let path = entry.map_err(|e| io_error(dir, e))?.path();
            if !path.to_string_lossy().ends_with(".bundle.toml") {
                continue;
            }
            let text = std::fs::read_to_string(&path).map_err(|e| io_error(&path, e))?;
            let b = AgencyBundle::parse(&text, &path)?;
            if bundles.insert(b.agency.clone(), b).is_some() {
                return Err(GatewayError::Config {
                    file: path.clone(),
                    line: 1,
                    column: 1,
                    message: "a second bundle for the same agency".into(),
                });
            }
        }
        Ok(TrustStore { bundles })
    }

    /// A store holding exactly these bundles.
    pub fn from_bundles(bundles: impl IntoIterator<Item = AgencyBundle>) -> Self {
        TrustStore {
            bundles: bundles.into_iter().map(|b| (b.agency.clone(), b)).collect(),
        }
    }

    /// The bundle of `agency`, or an error that says whom the store does know.
    pub fn get(&self, agency: &AgencyId) -> Result<&AgencyBundle> {
        self.bundles.get(agency).ok_or_else(|| {
            GatewayError::Unauthenticated(format!(
                "agency `{agency}` is not in the trust directory (it knows: {})",
                self.bundles
                    .keys()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })
    }

    /// Every trusted agency.
    pub fn agencies(&self) -> impl Iterator<Item = &AgencyId> {
        self.bundles.keys()
    }
}
