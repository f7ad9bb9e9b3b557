//! What an agency publishes: its datasets, each with a name, title, description and
//! Arrow schema. This is the form catalogs take on the wire and in the federated planner.

use arrow::datatypes::SchemaRef;
use datafusion::common::TableReference;
use sluice_proto::v1;

use crate::error::{GatewayError, Result};
use crate::ipc;

/// One published dataset, addressed in SQL as `<agency>.<name>`.
#[derive(Debug, Clone, PartialEq)]
pub struct DatasetInfo {
    pub agency: String,
    pub name: String,
    pub title: String,
    pub description: String,
    pub schema: SchemaRef,
}

impl DatasetInfo {
    /// `<agency>.<name>`
    pub fn qualified_name(&self) -> String {
        format!("{}.{}", self.agency, self.name)
    }

    pub fn to_proto(&self) -> Result<v1::DatasetInfo> {
        Ok(v1::DatasetInfo {
            name: self.name.clone(),
            title: self.title.clone(),
            description: self.description.clone(),
            arrow_schema: ipc::schema_to_bytes(&self.schema).map_err(|e| {
                GatewayError::Internal(format!("encoding schema of {}: {e}", self.name))
            })?,
        })
    }

    /// Read a dataset description sent by `agency`'s gateway.
    pub fn from_proto(agency: &str, d: &v1::DatasetInfo) -> Result<Self> {
        let schema =
            ipc::schema_from_bytes(&d.arrow_schema).map_err(|e| GatewayError::BadPeerData {
                agency: agency.to_string(),
                message: format!("schema of dataset `{}`: {e}", d.name),
            })?;
        crate::config::check_identifier(&d.name).map_err(|m| GatewayError::BadPeerData {
            agency: agency.to_string(),
            message: format!("dataset name: {m}"),
        })?;
        Ok(DatasetInfo {
            agency: agency.to_string(),
            name: d.name.clone(),
            title: d.title.clone(),
            description: d.description.clone(),
            schema,
        })
    }
}

/// One agency's catalog.
#[derive(Debug, Clone, PartialEq)]
pub struct AgencyCatalog {
    pub agency: String,
    pub datasets: Vec<DatasetInfo>,
}

impl AgencyCatalog {
    pub fn to_proto(&self) -> Result<v1::AgencyCatalog> {
        Ok(v1::AgencyCatalog {
            agency: self.agency.clone(),
            datasets: self
                .datasets
                .iter()
                .map(DatasetInfo::to_proto)
                .collect::<Result<_>>()?,
        })
    }

    pub fn from_proto(c: &v1::AgencyCatalog) -> Result<Self> {
        Ok(AgencyCatalog {
            agency: c.agency.clone(),
            datasets: c
                .datasets
                .iter()
                .map(|d| DatasetInfo::from_proto(&c.agency, d))
                .collect::<Result<_>>()?,
        })
    }
}

/// Split a table reference from SQL into `(agency, dataset)`. Tables must be named
/// `<agency>.<dataset>`, optionally prefixed with the `sluice` catalog.
pub fn split_table_ref(r: &TableReference) -> Result<(&str, &str)> {
    match r {
        TableReference::Partial { schema, table } => Ok((schema, table)),
        TableReference::Full {
            catalog,
            schema,
            table,
        } if catalog.as_ref() == crate::owner::CATALOG => Ok((schema, table)),
        _ => Err(GatewayError::UnqualifiedTable(r.to_string())),
    }
}
