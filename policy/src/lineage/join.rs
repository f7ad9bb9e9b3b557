//! Joins: what their conditions decide, and whether they repeat a side's rows.
//!
//! A join repeats the rows of one side unless the other side is matched on its declared
//! unique key. A key match is an equality whose one operand is a key column of one side
//! and whose other operand is a column of the other side, each bare or through an
//! injective cast (`CAST(int AS BIGINT)`, not `CAST(id AS BOOLEAN)`). An equality
//! between two columns of the same side, or with an expression (`l2.id = l2.id +
//! a.id - a.id`), matches nothing: it lets every row of one side meet many of the other.
//!
//! The conjuncts of an inner or semi join's condition narrow the rows, as a WHERE's do.
//! Two joins use their condition otherwise, and their conjuncts do not narrow:
//! - An outer join keeps every row of its preserved side, and pads the other side with
//!   NULL wherever the whole condition found no match. A conjunct on the preserved
//!   side (`ON a.loan_id = b.loan_id AND a.amount < t`) removes no row: it decides which
//!   rows keep the padded side's values, so a padded value is a per-row function of
//!   it (`b.flag` is 1 exactly where `a.amount < t`, and `WHERE b.flag = 1 OR
//!   a.loan_id = y` is `a.amount < t OR a.loan_id = y`). Each padded value therefore
//!   carries the protected columns the condition compared (join-level keys matched
//!   with each other excepted: they only say whether the partner exists) and those
//!   that chose the padded side's rows, besides being a step and per-row data.
//! - An anti join keeps a row where no row of the other side meets the whole
//!   condition: `NOT (a.amount >= t AND a.loan_id IN b)` is `a.amount < t OR a.loan_id
//!   NOT IN b`, a disjunction. So its condition is one condition that reads the other
//!   side's rows (per-row data), and an aggregate-level column in it is mixing. The
//!   conditions that chose the other side's rows are negated with it, and are mixing
//!   too.

use std::collections::{BTreeMap, BTreeSet};

use datafusion::common::DFSchemaRef;
use datafusion::logical_expr::JoinType;

use super::{Analyzer, Conjunct, Flow, Info, Scope, SrcId, internal};
use crate::error::Result;

impl Analyzer<'_> {
    pub(super) fn join(
        &mut self,
        j: &datafusion::logical_expr::Join,
        (l, ls): (&Info, &DFSchemaRef),
        (r, rs): (&Info, &DFSchemaRef),
        outer: Option<&Scope<'_>>,
    ) -> Result<Info> {
        let mut rows = l.rows.clone();
        for (s, u) in &r.rows {
            rows.entry(*s).or_insert_with(|| u.clone());
        }
        // What the condition itself compares, apart from what chose each side's rows.
        let mut cond: BTreeMap<SrcId, String> = BTreeMap::new();
        let mut order = l.order.clone();
        for (s, u) in &r.order {
            order.entry(*s).or_insert_with(|| u.clone());
        }
        let lscope = Scope::new(vec![(ls.as_ref(), l.cols.as_slice())], outer);
        let rscope = Scope::new(vec![(rs.as_ref(), r.cols.as_slice())], outer);
        let mut both = Scope::new(
            vec![
                (ls.as_ref(), l.cols.as_slice()),
                (rs.as_ref(), r.cols.as_slice()),
            ],
            outer,
        );
        both.joined = ls.join(rs).ok().map(std::sync::Arc::new);

        let mut correlated = l.correlated || r.correlated;
        let mut key_flow = Flow::opaque();
        // Key matches between the sides: (left column, right column).
        let mut pairs: Vec<(SrcId, SrcId)> = Vec::new();
        for (le, re) in &j.on {
            let lf = self.flow(le, &lscope)?;
            let rf = self.flow(re, &rscope)?;
            correlated |= lf.outer || rf.outer;
            self.equality(&lf, &rf, &mut cond, "in a join condition");
            if let Some(p) = self.key_pair(&lf, &rf, l, r) {
                pairs.push(p);
            }
            key_flow.merge(&lf);
            key_flow.merge(&rf);
        }
        if let Some(f) = &j.filter {
            let conjuncts = self.conjuncts(f, &both)?;
            correlated |= self.decide_rows(&conjuncts, &mut cond, "in a join condition");
            // Only an inner or semi join narrows by its condition. An outer, anti or
            // mark join keeps or pads the rows the condition fails on, so even an
            // equality with an outer column leaves each outer row its own set: `b LEFT
            // ANTI JOIN c ON b.loan_id = c.loan_id AND c.loan_id = a.loan_id` is all
            // loans but a.
            let narrows = matches!(
                j.join_type,
                JoinType::Inner | JoinType::LeftSemi | JoinType::RightSemi
            );
            correlated |= !narrows
                && conjuncts.iter().any(|c| match c {
                    Conjunct::Eq(a, b) => a.outer || b.outer,
                    Conjunct::Other(x) => x.outer,
                });
            for c in &conjuncts {
                match c {
                    Conjunct::Eq(a, b) => {
                        if let Some(p) = self
                            .key_pair(a, b, l, r)
                            .or_else(|| self.key_pair(b, a, l, r))
                        {
                            pairs.push(p);
                        }
                        key_flow.merge(a);
                        key_flow.merge(b);
                    }
                    Conjunct::Other(x) => key_flow.merge(x),
                }
            }
        }
        for (s, u) in &cond {
            rows.entry(*s).or_insert_with(|| u.clone());
        }
        // An anti join keeps the rows for which the whole condition fails: a disjunction
        // of the negated conjuncts, with "no partner in the other side's rows" (per-row
        // data) among them. `key_flow` is that condition, opaque.
        // The conditions that chose the other side's rows are negated with it: `NOT
        // EXISTS (... WHERE b.amount >= t AND b.loan_id = x)` keeps loan x exactly when
        // its amount is below t.
        let removed = match j.join_type {
            JoinType::LeftAnti => Some(r),
            JoinType::RightAnti => Some(l),
            _ => None,
        };
        if let Some(removed) = removed {
            self.refuse_mixing(
                &key_flow,
                "in the condition of an anti join (NOT EXISTS, NOT IN, EXCEPT), which keeps a row where the condition fails, so its conjuncts widen instead of narrowing",
            );
            let mut chose = Flow::opaque();
            chose.srcs.extend(removed.rows.keys().copied());
            self.refuse_mixing(
                &chose,
                "in choosing the rows an anti join (NOT EXISTS, NOT IN, EXCEPT) removes, which it keeps where that choice fails",
            );
        }
        let mut mark = Flow::opaque();
        mark.srcs.extend(rows.keys().copied());
        for s in self.protected(&key_flow) {
            mark.srcs.insert(s);
        }
        let lkeys: BTreeSet<SrcId> = pairs.iter().map(|p| p.0).collect();
        let rkeys: BTreeSet<SrcId> = pairs.iter().map(|p| p.1).collect();
        let mut all_scans = l.scans.clone();
        all_scans.extend(r.scans.iter().copied());
        let (l_unique, r_unique) = (self.unique_on(l, &lkeys), self.unique_on(r, &rkeys));
        let width = l.cols.len();
        let shifted = || r.subjects.iter().map(move |&(s, i)| (s, i + width));
        let info = match j.join_type {
            JoinType::Inner | JoinType::Left | JoinType::Right | JoinType::Full => {
                // A side's rows repeat unless the other side is unique on the join key;
                // the side an outer join pads with nulls counts as repeated too.
                let mut dup = l.dup.clone();
                dup.extend(r.dup.iter().copied());
                let pads_left = matches!(j.join_type, JoinType::Right | JoinType::Full);
                let pads_right = matches!(j.join_type, JoinType::Left | JoinType::Full);
                if !r_unique || pads_left {
                    dup.extend(l.scans.iter().copied());
                }
                if !l_unique || pads_right {
                    dup.extend(r.scans.iter().copied());
                }
                // A padded side's values are NULL wherever the condition found no
                // match: the condition picks which rows keep them, as a FILTER does
                // (`SUM(t.one)` over a LEFT JOIN of a one-row `t` is 1 or 0). So each
                // is per-row data even where it read no column: a constant of a
                // one-loan `t` is 1 on that loan and NULL elsewhere, and `a.amount <
                // 200000 OR t.one = 1` pads that loan with the small ones, as `OR
                // loan_id = x` would. A value that read columns counts them already.
                // And each is computed from whatever decided the match: the protected
                // columns the condition compared (`ON a.id = b.id AND a.amount < t`
                // makes `b.one` the indicator of `a.amount < t`, whatever side the
                // amount is on) and those that chose the padded side's rows.
                let padded = |side: &Info, pads: bool| -> Vec<Flow> {
                    side.cols
                        .iter()
                        .enumerate()
                        .map(|(i, f)| {
                            let mut f = f.clone();
                            if pads && !side.is_hidden(i) {
                                f.nonlinear = true;
                                f.other |= f.srcs.is_empty();
                                f.srcs.extend(cond.keys().chain(side.rows.keys()).copied());
                            }
                            f
                        })
                        .collect()
                };
                Info {
                    cols: padded(l, pads_left)
                        .into_iter()
                        .chain(padded(r, pads_right))
                        .collect(),
                    scans: all_scans,
                    dup,
                    subjects: l.subjects.iter().copied().chain(shifted()).collect(),
                    ..Info::default()
                }
            }
            JoinType::LeftSemi | JoinType::LeftAnti => side(l),
            JoinType::RightSemi | JoinType::RightAnti => side(r),
            JoinType::LeftMark => {
                let mut info = side(l);
                info.cols.push(mark);
                info
            }
            JoinType::RightMark => {
                let mut info = side(r);
                info.cols.push(mark);
                info
            }
        };
        if info.cols.len() != j.schema.fields().len() {
            return Err(internal("a join's lineage does not match its schema"));
        }
        Ok(Info {
            rows,
            order,
            correlated,
            ..info
        })
    }

    /// `(left, right)` if `a` is exactly a column of the left side and `b` exactly a
    /// column of the right side.
    fn key_pair(&self, a: &Flow, b: &Flow, l: &Info, r: &Info) -> Option<(SrcId, SrcId)> {
        let (x, y) = (self.identity(a)?, self.identity(b)?);
        let (sx, sy) = (self.srcs.get(x)?.scan, self.srcs.get(y)?.scan);
        (l.scans.contains(&sx) && r.scans.contains(&sy)).then_some((x, y))
    }

    /// Whether `side`'s rows are the rows of one scan, unrepeated, and `keys` (columns
    /// of that scan matched with the other side) hold a declared key.
    fn unique_on(&self, side: &Info, keys: &BTreeSet<SrcId>) -> bool {
        let [scan] = side.scans.iter().copied().collect::<Vec<_>>()[..] else {
            return false;
        };
        if side.dup.contains(&scan) {
            return false;
        }
        let Some(dataset) = self.scan_datasets.get(scan) else {
            return false;
        };
        let Some(key) = self.config.keys.get(dataset) else {
            return false;
        };
        let compared: BTreeSet<&str> = keys
            .iter()
            .filter_map(|&k| self.srcs.get(k))
            .filter(|s| s.scan == scan)
            .map(|s| s.column.as_str())
            .collect();
        key.iter().all(|c| compared.contains(c.as_str()))
    }
}

/// The output of a semi or anti join, or a mark join before its mark: one side's rows.
fn side(i: &Info) -> Info {
    Info {
        cols: i.cols.clone(),
        scans: i.scans.clone(),
        dup: i.dup.clone(),
        subjects: i.subjects.clone(),
        correlated: i.correlated,
        ..Info::default()
    }
}
