//! Aggregates: which release aggregate-level data, and over which groups.
//!
//! Only statistics are released: COUNT, SUM and AVG, and MIN and MAX of the
//! aggregate-level column itself, over groups of at least k rows (k distinct subjects
//! where the dataset declares a subject key). Every other aggregate, and MIN or MAX of
//! anything else, returns a member of its group (`array_agg`, `string_agg`,
//! `first_value`, `median`, the smallest `loan_id`) or is not a statistic the policy
//! knows; over a group that protected data chose, filtered or ordered, it is refused.
//! A FILTER clause picks rows inside a group that suppression counts whole, so it is
//! refused wherever protected data is involved.

use std::collections::{BTreeMap, BTreeSet};

use arrow::datatypes::DataType;
use datafusion::common::Column;
use datafusion::logical_expr::utils::grouping_set_to_exprlist;
use datafusion::logical_expr::{Expr, GroupingSet};

use super::total::{self, Types};
use super::{Analyzer, Flow, Info, Scope, SrcId, column_at, internal, strip_alias};
use crate::decision::Suppression;
use crate::error::Result;
use crate::level::{Level, Need};

/// Aggregates whose value is a statistic of the group, not one of its members.
const STATISTICS: &[&str] = &["count", "sum", "avg", "mean"];
/// Aggregates that return one member: released only for the aggregate-level column
/// itself, as DESIGN's aggregate level allows.
const EXTREMES: &[&str] = &["min", "max"];

/// What a releasing aggregate needs from the suppression rewrite.
pub(super) struct Release {
    /// Smallest group released.
    pub k: u32,
    /// The hidden subject-key columns of the aggregate's input to count distinct.
    pub subjects: Vec<Column>,
}

enum Kind {
    Statistic,
    Extreme,
    /// Anything else: a member, a list of members, or an unknown computation.
    Other,
}

/// How many grouping sets `group_expr` forms (one for a plain GROUP BY).
fn grouping_sets(group_expr: &[Expr]) -> usize {
    match group_expr {
        [Expr::GroupingSet(g)] => match g {
            GroupingSet::Rollup(e) => e.len().saturating_add(1),
            GroupingSet::Cube(e) => u32::try_from(e.len())
                .ok()
                .and_then(|n| 2_usize.checked_pow(n))
                .unwrap_or(usize::MAX),
            GroupingSet::GroupingSets(sets) => sets.len(),
        },
        _ => 1,
    }
}

fn kind(name: &str) -> Kind {
    if STATISTICS.contains(&name) {
        Kind::Statistic
    } else if EXTREMES.contains(&name) {
        Kind::Extreme
    } else {
        Kind::Other
    }
}

impl Analyzer<'_> {
    /// Refuse an aggregate function that picks rows inside its group: the protected
    /// columns of its argument and FILTER (`prot`, `filter`) and those that chose its
    /// group's rows (`chosen`) need `plain`. Columns of enclosing queries go to
    /// `carried` instead, to stay on the result.
    fn refuse_inside(
        &mut self,
        prot: &[SrcId],
        filter: &[SrcId],
        chosen: &BTreeMap<SrcId, String>,
        usage: &str,
        local: &dyn Fn(&Self, SrcId) -> bool,
        carried: &mut Flow,
    ) {
        for &s in prot.iter().chain(filter) {
            if local(self, s) {
                self.use_src(s, Need::Plain, usage);
            } else {
                carried.srcs.insert(s);
            }
        }
        for (&s, chose) in chosen {
            self.use_src(
                s,
                Need::Plain,
                &format!("{chose}, which chooses the rows of a group that an aggregate {usage}"),
            );
        }
    }

    /// Returns what to suppress if this aggregate releases aggregate-level data.
    pub(super) fn aggregate(
        &mut self,
        a: &datafusion::logical_expr::Aggregate,
        child: &Info,
        scope: &Scope<'_>,
    ) -> Result<(Info, Option<Release>)> {
        let mut cols = Vec::new();
        let mut group_by = Vec::new();
        // A key that reads an outer column gives each outer row groups of its own, as a
        // correlated condition does: `GROUP BY b.loan_id <> a.loan_id` makes, for each
        // outer loan, the group of all the others.
        let mut correlated = child.correlated;
        for g in grouping_set_to_exprlist(&a.group_expr).map_err(internal)? {
            let f = self.flow(g, scope)?;
            for p in self.protected(&f) {
                self.use_src(p, Need::Plain, "in GROUP BY");
            }
            correlated |= f.outer;
            group_by.push(g.to_string());
            cols.push(f);
        }
        if matches!(a.group_expr.as_slice(), [Expr::GroupingSet(_)]) {
            cols.push(Flow::default());
        }
        // Under several grouping sets a key is NULL in the sets that leave it out, and
        // the grouping id names the set: each says which set a row belongs to, per-row
        // data even for a constant key.
        if grouping_sets(&a.group_expr) > 1 {
            for c in &mut cols {
                c.other = true;
                c.nonlinear = true;
            }
        }
        let local = |me: &Self, s: SrcId| {
            me.srcs
                .get(s)
                .is_some_and(|x| child.scans.contains(&x.scan))
        };
        // Protected columns of this query that chose or ordered the group's rows.
        let chosen: BTreeMap<SrcId, String> = child
            .rows
            .iter()
            .chain(child.order.iter())
            .filter(|(s, _)| local(self, **s))
            .map(|(s, u)| (*s, u.clone()))
            .collect();
        // Aggregate-level columns whose data this aggregate releases.
        let mut released: BTreeSet<SrcId> = BTreeSet::new();
        // Protected columns of enclosing queries: their influence is not released by
        // grouping here, so it stays on every output.
        let mut carried = Flow::default();
        for ae in &a.aggr_expr {
            let Expr::AggregateFunction(af) = strip_alias(ae) else {
                return Err(internal(
                    "an aggregate expression that is not an aggregate function",
                ));
            };
            let name = af.func.name().to_ascii_lowercase();
            let mut arg = Flow::default();
            let mut types: Vec<Option<DataType>> = Vec::new();
            // The one argument's column, if it is a column itself.
            let mut origin = None;
            for e in &af.params.args {
                let f = self.flow(e, scope)?;
                origin = f.origin;
                arg.merge(&f);
                types.push(scope.type_of(e));
            }
            if af.params.args.len() != 1 {
                origin = None;
            }
            if total::aggregate_may_fail(&name, &types) {
                self.fails(&arg, format!("{name}() on these types"));
            }
            let prot = self.protected(&arg);
            let filter = match &af.params.filter {
                Some(f) => Some(self.flow(f, scope)?),
                None => None,
            };
            let filter_prot = filter
                .as_ref()
                .map(|f| self.protected(f))
                .unwrap_or_default();
            for o in &af.params.order_by {
                let f = self.flow(&o.expr, scope)?;
                for s in self.protected(&f) {
                    self.use_src(s, Need::Plain, &format!("in the ORDER BY of {name}()"));
                }
            }
            let mixed = arg.other
                || !arg.aggregated.is_empty()
                || arg
                    .srcs
                    .iter()
                    .any(|&s| !matches!(self.level(s), Some(Level::Aggregate { .. })));
            let mut out = Flow::opaque();
            out.aggregated.extend(arg.aggregated.iter().copied());
            // A FILTER picks rows inside a group that small-group suppression counts
            // whole: COUNT(*) FILTER (WHERE id = x AND amount > t) over a large group
            // answers for one row, and so does COUNT(*) FILTER (WHERE id = x) over a
            // group of the loans above t.
            if filter.is_some()
                && (!prot.is_empty() || !filter_prot.is_empty() || !chosen.is_empty())
            {
                let usage = format!(
                    "with a FILTER clause on {name}(), which picks rows inside a group that suppression counts whole"
                );
                self.refuse_inside(&prot, &filter_prot, &chosen, &usage, &local, &mut carried);
                cols.push(out);
                continue;
            }
            // A condition or a function inside the argument does the same without the
            // word FILTER: SUM(CASE WHEN amount > t THEN amount END) over all loans, or
            // SUM(CASE WHEN id = x THEN 1 END) over the loans above t, is one loan's,
            // and so is a step made of exact-looking arithmetic,
            // SUM((id - x + 2) / 2 - (id - x + 1) / 2). Over data the policy protects,
            // or over a group it chose, the argument must keep the rows' values apart
            // and in place: wrapped integer arithmetic only under an integer SUM or a
            // COUNT (which wrap alike), and under DISTINCT the bare column.
            let wraps_alike = match name.as_str() {
                "count" => true,
                "sum" => matches!(types.as_slice(), [Some(DataType::Int64 | DataType::UInt64)]),
                _ => false,
            };
            // MIN and MAX of a computed value are judged below: not the column itself.
            let steps = arg.nonlinear
                || (arg.shifted && !wraps_alike && matches!(kind(&name), Kind::Statistic))
                || (af.params.distinct && arg.per_row() && origin.is_none());
            if steps && (!prot.is_empty() || !chosen.is_empty()) {
                let usage = format!(
                    "inside {name}() through a condition, a function or arithmetic that rounds, wraps or steps (a statistic keeps only integer +, - and * by a constant under SUM or COUNT, float * or / by a moderate constant, widening casts, and under DISTINCT the column itself): it can pick rows inside a group as a FILTER does"
                );
                self.refuse_inside(&prot, &[], &chosen, &usage, &local, &mut carried);
                cols.push(out);
                continue;
            }
            let member = match kind(&name) {
                Kind::Other => true,
                // MIN or MAX of anything but protected data returns a member the
                // protected data chose: the smallest loan id among large loans. Of
                // anything but the column itself (MAX(amount - salary),
                // MAX(amount * 2^63)), it returns one row's computed value, not the
                // extreme of the column.
                Kind::Extreme => prot.is_empty() || origin.is_none(),
                Kind::Statistic => false,
            };
            if member {
                for &s in &prot {
                    if local(self, s) {
                        self.use_src(
                            s,
                            Need::Plain,
                            &format!(
                                "inside {name}(), which is not a statistic the policy releases (COUNT, SUM, AVG; MIN and MAX of the column itself)"
                            ),
                        );
                    } else {
                        carried.srcs.insert(s);
                    }
                }
                for (&s, usage) in &chosen {
                    self.use_src(
                        s,
                        Need::Plain,
                        &format!(
                            "{usage}, which chooses or orders the rows of a group whose members {name}() returns"
                        ),
                    );
                }
                cols.push(out);
                continue;
            }
            for &s in &prot {
                if !local(self, s) {
                    carried.srcs.insert(s);
                    continue;
                }
                let agg_level = matches!(self.level(s), Some(Level::Aggregate { .. }));
                if mixed && agg_level {
                    self.use_src(
                        s,
                        Need::Plain,
                        &format!(
                            "inside {name}() together with other columns, which could single a row out"
                        ),
                    );
                } else {
                    self.use_src(s, Need::Aggregate, &format!("inside {name}()"));
                    released.insert(s);
                }
                out.aggregated.insert(s);
            }
            out.aggregated.extend(chosen.keys().copied());
            cols.push(out);
        }
        // Protected columns of other scans (an enclosing query's, or the other side of a
        // semi join) that chose the input's rows also decide which groups exist: `EXISTS
        // (SELECT 1 FROM loans b WHERE b.loan_id = a.loan_id AND a.amount < t GROUP BY
        // b.loan_id)` has a group exactly where the outer amount is below t.
        let mut carried_rows: BTreeMap<SrcId, String> = BTreeMap::new();
        for (&s, usage) in &child.rows {
            if !local(self, s) {
                carried.srcs.insert(s);
                carried_rows.insert(s, usage.clone());
                continue;
            }
            self.use_src(s, Need::Aggregate, &format!("{usage} below an aggregate"));
            released.insert(s);
        }
        // An order below an aggregate changes no statistic; it is still a use.
        for (&s, usage) in &child.order {
            if local(self, s) {
                self.use_src(s, Need::Aggregate, &format!("{usage} below an aggregate"));
            } else {
                carried.srcs.insert(s);
            }
        }
        released.retain(|&s| matches!(self.level(s), Some(Level::Aggregate { .. })));
        for &s in &released {
            if self
                .srcs
                .get(s)
                .is_some_and(|x| child.dup.contains(&x.scan))
            {
                self.use_src(
                    s,
                    Need::Plain,
                    "in an aggregate over a join or union that may repeat its rows (a group of k rows could hold fewer than k)",
                );
            }
        }
        // In a correlated subquery, a condition on an outer column that is not an
        // equality with it (`b.loan_id <> a.loan_id`), or a grouping key that reads one,
        // gives each outer row a group of its own: all loans but this one. Each group is
        // large, and their statistics differ by exactly one row's value.
        if correlated {
            for &s in &released {
                self.use_src(
                    s,
                    Need::Plain,
                    "in an aggregate of a correlated subquery whose rows are chosen by a condition on an outer column other than an equality with it, or grouped by an outer column: the groups of two outer rows differ by single rows",
                );
            }
        }
        // Several grouping sets release, in one answer, a group and the groups that
        // partition it: the total minus the released parts is the part suppression
        // hid (GROUPING SETS ((), (id <> x)) gives loan x's amount).
        if grouping_sets(&a.group_expr) > 1 {
            for &s in &released {
                self.use_src(
                    s,
                    Need::Plain,
                    "in an aggregate with several GROUPING SETS (ROLLUP, CUBE): a group that suppression hides is the difference of groups it releases",
                );
            }
        }
        if !carried.srcs.is_empty() {
            for c in &mut cols {
                c.merge(&carried);
            }
        }
        let k = released
            .iter()
            .filter_map(|&s| match self.level(s) {
                Some(Level::Aggregate { k }) => Some(*k),
                _ => None,
            })
            .max();
        // The groups are made of the child's rows: a join above sees the same scans.
        // GROUPING SETS, ROLLUP and CUBE group the same rows once per set, so a group
        // key comes out once per set that holds it: a join on it repeats the other side.
        let mut dup = child.dup.clone();
        if a.group_expr
            .iter()
            .any(|g| matches!(g, Expr::GroupingSet(_)))
        {
            dup.extend(child.scans.iter().copied());
        }
        let info = Info {
            cols,
            rows: carried_rows,
            scans: child.scans.clone(),
            dup,
            correlated,
            ..Info::default()
        };
        let Some(k) = k else {
            return Ok((info, None));
        };
        // Count distinct subjects for every released dataset that declares a key.
        let mut subjects = Vec::new();
        let mut subject_names = BTreeSet::new();
        let scans: BTreeSet<usize> = released
            .iter()
            .filter_map(|&s| self.srcs.get(s).map(|x| x.scan))
            .collect();
        for scan in scans {
            let Some(dataset) = self.scan_datasets.get(scan).cloned() else {
                continue;
            };
            let Some(key) = self.config.subjects.get(&dataset).cloned() else {
                continue;
            };
            match child.subjects.iter().find(|(s, _)| *s == scan) {
                Some(&(_, i)) => {
                    subjects.push(column_at(a.input.as_ref(), i));
                    subject_names.insert(format!("{dataset}.{key}"));
                }
                None => {
                    let lost: Vec<SrcId> = released
                        .iter()
                        .copied()
                        .filter(|&s| self.srcs.get(s).is_some_and(|x| x.scan == scan))
                        .collect();
                    for s in lost {
                        self.use_src(
                            s,
                            Need::Plain,
                            &format!(
                                "in an aggregate whose rows no longer carry {dataset}'s subject key `{key}` (after DISTINCT, UNION or UNNEST), so its groups cannot be counted in subjects"
                            ),
                        );
                    }
                }
            }
        }
        self.suppressions.push(Suppression {
            k,
            group_by,
            columns: released
                .iter()
                .filter_map(|&s| self.srcs.get(s))
                .map(|s| format!("{}.{}", s.dataset, s.column))
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect(),
            subjects: subject_names.into_iter().collect(),
        });
        Ok((info, Some(Release { k, subjects })))
    }
}
