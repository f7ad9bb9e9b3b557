//! The leaf of a federated plan: [`RemoteExec`] sends one SQL sub-query to the agency
//! that owns the data and streams the answer back, never holding the whole result.
//! [`RemoteQueryTable`] lets the logical plan carry such a sub-query as a table scan.

use std::fmt;
use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use async_trait::async_trait;
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::error::Result as DfResult;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::{Expr, TableType};
use datafusion::physical_expr::{EquivalenceProperties, PhysicalExpr};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, Partitioning, PlanProperties,
};
use futures::{StreamExt, TryStreamExt};

use crate::error::GatewayError;
use crate::peer::AgencyClient;
use crate::peer::Caller;

/// Runs one SQL sub-query at its owning agency.
pub struct RemoteExec {
    client: Arc<dyn AgencyClient>,
    caller: Caller,
    sql: String,
    /// The schema the home plan expects, before `projection`.
    schema: SchemaRef,
    projection: Option<Vec<usize>>,
    props: Arc<PlanProperties>,
}

impl RemoteExec {
    pub fn new(
        client: Arc<dyn AgencyClient>,
        caller: Caller,
        sql: String,
        schema: SchemaRef,
        projection: Option<Vec<usize>>,
    ) -> DfResult<Self> {
        let out_schema = match &projection {
            Some(p) => Arc::new(schema.project(p)?),
            None => Arc::clone(&schema),
        };
        let props = Arc::new(PlanProperties::new(
            EquivalenceProperties::new(out_schema),
            Partitioning::UnknownPartitioning(1),
            EmissionType::Incremental,
            Boundedness::Bounded,
        ));
        Ok(RemoteExec {
            client,
            caller,
            sql,
            schema,
            projection,
            props,
        })
    }

    /// The agency this sub-query goes to.
    pub fn agency(&self) -> &sluice_core::AgencyId {
        self.client.agency()
    }

    /// The SQL sent to the owner.
    pub fn sql(&self) -> &str {
        &self.sql
    }
}

impl fmt::Debug for RemoteExec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteExec")
            .field("agency", &self.agency())
            .field("sql", &self.sql)
            .finish()
    }
}

impl DisplayAs for RemoteExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "RemoteExec: agency={} sql={}", self.agency(), self.sql)
    }
}

impl ExecutionPlan for RemoteExec {
    fn name(&self) -> &'static str {
        "RemoteExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.props
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> DfResult<TreeNodeRecursion>,
    ) -> DfResult<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn with_new_children(
        self: Arc<Self>,
        _children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        Ok(self)
    }

    fn execute(
        &self,
        partition: usize,
        _context: Arc<TaskContext>,
    ) -> DfResult<SendableRecordBatchStream> {
        if partition != 0 {
            return Err(GatewayError::Internal(format!(
                "RemoteExec has one partition, asked for {partition}"
            ))
            .into_datafusion());
        }
        let client = Arc::clone(&self.client);
        let caller = self.caller.clone();
        let sql = self.sql.clone();
        let schema = Arc::clone(&self.schema);
        let projection = self.projection.clone();
        let out_schema = Arc::clone(self.props.eq_properties.schema());
        let stream = futures::stream::once(async move {
            client
                .fetch(&caller, &sql, schema)
                .await
                .map_err(GatewayError::into_datafusion)
        })
        .try_flatten()
        .map(move |batch| match (&projection, batch) {
            (Some(p), Ok(b)) => Ok(b.project(p)?),
            (_, other) => other,
        });
        Ok(Box::pin(RecordBatchStreamAdapter::new(out_schema, stream)))
    }
}

/// A sub-query, already turned into SQL, standing in the logical plan as a table.
/// Its columns are named `c0`, `c1`, …; the plan above it renames them back.
#[derive(Debug)]
pub struct RemoteQueryTable {
    pub client: Arc<dyn AgencyClient>,
    pub caller: Caller,
    pub sql: String,
    pub schema: SchemaRef,
}

#[async_trait]
impl TableProvider for RemoteQueryTable {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn table_type(&self) -> TableType {
        TableType::Temporary
    }

    async fn scan(
        &self,
        _state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        _limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        Ok(Arc::new(RemoteExec::new(
            Arc::clone(&self.client),
            self.caller.clone(),
            self.sql.clone(),
            Arc::clone(&self.schema),
            projection.cloned(),
        )?))
    }
}
