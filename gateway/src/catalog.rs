//! What an agency publishes: its datasets, each with a name, title, description and
//! Arrow schema. This is the form catalogs take in the federated planner, read from the
//! chain's directory ([`DatasetInfo::from_record`]), or on the wire from a gateway that
//! runs unaudited and so has no directory.

use arrow::datatypes::SchemaRef;
use sluice_core::{AgencyId, DatasetName, DatasetRef};
use sluice_proto::v1;

use crate::error::{GatewayError, Result};
use crate::ipc;

/// One published dataset, addressed in SQL as `<agency>.<name>`.
#[derive(Debug, Clone, PartialEq)]
pub struct DatasetInfo {
    pub agency: AgencyId,
    pub name: DatasetName,
    pub title: String,
    pub description: String,
    pub schema: SchemaRef,
}

impl DatasetInfo {
    /// The dataset a directory record describes; its schema is the record's columns.
    pub fn from_record(record: &sluice_chain::entry::CatalogRecord) -> Result<Self> {
        let agency = AgencyId::parse(record.agency())?;
        let dataset = sluice_core::DatasetRef::parse(&record.dataset)?;
        let mut fields = Vec::with_capacity(record.columns.len());
        for c in &record.columns {
            let data_type: arrow::datatypes::DataType =
                c.data_type.parse().map_err(|e| GatewayError::BadPeerData {
                    agency: agency.to_string(),
                    message: format!(
                        "the published type `{}` of `{}.{}` does not parse: {e}",
                        c.data_type, record.dataset, c.name
                    ),
                })?;
            fields.push(arrow::datatypes::Field::new(&c.name, data_type, c.nullable));
        }
        Ok(DatasetInfo {
            agency,
            name: dataset.dataset().clone(),
            title: record.title.clone(),
            description: record.description.clone(),
            schema: std::sync::Arc::new(arrow::datatypes::Schema::new(fields)),
        })
    }

    /// `<agency>.<name>`
    pub fn dataset_ref(&self) -> DatasetRef {
        DatasetRef::new(self.agency.clone(), self.name.clone())
    }

    pub fn to_proto(&self) -> Result<v1::DatasetInfo> {
        Ok(v1::DatasetInfo {
            name: self.name.to_string(),
            title: self.title.clone(),
            description: self.description.clone(),
            arrow_schema: ipc::schema_to_bytes(&self.schema).map_err(|e| {
                GatewayError::Internal(format!("encoding schema of {}: {e}", self.name))
            })?,
        })
    }

    /// Read a dataset description sent by `agency`'s gateway.
    pub fn from_proto(agency: &AgencyId, d: &v1::DatasetInfo) -> Result<Self> {
        let bad = |message: String| GatewayError::BadPeerData {
            agency: agency.to_string(),
            message,
        };
        let schema = ipc::schema_from_bytes(&d.arrow_schema)
            .map_err(|e| bad(format!("schema of dataset `{}`: {e}", d.name)))?;
        let name = DatasetName::parse(&d.name).map_err(|e| bad(e.to_string()))?;
        Ok(DatasetInfo {
            agency: agency.clone(),
            name,
            title: d.title.clone(),
            description: d.description.clone(),
            schema,
        })
    }
}

/// One agency's catalog.
#[derive(Debug, Clone, PartialEq)]
pub struct AgencyCatalog {
    pub agency: AgencyId,
    pub datasets: Vec<DatasetInfo>,
}

impl AgencyCatalog {
    pub fn to_proto(&self) -> Result<v1::AgencyCatalog> {
        Ok(v1::AgencyCatalog {
            agency: self.agency.to_string(),
            datasets: self
                .datasets
                .iter()
                .map(DatasetInfo::to_proto)
                .collect::<Result<_>>()?,
        })
    }

    pub fn from_proto(c: &v1::AgencyCatalog) -> Result<Self> {
        let agency = AgencyId::parse(&c.agency).map_err(|e| GatewayError::BadPeerData {
            agency: c.agency.clone(),
            message: e.to_string(),
        })?;
        Ok(AgencyCatalog {
            datasets: c
                .datasets
                .iter()
                .map(|d| DatasetInfo::from_proto(&agency, d))
                .collect::<Result<_>>()?,
            agency,
        })
    }
}
