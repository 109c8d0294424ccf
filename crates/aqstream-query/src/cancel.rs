//! Stopping a running query. Every operator's output stream checks a shared flag before
//! each batch, so a query stopped by the timeout (or abandoned by its client) ends at the
//! next batch any of its operators asks for, even inside an operator that loops over its
//! input without returning (a nested-loop join whose filter drops every row). Without it
//! such a query keeps the executor's threads busy after its timeout, and the next
//! queries time out behind it.

use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::TaskContext;
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, PlanProperties, SendableRecordBatchStream,
};
use futures::StreamExt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::Poll;

/// The flag a query's operators check; set it to stop the query.
#[derive(Debug, Clone, Default)]
pub struct CancelFlag(Arc<AtomicBool>);

impl CancelFlag {
    /// Stops the query.
    pub fn cancel(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    /// Has the query been stopped?
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// Cancels when dropped (a query future dropped half-way, e.g. by a disconnecting
/// client, stops its operators too).
#[derive(Debug)]
pub struct CancelOnDrop(pub CancelFlag);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.cancel();
    }
}

/// Passes its input's batches through while the flag is clear; an error once it is set.
#[derive(Debug)]
pub struct CancellableExec {
    input: Arc<dyn ExecutionPlan>,
    flag: CancelFlag,
}

impl CancellableExec {
    /// Wraps `input`.
    pub fn new(input: Arc<dyn ExecutionPlan>, flag: CancelFlag) -> CancellableExec {
        CancellableExec { input, flag }
    }
}

impl DisplayAs for CancellableExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CancellableExec")
    }
}

impl ExecutionPlan for CancellableExec {
    fn name(&self) -> &str {
        "CancellableExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        self.input.properties()
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    fn maintains_input_order(&self) -> Vec<bool> {
        vec![true]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn with_new_children(
        self: Arc<Self>,
        mut children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        if children.len() != 1 {
            return Err(DataFusionError::Internal(
                "CancellableExec has one child".into(),
            ));
        }
        Ok(Arc::new(CancellableExec::new(
            children.swap_remove(0),
            self.flag.clone(),
        )))
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let mut inner = self.input.execute(partition, context)?;
        let schema = inner.schema();
        let flag = self.flag.clone();
        let stream = futures::stream::poll_fn(move |cx| {
            if flag.is_cancelled() {
                return Poll::Ready(Some(Err(DataFusionError::Execution(
                    "query cancelled".into(),
                ))));
            }
            inner.poll_next_unpin(cx)
        });
        Ok(Box::pin(RecordBatchStreamAdapter::new(schema, stream)))
    }
}

/// Wraps every operator of `plan` in a [`CancellableExec`] checking `flag`.
pub fn cancellable(
    plan: Arc<dyn ExecutionPlan>,
    flag: &CancelFlag,
) -> Result<Arc<dyn ExecutionPlan>> {
    plan.transform_up(|node| {
        let wrapped: Arc<dyn ExecutionPlan> = Arc::new(CancellableExec::new(node, flag.clone()));
        Ok(Transformed::yes(wrapped))
    })
    .map(|t| t.data)
}
