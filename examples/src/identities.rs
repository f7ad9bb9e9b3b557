//! Fresh identities for a set of agencies, made the way `sluice ca init`, `sluice init`
//! and `sluice user add` make them (the same library calls): a federation CA, each
//! agency's keys, one trust directory with every public bundle, and one analyst per
//! agency with a random password.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use sluice_gateway::error::{GatewayError, Result};
use sluice_gateway::identity::agency::{Addresses, CertificateSource, KeyFiles, init};
use sluice_gateway::identity::{ca, users};
use sluice_gateway::{AgencyId, Principal};

/// What [`create`] wrote under its directory.
#[derive(Debug, Clone)]
pub struct Identities {
    pub dir: PathBuf,
    /// `ca/ca.crt`.
    pub ca_cert: PathBuf,
    /// `trust/`: every agency's bundle and `.pub` key.
    pub trust_dir: PathBuf,
    pub agencies: Vec<AgencyIdentity>,
}

/// One agency's files and its analyst.
#[derive(Clone)]
pub struct AgencyIdentity {
    pub agency: AgencyId,
    /// `keys/<agency>/`, as `[identity] keys`.
    pub keys_dir: PathBuf,
    pub files: KeyFiles,
    /// `users/<agency>.toml`, as `[identity] users`.
    pub users_file: PathBuf,
    /// `<agency>/analyst`.
    pub analyst: Principal,
    /// The analyst's password; also in `users/<agency>.password` (mode 0600).
    pub password: String,
    /// `<agency>/officer`, the agency's chain officer and data officer (roles
    /// `chain_officer` and `data_officer`), who signs membership changes, publishes the
    /// catalog and decides on access requests; the password is in
    /// `users/<agency>.officer.password`.
    pub officer: Principal,
    pub officer_password: String,
}

impl std::fmt::Debug for AgencyIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgencyIdentity")
            .field("agency", &self.agency)
            .field("keys_dir", &self.keys_dir)
            .field("analyst", &self.analyst)
            .finish_non_exhaustive()
    }
}

impl Identities {
    pub fn get(&self, agency: &str) -> Result<&AgencyIdentity> {
        self.agencies
            .iter()
            .find(|a| a.agency.as_str() == agency)
            .ok_or_else(|| GatewayError::BadRequest(format!("no identity for `{agency}`")))
    }

    /// The CA certificate, PEM.
    pub fn ca_pem(&self) -> Result<String> {
        std::fs::read_to_string(&self.ca_cert)
            .map_err(|e| GatewayError::Internal(format!("reading {}: {e}", self.ca_cert.display())))
    }

    /// The `[identity]` section of `agency`'s config, with paths relative to `dir`.
    pub fn config_section(&self, agency: &str) -> Result<String> {
        let a = self.get(agency)?;
        let rel = |p: &Path| {
            p.strip_prefix(&self.dir)
                .unwrap_or(p)
                .to_string_lossy()
                .into_owned()
        };
        Ok(format!(
            "\n[identity]\nkeys = \"{}\"\nca = \"{}\"\ntrust = \"{}\"\nusers = \"{}\"\n",
            rel(&a.keys_dir),
            rel(&self.ca_cert),
            rel(&self.trust_dir),
            rel(&a.users_file)
        ))
    }
}

fn io(what: &Path) -> impl Fn(std::io::Error) -> GatewayError + '_ {
    move |e| GatewayError::Internal(format!("{}: {e}", what.display()))
}

/// Creates the identities of `agencies` under `dir`, replacing any there. `addresses`
/// gives each agency's gateway and chain addresses for its bundle.
pub fn create(dir: &Path, agencies: &[(&str, Addresses)]) -> Result<Identities> {
    for sub in ["ca", "keys", "trust", "users"] {
        let d = dir.join(sub);
        if d.exists() {
            std::fs::remove_dir_all(&d).map_err(io(&d))?;
        }
    }
    let ca_dir = dir.join("ca");
    let ca_cert = ca::init_ca(&ca_dir, "Sluice demo federation CA", 30)?;
    let trust_dir = dir.join("trust");
    let users_dir = dir.join("users");
    for d in [&trust_dir, &users_dir] {
        std::fs::create_dir_all(d).map_err(io(d))?;
    }
    let mut out = Vec::new();
    for (id, addresses) in agencies {
        let agency = AgencyId::parse(id)?;
        let keys_dir = dir.join("keys").join(id);
        let files = init(
            &agency,
            &keys_dir,
            CertificateSource::Ca {
                dir: &ca_dir,
                days: 30,
            },
            addresses.clone(),
        )?;
        for f in [&files.bundle, &files.public] {
            let name = f.file_name().unwrap_or_default();
            std::fs::copy(f, trust_dir.join(name)).map_err(io(f))?;
        }
        let users_file = users_dir.join(format!("{id}.toml"));
        let user = |name: &str, roles: &[&str], file: &str| -> Result<(Principal, String)> {
            let mut secret = [0u8; 18];
            getrandom(&mut secret)?;
            let password = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret);
            let principal = Principal::parse(&format!("{id}/{name}"))?;
            let roles: Vec<String> = roles.iter().map(|r| r.to_string()).collect();
            users::add_user(&users_file, &principal, &roles, &password)?;
            sluice_gateway::keys::write_private(
                &users_dir.join(file),
                format!("{password}\n").as_bytes(),
            )?;
            Ok((principal, password))
        };
        let (analyst, password) = user("analyst", &["fund_analyst"], &format!("{id}.password"))?;
        let (officer, officer_password) = user(
            "officer",
            &[
                sluice_gateway::chain::CHAIN_OFFICER,
                sluice_gateway::directory::DATA_OFFICER,
            ],
            &format!("{id}.officer.password"),
        )?;
        out.push(AgencyIdentity {
            agency,
            keys_dir,
            files,
            users_file,
            analyst,
            password,
            officer,
            officer_password,
        });
    }
    Ok(Identities {
        dir: dir.to_path_buf(),
        ca_cert,
        trust_dir,
        agencies: out,
    })
}

fn getrandom(buf: &mut [u8]) -> Result<()> {
    getrandom::getrandom(buf)
        .map_err(|e| GatewayError::Internal(format!("the system's random source: {e}")))
}
