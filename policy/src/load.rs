//! Loading a policy: the Casbin model, then the CSV policy file read line by line by this
//! crate (Casbin's own file adapter skips bad lines silently) so that every rule is
//! checked, against the model's shape and the datasets' schemas, and keeps its file and
//! line for explain.

use std::collections::{BTreeMap, HashMap};

use arrow::datatypes::{DataType, SchemaRef};
use casbin::{CoreApi, DefaultModel, Enforcer, MemoryAdapter, MgmtApi};
use datafusion::common::DFSchema;
use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::logical_expr::{Expr, ExprSchemable};
use datafusion::prelude::SessionContext;

use crate::decision::RuleRef;
use crate::error::LoadError;
use crate::grant::{FilterRule, Grants};
use crate::level::Level;
use crate::mask;
use crate::model::{FieldName, Shape};

/// One non-empty, non-comment line of a policy file, split into fields.
#[derive(Debug)]
pub(crate) struct Line {
    pub no: usize,
    pub text: String,
    pub fields: Vec<String>,
}

/// Split a CSV policy file: fields are separated by commas and trimmed; a field in double
/// quotes may hold commas, and `""` inside it is one quote. Lines starting with `#` are
/// comments.
pub(crate) fn parse_csv(text: &str) -> Result<Vec<Line>, (usize, String)> {
    let mut lines = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let no = i + 1;
        let t = raw.trim();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        let mut fields = Vec::new();
        let mut chars = t.chars().peekable();
        loop {
            while chars.peek().is_some_and(|c| c.is_whitespace()) {
                chars.next();
            }
            let mut field = String::new();
            if chars.peek() == Some(&'"') {
                chars.next();
                let mut closed = false;
                while let Some(c) = chars.next() {
                    if c == '"' {
                        if chars.peek() == Some(&'"') {
                            chars.next();
                            field.push('"');
                        } else {
                            closed = true;
                            break;
                        }
                    } else {
                        field.push(c);
                    }
                }
                if !closed {
                    return Err((no, "unterminated double quote".into()));
                }
                while chars.peek().is_some_and(|c| c.is_whitespace()) {
                    chars.next();
                }
                match chars.next() {
                    None => {
                        fields.push(field);
                        break;
                    }
                    Some(',') => fields.push(field),
                    Some(c) => {
                        return Err((no, format!("unexpected `{c}` after a quoted field")));
                    }
                }
            } else {
                let mut end = true;
                for c in chars.by_ref() {
                    if c == ',' {
                        end = false;
                        break;
                    }
                    if c == '"' {
                        return Err((no, "a double quote inside an unquoted field".into()));
                    }
                    field.push(c);
                }
                fields.push(field.trim().to_string());
                if end {
                    break;
                }
            }
        }
        lines.push(Line {
            no,
            text: t.to_string(),
            fields,
        });
    }
    Ok(lines)
}

const WILDCARD_CHARS: &[char] = &[
    '*', ':', '{', '}', '(', ')', '?', '[', ']', '|', '^', '$', '+',
];

fn has_wildcard(s: &str) -> bool {
    s.contains(WILDCARD_CHARS)
}

fn is_identifier(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '@'))
}

/// Everything checked about the policy, ready to enforce.
pub(crate) fn build(
    model_file: &str,
    model_text: &str,
    policy_file: &str,
    policy_text: &str,
    datasets: &BTreeMap<String, SchemaRef>,
) -> Result<Grants, LoadError> {
    let model_err = |message: String| LoadError::Model {
        file: model_file.to_string(),
        message,
    };
    let model = futures::executor::block_on(DefaultModel::from_str(model_text))
        .map_err(|e| model_err(e.to_string()))?;
    let shape = Shape::of(&model).map_err(model_err)?;

    let lines = parse_csv(policy_text).map_err(|(line, message)| LoadError::Policy {
        file: policy_file.to_string(),
        line,
        message,
    })?;

    let parse_ctx = SessionContext::new();
    let mut p_rules: Vec<Vec<String>> = Vec::new();
    let mut p2_rules: Vec<Vec<String>> = Vec::new();
    let mut g_rules: BTreeMap<String, Vec<Vec<String>>> = BTreeMap::new();
    let mut rules: HashMap<Vec<String>, RuleRef> = HashMap::new();
    let mut filters = Vec::new();
    let mut levels: Vec<(String, Level)> = Vec::new();
    let mut has_deny = false;
    let mut purposes: Vec<String> = Vec::new();

    for line in lines {
        let err = |message: String| LoadError::Policy {
            file: policy_file.to_string(),
            line: line.no,
            message,
        };
        let Some((ptype, values)) = line.fields.split_first() else {
            continue;
        };
        let values: Vec<String> = values.to_vec();
        if values.iter().any(|v| v.is_empty()) {
            return Err(err(format!("`{ptype}` rule has an empty field")));
        }
        let rule = RuleRef {
            file: policy_file.to_string(),
            line: line.no,
            text: line.text.clone(),
            entry: None,
        };
        match ptype.as_str() {
            "p" => {
                let sec = &shape.levels;
                if values.len() != sec.policy.len() {
                    return Err(err(format!(
                        "`p` rule has {} fields; the model's `p` has {}",
                        values.len(),
                        sec.policy.len()
                    )));
                }
                let get = |f: FieldName| sec.policy_index(f).and_then(|i| values.get(i));
                let level_text = get(FieldName::Level)
                    .map(String::as_str)
                    .unwrap_or_default();
                let level = Level::parse(level_text).map_err(&err)?;
                let obj = get(FieldName::Obj).map(String::as_str).unwrap_or_default();
                check_column_object(obj, &level, datasets).map_err(&err)?;
                if let Some(purpose) = get(FieldName::Purpose) {
                    if purpose != "*" && !is_identifier(purpose) {
                        return Err(err(format!(
                            "purpose `{purpose}` must be `*` or a purpose name"
                        )));
                    }
                    if !purposes.contains(purpose) {
                        purposes.push(purpose.clone());
                    }
                }
                if matches!(level, Level::Deny) {
                    has_deny = true;
                } else if !levels.iter().any(|(t, _)| t == level_text) {
                    levels.push((level_text.to_string(), level));
                }
                if !rules.contains_key(&values) {
                    rules.insert(values.clone(), rule);
                    p_rules.push(values);
                }
            }
            "p2" => {
                let Some(sec) = &shape.filters else {
                    return Err(err(
                        "`p2` (row filter) rule, but the model defines no `r2`/`p2`/`m2`".into(),
                    ));
                };
                if values.len() != sec.policy.len() {
                    return Err(err(format!(
                        "`p2` rule has {} fields; the model's `p2` has {}",
                        values.len(),
                        sec.policy.len()
                    )));
                }
                let get = |f: FieldName| sec.policy_index(f).and_then(|i| values.get(i));
                let dataset = get(FieldName::Obj).cloned().unwrap_or_default();
                let predicate = get(FieldName::Filter).cloned().unwrap_or_default();
                let schema = datasets.get(&dataset).ok_or_else(|| {
                    err(format!(
                        "row filter names dataset `{dataset}`, which does not exist (datasets: {})",
                        datasets.keys().cloned().collect::<Vec<_>>().join(", ")
                    ))
                })?;
                let expr = parse_filter(&parse_ctx, &dataset, schema, &predicate).map_err(&err)?;
                if !p2_rules.contains(&values) {
                    p2_rules.push(values);
                    filters.push(FilterRule {
                        dataset,
                        predicate,
                        expr,
                        rule,
                    });
                }
            }
            g if shape.groupings.iter().any(|(name, _)| name == g) => {
                let arity = shape
                    .groupings
                    .iter()
                    .find(|(name, _)| name == g)
                    .map(|(_, n)| *n)
                    .unwrap_or(2);
                if values.len() != arity {
                    return Err(err(format!(
                        "`{g}` rule has {} fields; the model's `{g}` has {arity}",
                        values.len()
                    )));
                }
                let list = g_rules.entry(g.to_string()).or_default();
                if !list.contains(&values) {
                    list.push(values);
                }
            }
            other => {
                return Err(err(format!(
                    "unknown rule type `{other}`; this model has p{}{}",
                    if shape.filters.is_some() { ", p2" } else { "" },
                    shape
                        .groupings
                        .iter()
                        .map(|(g, _)| format!(", {g}"))
                        .collect::<String>()
                )));
            }
        }
    }
    levels.sort_by_key(|(_, l)| l.rank());

    let enforcer = futures::executor::block_on(async {
        let mut e = Enforcer::new(model, MemoryAdapter::default()).await?;
        if !p_rules.is_empty() {
            e.add_named_policies("p", p_rules).await?;
        }
        if !p2_rules.is_empty() {
            e.add_named_policies("p2", p2_rules).await?;
        }
        for (g, list) in g_rules {
            e.add_named_grouping_policies(&g, list).await?;
        }
        e.build_role_links()?;
        Ok::<_, casbin::Error>(e)
    })
    .map_err(|e| model_err(format!("casbin refused the model or policy: {e}")))?;

    Ok(Grants::new(
        enforcer, shape, levels, has_deny, purposes, rules, filters,
    ))
}

/// Check a `p` rule's object: `<dataset>.<column>`, where a part without wildcards must
/// exist, and a mask must suit the column's type.
fn check_column_object(
    obj: &str,
    level: &Level,
    datasets: &BTreeMap<String, SchemaRef>,
) -> Result<(), String> {
    let Some((dataset, column)) = obj.split_once('.') else {
        if has_wildcard(obj) {
            return Ok(());
        }
        return Err(format!(
            "object `{obj}` must be `<dataset>.<column>` (wildcards allowed, e.g. `persons.*`)"
        ));
    };
    if has_wildcard(dataset) {
        return Ok(());
    }
    let schema = datasets.get(dataset).ok_or_else(|| {
        format!(
            "object `{obj}` names dataset `{dataset}`, which does not exist (datasets: {})",
            datasets.keys().cloned().collect::<Vec<_>>().join(", ")
        )
    })?;
    if has_wildcard(column) {
        return Ok(());
    }
    let field = schema.field_with_name(column).map_err(|_| {
        format!(
            "object `{obj}` names column `{column}`, which dataset `{dataset}` does not have (columns: {})",
            schema
                .fields()
                .iter()
                .map(|f| f.name().as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )
    })?;
    if let Level::Masked(spec) = level {
        let m = mask::parse(spec)?;
        if !m.supports(field.data_type()) {
            return Err(format!(
                "mask `{spec}` cannot mask `{obj}`, a column of type {}",
                field.data_type()
            ));
        }
    }
    Ok(())
}

/// Parse a row-filter predicate against a dataset's schema.
fn parse_filter(
    ctx: &SessionContext,
    dataset: &str,
    schema: &SchemaRef,
    predicate: &str,
) -> Result<Expr, String> {
    let df_schema = DFSchema::try_from(schema.as_ref().clone())
        .map_err(|e| format!("dataset `{dataset}`: {e}"))?;
    let expr = ctx
        .parse_sql_expr(predicate, &df_schema)
        .map_err(|e| format!("row filter `{predicate}` on `{dataset}`: {e}"))?;
    let mut bad = None;
    expr.apply(|e| {
        if matches!(
            e,
            Expr::Exists(_)
                | Expr::InSubquery(_)
                | Expr::ScalarSubquery(_)
                | Expr::SetComparison(_)
                | Expr::AggregateFunction(_)
                | Expr::WindowFunction(_)
                | Expr::Placeholder(_)
                | Expr::OuterReferenceColumn(..)
        ) {
            bad = Some(e.to_string());
            return Ok(TreeNodeRecursion::Stop);
        }
        Ok(TreeNodeRecursion::Continue)
    })
    .map_err(|e| e.to_string())?;
    if let Some(b) = bad {
        return Err(format!(
            "row filter `{predicate}` on `{dataset}`: only a per-row predicate is allowed, not `{b}`"
        ));
    }
    let t = expr
        .get_type(&df_schema)
        .map_err(|e| format!("row filter `{predicate}` on `{dataset}`: {e}"))?;
    if t != DataType::Boolean {
        return Err(format!(
            "row filter `{predicate}` on `{dataset}` is of type {t}, not a boolean predicate"
        ));
    }
    Ok(expr)
}
