//! Raft replication of the chain with openraft 0.9 (storage v2): the type config, the
//! request and response carried through the log, and the RocksDB-backed stores.
//!
//! [`log_store::RaftLogStore`] keeps the Raft log, vote and commit point;
//! [`state_machine::ChainStateMachine`] verifies and applies committed entries to a
//! [`crate::ChainStore`].

// openraft's trait methods must return its `StorageError` (over 200 bytes); helpers return
// it too, so the errors flow through unchanged.
#![allow(clippy::result_large_err)]

pub mod log_store;
pub mod state_machine;
#[cfg(test)]
mod test;

use std::io::Cursor;

use serde::{Deserialize, Serialize};

/// A write through Raft: signed entries in their wire form ([`crate::SignedEntry::to_bytes`]).
/// Every replica verifies each signature before applying; one bad entry refuses the request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainRequest {
    /// Signed entries in wire form, appended in this order.
    pub entries: Vec<Vec<u8>>,
}

/// The outcome of applying one [`ChainRequest`] (or a blank/membership log entry).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ChainResponse {
    /// A blank or membership entry: nothing was appended to the chain.
    Nothing,
    /// The entries got chain indexes `first..first + count`.
    Appended {
        /// The chain index of the first entry.
        first: u64,
        /// How many entries were appended.
        count: u64,
    },
    /// Entry number `position` in the request was refused, so none were appended.
    Refused {
        /// Position in the request of the first bad entry.
        position: u64,
        /// Why it was refused.
        reason: String,
    },
}

openraft::declare_raft_types!(
    /// Sluice's Raft types: u64 node ids, `BasicNode` addresses, in-memory snapshots.
    pub TypeConfig:
        D = ChainRequest,
        R = ChainResponse,
);

/// Encodes a Raft value (log entry, RPC, reply) in postcard, the compact binary form used
/// on disk and on the wire: JSON spelled every entry byte as a decimal number.
pub fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, postcard::Error> {
    postcard::to_stdvec(value)
}

/// Decodes a value written by [`encode`].
pub fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, postcard::Error> {
    postcard::from_bytes(bytes)
}

/// Raft node ids.
pub type NodeId = u64;
/// openraft's storage error for this config.
pub type StorageError = openraft::StorageError<NodeId>;
