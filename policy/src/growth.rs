//! How long the values a query builds can grow. Concatenation nested through derived
//! tables doubles a value's length at each level, and `repeat`, `lpad` or `replace`
//! multiply it: some twenty levels make one row's text a gigabyte, and a batch of such
//! rows exhausts memory or overflows Arrow's 2 GiB string offsets, a panic. Where that
//! depends on which rows protected data kept, whether the query fails is an oracle.
//!
//! The bound is computed from the plan alone, as copies of values the data holds plus
//! bytes of constants ([`Len`]), and a plan that may build a value beyond
//! [`MAX_STORED_COPIES`] or [`MAX_CONSTANT_BYTES`] is refused ([`Error::TooLong`]).
//! The bound is an allowlist: a function, aggregate or operator not named here counts
//! only if its type is of fixed size (a number, a date), and is refused otherwise.

use std::collections::HashMap;

use arrow::datatypes::DataType;
use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::common::{DFSchema, JoinType, ScalarValue};
use datafusion::logical_expr::{
    Cast, Distinct, Expr, ExprSchemable, LogicalPlan, Operator, TryCast,
};

use crate::error::{Error, Result};
use crate::lineage::total::{constant, constant_i64, constant_str};

/// Most copies of stored values one value may hold: `concat_ws(',', …)` of 32 columns.
/// With 8,192 rows to a batch, a batch of such values stays under Arrow's 2 GiB offsets
/// while stored text values are under 8 KiB.
pub const MAX_STORED_COPIES: u64 = 32;

/// Most bytes of constants (and padding) one value may hold.
pub const MAX_CONSTANT_BYTES: u64 = 64 * 1024;

/// What a value of a type that is not text or a list takes as text: a number, a date, a
/// timestamp or an interval printed, a digest.
const FIXED: u64 = 128;

/// What a list adds per element besides the element (offsets, validity).
const PER_ELEMENT: u64 = 8;

/// How much longer a list, struct or map, or a case-mapped text, can print than it is
/// stored: an 8-byte integer prints in up to 20 characters and a separator; `ΐ`, two
/// bytes, upper-cases to six.
const PRINTED_GROWTH: u64 = 3;

/// Most bytes a character takes in UTF-8; `lpad` counts characters.
const CHAR_BYTES: u64 = 4;

/// An upper bound on a value's length: `copies` stored values plus `bytes`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Len {
    copies: u64,
    bytes: u64,
}

impl Len {
    /// A value the data holds: a column of a scan, or an aggregate of one.
    const STORED: Len = Len {
        copies: 1,
        bytes: 0,
    };
    /// A value as long as the data lets a query make it (a count or width that is not a
    /// constant, rows the query made): refused.
    const UNBOUNDED: Len = Len {
        copies: u64::MAX,
        bytes: u64::MAX,
    };

    fn bytes(bytes: u64) -> Len {
        Len { copies: 0, bytes }
    }

    fn fixed() -> Len {
        Len::bytes(FIXED)
    }

    fn plus(self, o: Len) -> Len {
        Len {
            copies: self.copies.saturating_add(o.copies),
            bytes: self.bytes.saturating_add(o.bytes),
        }
    }

    fn times(self, n: u64) -> Len {
        Len {
            copies: self.copies.saturating_mul(n),
            bytes: self.bytes.saturating_mul(n),
        }
    }

    fn max(self, o: Len) -> Len {
        Len {
            copies: self.copies.max(o.copies),
            bytes: self.bytes.max(o.bytes),
        }
    }

    fn exceeds(self) -> bool {
        self.copies > MAX_STORED_COPIES || self.bytes > MAX_CONSTANT_BYTES
    }

    fn describe(self) -> String {
        if self == Len::UNBOUNDED {
            "a length not known to be bounded (a count, width or pattern that is not a constant, or a function no rule bounds)".into()
        } else if self.copies == 0 {
            format!("{} bytes", self.bytes)
        } else if self.bytes == 0 {
            format!("{} copies of stored values", self.copies)
        } else {
            format!(
                "{} copies of stored values and {} bytes of constants",
                self.copies, self.bytes
            )
        }
    }
}

/// The refusal of a query that may build values of up to `len` with `what`.
fn too_long(what: &str, len: Len) -> Error {
    Error::TooLong(format!(
        "{what} may build values of up to {}, and a gateway builds at most {MAX_STORED_COPIES} copies of stored values and {MAX_CONSTANT_BYTES} bytes of constants into one value; longer values, a batch of rows at a time, exhaust memory or overflow Arrow's 2 GiB limit on a column",
        len.describe()
    ))
}

/// Refuse `plan` if it may build a value longer than the limits.
pub fn check(plan: &LogicalPlan) -> Result<()> {
    Walk::default().plan(plan, None).map(|_| ())
}

/// The columns visible to an expression: its node's inputs, then enclosing queries.
struct Scope<'a> {
    schema: &'a DFSchema,
    lens: &'a [Len],
    parent: Option<&'a Scope<'a>>,
}

impl Scope<'_> {
    fn column(&self, c: &datafusion::common::Column) -> Len {
        let mut s = Some(self);
        while let Some(scope) = s {
            if let Some(i) = scope.schema.maybe_index_of_column(c) {
                return scope.lens.get(i).copied().unwrap_or(Len::STORED);
            }
            s = scope.parent;
        }
        Len::STORED
    }
}

#[derive(Default)]
struct Walk {
    /// The rows a recursive query's work table holds so far, by the query's name.
    work_tables: HashMap<String, Vec<Len>>,
    /// The aggregates being judged read rows the query made (VALUES, UNNEST, a
    /// recursive query), as many as it likes.
    made_rows: bool,
}

impl Walk {
    /// The bounds of `plan`'s output columns, having checked every expression in it.
    #[recursive::recursive]
    fn plan(&mut self, plan: &LogicalPlan, parent: Option<&Scope<'_>>) -> Result<Vec<Len>> {
        let width = plan.schema().fields().len();
        if let LogicalPlan::RecursiveQuery(r) = plan {
            return self.recursive(&r.name, &r.static_term, &r.recursive_term, parent);
        }
        if let LogicalPlan::TableScan(scan) = plan {
            let stored = vec![Len::STORED; width];
            let scope = Scope {
                schema: scan.projected_schema.as_ref(),
                lens: &stored,
                parent,
            };
            for f in &scan.filters {
                self.expr(f, &scope)?;
            }
            let name = scan.table_name.table();
            return Ok(match self.work_tables.get(name) {
                Some(lens) if lens.len() == width => lens.clone(),
                _ => vec![Len::STORED; width],
            });
        }
        let inputs = plan.inputs();
        let mut input_lens: Vec<Vec<Len>> = Vec::with_capacity(inputs.len());
        for (n, i) in inputs.iter().enumerate() {
            let lens = match plan {
                // A LATERAL right side reads the left side's columns as outer references.
                LogicalPlan::Join(j) if n == 1 => {
                    let left = input_lens.first().cloned().unwrap_or_default();
                    let scope = Scope {
                        schema: j.left.schema().as_ref(),
                        lens: &left,
                        parent,
                    };
                    self.plan(i, Some(&scope))?
                }
                _ => self.plan(i, parent)?,
            };
            input_lens.push(lens);
        }
        // Expressions see their input; a join's condition sees both sides.
        let joined = match plan {
            LogicalPlan::Join(j) => j.left.schema().join(j.right.schema()).ok(),
            _ => None,
        };
        let (schema, lens): (&DFSchema, Vec<Len>) = match (&joined, inputs.as_slice()) {
            (Some(j), _) => (j, input_lens.concat()),
            (None, [one]) => (one.schema().as_ref(), input_lens.concat()),
            _ => (plan.schema().as_ref(), vec![Len::STORED; width]),
        };
        let scope = Scope {
            schema,
            lens: &lens,
            parent,
        };
        let made_rows = match plan {
            LogicalPlan::Aggregate(a) => makes_rows(&a.input)?,
            LogicalPlan::Window(w) => makes_rows(&w.input)?,
            _ => false,
        };
        let outer_rows = std::mem::replace(&mut self.made_rows, made_rows);
        let mut out = Vec::new();
        let mut failed = None;
        plan.apply_expressions(|e| match self.expr(e, &scope) {
            Ok(len) => {
                out.push(len);
                Ok(TreeNodeRecursion::Continue)
            }
            Err(err) => {
                failed = Some(err);
                Ok(TreeNodeRecursion::Stop)
            }
        })?;
        self.made_rows = outer_rows;
        if let Some(err) = failed {
            return Err(err);
        }
        let first = input_lens.first().cloned().unwrap_or_default();
        Ok(match plan {
            // An aggregate's group keys, then its aggregates, each as long as it returns.
            LogicalPlan::Projection(_) | LogicalPlan::Aggregate(_) => fit(out, width),
            LogicalPlan::Window(_) => fit(first.into_iter().chain(out).collect(), width),
            LogicalPlan::Distinct(Distinct::On(on)) => fit(
                out.into_iter()
                    .skip(on.on_expr.len())
                    .take(on.select_expr.len())
                    .collect(),
                width,
            ),
            LogicalPlan::Join(j) => match j.join_type {
                JoinType::LeftSemi | JoinType::LeftAnti | JoinType::LeftMark => {
                    let mut l = first;
                    l.resize(width, Len::fixed());
                    l
                }
                JoinType::RightSemi | JoinType::RightAnti | JoinType::RightMark => {
                    input_lens.get(1).cloned().unwrap_or_default()
                }
                _ => lens,
            },
            LogicalPlan::Union(_) => widest(input_lens.iter().map(Vec::as_slice), width),
            // Row by row, as `apply_expressions` lists them.
            LogicalPlan::Values(_) => widest(out.chunks(width.max(1)), width),
            LogicalPlan::Unnest(u) => u
                .dependency_indices
                .iter()
                .map(|&i| first.get(i).copied().unwrap_or(Len::STORED))
                .collect(),
            // The rest pass their input's rows through (filters, sorts, limits,
            // aliases, DISTINCT, repartitioning), or have none.
            _ if first.len() == width => first,
            _ => vec![Len::STORED; width],
        })
    }

    /// A recursive query's output: the static term's rows, and what the recursive term
    /// makes of them, until that adds nothing longer. A term that keeps growing a value
    /// (`SELECT s || s FROM t`) has no bound.
    fn recursive(
        &mut self,
        name: &str,
        static_term: &LogicalPlan,
        recursive_term: &LogicalPlan,
        parent: Option<&Scope<'_>>,
    ) -> Result<Vec<Len>> {
        const ROUNDS: usize = 4;
        let mut lens = self.plan(static_term, parent)?;
        for _ in 0..ROUNDS {
            self.work_tables.insert(name.to_string(), lens.clone());
            let next = self.plan(recursive_term, parent)?;
            let grown = widest([lens.as_slice(), next.as_slice()].into_iter(), lens.len());
            if grown == lens {
                self.work_tables.remove(name);
                return Ok(lens);
            }
            lens = grown;
        }
        self.work_tables.remove(name);
        Err(too_long(
            &format!("the recursive query `{name}`, whose every round lengthens a value"),
            Len::UNBOUNDED,
        ))
    }

    /// The bound of `e`, having checked it and every expression inside it.
    #[recursive::recursive]
    fn expr(&mut self, e: &Expr, scope: &Scope<'_>) -> Result<Len> {
        let len = match e {
            Expr::Column(c) | Expr::OuterReferenceColumn(_, c) => scope.column(c),
            Expr::Literal(v, _) => literal(v),
            Expr::Alias(a) => self.expr(&a.expr, scope)?,
            Expr::Cast(Cast { expr, field }) | Expr::TryCast(TryCast { expr, field }) => {
                cast(self.expr(expr, scope)?, expr, field.data_type(), scope)
                    .max(Len::bytes(fixed_width(field.data_type())))
            }
            Expr::ScalarSubquery(sq) => {
                let lens = self.plan(&sq.subquery, Some(scope))?;
                lens.first().copied().unwrap_or(Len::STORED)
            }
            Expr::Exists(x) => {
                self.plan(&x.subquery.subquery, Some(scope))?;
                Len::fixed()
            }
            Expr::InSubquery(x) => {
                self.expr(&x.expr, scope)?;
                self.plan(&x.subquery.subquery, Some(scope))?;
                Len::fixed()
            }
            Expr::SetComparison(x) => {
                self.expr(&x.expr, scope)?;
                self.plan(&x.subquery.subquery, Some(scope))?;
                Len::fixed()
            }
            Expr::BinaryExpr(b) => {
                let (l, r) = (self.expr(&b.left, scope)?, self.expr(&b.right, scope)?);
                match b.op {
                    Operator::StringConcat => l.plus(r),
                    _ => Len::fixed(),
                }
            }
            Expr::Case(c) => {
                if let Some(x) = &c.expr {
                    self.expr(x, scope)?;
                }
                let mut len = Len::bytes(0);
                for (when, then) in &c.when_then_expr {
                    self.expr(when, scope)?;
                    len = len.max(self.expr(then, scope)?);
                }
                if let Some(x) = &c.else_expr {
                    len = len.max(self.expr(x, scope)?);
                }
                len
            }
            Expr::ScalarFunction(f) => {
                let mut args = Vec::with_capacity(f.args.len());
                for a in &f.args {
                    args.push(self.expr(a, scope)?);
                }
                let name = f.func.name().to_ascii_lowercase();
                let len = function(&name, &f.args, &args).unwrap_or_else(|| by_type(e, scope));
                if CASTS.contains(&name.as_str()) {
                    // Fixed-size types hold every slot, even in a NULL row.
                    match e.get_type(scope.schema) {
                        Ok(to) => len.max(Len::bytes(fixed_width(&to))),
                        Err(_) => Len::UNBOUNDED,
                    }
                } else {
                    len
                }
            }
            other => {
                let mut kids = Vec::new();
                other.apply_children(|c| {
                    kids.push(c);
                    Ok(TreeNodeRecursion::Continue)
                })?;
                let mut longest = Len::fixed();
                for k in kids {
                    longest = longest.max(self.expr(k, scope)?);
                }
                match other {
                    // A list of the group's values is as long as the group: the data's
                    // doing, unless the query made the rows.
                    Expr::AggregateFunction(a)
                        if self.made_rows && LIST_AGGREGATES.contains(&a.func.name()) =>
                    {
                        Len::UNBOUNDED
                    }
                    // Over a window, each row gets the list so far: a batch holds the
                    // square of its rows.
                    Expr::WindowFunction(w) if LIST_AGGREGATES.contains(&w.fun.name()) => {
                        Len::UNBOUNDED
                    }
                    // Over the data's rows, the data bounds the list. The others
                    // named return a member of their group, or of its rows next to the
                    // current one; the rest must return a value of fixed size (a count,
                    // a sum, a rank).
                    Expr::AggregateFunction(a)
                        if LIST_AGGREGATES.contains(&a.func.name())
                            || MEMBER_AGGREGATES.contains(&a.func.name()) =>
                    {
                        longest
                    }
                    Expr::WindowFunction(w) if MEMBER_AGGREGATES.contains(&w.fun.name()) => longest,
                    Expr::AggregateFunction(_) | Expr::WindowFunction(_) => by_type(e, scope),
                    // An element of a list, or of a grouping set's keys.
                    Expr::Unnest(_) | Expr::GroupingSet(_) => longest,
                    // Conditions.
                    Expr::Like(_)
                    | Expr::SimilarTo(_)
                    | Expr::Not(_)
                    | Expr::IsNull(_)
                    | Expr::IsNotNull(_)
                    | Expr::IsTrue(_)
                    | Expr::IsFalse(_)
                    | Expr::IsUnknown(_)
                    | Expr::IsNotTrue(_)
                    | Expr::IsNotFalse(_)
                    | Expr::IsNotUnknown(_)
                    | Expr::Between(_)
                    | Expr::InList(_) => Len::fixed(),
                    // A number or an interval.
                    Expr::Negative(_) => by_type(e, scope),
                    // A lambda's result is whatever its body builds, per element; and
                    // anything not named here is not known to be bounded.
                    _ => Len::UNBOUNDED,
                }
            }
        };
        // A long constant counts too: a projection copies it into every row.
        if len.exceeds() {
            return Err(too_long(&describe(e), len));
        }
        Ok(len)
    }
}

/// Casts written as functions, with the type as text or as another value's.
const CASTS: &[&str] = &[
    "arrow_cast",
    "arrow_try_cast",
    "cast_to_type",
    "try_cast_to_type",
];

/// The bytes a value of type `t` holds whatever it is, even NULL: the slots of its
/// fixed-size lists and binaries, and its primitives.
fn fixed_width(t: &DataType) -> u64 {
    match t {
        DataType::FixedSizeBinary(n) => u64::try_from(*n).unwrap_or(0),
        DataType::FixedSizeList(f, n) => u64::try_from(*n)
            .unwrap_or(0)
            .saturating_mul(fixed_width(f.data_type()).max(1)),
        DataType::Struct(fields) => fields
            .iter()
            .fold(0u64, |a, f| a.saturating_add(fixed_width(f.data_type()))),
        DataType::List(f)
        | DataType::LargeList(f)
        | DataType::ListView(f)
        | DataType::LargeListView(f)
        | DataType::Map(f, _) => fixed_width(f.data_type()),
        DataType::Dictionary(_, v) => fixed_width(v),
        other => other.primitive_width().unwrap_or(0) as u64,
    }
}

/// Aggregates that list their group's values.
const LIST_AGGREGATES: &[&str] = &["array_agg", "string_agg", "listagg", "group_concat"];

/// Aggregate and window functions that return one of the values they read: a member of
/// the group, or of a row near the current one (or the default given for none).
const MEMBER_AGGREGATES: &[&str] = &[
    "min",
    "max",
    "first_value",
    "last_value",
    "nth_value",
    "lag",
    "lead",
];

/// The bound of a function or aggregate no rule names: a value of a type of fixed size
/// (a number, a date, a boolean, a fixed-size list of them) is as long as its type; any
/// other is not known to be bounded, and is refused.
fn by_type(e: &Expr, scope: &Scope<'_>) -> Len {
    match e.get_type(scope.schema) {
        Ok(t) if fixed_size(&t) => Len::fixed().max(Len::bytes(fixed_width(&t))),
        _ => Len::UNBOUNDED,
    }
}

/// Whether every value of type `t` takes the same bytes.
fn fixed_size(t: &DataType) -> bool {
    match t {
        DataType::Null | DataType::Boolean | DataType::FixedSizeBinary(_) => true,
        DataType::FixedSizeList(f, _) => fixed_size(f.data_type()),
        DataType::Struct(fields) => fields.iter().all(|f| fixed_size(f.data_type())),
        DataType::Dictionary(_, v) => fixed_size(v),
        other => other.primitive_width().is_some(),
    }
}

/// Whether `plan` reads rows the query made rather than the data: VALUES, UNNEST, a
/// recursive query, a SELECT without FROM (a UNION ALL of them is as many rows as the
/// query writes, and joins multiply them).
fn makes_rows(plan: &LogicalPlan) -> Result<bool> {
    Ok(plan.exists(|n| {
        Ok(match n {
            LogicalPlan::Values(_) | LogicalPlan::Unnest(_) | LogicalPlan::RecursiveQuery(_) => {
                true
            }
            LogicalPlan::EmptyRelation(e) => e.produce_one_row,
            _ => false,
        })
    })?)
}

/// A cast of a value `len` long: a list, struct or map printed as text separates and
/// brackets every element (`string_to_array(s, NULL)` prints each character as `c, `).
fn cast(len: Len, from: &Expr, to: &DataType, scope: &Scope<'_>) -> Len {
    let text = matches!(
        to,
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
    );
    if text && !from.get_type(scope.schema).is_ok_and(|t| !t.is_nested()) {
        len.times(PRINTED_GROWTH).plus(Len::fixed())
    } else {
        len
    }
}

/// The longest of each column over `rows` of `width` columns.
fn widest<'a>(rows: impl Iterator<Item = &'a [Len]>, width: usize) -> Vec<Len> {
    let mut out = vec![Len::bytes(0); width];
    for row in rows {
        for (o, l) in out.iter_mut().zip(row) {
            *o = o.max(*l);
        }
    }
    out
}

/// `lens` as `width` columns; a node whose expressions do not line up with its columns
/// (grouping sets) gives each the longest.
fn fit(lens: Vec<Len>, width: usize) -> Vec<Len> {
    if lens.len() == width {
        return lens;
    }
    let longest = lens.into_iter().fold(Len::STORED, Len::max);
    vec![longest; width]
}

fn literal(v: &ScalarValue) -> Len {
    if let Some(s) = v.try_as_str().flatten() {
        return Len::bytes(s.len() as u64);
    }
    match v {
        ScalarValue::Binary(Some(b))
        | ScalarValue::LargeBinary(Some(b))
        | ScalarValue::BinaryView(Some(b))
        | ScalarValue::FixedSizeBinary(_, Some(b)) => Len::bytes(b.len() as u64),
        other => Len::bytes((other.size() as u64).max(FIXED)),
    }
}

fn constant_count(e: Option<&Expr>) -> Option<u64> {
    constant_i64(e?).map(|n| n.max(0).unsigned_abs())
}

/// How many elements `range(stop)` or `range(start, stop[, step])` makes, if its
/// arguments are constants: over integers, the span over the step (at least 1); over
/// dates and timestamps, the span over a constant interval step, in days or
/// nanoseconds, a month counted as 28 days.
fn elements(exprs: &[Expr]) -> Option<u64> {
    const DAY_NS: i128 = 86_400_000_000_000;
    let value = |i: usize| exprs.get(i).and_then(constant);
    let as_i64 =
        |v: ScalarValue, t: &DataType| match v.cast_to(t).ok()?.cast_to(&DataType::Int64).ok()? {
            ScalarValue::Int64(Some(n)) => Some(n),
            _ => None,
        };
    if exprs.len() == 1 {
        return constant_count(exprs.first()).map(|n| n.saturating_add(1));
    }
    let (start, stop) = (value(0)?, value(1)?);
    let t = start.data_type();
    let (unit_ns, target) = match t {
        _ if t.is_integer() => {
            let (a, b) = (
                as_i64(start, &DataType::Int64)?,
                as_i64(stop, &DataType::Int64)?,
            );
            // A step the data picks is at least 1.
            let step = exprs
                .get(2)
                .and_then(constant)
                .and_then(|v| as_i64(v, &DataType::Int64))
                .map_or(1, |s| s.unsigned_abs().max(1));
            return Some((b.abs_diff(a) / step).saturating_add(1));
        }
        DataType::Date32 | DataType::Date64 => (DAY_NS, DataType::Date32),
        DataType::Timestamp(_, tz) => (
            1,
            DataType::Timestamp(arrow::datatypes::TimeUnit::Nanosecond, tz),
        ),
        _ => return None,
    };
    let (a, b) = (as_i64(start, &target)?, as_i64(stop, &target)?);
    let step_ns = match constant(exprs.get(2)?)? {
        ScalarValue::IntervalMonthDayNano(Some(i)) => {
            i128::from(i.months) * 28 * DAY_NS
                + i128::from(i.days) * DAY_NS
                + i128::from(i.nanoseconds)
        }
        ScalarValue::IntervalDayTime(Some(i)) => {
            i128::from(i.days) * DAY_NS + i128::from(i.milliseconds) * 1_000_000
        }
        ScalarValue::IntervalYearMonth(Some(m)) => i128::from(m) * 28 * DAY_NS,
        _ => return None,
    };
    // A step shorter than the unit the values count in moves by at least one unit.
    let step = (step_ns.unsigned_abs() / unit_ns.unsigned_abs()).max(1);
    let step = u64::try_from(step).unwrap_or(u64::MAX);
    Some((b.abs_diff(a) / step).saturating_add(1))
}

fn constant_text(e: Option<&Expr>) -> Option<u64> {
    constant_str(e?).map(|s| s.len() as u64)
}

/// The bound of a scalar function's result from its arguments' bounds, if a rule here
/// names the function.
fn function(name: &str, exprs: &[Expr], args: &[Len]) -> Option<Len> {
    let arg = |i: usize| args.get(i).copied().unwrap_or(Len::bytes(0));
    let sum = || args.iter().fold(Len::bytes(0), |a, b| a.plus(*b));
    let longest = || args.iter().fold(Len::fixed(), |a, b| a.max(*b));
    Some(match name {
        "concat" => sum(),
        // The separator goes between each two of the others.
        "concat_ws" => {
            let parts = args.len().saturating_sub(1) as u64;
            arg(0)
                .times(parts.saturating_sub(1))
                .plus(args.iter().skip(1).fold(Len::bytes(0), |a, b| a.plus(*b)))
        }
        "array_concat" | "array_cat" | "list_concat" | "list_cat" | "array_append"
        | "array_push_back" | "list_append" | "list_push_back" | "array_prepend"
        | "array_push_front" | "list_prepend" | "list_push_front" | "make_array" | "make_list"
        | "array_union" | "list_union" | "struct" | "named_struct" | "row" | "map" | "make_map"
        | "arrays_zip" | "list_zip" => {
            sum().plus(Len::bytes(PER_ELEMENT.saturating_mul(args.len() as u64)))
        }
        // A negative length keeps the string's head and repeats its tail after the
        // placed text: `overlay(s PLACING '' FROM n FOR -n)` is `s || s`.
        "overlay" => arg(0).times(2).plus(arg(1)),
        // They print a field's name, metadata or type, which the query may make as long
        // as it likes without a constant for it.
        "arrow_field" | "arrow_metadata" | "with_metadata" | "arrow_typeof" => Len::UNBOUNDED,
        "repeat" => match constant_count(exprs.get(1)) {
            Some(n) => arg(0).times(n),
            None => Len::UNBOUNDED,
        },
        "array_repeat" | "list_repeat" => match constant_count(exprs.get(1)) {
            Some(n) => arg(0).plus(Len::bytes(PER_ELEMENT)).times(n),
            None => Len::UNBOUNDED,
        },
        "range" | "generate_series" => match elements(exprs) {
            Some(c) => Len::bytes(c.saturating_mul(PER_ELEMENT)),
            None => Len::UNBOUNDED,
        },
        "lpad" | "rpad" => match constant_count(exprs.get(1)) {
            Some(n) => Len::bytes(n.saturating_mul(CHAR_BYTES)),
            None => Len::UNBOUNDED,
        },
        // Each match of `from` (at least its length, or every position when it is
        // empty) becomes `to`.
        "replace" => match (constant_text(exprs.get(1)), constant_text(exprs.get(2))) {
            (Some(0), Some(to)) => arg(0).times(to.saturating_add(1)).plus(Len::bytes(to)),
            (Some(from), Some(to)) => arg(0).times(to.div_ceil(from).max(1)),
            _ => Len::UNBOUNDED,
        },
        // A match, even an empty one, becomes the replacement, whose group references
        // copy at most the match.
        "regexp_replace" => match constant_text(exprs.get(2)) {
            Some(to) => arg(0).times(to.saturating_add(1)).plus(Len::bytes(to)),
            None => Len::UNBOUNDED,
        },
        // Joins a list's elements with a separator (and NULLs with a text): each element
        // takes at least a byte.
        "array_to_string" | "array_join" | "list_to_string" | "list_join" => {
            let sep = constant_text(exprs.get(1));
            let null = match exprs.get(2) {
                None => Some(0),
                some => constant_text(some),
            };
            match (sep, null) {
                (Some(s), Some(n)) => arg(0).times(s.saturating_add(n).saturating_add(1)),
                _ => Len::UNBOUNDED,
            }
        }
        // Case mapping grows UTF-8 up to threefold, and `replace` can turn what it yields
        // back into characters that grow again.
        "upper" | "lower" | "initcap" => arg(0).times(PRINTED_GROWTH),
        "arrow_cast" | "arrow_try_cast" | "cast_to_type" | "try_cast_to_type" => {
            arg(0).times(PRINTED_GROWTH).plus(Len::fixed())
        }
        // A split can make every byte an element.
        "string_to_array" | "string_to_list" => {
            arg(0).times(1 + PER_ELEMENT).plus(Len::bytes(PER_ELEMENT))
        }
        // The whole match, then each group's: as many copies as the pattern has groups.
        "regexp_match" => match exprs.get(1).and_then(constant_str) {
            Some(p) => {
                let groups = p.matches('(').count() as u64;
                arg(0)
                    .plus(Len::bytes(PER_ELEMENT))
                    .times(groups.saturating_add(1))
            }
            None => Len::UNBOUNDED,
        },
        "array_resize" | "list_resize" => match constant_count(exprs.get(1)) {
            Some(n) => arg(0).plus(arg(2).plus(Len::bytes(PER_ELEMENT)).times(n)),
            None => Len::UNBOUNDED,
        },
        // Each element equal to `from` becomes `to`: no longer, if `to` is a constant no
        // longer than `from`.
        "array_replace" | "array_replace_n" | "array_replace_all" | "list_replace"
        | "list_replace_n" | "list_replace_all" => {
            match (
                exprs.get(1).and_then(constant),
                exprs.get(2).and_then(constant),
            ) {
                (Some(from), Some(to)) if to.size() <= from.size() => arg(0),
                _ => Len::UNBOUNDED,
            }
        }
        "translate" => arg(0).times(CHAR_BYTES),
        // Hex and base64 at most double their input.
        "encode" | "to_hex" => arg(0).times(2).max(Len::fixed()),
        // Every two-character specifier prints at most a few dozen characters.
        "to_char" | "date_format" => match constant_text(exprs.get(1)) {
            Some(f) => Len::bytes(f.saturating_mul(32).saturating_add(FIXED)),
            None => Len::UNBOUNDED,
        },
        _ if AT_MOST_LONGEST.contains(&name) => longest(),
        _ if SHORT_TEXT.contains(&name) => Len::fixed(),
        _ => return None,
    })
}

/// Functions that return a part, a pick or a rearrangement of their arguments: no longer
/// than the longest of them.
const AT_MOST_LONGEST: &[&str] = &[
    // Picks.
    "coalesce",
    "nullif",
    "nvl",
    "ifnull",
    "nvl2",
    "greatest",
    "least",
    "get_field",
    "union_extract",
    // Parts of a text.
    "btrim",
    "trim",
    "ltrim",
    "rtrim",
    "left",
    "right",
    "substr",
    "substring",
    "substr_index",
    "substring_index",
    "split_part",
    "reverse",
    // Hex and base64 decode to fewer bytes than they read.
    "decode",
    // Parts, picks and rearrangements of a list or a map.
    "array_any_value",
    "list_any_value",
    "array_compact",
    "list_compact",
    "array_distinct",
    "list_distinct",
    "array_element",
    "array_extract",
    "list_element",
    "list_extract",
    "element_at",
    "array_except",
    "list_except",
    "array_intersect",
    "list_intersect",
    "array_max",
    "list_max",
    "array_min",
    "array_pop_back",
    "list_pop_back",
    "array_pop_front",
    "list_pop_front",
    "array_remove",
    "list_remove",
    "array_remove_n",
    "list_remove_n",
    "array_remove_all",
    "list_remove_all",
    "array_reverse",
    "list_reverse",
    "array_slice",
    "list_slice",
    "array_sort",
    "list_sort",
    "flatten",
    "map_entries",
    "map_extract",
    "map_keys",
    "map_values",
];

/// Functions that return a short text whatever their arguments: a digest, a character,
/// an identifier, the engine's version, a list of one count per level of a type.
const SHORT_TEXT: &[&str] = &[
    "md5",
    "sha224",
    "sha256",
    "sha384",
    "sha512",
    "digest",
    "chr",
    "uuid",
    "version",
    "array_dims",
    "list_dims",
];

/// The operation that builds a value, for the refusal: never the expression itself,
/// which may hold constants and nests as deep as the query.
fn describe(e: &Expr) -> String {
    match e {
        Expr::ScalarFunction(f) => format!("{}()", f.func.name()),
        Expr::BinaryExpr(b) => format!("the operator {}", b.op),
        Expr::Column(c) => format!("the column `{}`", c.name),
        other => other.variant_name().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use datafusion::prelude::SessionContext;

    use super::*;

    /// A name DataFusion renamed or dropped would leave a rule that never applies.
    #[test]
    fn every_function_a_rule_names_is_one_datafusion_has() {
        let ctx = SessionContext::new();
        let state = ctx.state();
        let scalar = state.scalar_functions();
        let unknown: Vec<_> = AT_MOST_LONGEST
            .iter()
            .chain(SHORT_TEXT)
            .chain(CASTS)
            .filter(|name| !scalar.contains_key(**name))
            .collect();
        assert!(unknown.is_empty(), "no scalar functions {unknown:?}");
        let unknown: Vec<_> = MEMBER_AGGREGATES
            .iter()
            .filter(|name| {
                !state.aggregate_functions().contains_key(**name)
                    && !state.window_functions().contains_key(**name)
            })
            .collect();
        assert!(
            unknown.is_empty(),
            "no aggregate or window functions {unknown:?}"
        );
    }

    #[test]
    fn a_type_of_fixed_size_is_one_every_value_fills() {
        use arrow::datatypes::{Field, Fields};
        let int = Field::new("i", DataType::Int64, true);
        let text = Field::new("t", DataType::Utf8, true);
        assert!(fixed_size(&DataType::Int64));
        assert!(fixed_size(&DataType::Boolean));
        assert!(fixed_size(&DataType::Decimal128(38, 2)));
        assert!(fixed_size(&DataType::FixedSizeList(int.clone().into(), 4)));
        assert!(fixed_size(&DataType::Struct(Fields::from(vec![
            int.clone()
        ]))));
        assert!(!fixed_size(&DataType::Utf8));
        assert!(!fixed_size(&DataType::Binary));
        assert!(!fixed_size(&DataType::List(int.into())));
        assert!(!fixed_size(&DataType::FixedSizeList(
            text.clone().into(),
            4
        )));
        assert!(!fixed_size(&DataType::Struct(Fields::from(vec![text]))));
    }
}
