//! This gateway's own owner as an [`AgencyClient`]: in process, but through the same
//! owner-side path (plan, judge, log, run) as a peer's request.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use arrow::datatypes::SchemaRef;
use async_trait::async_trait;
use datafusion::execution::SendableRecordBatchStream;
use futures::TryStreamExt;
use sluice_core::AgencyId;

use super::{AgencyClient, Caller, WireStats, counted};
use crate::catalog::AgencyCatalog;
use crate::context::RequestContext;
use crate::error::{GatewayError, Result};
use crate::owner::{Authenticated, Owner};

/// This gateway's own owner, reached in process.
#[derive(Debug)]
pub struct LocalClient {
    owner: Arc<Owner>,
    stats: Arc<WireStats>,
}

impl LocalClient {
    pub fn new(owner: Arc<Owner>, stats: Arc<WireStats>) -> Self {
        LocalClient { owner, stats }
    }
}

#[async_trait]
impl AgencyClient for LocalClient {
    fn agency(&self) -> &AgencyId {
        self.owner.agency()
    }

    async fn catalog(&self, _ctx: &RequestContext) -> Result<AgencyCatalog> {
        Ok(self.owner.catalog())
    }

    async fn fetch(
        &self,
        caller: &Caller,
        sql: &str,
        expected: SchemaRef,
    ) -> Result<SendableRecordBatchStream> {
        let stats = self.stats.agency(self.agency().as_str());
        stats.sub_queries.fetch_add(1, Ordering::Relaxed);
        let auth = Authenticated::from_session(&caller.session, caller.ctx.clone())?;
        let stream = self.owner.fetch(auth, sql).await?;
        let stream = stream.map_err(GatewayError::from_datafusion);
        Ok(counted(self.agency().as_str(), expected, stats, stream))
    }
}
