//! sluice-core: the words every Sluice crate shares, each validated in one place.
//!
//! - [`AgencyId`]: an agency, e.g. `bj_hf`, and [`DatasetName`], one of its datasets;
//! - [`DatasetRef`]: `<agency>.<dataset>`, how SQL addresses a dataset;
//! - [`Principal`]: `<agency>/<user>`, who asks;
//! - [`Purpose`]: why a query runs;
//! - [`QueryId`]: which query an access, a sub-query or a completion belongs to;
//! - [`CATALOG`]: the DataFusion catalog every gateway registers datasets under.
//!
//! Values arrive from configs, SQL, the wire and the chain. Parsing them here, once,
//! means a name that one crate accepts is never refused by another, and no wildcard or
//! separator can reach a Casbin matcher or a chain index key.

mod id;

pub use id::{AgencyId, DatasetName, DatasetRef, IdError, Principal, Purpose, QueryId};

/// The catalog datasets are registered under, at owners and homes alike:
/// `sluice.<agency>.<dataset>`, usually written `<agency>.<dataset>`.
pub const CATALOG: &str = "sluice";
