//! The federated catalog as DataFusion sees it: one schema per agency
//! ([`AgencySchema`]), holding one [`RemoteDataset`] per published dataset. An audited
//! gateway reads datasets from its copy of the chain's directory, so it plans (and
//! refuses with a clear message) even while an owner is down; an unaudited one fetches
//! catalogs from the owners when first needed and refreshes them when a name is missing.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use arrow::datatypes::{Field, Schema, SchemaRef};
use async_trait::async_trait;
use datafusion::catalog::{SchemaProvider, Session, TableProvider};
use datafusion::common::Column;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown, TableType};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::sql::unparser::Unparser;

use sluice_chain::ChainStore;
use sluice_core::{AgencyId, Principal, Purpose};

use super::exec::RemoteExec;
use super::sql_expr::{expr_can_push, normalize_expr_for_sql};
use crate::catalog::DatasetInfo;
use crate::context::RequestContext;
use crate::error::{GatewayError, Result};
use crate::peer::AgencyClient;
use crate::peer::Caller;

/// How long a fetched catalog is trusted before a missing name triggers a refresh.
const CATALOG_REFRESH: Duration = Duration::from_secs(1);

/// One agency's datasets, as a DataFusion schema named after the agency.
#[derive(Debug)]
pub struct AgencySchema {
    client: Arc<dyn AgencyClient>,
    home_agency: AgencyId,
    /// The chain whose directory lists the datasets; `None`: ask the owner.
    directory: Option<Arc<ChainStore>>,
    cache: RwLock<Option<(Instant, BTreeMap<String, DatasetInfo>)>>,
}

impl AgencySchema {
    /// The datasets of `client`'s agency, as `directory` (this gateway's copy of the
    /// chain) lists them, or, without one, as the owner answers.
    pub fn new(
        client: Arc<dyn AgencyClient>,
        home_agency: &AgencyId,
        directory: Option<Arc<ChainStore>>,
    ) -> Self {
        AgencySchema {
            client,
            home_agency: home_agency.clone(),
            directory,
            cache: RwLock::new(None),
        }
    }

    /// The agency's live datasets in the directory.
    fn published(&self, store: &ChainStore) -> Result<BTreeMap<String, DatasetInfo>> {
        let agency = self.client.agency();
        let mut map = BTreeMap::new();
        for p in store.directory().datasets(Some(agency.as_str()))? {
            let info = DatasetInfo::from_record(&p.record)?;
            map.insert(info.name.to_string(), info);
        }
        Ok(map)
    }

    pub fn client(&self) -> &Arc<dyn AgencyClient> {
        &self.client
    }

    fn cached(&self) -> Option<(Instant, BTreeMap<String, DatasetInfo>)> {
        self.cache.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The agency's datasets, fetched if never fetched, or if `want` is missing and the
    /// cached copy is older than [`CATALOG_REFRESH`].
    pub async fn datasets(&self, want: Option<&str>) -> Result<BTreeMap<String, DatasetInfo>> {
        if let Some(store) = &self.directory {
            return self.published(store);
        }
        if let Some((at, map)) = self.cached() {
            let have = want.is_some_and(|w| map.contains_key(w));
            if have || at.elapsed() < CATALOG_REFRESH {
                return Ok(map);
            }
        }
        let bad = |e: sluice_core::IdError| GatewayError::Internal(e.to_string());
        let ctx = RequestContext::new(
            Principal::parse(&format!("{}/gateway", self.home_agency)).map_err(bad)?,
            Purpose::parse("catalog").map_err(bad)?,
        );
        let catalog = self.client.catalog(&ctx).await?;
        let map: BTreeMap<_, _> = catalog
            .datasets
            .into_iter()
            .map(|d| (d.name.to_string(), d))
            .collect();
        *self.cache.write().unwrap_or_else(|p| p.into_inner()) =
            Some((Instant::now(), map.clone()));
        Ok(map)
    }
}

/// A published schema as the home plans with it: no metadata, and every column nullable.
///
/// Field metadata is the owner's business (a connector may describe its source types in
/// it); carried into the home's plans, DataFusion keeps it in some logical schemas and
/// not in the physical ones, and refuses the plan. A column may be NULL at the owner
/// whatever its published type says (its policy may null it), and a planner that trusts
/// a non-nullable column drops `IS NULL` tests on it.
pub fn planning_schema(schema: &Schema) -> SchemaRef {
    Arc::new(Schema::new(
        schema
            .fields()
            .iter()
            .map(|f| Field::new(f.name(), f.data_type().clone(), true))
            .collect::<Vec<_>>(),
    ))
}

impl AgencySchema {
    /// Look up one dataset, with an error that lists what the agency does publish.
    pub async fn dataset(&self, name: &str) -> Result<DatasetInfo> {
        if let Some(store) = &self.directory {
            let full = format!("{}.{name}", self.client.agency());
            if let Some(p) = store.directory().dataset(&full)? {
                return DatasetInfo::from_record(&p.record);
            }
        }
        let map = self.datasets(Some(name)).await?;
        map.get(name)
            .cloned()
            .ok_or_else(|| GatewayError::UnknownDataset {
                agency: self.client.agency().to_string(),
                dataset: name.to_string(),
                published: map.keys().cloned().collect(),
            })
    }
}

#[async_trait]
impl SchemaProvider for AgencySchema {
    fn table_names(&self) -> Vec<String> {
        if let Some(store) = &self.directory {
            return self
                .published(store)
                .map(|m| m.into_keys().collect())
                .unwrap_or_default();
        }
        self.cached()
            .map(|(_, m)| m.keys().cloned().collect())
            .unwrap_or_default()
    }

    async fn table(&self, name: &str) -> DfResult<Option<Arc<dyn TableProvider>>, DataFusionError> {
        match self.dataset(name).await {
            Ok(mut info) => Ok(Some(Arc::new(RemoteDataset {
                info: {
                    info.schema = planning_schema(&info.schema);
                    info
                },
                client: Arc::clone(&self.client),
            }))),
            Err(GatewayError::UnknownDataset { .. }) => Ok(None),
            Err(e) => Err(e.into_datafusion()),
        }
    }

    fn table_exist(&self, name: &str) -> bool {
        if let Some(store) = &self.directory {
            let full = format!("{}.{name}", self.client.agency());
            return matches!(store.directory().dataset(&full), Ok(Some(_)));
        }
        self.cached().is_some_and(|(_, m)| m.contains_key(name))
    }
}

/// A dataset that lives at its owning agency. Normally the federation rewrite replaces
/// scans of it by larger sub-queries; when it cannot, a scan fetches the dataset's
/// needed columns, with the filters and limit that can be written as SQL.
#[derive(Debug)]
pub struct RemoteDataset {
    pub info: DatasetInfo,
    pub client: Arc<dyn AgencyClient>,
}

impl RemoteDataset {
    pub fn agency(&self) -> &AgencyId {
        &self.info.agency
    }
}

#[async_trait]
impl TableProvider for RemoteDataset {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.info.schema)
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> DfResult<Vec<TableProviderFilterPushDown>> {
        // Inexact: the home gateway re-applies every filter, so a filter that cannot be
        // written as SQL for the owner is still honoured.
        Ok(vec![TableProviderFilterPushDown::Inexact; filters.len()])
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let ctx = state.config().get_extension::<Caller>().ok_or_else(|| {
            GatewayError::Internal("a query ran without a request context".into()).into_datafusion()
        })?;
        let schema = &self.info.schema;
        let indices: Vec<usize> = projection
            .cloned()
            .unwrap_or_else(|| (0..schema.fields().len()).collect());
        let fetched = Arc::new(schema.project(&indices)?);
        let columns = if indices.is_empty() {
            "1".to_string()
        } else {
            indices
                .iter()
                .map(|i| quote_ident(schema.field(*i).name()))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let mut sql = format!(
            "SELECT {columns} FROM {}.{}",
            self.info.agency, self.info.name
        );
        let predicates: Vec<String> = filters.iter().filter_map(filter_to_sql).collect();
        if !predicates.is_empty() {
            sql.push_str(" WHERE ");
            sql.push_str(&predicates.join(" AND "));
        }
        // A limit is only exact when every filter went to the owner.
        if let Some(n) = limit.filter(|_| predicates.len() == filters.len()) {
            sql.push_str(&format!(" LIMIT {n}"));
        }
        let fetched = if indices.is_empty() {
            Arc::new(arrow::datatypes::Schema::new(vec![
                arrow::datatypes::Field::new("1", arrow::datatypes::DataType::Int64, false),
            ]))
        } else {
            fetched
        };
        let projection = if indices.is_empty() {
            Some(vec![])
        } else {
            None
        };
        Ok(Arc::new(RemoteExec::new(
            Arc::clone(&self.client),
            ctx.as_ref().clone(),
            sql,
            fetched,
            projection,
        )?))
    }
}

/// Write one filter as SQL for the owner, or `None` if it cannot be written so that
/// it means the same there.
fn filter_to_sql(expr: &Expr) -> Option<String> {
    if !expr_can_push(expr) {
        return None;
    }
    let unqualified = normalize_expr_for_sql(expr.clone())
        .ok()?
        .data
        .transform(|e| match e {
            Expr::Column(c) => Ok(Transformed::yes(Expr::Column(Column::new_unqualified(
                c.name,
            )))),
            other => Ok(Transformed::no(other)),
        })
        .ok()?
        .data;
    let ast = Unparser::default().expr_to_sql(&unqualified).ok()?;
    Some(format!("({ast})"))
}

/// Quote an identifier for DataFusion's SQL dialect.
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}
