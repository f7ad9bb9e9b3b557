//! Who an agency is and how it proves it: its secrets ([`agency`]), the public bundles
//! its peers trust ([`bundle`]), certificates from a federation CA ([`ca`]), mutual TLS
//! ([`tls`]), the signed envelope of every request between gateways ([`envelope`]), and
//! its analysts' credentials and sessions ([`users`]).

pub mod agency;
pub mod bundle;
pub mod ca;
pub mod envelope;
pub mod tls;
pub mod users;
