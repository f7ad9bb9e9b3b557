//! Certificates: a federation CA for deployments without one (`sluice ca init`), and the
//! agency certificates it issues (`sluice ca issue`). An agency certificate names its
//! agency in a URI subject alternative name (`urn:sluice:agency:<id>`) and in the DNS
//! name peers connect to, and serves both as a TLS server and a client certificate.

use std::path::{Path, PathBuf};

use chrono::{Datelike, Duration as Days, NaiveDate, Utc};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use sluice_core::AgencyId;

use crate::error::{GatewayError, Result};
use crate::keys::write_private;

/// The CA's certificate and key files in a CA directory.
pub const CA_CERT: &str = "ca.crt";
const CA_KEY: &str = "ca.key";

fn cert_error(what: &str) -> impl Fn(rcgen::Error) -> GatewayError + '_ {
    move |e| GatewayError::Certificate(format!("{what}: {e}"))
}

/// The days a certificate is valid: from yesterday (clocks differ) for `days` days.
pub fn validity(days: i64) -> (NaiveDate, NaiveDate) {
    let today = Utc::now().date_naive();
    (today - Days::days(1), today + Days::days(days))
}

/// Creates a federation CA in `dir`: `ca.crt` (give it to every agency) and `ca.key`
/// (keep it offline, mode 0600). Refuses to replace an existing CA.
pub fn init_ca(dir: &Path, name: &str, days: i64) -> Result<PathBuf> {
    let ymd = |d: NaiveDate| rcgen::date_time_ymd(d.year(), d.month() as u8, d.day() as u8);
    std::fs::create_dir_all(dir).map_err(|e| io_error(dir, e))?;
    let (cert_path, key_path) = (dir.join(CA_CERT), dir.join(CA_KEY));
    if key_path.exists() || cert_path.exists() {
        return Err(GatewayError::BadRequest(format!(
            "{} already holds a CA; refusing to replace it",
            dir.display()
        )));
    }
    let key = KeyPair::generate().map_err(cert_error("generating the CA key"))?;
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, name);
    params.distinguished_name = dn;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let (from, to) = validity(days);
    params.not_before = ymd(from);
    params.not_after = ymd(to);
    let cert = params
        .self_signed(&key)
        .map_err(cert_error("signing the CA certificate"))?;
    write_private(&key_path, key.serialize_pem().as_bytes())?;
    std::fs::write(&cert_path, cert.pem()).map_err(|e| io_error(&cert_path, e))?;
    Ok(cert_path)
}

/// An agency's TLS key and certificate, as PEM.
pub struct IssuedCertificate {
    pub cert_pem: String,
    pub key_pem: String,
}

impl std::fmt::Debug for IssuedCertificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedCertificate").finish_non_exhaustive()
    }
}

/// Issues `agency` a fresh TLS key and a certificate from the CA in `ca_dir`, valid
/// from `from` to `to`.
pub fn issue(
    ca_dir: &Path,
    agency: &AgencyId,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<IssuedCertificate> {
    let ymd = |d: NaiveDate| rcgen::date_time_ymd(d.year(), d.month() as u8, d.day() as u8);
    let ca_cert = read_text(&ca_dir.join(CA_CERT))?;
    let ca_key = KeyPair::from_pem(&read_text(&ca_dir.join(CA_KEY))?)
        .map_err(cert_error("reading the CA key"))?;
    let issuer = Issuer::from_ca_cert_pem(&ca_cert, ca_key)
        .map_err(cert_error("reading the CA certificate"))?;
    let key = KeyPair::generate().map_err(cert_error("generating the agency's TLS key"))?;
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, agency.as_str());
    params.distinguished_name = dn;
    let ia5 = |s: String| {
        s.try_into()
            .map_err(|e: rcgen::Error| GatewayError::Certificate(format!("agency name: {e}")))
    };
    params.subject_alt_names = vec![
        SanType::URI(ia5(agency.certificate_uri())?),
        SanType::DnsName(ia5(agency.tls_server_name())?),
    ];
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    params.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    params.use_authority_key_identifier_extension = true;
    params.not_before = ymd(from);
    params.not_after = ymd(to);
    let cert = params
        .signed_by(&key, &issuer)
        .map_err(cert_error("signing the agency certificate"))?;
    Ok(IssuedCertificate {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    })
}

/// The agency a certificate (DER) names in its URI subject alternative name.
pub fn agency_of(cert_der: &[u8]) -> Result<AgencyId> {
    let bad = |m: String| GatewayError::Certificate(m);
    let (_, cert) = x509_parser::parse_x509_certificate(cert_der)
        .map_err(|e| bad(format!("not an X.509 certificate: {e}")))?;
    let san = cert
        .subject_alternative_name()
        .map_err(|e| bad(format!("bad subject alternative names: {e}")))?
        .ok_or_else(|| bad("the certificate has no subject alternative name".into()))?;
    let mut agencies = san.value.general_names.iter().filter_map(|n| match n {
        x509_parser::extensions::GeneralName::URI(uri) => AgencyId::from_certificate_uri(uri),
        _ => None,
    });
    match (agencies.next(), agencies.next()) {
        (Some(a), None) => Ok(a),
        (None, _) => Err(bad(
            "the certificate names no agency (no `urn:sluice:agency:<id>` URI)".into(),
        )),
        (Some(_), Some(_)) => Err(bad("the certificate names more than one agency".into())),
    }
}

/// The DER of the first certificate in a PEM text.
pub fn first_der(pem: &str) -> Result<Vec<u8>> {
    let (_, parsed) = x509_parser::pem::parse_x509_pem(pem.as_bytes())
        .map_err(|e| GatewayError::Certificate(format!("not a PEM certificate: {e}")))?;
    Ok(parsed.contents)
}

pub(crate) fn read_text(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|e| io_error(path, e))
}

pub(crate) fn io_error(path: &Path, e: std::io::Error) -> GatewayError {
    GatewayError::KeyFile {
        file: path.to_path_buf(),
        message: e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn issued_certificates_name_their_agency() {
        let dir = tempfile::tempdir().unwrap();
        init_ca(dir.path(), "test federation", 30).unwrap();
        assert!(
            init_ca(dir.path(), "again", 30).is_err(),
            "a CA is never replaced"
        );
        let bj = AgencyId::parse("bj_hf").unwrap();
        let (from, to) = validity(30);
        let issued = issue(dir.path(), &bj, from, to).unwrap();
        assert_eq!(
            agency_of(&first_der(&issued.cert_pem).unwrap()).unwrap(),
            bj
        );
        assert!(format!("{issued:?}").find("PRIVATE").is_none());
        let ca = read_text(&dir.path().join(CA_CERT)).unwrap();
        assert!(
            agency_of(&first_der(&ca).unwrap()).is_err(),
            "the CA names no agency"
        );
    }
}
