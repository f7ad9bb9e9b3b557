//! Which filters a database may evaluate for DataFusion: only those its SQL computes as
//! DataFusion does ([`Pushdown::Exact`]), or computes for at least every row DataFusion
//! would keep ([`Pushdown::Superset`], re-checked above the scan). Everything else stays
//! in DataFusion, so a pushed filter never changes an answer.
//!
//! Databases differ from DataFusion mostly on text: MariaDB's default collations compare
//! case- and trailing-space-insensitively, SQLite's `LIKE` ignores ASCII case and has no
//! escape character, and an ordering of text follows the database's collation. Functions,
//! arithmetic (MariaDB's `/` is not integer division) and timestamps (session time zones)
//! are never pushed.

use datafusion::arrow::datatypes::{DataType, Schema};
use datafusion::logical_expr::{Expr, Operator, TableProviderFilterPushDown};
use datafusion::scalar::ScalarValue;

/// How much of DataFusion's meaning a database keeps for one kind of filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Pushdown {
    /// Not sent to the database.
    No,
    /// The database keeps every row DataFusion keeps, and maybe more.
    Superset,
    /// The database keeps exactly the rows DataFusion keeps.
    Exact,
}

impl Pushdown {
    pub fn as_datafusion(self) -> TableProviderFilterPushDown {
        match self {
            Pushdown::No => TableProviderFilterPushDown::Unsupported,
            Pushdown::Superset => TableProviderFilterPushDown::Inexact,
            Pushdown::Exact => TableProviderFilterPushDown::Exact,
        }
    }
}

/// What one database's SQL does with text, which is where databases and DataFusion part.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FilterRules {
    /// `=` and `IN` between text values.
    pub text_equality: Pushdown,
    /// `<`, `>`, `BETWEEN` between text values.
    pub text_order: Pushdown,
    /// `LIKE` with a literal pattern that holds no backslash.
    pub like: Pushdown,
}

impl FilterRules {
    /// PostgreSQL: text equality and `LIKE` are byte-wise under deterministic collations;
    /// text order follows the database's collation, which need not be byte order.
    pub const POSTGRES: FilterRules = FilterRules {
        text_equality: Pushdown::Exact,
        text_order: Pushdown::No,
        like: Pushdown::Exact,
    };

    /// MariaDB and MySQL: the default collations ignore case and trailing spaces.
    pub const MYSQL: FilterRules = FilterRules {
        text_equality: Pushdown::Superset,
        text_order: Pushdown::No,
        like: Pushdown::Superset,
    };

    /// SQLite: a column may be declared `COLLATE NOCASE`, and `LIKE` ignores ASCII case.
    pub const SQLITE: FilterRules = FilterRules {
        text_equality: Pushdown::Superset,
        text_order: Pushdown::No,
        like: Pushdown::Superset,
    };

    /// How far `filter`, over a table of `schema`, can be left to the database.
    pub fn judge(&self, filter: &Expr, schema: &Schema) -> Pushdown {
        self.level(filter, schema)
    }

    fn level(&self, e: &Expr, schema: &Schema) -> Pushdown {
        match e {
            Expr::Column(c) => match schema.field_with_name(&c.name).map(|f| f.data_type()) {
                Ok(DataType::Boolean) => Pushdown::Exact,
                _ => Pushdown::No,
            },
            Expr::BinaryExpr(b) => match b.op {
                Operator::And | Operator::Or => self
                    .level(&b.left, schema)
                    .min(self.level(&b.right, schema)),
                Operator::Eq => self.compare(&b.left, &b.right, schema, self.text_equality),
                // A superset of the matches is a subset of the non-matches.
                Operator::NotEq => {
                    self.compare(&b.left, &b.right, schema, exact_only(self.text_equality))
                }
                Operator::Lt | Operator::LtEq | Operator::Gt | Operator::GtEq => {
                    self.compare(&b.left, &b.right, schema, self.text_order)
                }
                _ => Pushdown::No,
            },
            Expr::Not(inner) => exact_only(self.level(inner, schema)),
            Expr::IsNull(inner) | Expr::IsNotNull(inner) => match value_kind(inner, schema) {
                Some(_) => Pushdown::Exact,
                None => Pushdown::No,
            },
            Expr::Between(b) => {
                let text = if b.negated {
                    exact_only(self.text_order)
                } else {
                    self.text_order
                };
                self.compare(&b.expr, &b.low, schema, text)
                    .min(self.compare(&b.expr, &b.high, schema, text))
            }
            Expr::InList(list) => {
                let text = if list.negated {
                    exact_only(self.text_equality)
                } else {
                    self.text_equality
                };
                list.list
                    .iter()
                    .map(|item| self.compare(&list.expr, item, schema, text))
                    .min()
                    .unwrap_or(Pushdown::No)
            }
            Expr::Like(like) if !like.case_insensitive && like.escape_char.is_none() => {
                let plain_pattern = matches!(
                    &*like.pattern,
                    Expr::Literal(ScalarValue::Utf8(Some(p)) | ScalarValue::Utf8View(Some(p))
                        | ScalarValue::LargeUtf8(Some(p)), _) if !p.contains('\\')
                );
                let on_text = matches!(value_kind(&like.expr, schema), Some(Kind::Text))
                    && matches!(&*like.expr, Expr::Column(_));
                if !(plain_pattern && on_text) {
                    Pushdown::No
                } else if like.negated {
                    exact_only(self.like)
                } else {
                    self.like
                }
            }
            _ => Pushdown::No,
        }
    }

    /// A comparison of a column with a literal or another column of the same kind.
    fn compare(&self, left: &Expr, right: &Expr, schema: &Schema, text: Pushdown) -> Pushdown {
        match (value_kind(left, schema), value_kind(right, schema)) {
            (Some(Kind::Text), Some(Kind::Text)) => text,
            (Some(Kind::Number), Some(Kind::Number)) | (Some(Kind::Date), Some(Kind::Date)) => {
                Pushdown::Exact
            }
            _ => Pushdown::No,
        }
    }
}

fn exact_only(p: Pushdown) -> Pushdown {
    if p == Pushdown::Exact {
        Pushdown::Exact
    } else {
        Pushdown::No
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Text,
    Number,
    Date,
}

fn kind_of(t: &DataType) -> Option<Kind> {
    match t {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => Some(Kind::Text),
        t if t.is_integer() || t.is_floating() => Some(Kind::Number),
        DataType::Decimal128(..) | DataType::Decimal256(..) => Some(Kind::Number),
        DataType::Date32 | DataType::Date64 => Some(Kind::Date),
        _ => None,
    }
}

/// The kind of a column, a non-null literal, or a cast between numbers of either; `None`
/// for anything else, which is never pushed.
fn value_kind(e: &Expr, schema: &Schema) -> Option<Kind> {
    match e {
        Expr::Column(c) => schema
            .field_with_name(&c.name)
            .ok()
            .and_then(|f| kind_of(f.data_type())),
        Expr::Literal(v, _) if !v.is_null() => kind_of(&v.data_type()),
        Expr::Cast(cast) => match (
            value_kind(&cast.expr, schema),
            kind_of(cast.field.data_type()),
        ) {
            (Some(Kind::Number), Some(Kind::Number)) => Some(Kind::Number),
            _ => None,
        },
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::datatypes::Field;
    use datafusion::prelude::{col, lit};

    use super::*;

    fn schema() -> Schema {
        Schema::new(vec![
            Field::new("n", DataType::Int64, true),
            Field::new("s", DataType::Utf8, true),
            Field::new("d", DataType::Date32, true),
            Field::new(
                "t",
                DataType::Timestamp(datafusion::arrow::datatypes::TimeUnit::Microsecond, None),
                true,
            ),
        ])
    }

    #[test]
    fn numbers_and_dates_are_exact_everywhere() {
        let s = schema();
        for rules in [
            FilterRules::POSTGRES,
            FilterRules::MYSQL,
            FilterRules::SQLITE,
        ] {
            assert_eq!(rules.judge(&col("n").eq(lit(5i64)), &s), Pushdown::Exact);
            assert_eq!(
                rules.judge(&col("n").lt(lit(5i64)).or(col("n").is_null()), &s),
                Pushdown::Exact
            );
            assert_eq!(
                rules.judge(&col("n").in_list(vec![lit(1i64), lit(2i64)], true), &s),
                Pushdown::Exact
            );
            assert_eq!(
                rules.judge(&col("n").between(lit(1i64), lit(9i64)), &s),
                Pushdown::Exact
            );
        }
    }

    #[test]
    fn text_follows_each_databases_collation() {
        let s = schema();
        let eq = col("s").eq(lit("active"));
        assert_eq!(FilterRules::POSTGRES.judge(&eq, &s), Pushdown::Exact);
        assert_eq!(FilterRules::MYSQL.judge(&eq, &s), Pushdown::Superset);
        // A superset of the matches would lose rows under NOT or <>.
        assert_eq!(
            FilterRules::MYSQL.judge(&col("s").not_eq(lit("active")), &s),
            Pushdown::No
        );
        assert_eq!(
            FilterRules::MYSQL.judge(&Expr::Not(Box::new(eq.clone())), &s),
            Pushdown::No
        );
        assert_eq!(
            FilterRules::POSTGRES.judge(&Expr::Not(Box::new(eq)), &s),
            Pushdown::Exact
        );
        // Ordering text follows the database's collation.
        assert_eq!(
            FilterRules::POSTGRES.judge(&col("s").lt(lit("b")), &s),
            Pushdown::No
        );
        assert_eq!(
            FilterRules::SQLITE.judge(&col("s").gt(lit("b")), &s),
            Pushdown::No
        );
    }

    #[test]
    fn like_only_with_a_plain_pattern() {
        let s = schema();
        assert_eq!(
            FilterRules::POSTGRES.judge(&col("s").like(lit("wang%")), &s),
            Pushdown::Exact
        );
        assert_eq!(
            FilterRules::SQLITE.judge(&col("s").like(lit("wang%")), &s),
            Pushdown::Superset
        );
        assert_eq!(
            FilterRules::SQLITE.judge(&col("s").not_like(lit("wang%")), &s),
            Pushdown::No
        );
        // SQLite's LIKE has no escape character; DataFusion's is the backslash.
        assert_eq!(
            FilterRules::POSTGRES.judge(&col("s").like(lit("a\\%")), &s),
            Pushdown::No
        );
        assert_eq!(
            FilterRules::POSTGRES.judge(&col("s").ilike(lit("wang%")), &s),
            Pushdown::No
        );
    }

    #[test]
    fn functions_arithmetic_timestamps_and_similar_to_stay_in_datafusion() {
        let s = schema();
        for rules in [
            FilterRules::POSTGRES,
            FilterRules::MYSQL,
            FilterRules::SQLITE,
        ] {
            let arithmetic = (col("n") / lit(3i64)).eq(lit(1i64));
            assert_eq!(rules.judge(&arithmetic, &s), Pushdown::No);
            let function = datafusion::functions::expr_fn::upper(col("s")).eq(lit("A"));
            assert_eq!(rules.judge(&function, &s), Pushdown::No);
            assert_eq!(rules.judge(&col("t").is_not_null(), &s), Pushdown::No);
            let similar = Expr::SimilarTo(datafusion::logical_expr::expr::Like::new(
                false,
                Box::new(col("s")),
                Box::new(lit("act.ve")),
                None,
                false,
            ));
            assert_eq!(rules.judge(&similar, &s), Pushdown::No);
            // One unsafe side spoils an OR.
            let spoiled = col("n").eq(lit(1i64)).or(arithmetic);
            assert_eq!(rules.judge(&spoiled, &s), Pushdown::No);
            let dates = col("d").gt(lit(ScalarValue::Date32(Some(0))));
            assert_eq!(rules.judge(&dates, &s), Pushdown::Exact);
        }
    }
}
