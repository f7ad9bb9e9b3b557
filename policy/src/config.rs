//! What the owning gateway tells the policy about itself: its agency, catalog, the
//! secret behind the `hash` mask, its datasets' schemas, their declared unique keys and
//! the column that names each row's data subject (the person a row is about).

use std::collections::BTreeMap;

use arrow::datatypes::SchemaRef;

/// What the owning gateway tells the policy about itself.
#[derive(Clone)]
pub struct PolicyConfig {
    /// The owning agency, e.g. `bj_hf`: the schema its datasets are registered under.
    pub agency: String,
    /// The catalog its datasets are registered under (default [`sluice_core::CATALOG`]).
    pub catalog: String,
    /// The owner's secret the `hash` mask key is derived from (at least 16 bytes).
    pub secret: Vec<u8>,
    /// Each dataset's schema, by dataset name.
    pub datasets: BTreeMap<String, SchemaRef>,
    /// Declared unique keys, by dataset: no two rows share these columns' values. The
    /// lineage analysis uses them to see that a join on such a key does not repeat the
    /// other side's rows (so an aggregate over that side stays countable). Optional.
    pub keys: BTreeMap<String, Vec<String>>,
    /// Declared subject keys, by dataset: the column naming the person each row is
    /// about (e.g. `person_id`). Where a dataset has one, a group released at level
    /// `aggregate:k` must hold k distinct subjects, not merely k rows, since one
    /// person's twelve monthly rows would otherwise fill a group alone. Optional.
    pub subjects: BTreeMap<String, String>,
}

impl std::fmt::Debug for PolicyConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PolicyConfig")
            .field("agency", &self.agency)
            .field("catalog", &self.catalog)
            .field("datasets", &self.datasets.keys().collect::<Vec<_>>())
            .field("keys", &self.keys)
            .field("subjects", &self.subjects)
            .finish_non_exhaustive()
    }
}

impl PolicyConfig {
    /// A configuration with the default catalog.
    pub fn new(
        agency: impl Into<String>,
        secret: impl Into<Vec<u8>>,
        datasets: BTreeMap<String, SchemaRef>,
    ) -> Self {
        PolicyConfig {
            agency: agency.into(),
            catalog: sluice_core::CATALOG.to_string(),
            secret: secret.into(),
            datasets,
            keys: BTreeMap::new(),
            subjects: BTreeMap::new(),
        }
    }

    /// Declare that `columns` are a unique key of `dataset`.
    pub fn with_key<I, S>(mut self, dataset: &str, columns: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.keys.insert(
            dataset.to_string(),
            columns.into_iter().map(Into::into).collect(),
        );
        self
    }

    /// Declare that `column` of `dataset` names the data subject of each row: small
    /// groups of that dataset's aggregate-level columns count distinct subjects.
    pub fn with_subject(mut self, dataset: &str, column: impl Into<String>) -> Self {
        self.subjects.insert(dataset.to_string(), column.into());
        self
    }
}
