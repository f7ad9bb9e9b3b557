//! An agency's analysts and how they prove who they are to its gateway: a users file of
//! argon2id password hashes and roles (`sluice user add`), and short-lived session
//! tokens, so a password is checked once per login and a query pays no password hash.
//! The principal and roles of a query come from its session, never from a request field.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use sluice_core::{AgencyId, Principal};

use super::ca::io_error;
use super::envelope::now_ms;
use crate::error::{GatewayError, Result};
use crate::keys::write_private;

#[derive(Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct UsersFile {
    #[serde(default)]
    users: Vec<UserEntry>,
}

#[derive(Serialize, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
struct UserEntry {
    principal: String,
    #[serde(default)]
    roles: Vec<String>,
    /// A PHC string: `$argon2id$v=19$m=…,t=…,p=…$salt$hash`.
    password: String,
}

fn read_users(path: &Path) -> Result<UsersFile> {
    if !path.exists() {
        return Ok(UsersFile::default());
    }
    let text = std::fs::read_to_string(path).map_err(|e| io_error(path, e))?;
    toml::from_str(&text).map_err(|e| {
        let (line, column) = e
            .span()
            .map(|s| crate::error::line_col(&text, s.start))
            .unwrap_or((1, 1));
        GatewayError::Config {
            file: path.to_path_buf(),
            line,
            column,
            message: e.message().trim().to_string(),
        }
    })
}

/// Adds `principal` with `roles` and `password` to the users file at `path`, or
/// replaces its entry. The file holds hashes only, and is written with mode 0600.
pub fn add_user(
    path: &Path,
    principal: &Principal,
    roles: &[String],
    password: &str,
) -> Result<()> {
    if password.len() < 12 {
        return Err(GatewayError::BadRequest(
            "a password must have at least 12 characters".into(),
        ));
    }
    for r in roles {
        sluice_policy::Request::new(&principal.to_string(), None)
            .and_then(|q| q.with_roles([r]))
            .map_err(|e| GatewayError::BadRequest(e.to_string()))?;
    }
    let mut file = read_users(path)?;
    let mut salt = [0u8; 16];
    getrandom::getrandom(&mut salt)
        .map_err(|e| GatewayError::Internal(format!("the system's random source: {e}")))?;
    let salt = SaltString::encode_b64(&salt)
        .map_err(|e| GatewayError::Internal(format!("password salt: {e}")))?;
    let hash = argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map_err(|e| GatewayError::Internal(format!("hashing the password: {e}")))?
        .to_string();
    file.users.retain(|u| u.principal != principal.to_string());
    file.users.push(UserEntry {
        principal: principal.to_string(),
        roles: roles.to_vec(),
        password: hash,
    });
    let text = toml::to_string(&file)
        .map_err(|e| GatewayError::Internal(format!("writing the users file: {e}")))?;
    write_private(path, text.as_bytes())
}

/// An analyst whose credentials checked out, for as long as the session lasts. Only
/// [`Sessions`] makes one.
#[derive(Debug, Clone)]
pub struct Session {
    principal: Principal,
    roles: Vec<String>,
    expires_ms: u64,
}

impl Session {
    pub fn principal(&self) -> &Principal {
        &self.principal
    }

    /// The roles the agency gave the user.
    pub fn roles(&self) -> &[String] {
        &self.roles
    }

    pub fn expires_ms(&self) -> u64 {
        self.expires_ms
    }
}

/// One gateway's users and their live sessions.
pub struct Sessions {
    agency: AgencyId,
    users: HashMap<String, UserEntry>,
    live: Mutex<HashMap<[u8; 32], Session>>,
    ttl: Duration,
}

impl std::fmt::Debug for Sessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sessions")
            .field("agency", &self.agency)
            .field("users", &self.users.len())
            .finish_non_exhaustive()
    }
}

const WRONG: &str = "wrong user or password";

impl Sessions {
    /// `agency`'s users, from the users file at `path` (none if there is none).
    pub fn load(agency: &AgencyId, path: Option<&Path>, ttl: Duration) -> Result<Self> {
        let file = match path {
            Some(p) => read_users(p)?,
            None => UsersFile::default(),
        };
        let mut users = HashMap::new();
        for u in file.users {
            let principal = Principal::parse(&u.principal)?;
            if principal.agency() != agency {
                return Err(GatewayError::BadRequest(format!(
                    "the users file lists `{principal}`, who is not a user of `{agency}`"
                )));
            }
            PasswordHash::new(&u.password).map_err(|e| {
                GatewayError::BadRequest(format!("the password hash of `{principal}`: {e}"))
            })?;
            users.insert(principal.to_string(), u);
        }
        Ok(Sessions {
            agency: agency.clone(),
            users,
            live: Mutex::new(HashMap::new()),
            ttl,
        })
    }

    /// Checks a password and opens a session: returns its token and the session.
    pub fn login(&self, principal: &str, password: &str) -> Result<(String, Session)> {
        let refuse = || GatewayError::Unauthenticated(WRONG.into());
        let principal = Principal::parse(principal).map_err(|_| refuse())?;
        let Some(user) = self.users.get(&principal.to_string()) else {
            // Spend the time a hash would, so a wrong user is not told apart by timing.
            let _ = argon2::Argon2::default().hash_password(
                password.as_bytes(),
                &SaltString::from_b64("c2x1aWNldGltaW5nc2FsdA").map_err(|_| refuse())?,
            );
            return Err(refuse());
        };
        let hash = PasswordHash::new(&user.password).map_err(|_| refuse())?;
        argon2::Argon2::default()
            .verify_password(password.as_bytes(), &hash)
            .map_err(|_| refuse())?;
        let mut secret = [0u8; 32];
        getrandom::getrandom(&mut secret)
            .map_err(|e| GatewayError::Internal(format!("the system's random source: {e}")))?;
        let token = format!(
            "{}:{}",
            self.agency,
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret)
        );
        let session = Session {
            principal,
            roles: user.roles.clone(),
            expires_ms: now_ms() + u64::try_from(self.ttl.as_millis()).unwrap_or(u64::MAX),
        };
        let mut live = self.live.lock().unwrap_or_else(|p| p.into_inner());
        let now = now_ms();
        live.retain(|_, s| s.expires_ms > now);
        live.insert(Sha256::digest(token.as_bytes()).into(), session.clone());
        Ok((token, session))
    }

    /// The live session a token stands for.
    pub fn resolve(&self, token: &str) -> Result<Session> {
        let key: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let live = self.live.lock().unwrap_or_else(|p| p.into_inner());
        match live.get(&key) {
            Some(s) if s.expires_ms > now_ms() => Ok(s.clone()),
            Some(_) => Err(GatewayError::Unauthenticated(
                "the session has expired; log in again".into(),
            )),
            None => Err(GatewayError::Unauthenticated(
                "the session token is not valid here; log in with `sluice login`".into(),
            )),
        }
    }
}

/// The home agency a session token belongs to, read from its prefix.
pub fn token_agency(token: &str) -> Result<AgencyId> {
    let (agency, _) = token.split_once(':').ok_or_else(|| {
        GatewayError::BadRequest("a session token starts with `<agency>:`".into())
    })?;
    Ok(AgencyId::parse(agency)?)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_password_opens_a_session_once_and_a_token_stands_for_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("users.toml");
        let alice = Principal::parse("bj_hf/alice").unwrap();
        add_user(
            &path,
            &alice,
            &["fund_analyst".into()],
            "correct horse battery",
        )
        .unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(!text.contains("correct horse"), "only the hash is stored");
        assert!(add_user(&path, &alice, &[], "short").is_err());

        let bj = AgencyId::parse("bj_hf").unwrap();
        let s = Sessions::load(&bj, Some(&path), Duration::from_secs(3600)).unwrap();
        let (token, session) = s.login("bj_hf/alice", "correct horse battery").unwrap();
        assert_eq!(session.principal(), &alice);
        assert_eq!(session.roles(), ["fund_analyst"]);
        assert_eq!(token_agency(&token).unwrap(), bj);
        assert_eq!(s.resolve(&token).unwrap().principal(), &alice);

        for (user, password) in [
            ("bj_hf/alice", "wrong horse battery"),
            ("bj_hf/mallory", "correct horse battery"),
            ("alice", "correct horse battery"),
        ] {
            let e = s.login(user, password).unwrap_err();
            assert_eq!(
                e.to_string(),
                format!("not authenticated: {WRONG}"),
                "{user}"
            );
        }
        assert!(matches!(
            s.resolve("bj_hf:made-up"),
            Err(GatewayError::Unauthenticated(_))
        ));

        let expired = Sessions::load(&bj, Some(&path), Duration::ZERO).unwrap();
        let (token, _) = expired
            .login("bj_hf/alice", "correct horse battery")
            .unwrap();
        assert!(
            expired
                .resolve(&token)
                .unwrap_err()
                .to_string()
                .contains("expired")
        );

        let sh = AgencyId::parse("sh_hf").unwrap();
        assert!(
            Sessions::load(&sh, Some(&path), Duration::from_secs(3600)).is_err(),
            "not sh_hf's user"
        );
    }
}
