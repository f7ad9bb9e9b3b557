//! What one query may use at a gateway: memory for its sorts, joins and aggregates, and
//! time. Each query runs with a memory pool of its own, so an operator that would pass
//! the budget fails (or spills) instead of the gateway running out of memory, and its
//! stream ends with an error once the deadline passes.

use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::Duration;

use datafusion::error::DataFusionError;
use datafusion::execution::memory_pool::{GreedyMemoryPool, TrackConsumersPool};
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::execution::{SendableRecordBatchStream, SessionState, TaskContext};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use futures::StreamExt;

use crate::error::GatewayError;

/// The `[limits]` section: what one query may use. Both have defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueryLimits {
    /// Memory that one query's sorts, joins, aggregates and repartitions may hold at
    /// once. Sorts and grouped aggregates spill to disk beyond it; a hash join fails.
    pub memory: usize,
    /// How long one query may run, from its start to its last batch.
    pub time: Duration,
}

impl Default for QueryLimits {
    fn default() -> Self {
        QueryLimits {
            memory: 1024 * 1024 * 1024,
            time: Duration::from_secs(600),
        }
    }
}

impl QueryLimits {
    /// Start `physical`, planned in `state`, within these limits: with a memory pool of
    /// its own, and a stream that ends with [`GatewayError::OverBudget`] once the query
    /// has run for [`QueryLimits::time`]. Dropping the stream stops the query's work.
    pub fn execute(
        &self,
        physical: Arc<dyn ExecutionPlan>,
        state: &SessionState,
    ) -> datafusion::error::Result<SendableRecordBatchStream> {
        let task = self.task_context(state)?;
        let stream = datafusion::physical_plan::execute_stream(physical, task)?;
        Ok(self.bound(stream))
    }

    /// A task context for one query planned in `state`: the session's caches and spill
    /// directory, and a memory pool of [`QueryLimits::memory`] for this query alone.
    fn task_context(&self, state: &SessionState) -> datafusion::error::Result<Arc<TaskContext>> {
        // The pool's error names the largest consumers, so the analyst learns which
        // operator ran out.
        let top = NonZeroUsize::new(3).unwrap_or(NonZeroUsize::MIN);
        let pool = TrackConsumersPool::new(GreedyMemoryPool::new(self.memory), top);
        let runtime = RuntimeEnvBuilder::from_runtime_env(state.runtime_env())
            .with_memory_pool(Arc::new(pool))
            .build_arc()?;
        Ok(Arc::new(TaskContext::from(state).with_runtime(runtime)))
    }

    /// `stream`, ending with [`GatewayError::OverBudget`] if it is not done within
    /// [`QueryLimits::time`] of now.
    fn bound(&self, stream: SendableRecordBatchStream) -> SendableRecordBatchStream {
        let limit = self.time;
        let deadline = tokio::time::Instant::now() + limit;
        let schema = stream.schema();
        let bounded = futures::stream::unfold(Some(stream), move |state| async move {
            let mut stream = state?;
            match tokio::time::timeout_at(deadline, stream.next()).await {
                Ok(Some(item)) => Some((item, Some(stream))),
                Ok(None) => None,
                Err(_) => Some((Err(out_of_time(limit)), None)),
            }
        });
        Box::pin(RecordBatchStreamAdapter::new(schema, bounded))
    }
}

fn out_of_time(limit: Duration) -> DataFusionError {
    GatewayError::OverBudget(format!(
        "the query ran longer than the {} a gateway gives one query, and was stopped",
        describe(limit)
    ))
    .into_datafusion()
}

/// A duration as an operator writes it in the config.
fn describe(d: Duration) -> String {
    if d.as_millis() < 10_000 {
        format!("{} ms", d.as_millis())
    } else {
        format!("{} s", d.as_secs())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use datafusion::arrow::array::Int64Array;
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    use datafusion::arrow::record_batch::RecordBatch;
    use datafusion::prelude::SessionContext;

    fn batch(schema: &Arc<Schema>) -> RecordBatch {
        RecordBatch::try_new(
            Arc::clone(schema),
            vec![Arc::new(Int64Array::from(vec![1, 2, 3]))],
        )
        .unwrap()
    }

    /// A stream that sends one batch, then waits forever, as a query stuck in a long
    /// join does between batches.
    fn stalled(schema: &Arc<Schema>) -> SendableRecordBatchStream {
        let first = futures::stream::iter([Ok(batch(schema))]);
        let stuck = futures::stream::pending();
        Box::pin(RecordBatchStreamAdapter::new(
            Arc::clone(schema),
            first.chain(stuck),
        ))
    }

    #[tokio::test]
    async fn a_stream_past_its_deadline_ends_with_an_error_that_says_so() {
        let schema = Arc::new(Schema::new(vec![Field::new("x", DataType::Int64, false)]));
        let limits = QueryLimits {
            time: Duration::from_millis(50),
            ..QueryLimits::default()
        };
        let mut items: Vec<_> = limits.bound(stalled(&schema)).collect().await;
        assert_eq!(items.len(), 2, "one batch, then the error, then the end");
        let e = GatewayError::from_datafusion(items.pop().unwrap().unwrap_err());
        assert_eq!(items.pop().unwrap().unwrap().num_rows(), 3);
        assert!(matches!(e, GatewayError::OverBudget(_)), "{e:?}");
        assert!(e.to_string().contains("longer than the 50 ms"), "{e}");

        // A stream that ends in time is passed through whole.
        let done = Box::pin(RecordBatchStreamAdapter::new(
            Arc::clone(&schema),
            futures::stream::iter([Ok(batch(&schema)), Ok(batch(&schema))]),
        ));
        let items: Vec<_> = limits.bound(done).collect().await;
        assert_eq!(items.len(), 2);
        assert!(items.iter().all(Result::is_ok));
    }

    #[tokio::test]
    async fn a_query_past_its_memory_fails_with_an_error_that_says_so() {
        let ctx = SessionContext::new();
        let state = ctx.state();
        let limits = QueryLimits {
            memory: 64 * 1024,
            ..QueryLimits::default()
        };
        // A hash join must hold its build side; 100,000 rows of it do not fit in 64 KiB.
        let sql = "SELECT COUNT(*) FROM (SELECT value AS k FROM generate_series(1, 100000)) a \
                   JOIN (SELECT value AS k FROM generate_series(1, 100000)) b ON a.k = b.k";
        let plan = state.create_logical_plan(sql).await.unwrap();
        let physical = state.create_physical_plan(&plan).await.unwrap();
        let err = match limits.execute(physical, &state) {
            Err(e) => e,
            Ok(s) => {
                let items: Vec<_> = s.collect().await;
                items
                    .into_iter()
                    .find_map(Result::err)
                    .expect("the join cannot fit in 64 KiB")
            }
        };
        let e = GatewayError::from_datafusion(err);
        assert!(matches!(e, GatewayError::OverBudget(_)), "{e:?}");
        assert!(e.to_string().contains("memory"), "{e}");

        // The same query with the default budget is answered (a physical plan runs once).
        let physical = state.create_physical_plan(&plan).await.unwrap();
        let stream = QueryLimits::default().execute(physical, &state).unwrap();
        let batches: Vec<_> = stream.collect().await;
        let rows: usize = batches.into_iter().map(|b| b.unwrap().num_rows()).sum();
        assert_eq!(rows, 1);
    }
}
