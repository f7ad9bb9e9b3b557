//! Which operations are total: they cannot fail at run time, whatever their input. The
//! list is an allowlist. Anything not named here (a function, an operator, a cast, an
//! aggregate, a window function) counts as able to fail, because an error, or its text,
//! would reveal the value that caused it.
//!
//! Arithmetic on integers wraps in DataFusion (it is not checked, but for the negation of
//! a constant), float division gives infinity or NaN, and comparisons, `AND`, `OR`,
//! `CASE`, `IN` and `BETWEEN` cannot fail on values of the types type coercion gave them.
//! Integer division fails on a zero divisor and on `i64::MIN / -1`; casts fail on values
//! that do not fit; `LIKE` and `SIMILAR TO` fail on patterns that do not compile.

use arrow::datatypes::DataType;
use datafusion::common::ScalarValue;
use datafusion::logical_expr::{BinaryExpr, Expr, Operator};

/// Longest constant `LIKE` pattern accepted as total: a longer one could exceed the
/// regex size limit it is compiled under.
const MAX_LIKE_PATTERN: usize = 1_000;

/// Longest `lpad`/`rpad` width accepted as total (a wider one could exhaust memory).
const MAX_PAD: i64 = 1_000;

/// Parts `date_part`/`EXTRACT` returns for every date and every timestamp. A part it
/// does not support for its argument's type (`year` of a TIME or an INTERVAL) is an
/// error, and `date_trunc` rejects some units and casts a date to a timestamp that can
/// overflow, so neither is total beyond these.
const DATE_PARTS: &[&str] = &["year", "quarter", "month", "week", "day", "doy", "dow"];

/// Parts `date_part`/`EXTRACT` returns for every timestamp, besides [`DATE_PARTS`].
const TIME_PARTS: &[&str] = &["hour", "minute", "second", "millisecond", "microsecond"];

/// Scalar functions that are total on any arguments of the types type coercion gives
/// them: null handling, comparisons, and string functions without numeric arguments.
const TOTAL_FUNCTIONS: &[&str] = &[
    "coalesce",
    "nullif",
    "nvl",
    "nvl2",
    "greatest",
    "least",
    "lower",
    "upper",
    "initcap",
    "length",
    "char_length",
    "character_length",
    "octet_length",
    "bit_length",
    "concat",
    "concat_ws",
    "starts_with",
    "ends_with",
    "contains",
    "strpos",
    "instr",
    "btrim",
    "ltrim",
    "rtrim",
    "trim",
    "reverse",
    "md5",
    "sha224",
    "sha256",
    "sha384",
    "sha512",
    "now",
    "current_date",
    "current_time",
];

/// Scalar functions that are total on integer and float arguments. `round` is not: on
/// integers, rounding to a negative number of places overflows near the type's limits.
const TOTAL_ON_NUMBERS: &[&str] = &["floor", "ceil", "trunc", "signum", "isnan", "iszero"];

/// Window functions that cannot fail.
const TOTAL_WINDOW_FUNCTIONS: &[&str] = &[
    "row_number",
    "rank",
    "dense_rank",
    "percent_rank",
    "cume_dist",
    "first_value",
    "last_value",
    "count",
    "min",
    "max",
];

/// Types on which `+`, `-` and `*` wrap instead of failing, and which `AVG` and `SUM`
/// accumulate without checks.
fn is_plain_number(t: &DataType) -> bool {
    t.is_integer() || t.is_floating()
}

fn is_string(t: &DataType) -> bool {
    matches!(t, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View)
}

/// The value of a constant: a literal, or a literal cast that succeeds.
pub(crate) fn constant(e: &Expr) -> Option<ScalarValue> {
    match e {
        Expr::Literal(v, _) => Some(v.clone()),
        Expr::Alias(a) => constant(&a.expr),
        Expr::Cast(c) => constant(&c.expr)?.cast_to(c.field.data_type()).ok(),
        _ => None,
    }
}

pub(crate) fn constant_i64(e: &Expr) -> Option<i64> {
    match constant(e)?.cast_to(&DataType::Int64).ok()? {
        ScalarValue::Int64(v) => v,
        _ => None,
    }
}

pub(crate) fn constant_str(e: &Expr) -> Option<String> {
    match constant(e)? {
        ScalarValue::Utf8(Some(s))
        | ScalarValue::LargeUtf8(Some(s))
        | ScalarValue::Utf8View(Some(s)) => Some(s),
        _ => None,
    }
}

/// A `LIKE` pattern that compiles, whatever it is matched against.
fn safe_like_pattern(pattern: &Expr) -> bool {
    constant_str(pattern).is_some_and(|p| p.len() <= MAX_LIKE_PATTERN)
}

/// Whether a cast from `from` to `to` cannot fail for any value.
pub(super) fn safe_cast(from: &DataType, to: &DataType) -> bool {
    use DataType::*;
    if from == to || matches!(from, Null) {
        return true;
    }
    let int = from.is_integer();
    match to {
        // Every number and every date or time has a text form.
        Utf8 | LargeUtf8 | Utf8View => {
            from.is_numeric()
                || is_string(from)
                || matches!(
                    from,
                    Boolean | Date32 | Date64 | Timestamp(..) | Time32(_) | Time64(_)
                )
        }
        // Floats take any number (rounding, or infinity), never text.
        Float64 | Float32 => from.is_numeric() || matches!(from, Boolean),
        Int64 => matches!(
            from,
            Int8 | Int16 | Int32 | UInt8 | UInt16 | UInt32 | Boolean
        ),
        Int32 => matches!(from, Int8 | Int16 | UInt8 | UInt16 | Boolean),
        Int16 => matches!(from, Int8 | UInt8 | Boolean),
        UInt64 => matches!(from, UInt8 | UInt16 | UInt32 | Boolean),
        UInt32 => matches!(from, UInt8 | UInt16 | Boolean),
        Boolean => int || from.is_floating(),
        Date64 => matches!(from, Date32),
        _ => false,
    }
}

/// Whether a cast from `from` to `to` maps distinct values to distinct values, so a
/// column cast this way still stands for itself (as a join key, say). Casts to a
/// boolean, between text and numbers, or from a 64-bit integer to a float do not.
pub(super) fn injective_cast(from: &DataType, to: &DataType) -> bool {
    use DataType::*;
    if from == to {
        return true;
    }
    match to {
        Int64 => matches!(from, Int8 | Int16 | Int32 | UInt8 | UInt16 | UInt32),
        Int32 => matches!(from, Int8 | Int16 | UInt8 | UInt16),
        Int16 => matches!(from, Int8 | UInt8),
        UInt64 => matches!(from, UInt8 | UInt16 | UInt32),
        UInt32 => matches!(from, UInt8 | UInt16),
        // Up to 2^53 every integer is a distinct double.
        Float64 => matches!(
            from,
            Int8 | Int16 | Int32 | UInt8 | UInt16 | UInt32 | Float32
        ),
        Float32 => matches!(from, Int8 | Int16 | UInt8 | UInt16),
        Utf8 | LargeUtf8 | Utf8View => from.is_integer() || is_string(from),
        Date64 => matches!(from, Date32),
        _ => false,
    }
}

/// The types the analysis asks about while judging one expression node.
pub(super) trait Types {
    /// The type of `e` in the current scope, if known.
    fn type_of(&self, e: &Expr) -> Option<DataType>;
}

/// Whether evaluating `e` itself (not its children) can fail for some input; if so, a
/// name for the operation. Aggregate and window functions are judged by
/// [`aggregate_may_fail`] and [`window_may_fail`].
pub(super) fn may_fail(e: &Expr, types: &dyn Types) -> Option<String> {
    match e {
        Expr::BinaryExpr(b) => binary_may_fail(b, e, types),
        Expr::ScalarFunction(f) => {
            let name = f.func.name().to_ascii_lowercase();
            (!function_is_total(&name, &f.args, types)).then(|| format!("{name}()"))
        }
        // DataFusion negates an integer array wrapping but a constant with a check, and
        // the optimizer folds operands to constants (`-(x * 0 - 9223372036854775807 - 1)`,
        // or `-c` of a derived column so computed): `-i64::MIN` fails. `0 - x` wraps.
        Expr::Negative(x) => {
            (!types.type_of(x).is_some_and(|t| t.is_floating())).then(|| "negation".into())
        }
        Expr::Literal(v, _) => out_of_range(v),
        Expr::Cast(c) => {
            if let Some(v) = constant(e) {
                return out_of_range(&v);
            }
            let to = c.field.data_type();
            match types.type_of(&c.expr) {
                Some(from) if safe_cast(&from, to) => None,
                _ => Some(format!("CAST(... AS {to})")),
            }
        }
        // TRY_CAST yields NULL where CAST fails, but a number cast to a date or time is
        // reinterpreted without a calendar check: `TRY_CAST(x * 125 AS DATE)` builds a
        // date past the calendar, which fails wherever it is printed.
        Expr::TryCast(c) => {
            let to = c.field.data_type();
            if !holds_temporal(to) {
                return None;
            }
            match types.type_of(&c.expr) {
                Some(from) if safe_cast(&from, to) => None,
                _ => Some(format!("TRY_CAST(... AS {to})")),
            }
        }
        Expr::Like(l) => (l.escape_char.is_some() || !safe_like_pattern(&l.pattern))
            .then(|| "LIKE with a pattern that is not a short constant".into()),
        Expr::SimilarTo(_) => Some("SIMILAR TO (a regular expression)".into()),
        // DataFusion fails a scalar subquery that returns more than one row.
        Expr::ScalarSubquery(_) => {
            Some("a scalar subquery, which fails if it returns more than one row".into())
        }
        Expr::Column(_)
        | Expr::OuterReferenceColumn(..)
        | Expr::Alias(_)
        | Expr::ScalarVariable(..)
        | Expr::Placeholder(_)
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
        | Expr::InList(_)
        | Expr::Case(_)
        | Expr::Exists(_)
        | Expr::InSubquery(_)
        | Expr::SetComparison(_)
        | Expr::AggregateFunction(_)
        | Expr::WindowFunction(_)
        | Expr::GroupingSet(_) => None,
        other => Some(other.variant_name().to_string()),
    }
}

/// Whether a value of type `t` is, or holds, a date, time, timestamp, duration or
/// interval.
fn holds_temporal(t: &DataType) -> bool {
    use DataType::*;
    match t {
        List(f)
        | LargeList(f)
        | ListView(f)
        | LargeListView(f)
        | FixedSizeList(f, _)
        | Map(f, _) => holds_temporal(f.data_type()),
        Struct(fields) => fields.iter().any(|f| holds_temporal(f.data_type())),
        Dictionary(_, v) => holds_temporal(v),
        RunEndEncoded(_, v) => holds_temporal(v.data_type()),
        other => other.is_temporal(),
    }
}

/// A date, time or timestamp constant beyond what has a calendar form (`CAST(CAST(2147483647
/// AS INT) AS DATE)`, `CAST(-1 AS TIME)`): printing it fails, and `date_part` yields NULL
/// where its result is declared not null, which fails the batch. Values computed from
/// data get there only through casts from numbers, which count as able to fail
/// themselves (`TRY_CAST` included); a column holds dates a source could store.
fn out_of_range(v: &ScalarValue) -> Option<String> {
    let temporal = matches!(
        v.data_type(),
        DataType::Date32
            | DataType::Date64
            | DataType::Timestamp(..)
            | DataType::Time32(_)
            | DataType::Time64(_)
    );
    (temporal && !v.is_null() && v.cast_to(&DataType::Utf8).is_err())
        .then(|| format!("a {} constant out of range", v.data_type()))
}

fn binary_may_fail(b: &BinaryExpr, e: &Expr, types: &dyn Types) -> Option<String> {
    use Operator::*;
    let total = match b.op {
        Eq | NotEq | Lt | LtEq | Gt | GtEq | IsDistinctFrom | IsNotDistinctFrom | And | Or => true,
        Plus | Minus | Multiply => types.type_of(e).is_some_and(|t| is_plain_number(&t)),
        BitwiseAnd | BitwiseOr | BitwiseXor => types.type_of(e).is_some_and(|t| t.is_integer()),
        Divide | Modulo => match types.type_of(e) {
            Some(t) if t.is_floating() => true,
            // A constant divisor other than 0 and -1 cannot fail on integers.
            Some(t) if t.is_integer() => constant_i64(&b.right).is_some_and(|d| d != 0 && d != -1),
            _ => false,
        },
        StringConcat => types.type_of(e).is_some_and(|t| is_string(&t)),
        LikeMatch | ILikeMatch | NotLikeMatch | NotILikeMatch => safe_like_pattern(&b.right),
        _ => false,
    };
    (!total).then(|| format!("the operator {}", b.op))
}

fn function_is_total(name: &str, args: &[Expr], types: &dyn Types) -> bool {
    if TOTAL_FUNCTIONS.contains(&name) {
        return true;
    }
    let numbers = || {
        args.iter()
            .all(|a| types.type_of(a).is_some_and(|t| is_plain_number(&t)))
    };
    if TOTAL_ON_NUMBERS.contains(&name) {
        return numbers();
    }
    let int_arg = |i: usize| args.get(i).and_then(constant_i64);
    match name {
        // round(x[, places]): on integers, a negative number of places can overflow.
        "round" => numbers() && (args.len() < 2 || int_arg(1).is_some_and(|n| n >= 0)),
        // substr(s, start[, length]): a constant start above i64::MIN (the start is
        // decremented with a check), a constant length >= 0.
        "substr" | "substring" => {
            int_arg(1).is_some_and(|s| s > i64::MIN)
                && (args.len() < 3 || int_arg(2).is_some_and(|n| n >= 0))
        }
        "left" | "right" => int_arg(1).is_some(),
        "lpad" | "rpad" => {
            int_arg(1).is_some_and(|n| (0..=MAX_PAD).contains(&n))
                && args.get(2).is_none_or(|f| constant_str(f).is_some())
        }
        "date_part" | "datepart" => {
            let part = args
                .first()
                .and_then(constant_str)
                .map(|p| p.to_ascii_lowercase());
            let Some(part) = part else { return false };
            match args.get(1).and_then(|a| types.type_of(a)) {
                Some(DataType::Date32 | DataType::Date64) => DATE_PARTS.contains(&part.as_str()),
                Some(DataType::Timestamp(_, _)) => {
                    DATE_PARTS.contains(&part.as_str()) || TIME_PARTS.contains(&part.as_str())
                }
                _ => false,
            }
        }
        _ => false,
    }
}

/// Whether an aggregate function can fail on its arguments' types. COUNT, MIN and MAX
/// cannot; SUM and AVG cannot on integers and floats (decimals are checked and fail
/// on overflow); others are not known to be total.
pub(super) fn aggregate_may_fail(name: &str, arg_types: &[Option<DataType>]) -> bool {
    match name {
        "count" | "min" | "max" | "array_agg" | "first_value" | "last_value" | "bool_and"
        | "bool_or" => false,
        "sum" | "avg" | "mean" => !arg_types
            .iter()
            .all(|t| t.as_ref().is_some_and(is_plain_number)),
        _ => true,
    }
}

/// Whether a window function can fail: only the ranking and value functions without
/// numeric arguments, and the aggregates that cannot, are known to be total.
pub(super) fn window_may_fail(name: &str, args: &[Expr], arg_types: &[Option<DataType>]) -> bool {
    if TOTAL_WINDOW_FUNCTIONS.contains(&name) {
        return false;
    }
    match name {
        "lag" | "lead" => args.len() < 2 || args.get(1).and_then(constant_i64).is_none(),
        "ntile" => args.first().and_then(constant_i64).is_none_or(|n| n <= 0),
        "nth_value" => args.get(1).and_then(constant_i64).is_none_or(|n| n <= 0),
        _ => aggregate_may_fail(name, arg_types),
    }
}

/// How far float `*` and `/` by constants may scale a value, as a power of two either
/// way. Amounts scaled by more overflow to infinity or underflow to zero, a step.
pub(super) const MAX_SCALE: i32 = 64;

/// Scales are counted in steps of 1/1024 of a power of two. Rounded to whole powers,
/// 218 factors of 1.414 would count as none and scale by 2^109; in these steps, the
/// rounding of the 10,000 factors an expression may nest hides under 5 powers.
pub(super) const SCALE_STEPS: i32 = 1024;

/// Whether a cast from `from` to `to` keeps every value apart and in its place, so a
/// statistic of the cast values is a statistic of the values: a widening cast that
/// cannot fail, or a cast to a double of a value no arithmetic shifted (`shifted`), which
/// rounds only values beyond 2^53, and only as the data has them. A cast to REAL rounds
/// beyond 2^24, where ids live, and a scaled value can be put on its rounding edge. A shifted value cast
/// to a float can be made to round (`CAST(amount + 2^60 AS DOUBLE)` keeps the high
/// bits), and one whose integer arithmetic wrapped changes where it wrapped. A cast to
/// a boolean is a condition.
pub(super) fn exact_cast(from: &DataType, to: &DataType, shifted: bool) -> bool {
    if from == to {
        return true;
    }
    safe_cast(from, to)
        && !matches!(to, DataType::Boolean)
        && !shifted
        && (injective_cast(from, to) || matches!(to, DataType::Float64))
}

/// What one node of arithmetic does to the values it computes from.
pub(super) enum Arithmetic {
    /// Keeps them apart and in their place: an alias, `COALESCE(x, constant)`, float
    /// negation.
    Exact,
    /// Integer or decimal `+`, `-`, negation, `*` by a constant: integers are exact
    /// modulo 2^64 only, and either, shifted far and cast to a float, rounds.
    Shifts,
    /// Float `*` or `/` by a constant: exact up to rounding, by this power of two (in
    /// [`SCALE_STEPS`]).
    Scales(i32),
    /// Anything else: a condition, a function, integer or decimal division, float `+`
    /// and `-` (which round away what the other operand's magnitude hides). Such a node
    /// can map all rows but one to the same value.
    Step,
}

/// Judges the node `e` itself (not its children), whose value varies by row.
pub(super) fn arithmetic(e: &Expr, types: &dyn Types) -> Arithmetic {
    use Arithmetic::*;
    let ty = || types.type_of(e);
    let factor = |c: &Expr| {
        constant(c)
            .and_then(|v| v.cast_to(&DataType::Float64).ok())
            .and_then(|v| match v {
                ScalarValue::Float64(Some(f)) if f.is_finite() && f != 0.0 => {
                    Some((f.abs().log2() * f64::from(SCALE_STEPS)).round() as i32)
                }
                _ => None,
            })
    };
    let shifts = |t: &DataType| {
        t.is_integer() || matches!(t, DataType::Decimal128(..) | DataType::Decimal256(..))
    };
    match e {
        Expr::Alias(_) => Exact,
        Expr::Negative(_) => match ty() {
            Some(t) if shifts(&t) => Shifts,
            Some(t) if t.is_floating() => Exact,
            _ => Step,
        },
        Expr::BinaryExpr(b) => {
            let Some(t) = ty() else { return Step };
            let by_constant = constant(&b.left).is_some() || constant(&b.right).is_some();
            match b.op {
                Operator::Plus | Operator::Minus if shifts(&t) => Shifts,
                Operator::Multiply if by_constant && shifts(&t) => Shifts,
                Operator::Multiply if t.is_floating() => {
                    match factor(&b.left).or_else(|| factor(&b.right)) {
                        Some(k) => Scales(k),
                        None => Step,
                    }
                }
                Operator::Divide if t.is_floating() => match factor(&b.right) {
                    Some(k) => Scales(-k),
                    None => Step,
                },
                _ => Step,
            }
        }
        // COALESCE(x, 0): a constant for NULL, the value otherwise.
        Expr::ScalarFunction(f)
            if matches!(
                f.func.name().to_ascii_lowercase().as_str(),
                "coalesce" | "nvl" | "ifnull"
            ) && f.args.iter().skip(1).all(|a| constant(a).is_some()) =>
        {
            Exact
        }
        _ => Step,
    }
}
