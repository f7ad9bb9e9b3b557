//! The one door for untrusted SQL, used by the home planner and the owner alike: parse
//! one statement, refuse anything but a read-only query, and name the datasets it reads
//! as `<agency>.<dataset>`. Nothing is planned or run here.

use datafusion::common::TableReference;
use datafusion::execution::SessionState;
use datafusion::logical_expr::LogicalPlan;
use datafusion::prelude::SQLOptions;
use datafusion::sql::parser::Statement;
use sluice_core::{AgencyId, CATALOG, DatasetName, DatasetRef};

use crate::error::{GatewayError, Result};

/// One parsed read-only query and the datasets it names.
#[derive(Debug)]
pub struct ParsedQuery {
    pub statement: Statement,
    /// Every dataset the SQL names, once each, in order of appearance.
    pub tables: Vec<DatasetRef>,
}

/// Parse `sql` as untrusted input against `state`'s dialect.
pub fn parse(state: &SessionState, sql: &str) -> Result<ParsedQuery> {
    let statement = state
        .sql_to_statement(sql, &state.config().options().sql_parser.dialect)
        .map_err(|e| GatewayError::Sql(e.to_string()))?;
    check_is_query(&statement)?;
    let refs = state
        .resolve_table_references(&statement)
        .map_err(|e| GatewayError::Sql(e.to_string()))?;
    let mut tables = Vec::new();
    for r in refs {
        let d = dataset_ref(&r)?;
        if !tables.contains(&d) {
            tables.push(d);
        }
    }
    Ok(ParsedQuery { statement, tables })
}

/// Plan a parsed query and check the plan holds no DDL, DML or statement either.
pub async fn plan(state: &SessionState, query: ParsedQuery) -> Result<LogicalPlan> {
    let plan = state
        .statement_to_plan(query.statement)
        .await
        .map_err(GatewayError::from_datafusion)?;
    SQLOptions::new()
        .with_allow_ddl(false)
        .with_allow_dml(false)
        .with_allow_statements(false)
        .verify_plan(&plan)
        .map_err(|e| GatewayError::NotAQuery(e.to_string()))?;
    Ok(plan)
}

/// Only a plain query may run: no DDL, DML, `SET`, `COPY` or `EXPLAIN ANALYZE` side doors.
fn check_is_query(stmt: &Statement) -> Result<()> {
    use datafusion::sql::sqlparser::ast::Statement as SqlStatement;
    match stmt {
        Statement::Statement(s) if matches!(s.as_ref(), SqlStatement::Query(_)) => Ok(()),
        other => {
            let text = other.to_string();
            let head: String = text
                .split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ");
            Err(GatewayError::NotAQuery(format!(
                "`{head} …` is not a SELECT"
            )))
        }
    }
}

/// A table reference from SQL as a dataset: `<agency>.<dataset>`, optionally prefixed
/// with the `sluice` catalog.
pub fn dataset_ref(r: &TableReference) -> Result<DatasetRef> {
    let (schema, table) = match r {
        TableReference::Partial { schema, table } => (schema, table),
        TableReference::Full {
            catalog,
            schema,
            table,
        } if catalog.as_ref() == CATALOG => (schema, table),
        _ => return Err(GatewayError::UnqualifiedTable(r.to_string())),
    };
    let unknown = |what: &str| {
        GatewayError::Sql(format!(
            "table `{r}`: {what}; tables are named `<agency>.<dataset>` in lower case"
        ))
    };
    let agency = AgencyId::parse(schema).map_err(|e| unknown(&e.to_string()))?;
    let dataset = DatasetName::parse(table).map_err(|e| unknown(&e.to_string()))?;
    Ok(DatasetRef::new(agency, dataset))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use datafusion::prelude::SessionContext;

    use super::*;

    #[test]
    fn only_queries_pass() {
        let state = SessionContext::new().state();
        let q = parse(
            &state,
            "SELECT * FROM bj_hf.persons p JOIN sluice.sh_hf.loans l ON true JOIN bj_hf.persons q ON true",
        )
        .unwrap();
        let names: Vec<String> = q.tables.iter().map(ToString::to_string).collect();
        assert_eq!(names, ["bj_hf.persons", "sh_hf.loans"]);
        for bad in [
            "DROP TABLE bj_hf.persons",
            "INSERT INTO bj_hf.x VALUES (1)",
            "SET datafusion.execution.batch_size = 1",
            "CREATE TABLE bj_hf.x AS SELECT 1",
            "COPY bj_hf.persons TO '/tmp/x'",
        ] {
            assert!(
                matches!(parse(&state, bad), Err(GatewayError::NotAQuery(_))),
                "{bad}"
            );
        }
        assert!(matches!(
            parse(&state, "SELECT * FROM persons"),
            Err(GatewayError::UnqualifiedTable(_))
        ));
        assert!(matches!(
            parse(&state, "SELECT 1; SELECT 2"),
            Err(GatewayError::Sql(_))
        ));
    }
}
