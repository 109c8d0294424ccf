//! The DataFusion part of stage 1: a compiled partial-aggregation plan, run once per
//! segment of readings.
//!
//! A segment's readings become one Arrow batch with a packed group key
//! ([`crate::window::Cell::pack`]: sensor, cell kind, cell start) and the values that
//! are valid for aggregation (flagged values are null). DataFusion groups it and
//! returns, per sensor-cell, sum / count of each measure, PM2.5 min / max, the wind
//! vector sums and the union of the readings' problems. The window state
//! ([`crate::stage1`]) merges these partials into its windows.
//!
//! The SQL is planned once (`target_partitions = 1`, so the plan is a single,
//! deterministic hash aggregation); each run swaps the plan's in-memory source for the
//! segment's batch and executes it, which costs microseconds instead of the
//! milliseconds of planning.

use crate::error::Result;
use crate::partial::{NS, Partial};
use datafusion::arrow::array::{
    Array, ArrayBuilder, ArrayRef, AsArray, Float64Builder, Int32Builder, RecordBatch,
    UInt64Builder,
};
use datafusion::arrow::datatypes::{
    DataType, Field, Float64Type, Int32Type, Int64Type, Schema, SchemaRef, UInt64Type,
};
use datafusion::datasource::memory::MemorySourceConfig;
use datafusion::execution::TaskContext;
use datafusion::physical_plan::{
    ChildrenPropertiesMode, ExecutionPlan, ReplaceChildrenOptions, collect,
};
use datafusion::prelude::{SessionConfig, SessionContext};
use std::sync::Arc;

/// The input schema of a segment aggregation.
pub fn segment_schema() -> SchemaRef {
    let mut fields = vec![Field::new("k", DataType::UInt64, false)];
    for i in 0..NS {
        fields.push(Field::new(format!("v{i}"), DataType::Float64, true));
    }
    fields.push(Field::new("wx", DataType::Float64, true));
    fields.push(Field::new("wy", DataType::Float64, true));
    fields.push(Field::new("problems", DataType::Int32, false));
    Arc::new(Schema::new(fields))
}

fn query() -> String {
    let mut q = String::from("SELECT k, count(*) AS n");
    for i in 0..NS {
        q.push_str(&format!(", sum(v{i}), count(v{i})"));
        if i == 0 {
            q.push_str(", min(v0), max(v0)");
        }
    }
    q.push_str(", sum(wx), sum(wy), count(wx), bit_or(problems) FROM seg GROUP BY k");
    q
}

/// Builds the input batch of one segment.
pub struct SegmentBuilder {
    k: UInt64Builder,
    v: Vec<Float64Builder>,
    wx: Float64Builder,
    wy: Float64Builder,
    problems: Int32Builder,
}

impl Default for SegmentBuilder {
    fn default() -> Self {
        SegmentBuilder {
            k: UInt64Builder::new(),
            v: (0..NS).map(|_| Float64Builder::new()).collect(),
            wx: Float64Builder::new(),
            wy: Float64Builder::new(),
            problems: Int32Builder::new(),
        }
    }
}

impl SegmentBuilder {
    /// Appends one reading: its group key, valid values, wind vector and problems.
    pub fn push(
        &mut self,
        key: u64,
        values: &[Option<f64>; NS],
        wind: Option<(f64, f64)>,
        problems: u8,
    ) {
        self.k.append_value(key);
        for (b, v) in self.v.iter_mut().zip(values) {
            b.append_option(*v);
        }
        self.wx.append_option(wind.map(|w| w.0));
        self.wy.append_option(wind.map(|w| w.1));
        self.problems.append_value(i32::from(problems));
    }

    /// Readings appended since the last [`SegmentBuilder::finish`].
    pub fn len(&self) -> usize {
        self.k.len()
    }

    /// Nothing appended?
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The batch; the builder is empty afterwards, with room for as many readings
    /// (the next segment is about as long; growing to it would copy every column
    /// several times).
    pub fn finish(&mut self) -> Result<RecordBatch> {
        let n = self.len();
        let f = || Float64Builder::with_capacity(n);
        let mut cols: Vec<ArrayRef> = vec![Arc::new(
            std::mem::replace(&mut self.k, UInt64Builder::with_capacity(n)).finish(),
        )];
        cols.extend(
            self.v
                .iter_mut()
                .map(|b| Arc::new(std::mem::replace(b, f()).finish()) as ArrayRef),
        );
        cols.push(Arc::new(std::mem::replace(&mut self.wx, f()).finish()));
        cols.push(Arc::new(std::mem::replace(&mut self.wy, f()).finish()));
        cols.push(Arc::new(
            std::mem::replace(&mut self.problems, Int32Builder::with_capacity(n)).finish(),
        ));
        Ok(RecordBatch::try_new(segment_schema(), cols)?)
    }
}

/// The compiled partial-aggregation plan (cheap to share: immutable).
pub struct SegmentPlan {
    plan: Arc<dyn ExecutionPlan>,
    task: Arc<TaskContext>,
}

impl std::fmt::Debug for SegmentPlan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SegmentPlan").finish_non_exhaustive()
    }
}

impl SegmentPlan {
    /// Plans the aggregation once.
    pub fn new() -> Result<SegmentPlan> {
        let config = SessionConfig::new()
            .with_target_partitions(1)
            .with_batch_size(16 * 1024);
        let ctx = SessionContext::new_with_config(config);
        let empty = RecordBatch::new_empty(segment_schema());
        ctx.register_batch("seg", empty)?;
        let plan = futures::executor::block_on(async {
            ctx.sql(&query()).await?.create_physical_plan().await
        })?;
        Ok(SegmentPlan {
            plan,
            task: ctx.task_ctx(),
        })
    }

    /// Aggregates one segment batch into per-key partials, sorted by key.
    pub fn run(&self, batch: RecordBatch) -> Result<Vec<(u64, Partial)>> {
        self.run_batches(vec![batch])
    }

    /// Aggregates the batches of one segment (in order) into per-key partials, sorted
    /// by key.
    pub fn run_batches(&self, batches: Vec<RecordBatch>) -> Result<Vec<(u64, Partial)>> {
        let batches: Vec<RecordBatch> = batches.into_iter().filter(|b| b.num_rows() > 0).collect();
        if batches.is_empty() {
            return Ok(Vec::new());
        }
        let source: Arc<dyn ExecutionPlan> =
            MemorySourceConfig::try_new_exec(&[batches], segment_schema(), None)?;
        let plan = replace_leaf(&self.plan, &source)?;
        let out = futures::executor::block_on(collect(plan, Arc::clone(&self.task)))?;
        let mut partials = Vec::with_capacity(out.iter().map(RecordBatch::num_rows).sum());
        for b in &out {
            read_partials(b, &mut partials)?;
        }
        partials.sort_unstable_by_key(|(k, _)| *k);
        Ok(partials)
    }
}

/// The plan with its (single) leaf replaced by `leaf`.
fn replace_leaf(
    plan: &Arc<dyn ExecutionPlan>,
    leaf: &Arc<dyn ExecutionPlan>,
) -> Result<Arc<dyn ExecutionPlan>> {
    let children = plan.children();
    if children.is_empty() {
        return Ok(Arc::clone(leaf));
    }
    let new: Vec<Arc<dyn ExecutionPlan>> = children
        .into_iter()
        .map(|c| replace_leaf(c, leaf))
        .collect::<Result<_>>()?;
    // The new leaf has the same schema and partitioning as the planned one.
    Ok(Arc::clone(plan).replace_children(
        new,
        ReplaceChildrenOptions::new(ChildrenPropertiesMode::Keep),
    )?)
}

fn read_partials(b: &RecordBatch, out: &mut Vec<(u64, Partial)>) -> Result<()> {
    let bad = || crate::StreamError::corrupt("aggregation output", "unexpected column type");
    let col = |i: usize| b.column(i);
    let k = col(0).as_primitive_opt::<UInt64Type>().ok_or_else(bad)?;
    let n = col(1).as_primitive_opt::<Int64Type>().ok_or_else(bad)?;
    let f = |i: usize| col(i).as_primitive_opt::<Float64Type>().ok_or_else(bad);
    let c = |i: usize| col(i).as_primitive_opt::<Int64Type>().ok_or_else(bad);
    // Column layout: k, n, (s0, c0, min, max), (s1, c1) … (s9, c9), sx, sy, cw, problems.
    let mut sums = Vec::with_capacity(NS);
    let mut counts = Vec::with_capacity(NS);
    let mut at = 2;
    for i in 0..NS {
        sums.push(f(at)?);
        counts.push(c(at + 1)?);
        at += if i == 0 { 4 } else { 2 };
    }
    let (mn, mx) = (f(4)?, f(5)?);
    let (sx, sy, cw) = (f(at)?, f(at + 1)?, c(at + 2)?);
    let pr = col(at + 3)
        .as_primitive_opt::<Int32Type>()
        .ok_or_else(bad)?;
    let val = |a: &datafusion::arrow::array::Float64Array, r: usize| {
        if a.is_valid(r) { a.value(r) } else { 0.0 }
    };
    for r in 0..b.num_rows() {
        let mut p = Partial {
            n: n.value(r) as u32,
            ..Partial::default()
        };
        for i in 0..NS {
            p.sum[i] = val(sums[i], r);
            p.cnt[i] = counts[i].value(r) as u32;
        }
        if p.cnt[0] > 0 {
            p.pm_min = mn.value(r);
            p.pm_max = mx.value(r);
        }
        p.wx = val(sx, r);
        p.wy = val(sy, r);
        p.wn = cw.value(r) as u32;
        p.problems = if pr.is_valid(r) { pr.value(r) as u8 } else { 0 };
        out.push((k.value(r), p));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vals(pm: Option<f64>, pm10: Option<f64>) -> [Option<f64>; NS] {
        let mut v = [None; NS];
        v[0] = pm;
        v[1] = pm10;
        v
    }

    #[test]
    fn aggregates_by_key_and_reuses_the_plan() {
        let plan = SegmentPlan::new().unwrap();
        for round in 0..3 {
            let mut b = SegmentBuilder::default();
            b.push(7, &vals(Some(10.0), Some(20.0)), Some((1.0, 0.0)), 1);
            b.push(3, &vals(Some(5.0), None), None, 0);
            b.push(
                7,
                &vals(Some(30.0 + f64::from(round)), None),
                Some((0.0, 2.0)),
                4,
            );
            b.push(7, &vals(None, Some(40.0)), None, 0);
            let out = plan.run(b.finish().unwrap()).unwrap();
            assert_eq!(out.len(), 2);
            let (k3, p3) = &out[0];
            assert_eq!((*k3, p3.n, p3.cnt[0], p3.sum[0]), (3, 1, 1, 5.0));
            assert_eq!(p3.wn, 0);
            let (k7, p7) = &out[1];
            assert_eq!(*k7, 7);
            assert_eq!(p7.n, 3);
            assert_eq!(p7.cnt[0], 2);
            assert_eq!(p7.sum[0], 40.0 + f64::from(round));
            assert_eq!((p7.pm_min, p7.pm_max), (10.0, 30.0 + f64::from(round)));
            assert_eq!((p7.cnt[1], p7.sum[1]), (2, 60.0));
            assert_eq!((p7.wx, p7.wy, p7.wn), (1.0, 2.0, 2));
            assert_eq!(p7.problems, 5);
            assert_eq!(p7.cnt[2], 0);
        }
        assert!(
            plan.run(SegmentBuilder::default().finish().unwrap())
                .unwrap()
                .is_empty()
        );
    }
}
