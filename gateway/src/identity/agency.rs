//! An agency's own secrets, as `sluice init` writes them into its key directory and the
//! gateway loads them: the ed25519 signing key, the X25519 key results are sealed to,
//! and the TLS key and certificate. Secrets never reach `Debug`, logs or errors.
//!
//! | file | what | mode |
//! |---|---|---|
//! | `<agency>.key` | ed25519 seed, base64 | 0600 |
//! | `<agency>.hpke.key` | X25519 secret, base64 | 0600 |
//! | `<agency>.tls.key` | TLS private key, PEM | 0600 |
//! | `<agency>.tls.crt` | TLS certificate, PEM | 0644 |
//! | `<agency>.pub` | ed25519 public key, base64 (for `sluice audit --trust`) | 0644 |
//! | `<agency>.bundle.toml` | the public bundle for peers' trust directories | 0644 |

use std::path::{Path, PathBuf};

use sluice_core::AgencyId;

use super::bundle::{AgencyBundle, file_name};
use super::ca::{IssuedCertificate, agency_of, first_der, io_error, read_text};
use crate::error::{GatewayError, Result};
use crate::keys::{read_key_file, write_key_file, write_private};
use crate::seal;

/// Domain separation: what an agency's signature over a gateway request covers.
pub const REQUEST_SIGNATURE_DOMAIN: &[u8] = b"sluice/request/v1\n";
/// Domain separation: what an agency's signature over an export file covers.
pub const EXPORT_SIGNATURE_DOMAIN: &[u8] = b"sluice/export/v1\n";

fn signed_message(domain: &[u8], body: &[u8]) -> Vec<u8> {
    let mut msg = Vec::with_capacity(domain.len() + body.len());
    msg.extend_from_slice(domain);
    msg.extend_from_slice(body);
    msg
}

/// One agency's loaded secrets.
pub struct AgencyKeys {
    agency: AgencyId,
    signing: ed25519_consensus::SigningKey,
    seed: [u8; 32],
    hpke: seal::SecretKey,
    tls_cert: String,
    tls_key: String,
}

impl std::fmt::Debug for AgencyKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgencyKeys")
            .field("agency", &self.agency)
            .finish_non_exhaustive()
    }
}

/// The paths of an agency's key files in `dir`.
#[derive(Debug, Clone)]
pub struct KeyFiles {
    pub signing: PathBuf,
    pub public: PathBuf,
    pub hpke: PathBuf,
    pub tls_key: PathBuf,
    pub tls_cert: PathBuf,
    pub bundle: PathBuf,
}

impl KeyFiles {
    pub fn in_dir(dir: &Path, agency: &AgencyId) -> Self {
        KeyFiles {
            signing: dir.join(format!("{agency}.key")),
            public: dir.join(format!("{agency}.pub")),
            hpke: dir.join(format!("{agency}.hpke.key")),
            tls_key: dir.join(format!("{agency}.tls.key")),
            tls_cert: dir.join(format!("{agency}.tls.crt")),
            bundle: dir.join(file_name(agency)),
        }
    }
}

/// Where an agency's TLS certificate comes from.
#[derive(Debug)]
pub enum CertificateSource<'a> {
    /// Issue one from the CA in this directory (`sluice ca init`).
    Ca { dir: &'a Path, days: i64 },
    /// Take existing PEM files from the deployment's own CA.
    Existing { cert: &'a Path, key: &'a Path },
}

/// Where peers reach the agency, for its bundle.
#[derive(Debug, Clone, Default)]
pub struct Addresses {
    pub gateway: Option<String>,
    pub chain: Option<String>,
}

/// Creates `agency`'s keys in `dir` (`sluice init`). Refuses to replace existing keys.
pub fn init(
    agency: &AgencyId,
    dir: &Path,
    certificate: CertificateSource<'_>,
    addresses: Addresses,
) -> Result<KeyFiles> {
    std::fs::create_dir_all(dir).map_err(|e| io_error(dir, e))?;
    let files = KeyFiles::in_dir(dir, agency);
    for f in [&files.signing, &files.hpke, &files.tls_key] {
        if f.exists() {
            return Err(GatewayError::BadRequest(format!(
                "{} exists; refusing to replace an agency's key",
                f.display()
            )));
        }
    }
    let issued = match certificate {
        CertificateSource::Ca { dir: ca, days } => {
            let (from, to) = super::ca::validity(days);
            super::ca::issue(ca, agency, from, to)?
        }
        CertificateSource::Existing { cert, key } => {
            let issued = IssuedCertificate {
                cert_pem: read_text(cert)?,
                key_pem: read_text(key)?,
            };
            let named = agency_of(&first_der(&issued.cert_pem)?)?;
            if &named != agency {
                return Err(GatewayError::Certificate(format!(
                    "{} names agency `{named}`, not `{agency}`",
                    cert.display()
                )));
            }
            issued
        }
    };
    let mut seed = [0u8; 32];
    getrandom::getrandom(&mut seed)
        .map_err(|e| GatewayError::Internal(format!("the system's random source: {e}")))?;
    let (hpke_secret, _) = seal::generate();
    write_key_file(&files.signing, &seed)?;
    write_key_file(&files.hpke, &seal::secret_bytes(&hpke_secret))?;
    write_private(&files.tls_key, issued.key_pem.as_bytes())?;
    write_public(&files.tls_cert, issued.cert_pem.as_bytes())?;
    let keys = AgencyKeys::load(dir, agency)?;
    use base64::Engine as _;
    let public =
        base64::engine::general_purpose::STANDARD.encode(keys.verification_key().as_bytes());
    write_public(&files.public, format!("{public}\n").as_bytes())?;
    write_public(&files.bundle, keys.bundle(addresses).to_toml()?.as_bytes())?;
    Ok(files)
}

fn write_public(path: &Path, bytes: &[u8]) -> Result<()> {
    std::fs::write(path, bytes).map_err(|e| io_error(path, e))
}

impl AgencyKeys {
    /// Loads `agency`'s secrets from `dir`; the certificate must name the agency.
    pub fn load(dir: &Path, agency: &AgencyId) -> Result<Self> {
        let files = KeyFiles::in_dir(dir, agency);
        let seed = read_key_file(&files.signing)?;
        let hpke = seal::secret_from_bytes(&read_key_file(&files.hpke)?).map_err(|_| {
            GatewayError::KeyFile {
                file: files.hpke.clone(),
                message: "not an X25519 secret key".into(),
            }
        })?;
        let tls_cert = read_text(&files.tls_cert)?;
        let tls_key = read_text(&files.tls_key)?;
        let named = agency_of(&first_der(&tls_cert)?)?;
        if &named != agency {
            return Err(GatewayError::KeyFile {
                file: files.tls_cert,
                message: format!("the certificate names agency `{named}`, not `{agency}`"),
            });
        }
        Ok(AgencyKeys {
            agency: agency.clone(),
            signing: ed25519_consensus::SigningKey::from(seed),
            seed,
            hpke,
            tls_cert,
            tls_key,
        })
    }

    pub fn agency(&self) -> &AgencyId {
        &self.agency
    }

    /// The ed25519 seed, for the chain node that signs entries with the same key.
    pub fn signing_seed(&self) -> [u8; 32] {
        self.seed
    }

    pub fn verification_key(&self) -> ed25519_consensus::VerificationKey {
        self.signing.verification_key()
    }

    /// Signs a gateway request's envelope.
    pub fn sign_request(&self, envelope: &[u8]) -> [u8; 64] {
        self.signing
            .sign(&signed_message(REQUEST_SIGNATURE_DOMAIN, envelope))
            .to_bytes()
    }

    /// Signs an export file's envelope.
    pub fn sign_export(&self, envelope: &[u8]) -> [u8; 64] {
        self.signing
            .sign(&signed_message(EXPORT_SIGNATURE_DOMAIN, envelope))
            .to_bytes()
    }

    /// The key results sealed for this agency open with.
    pub fn hpke_secret(&self) -> &seal::SecretKey {
        &self.hpke
    }

    pub fn hpke_public(&self) -> seal::PublicKey {
        seal::public_of(&self.hpke)
    }

    /// The TLS certificate, PEM.
    pub fn tls_cert_pem(&self) -> &str {
        &self.tls_cert
    }

    /// The TLS private key, PEM. Only for the TLS configuration.
    pub(crate) fn tls_key_pem(&self) -> &str {
        &self.tls_key
    }

    /// This agency's public bundle.
    pub fn bundle(&self, addresses: Addresses) -> AgencyBundle {
        AgencyBundle {
            agency: self.agency.clone(),
            gateway: addresses.gateway,
            chain: addresses.chain,
            signing_key: self.verification_key(),
            hpke_key: self.hpke_public(),
            certificate: self.tls_cert.clone(),
        }
    }
}

/// Checks `signature` over a request envelope by `key`, under the one ZIP-215 rule.
pub fn verify_request(
    key: &ed25519_consensus::VerificationKey,
    envelope: &[u8],
    signature: &[u8],
) -> Result<()> {
    let sig = <[u8; 64]>::try_from(signature)
        .map(ed25519_consensus::Signature::from)
        .map_err(|_| {
            GatewayError::Unauthenticated("the request signature is not 64 bytes".into())
        })?;
    key.verify(&sig, &signed_message(REQUEST_SIGNATURE_DOMAIN, envelope))
        .map_err(|_| GatewayError::Unauthenticated("the request signature does not verify".into()))
}

/// Whether `signature` over an export envelope is `key`'s, under the same ZIP-215 rule.
pub fn verify_export(
    key: &ed25519_consensus::VerificationKey,
    envelope: &[u8],
    signature: &[u8],
) -> bool {
    <[u8; 64]>::try_from(signature)
        .map(ed25519_consensus::Signature::from)
        .is_ok_and(|sig| {
            key.verify(&sig, &signed_message(EXPORT_SIGNATURE_DOMAIN, envelope))
                .is_ok()
        })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn init_writes_keys_privately_and_a_bundle_peers_can_read() {
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("ca");
        super::super::ca::init_ca(&ca, "test", 30).unwrap();
        let bj = AgencyId::parse("bj_hf").unwrap();
        let keys_dir = dir.path().join("keys");
        let files = init(
            &bj,
            &keys_dir,
            CertificateSource::Ca { dir: &ca, days: 30 },
            Addresses {
                gateway: Some("127.0.0.1:7401".into()),
                chain: None,
            },
        )
        .unwrap();
        #[cfg(unix)]
        for secret in [&files.signing, &files.hpke, &files.tls_key] {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(secret).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "{}", secret.display());
        }
        let keys = AgencyKeys::load(&keys_dir, &bj).unwrap();
        assert!(!format!("{keys:?}").contains("PRIVATE"));
        let text = std::fs::read_to_string(&files.bundle).unwrap();
        let bundle = AgencyBundle::parse(&text, &files.bundle).unwrap();
        assert_eq!(bundle.agency, bj);
        assert_eq!(bundle.gateway.as_deref(), Some("127.0.0.1:7401"));
        assert_eq!(bundle.signing_key, keys.verification_key());
        assert!(!text.contains("PRIVATE"), "no secret in the public bundle");

        let sig = keys.sign_request(b"envelope");
        verify_request(&bundle.signing_key, b"envelope", &sig).unwrap();
        assert!(verify_request(&bundle.signing_key, b"envelopf", &sig).is_err());
        // A request signature is no export signature, and the other way round.
        assert!(!verify_export(&bundle.signing_key, b"envelope", &sig));
        let export_sig = keys.sign_export(b"envelope");
        assert!(verify_export(&bundle.signing_key, b"envelope", &export_sig));
        assert!(!verify_export(
            &bundle.signing_key,
            b"envelopf",
            &export_sig
        ));
        assert!(!verify_export(
            &bundle.signing_key,
            b"envelope",
            &export_sig[..63]
        ));
        assert!(verify_request(&bundle.signing_key, b"envelope", &export_sig).is_err());

        assert!(
            init(
                &bj,
                &keys_dir,
                CertificateSource::Ca { dir: &ca, days: 30 },
                Addresses::default()
            )
            .is_err(),
            "keys are never replaced"
        );
        // A certificate of another agency is not taken for this one.
        let sh = AgencyId::parse("sh_hf").unwrap();
        let other = dir.path().join("other");
        init(
            &sh,
            &other,
            CertificateSource::Ca { dir: &ca, days: 30 },
            Addresses::default(),
        )
        .unwrap();
        let sh_files = KeyFiles::in_dir(&other, &sh);
        let err = init(
            &bj,
            &dir.path().join("bj2"),
            CertificateSource::Existing {
                cert: &sh_files.tls_cert,
                key: &sh_files.tls_key,
            },
            Addresses::default(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("names agency `sh_hf`"), "{err}");
    }
}
