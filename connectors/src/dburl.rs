//! Parsing of database URLs such as `postgresql://user:secret@127.0.0.1:5432/test`.
//!
//! The password is kept apart from everything else, so that the part of the URL that may
//! appear in errors and logs ([`DbUrl::location`]) can never contain it.

use std::fmt;

/// A parsed `scheme://[user[:password]@]host[:port][/database][?key=value&…]` URL.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct DbUrl {
    pub(crate) user: Option<String>,
    pub(crate) password: Option<String>,
    pub(crate) host: String,
    pub(crate) port: u16,
    pub(crate) database: Option<String>,
    pub(crate) params: Vec<(String, String)>,
}

impl fmt::Debug for DbUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DbUrl")
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .field("host", &self.host)
            .field("port", &self.port)
            .field("database", &self.database)
            .field("params", &self.params)
            .finish()
    }
}

/// Why a URL could not be parsed. The message never repeats the password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct UrlError(pub(crate) String);

impl DbUrl {
    /// Parse `url`, accepting any of `schemes` and using `default_port` when none is given.
    pub(crate) fn parse(url: &str, schemes: &[&str], default_port: u16) -> Result<Self, UrlError> {
        let Some((scheme, rest)) = url.split_once("://") else {
            return Err(UrlError(format!(
                "expected {}://user@host:port/database",
                schemes.first().copied().unwrap_or("scheme")
            )));
        };
        if !schemes.iter().any(|s| s.eq_ignore_ascii_case(scheme)) {
            return Err(UrlError(format!(
                "unsupported scheme `{scheme}`, expected one of: {}",
                schemes.join(", ")
            )));
        }

        let (rest, query) = match rest.split_once('?') {
            Some((rest, query)) => (rest, Some(query)),
            None => (rest, None),
        };
        let (authority, path) = match rest.split_once('/') {
            Some((authority, path)) => (authority, Some(path)),
            None => (rest, None),
        };
        // The password may itself contain `@` if the user did not percent-encode it; the
        // last `@` separates the credentials from the host.
        let (credentials, host_port) = match authority.rsplit_once('@') {
            Some((credentials, host_port)) => (Some(credentials), host_port),
            None => (None, authority),
        };

        let (user, password) = match credentials {
            Some(credentials) => match credentials.split_once(':') {
                Some((user, password)) => (
                    Some(percent_decode(user, "user name")?),
                    Some(percent_decode(password, "password")?),
                ),
                None => (Some(percent_decode(credentials, "user name")?), None),
            },
            None => (None, None),
        };
        let user = user.filter(|u| !u.is_empty());

        let (host, port) = split_host_port(host_port)?;
        if host.is_empty() {
            return Err(UrlError("missing host".to_owned()));
        }
        let port = port.unwrap_or(default_port);

        let database = match path {
            Some(path) if !path.is_empty() => Some(percent_decode(path, "database name")?),
            _ => None,
        };

        let mut params = Vec::new();
        for pair in query
            .unwrap_or_default()
            .split('&')
            .filter(|p| !p.is_empty())
        {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            params.push((
                percent_decode(key, "query parameter")?,
                percent_decode(value, "query parameter")?,
            ));
        }

        Ok(DbUrl {
            user,
            password,
            host,
            port,
            database,
            params,
        })
    }

    /// `host:port/database`: where the data lives, safe to show in errors and logs.
    pub(crate) fn location(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        match &self.database {
            Some(db) => format!("{host}:{}/{db}", self.port),
            None => format!("{host}:{}", self.port),
        }
    }

    /// The value of query parameter `key`, if given.
    pub(crate) fn param(&self, key: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_str())
    }

    /// Replace any occurrence of the password in `text` (an error message from a driver)
    /// with `***`, as a last line of defence against leaking it.
    pub(crate) fn redact(&self, text: &str) -> String {
        match &self.password {
            Some(password) if password.len() >= 2 => text.replace(password.as_str(), "***"),
            _ => text.to_owned(),
        }
    }
}

/// A URL as given in the config, with any password replaced by `***`, for messages about
/// a URL that could not be parsed.
pub(crate) fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return "<unparseable url>".to_owned();
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((credentials, host)) => match credentials.split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:***@{host}{tail}"),
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

fn split_host_port(host_port: &str) -> Result<(String, Option<u16>), UrlError> {
    let (host, port) = if let Some(rest) = host_port.strip_prefix('[') {
        // [ipv6]:port
        let Some((host, after)) = rest.split_once(']') else {
            return Err(UrlError("unterminated `[` in host".to_owned()));
        };
        let port = match after.strip_prefix(':') {
            Some(port) => Some(port),
            None if after.is_empty() => None,
            None => return Err(UrlError(format!("unexpected `{after}` after host"))),
        };
        (host.to_owned(), port)
    } else {
        match host_port.rsplit_once(':') {
            Some((host, port)) => (host.to_owned(), Some(port)),
            None => (host_port.to_owned(), None),
        }
    };
    let port = match port {
        Some(port) => Some(
            port.parse::<u16>()
                .map_err(|_| UrlError(format!("invalid port `{port}`")))?,
        ),
        None => None,
    };
    Ok((host, port))
}

fn percent_decode(text: &str, what: &str) -> Result<String, UrlError> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok());
            match hex {
                Some(decoded) => {
                    out.push(decoded);
                    i += 3;
                }
                None => return Err(UrlError(format!("invalid percent-encoding in {what}"))),
            }
        } else {
            out.push(b);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| UrlError(format!("{what} is not valid UTF-8")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_full_url() -> Result<(), UrlError> {
        let url = DbUrl::parse(
            "postgresql://alice:s%40cret@db.example:6543/sales?sslmode=disable",
            &["postgresql", "postgres"],
            5432,
        )?;
        assert_eq!(url.user.as_deref(), Some("alice"));
        assert_eq!(url.password.as_deref(), Some("s@cret"));
        assert_eq!(url.host, "db.example");
        assert_eq!(url.port, 6543);
        assert_eq!(url.database.as_deref(), Some("sales"));
        assert_eq!(url.param("sslmode"), Some("disable"));
        assert_eq!(url.location(), "db.example:6543/sales");
        assert!(!format!("{url:?}").contains("s@cret"));
        Ok(())
    }

    #[test]
    fn default_port_and_ipv6() -> Result<(), UrlError> {
        let url = DbUrl::parse("mysql://root@[::1]/test", &["mysql"], 3306)?;
        assert_eq!(url.host, "::1");
        assert_eq!(url.port, 3306);
        assert_eq!(url.location(), "[::1]:3306/test");
        Ok(())
    }

    #[test]
    fn rejects_bad_urls() {
        assert!(DbUrl::parse("127.0.0.1:5432/test", &["postgresql"], 5432).is_err());
        assert!(DbUrl::parse("mysql://h:99999/db", &["mysql"], 3306).is_err());
        assert!(DbUrl::parse("mysql://h/db", &["postgresql"], 5432).is_err());
        assert!(DbUrl::parse("mysql://u:%zz@h/db", &["mysql"], 3306).is_err());
    }

    #[test]
    fn redacts_passwords() {
        assert_eq!(
            redact_url("postgresql://u:hunter2@h:1/db"),
            "postgresql://u:***@h:1/db"
        );
        assert_eq!(redact_url("mysql://u@h/db"), "mysql://u@h/db");
        let url = DbUrl {
            user: None,
            password: Some("hunter2".to_owned()),
            host: "h".to_owned(),
            port: 1,
            database: None,
            params: Vec::new(),
        };
        assert_eq!(url.redact("bad password hunter2"), "bad password ***");
    }
}
