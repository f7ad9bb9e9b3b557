//! The crate's one error type, [`Error`], split by whose fault it is.
//!
//! See [`Fault`]: the caller's mistake, bad data from a peer or from disk, a storage failure,
//! or a bug in this crate.

use std::fmt;

/// A `Result` whose error defaults to this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Whose fault an [`Error`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The caller asked for something impossible (an index past the end, an empty batch, k = 0).
    Caller,
    /// The bytes, signature, proof or checkpoint came from a peer or from disk and are bad.
    Data,
    /// The storage engine failed (I/O, a missing column family).
    Storage,
    /// The cluster could not do it: no leader, a peer that does not answer, a timeout.
    Cluster,
    /// A broken invariant inside this crate: please file a bug.
    Internal,
}

/// Why a byte string or a text could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum MalformedKind {
    /// The input ended early: `needed` more bytes were required but only `remaining` were left.
    Short {
        /// Bytes the next field needed.
        needed: usize,
        /// Bytes that were left.
        remaining: usize,
    },
    /// A complete value was read but `extra` bytes followed it.
    Trailing {
        /// How many bytes were left over.
        extra: usize,
    },
    /// A field held a value that is not allowed (bad tag, bad UTF-8, a bad line).
    Invalid(String),
}

impl fmt::Display for MalformedKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Short { needed, remaining } => {
                write!(
                    f,
                    "input ends early: needed {needed} bytes, {remaining} left"
                )
            }
            Self::Trailing { extra } => write!(f, "{extra} trailing bytes after the value"),
            Self::Invalid(why) => f.write_str(why),
        }
    }
}

/// Everything that can go wrong in sluice-chain.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    // ---- the caller's fault ----
    /// An argument is out of its domain (an empty batch, k = 0, a bad name).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// A leaf index or a tree size beyond the tree that exists.
    #[error("index {index} is out of range for a tree of size {size}")]
    OutOfRange {
        /// The requested index or size.
        index: u64,
        /// The size of the tree or log.
        size: u64,
    },

    // ---- bad data: from a peer, a bundle, or the disk ----
    /// Bytes or text that do not parse. `what` names the structure being parsed.
    #[error("malformed {what}: {kind}")]
    Malformed {
        /// The structure being parsed, e.g. "entry" or "checkpoint".
        what: &'static str,
        /// What was wrong with it.
        kind: MalformedKind,
    },
    /// The author is not in the trust bundle, so its signature cannot be checked.
    #[error("agency `{agency}` is not in the trust bundle")]
    UnknownAgency {
        /// The author agency named in the entry.
        agency: String,
    },
    /// A public key that is not a canonical point of large order; under such a key a
    /// signature proves nothing, so it never enters a trust bundle or a membership.
    #[error("the public key of `{owner}` is refused: it is {problem}")]
    WeakKey {
        /// The agency or note key the key was given for.
        owner: String,
        /// What is wrong with it.
        problem: KeyProblem,
    },
    /// A signature does not verify under the key the trust bundle holds for its signer.
    #[error("signature by `{signer}` does not verify")]
    BadSignature {
        /// The agency (or note key name) whose key was used.
        signer: String,
    },
    /// An evidence bundle's readable text says something its signed entry does not.
    #[error("the bundle's {path} says {said}, but the signed entry says {signed}")]
    UnsignedText {
        /// Where in the bundle, e.g. `summary.body.rows`.
        path: String,
        /// What the bundle's text says.
        said: String,
        /// What the signed entry says there.
        signed: String,
    },
    /// A Merkle inclusion or consistency proof does not verify.
    #[error("Merkle proof does not verify: {0}")]
    BadProof(&'static str),
    /// A checkpoint has fewer valid signatures from distinct trusted keys than required.
    #[error("checkpoint has {valid} valid signatures from trusted keys, {required} required")]
    QuorumNotMet {
        /// Distinct trusted keys whose signatures verified.
        valid: usize,
        /// The k of k-of-n.
        required: usize,
    },
    /// The stored entry at `index` is bad; `source` says how. Auditors see the first one.
    #[error("entry {index} is bad: {source}")]
    BadEntry {
        /// The log index of the first bad entry.
        index: u64,
        /// What is wrong with it.
        #[source]
        source: Box<Error>,
    },
    /// The stored data disagrees with itself (e.g. a leaf hash that does not match its entry).
    #[error("inconsistent store: {0}")]
    Inconsistent(String),

    // ---- storage ----
    /// The database lacks a column family this crate needs.
    #[error("column family `{0}` is missing from the database")]
    MissingColumnFamily(&'static str),
    /// RocksDB failed.
    #[error("storage error: {0}")]
    Storage(#[from] rocksdb::Error),

    // ---- the cluster ----
    /// A peer could not be reached, or did not answer in time.
    #[error("chain peer {peer} is unavailable: {reason}")]
    Unavailable {
        /// The peer's node id and address.
        peer: String,
        /// What went wrong, including how long we waited.
        reason: String,
    },
    /// No leader was elected within `waited`.
    #[error("the chain has no leader after waiting {} ms", waited.as_millis())]
    NoLeader {
        /// How long we waited for one.
        waited: std::time::Duration,
    },
    /// The chain refused an entry (a replica's signature check failed).
    #[error("the chain refused the entry: {0}")]
    Refused(String),
    /// Raft itself failed (a fatal error, or this node was shut down).
    #[error("raft: {0}")]
    Raft(String),
    /// Opening a listener or a data directory failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },

    // ---- our bug ----
    /// A broken invariant inside sluice-chain. Please file a bug.
    #[error("internal error in sluice-chain (please file a bug): {0}")]
    Internal(&'static str),
}

impl Error {
    /// Whose fault this error is.
    pub fn fault(&self) -> Fault {
        match self {
            Self::InvalidArgument(_) | Self::OutOfRange { .. } => Fault::Caller,
            Self::Malformed { .. }
            | Self::UnknownAgency { .. }
            | Self::BadSignature { .. }
            | Self::WeakKey { .. }
            | Self::UnsignedText { .. }
            | Self::BadProof(_)
            | Self::QuorumNotMet { .. }
            | Self::BadEntry { .. }
            | Self::Inconsistent(_) => Fault::Data,
            Self::MissingColumnFamily(_) | Self::Storage(_) | Self::Io { .. } => Fault::Storage,
            Self::Unavailable { .. } | Self::NoLeader { .. } | Self::Raft(_) => Fault::Cluster,
            Self::Refused(_) => Fault::Data,
            Self::Internal(_) => Fault::Internal,
        }
    }

    pub(crate) fn malformed(what: &'static str, why: impl Into<String>) -> Self {
        Self::Malformed {
            what,
            kind: MalformedKind::Invalid(why.into()),
        }
    }

    pub(crate) fn at_entry(self, index: u64) -> Self {
        Self::BadEntry {
            index,
            source: Box::new(self),
        }
    }
}
/// Why a public key was refused when it entered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyProblem {
    /// The 32 bytes do not encode a point on the curve.
    NotAPoint,
    /// The bytes encode a point, but not in its one canonical form.
    NonCanonical,
    /// The point has small order: a signature under it proves nothing.
    SmallOrder,
    /// The point has a small-order component; honest keys never do.
    MixedOrder,
}

impl std::fmt::Display for KeyProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::NotAPoint => "not an ed25519 point",
            Self::NonCanonical => "not the canonical encoding of its point",
            Self::SmallOrder => "a point of small order",
            Self::MixedOrder => "a point with a small-order component",
        })
    }
}
