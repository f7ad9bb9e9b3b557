//! The Casbin model contract: which request and policy fields this crate fills in and
//! reads. The model file stays standard Casbin; this module checks that its `r`/`p`
//! (column levels) and optional `r2`/`p2` (row filters) name the fields below.
//!
//! | field     | request value                                   | in `r` | in `r2` |
//! |-----------|-------------------------------------------------|--------|---------|
//! | `sub`     | the principal `<agency>/<user>`, or one of its roles | required | required |
//! | `dom`     | the requesting agency                           | optional | optional |
//! | `obj`     | `<dataset>.<column>` (`r`), `<dataset>` (`r2`)   | required | required |
//! | `purpose` | the request's purpose                           | required | required |
//! | `level`   | a candidate level, e.g. `masked:last:4`         | required | —       |
//! | `filter`  | a candidate row-filter predicate                | —      | required |

use casbin::{DefaultModel, Model};

/// The model `policy/README.md` documents: roles through `g`, wildcards through
/// `keyMatch` on principals, requesting agencies and `<dataset>.<column>`, an optional
/// purpose (`*` for any), and row filters in `p2`. Most agencies can use it as it is.
pub const STANDARD_MODEL: &str = r#"[request_definition]
r = sub, dom, obj, purpose, level
r2 = sub, dom, obj, purpose, filter

[policy_definition]
p = sub, dom, obj, purpose, level
p2 = sub, dom, obj, purpose, filter

[role_definition]
g = _, _

[policy_effect]
e = some(where (p.eft == allow))
e2 = some(where (p.eft == allow))

[matchers]
m = (g(r.sub, p.sub) || keyMatch(r.sub, p.sub)) && keyMatch(r.dom, p.dom) && keyMatch(r.obj, p.obj) && (p.purpose == "*" || r.purpose == p.purpose) && r.level == p.level
m2 = (g(r2.sub, p2.sub) || keyMatch(r2.sub, p2.sub)) && keyMatch(r2.dom, p2.dom) && r2.obj == p2.obj && (p2.purpose == "*" || r2.purpose == p2.purpose) && r2.filter == p2.filter
"#;

/// A request or policy field this crate knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FieldName {
    Sub,
    Dom,
    Obj,
    Purpose,
    Level,
    Filter,
}

impl FieldName {
    fn parse(token: &str) -> Option<Self> {
        Some(match token {
            "sub" => FieldName::Sub,
            "dom" => FieldName::Dom,
            "obj" => FieldName::Obj,
            "purpose" => FieldName::Purpose,
            "level" => FieldName::Level,
            "filter" => FieldName::Filter,
            _ => return None,
        })
    }
}

/// Where each field sits in one request/policy definition pair.
#[derive(Debug, Clone)]
pub(crate) struct Section {
    /// The request definition's fields, in order.
    pub request: Vec<FieldName>,
    /// The policy definition's fields, in order.
    pub policy: Vec<Option<FieldName>>,
}

impl Section {
    pub fn policy_index(&self, f: FieldName) -> Option<usize> {
        self.policy.iter().position(|x| *x == Some(f))
    }
}

/// What this crate needs from a model, checked at load.
#[derive(Debug, Clone)]
pub(crate) struct Shape {
    /// Column levels: `r` and `p`.
    pub levels: Section,
    /// Row filters: `r2` and `p2`, if the model has them.
    pub filters: Option<Section>,
    /// Number of fields of each grouping type (`g`, `g2`, …).
    pub groupings: Vec<(String, usize)>,
}

fn tokens(model: &DefaultModel, sec: &str, key: &str) -> Option<Vec<String>> {
    let ast = model.get_model().get(sec)?.get(key)?;
    let prefix = format!("{key}_");
    Some(
        ast.tokens
            .iter()
            .map(|t| t.strip_prefix(&prefix).unwrap_or(t).to_string())
            .collect(),
    )
}

fn section(
    model: &DefaultModel,
    suffix: &str,
    required: &[FieldName],
) -> Result<Option<Section>, String> {
    let (r, p) = (format!("r{suffix}"), format!("p{suffix}"));
    let (Some(rt), Some(pt)) = (tokens(model, "r", &r), tokens(model, "p", &p)) else {
        return Ok(None);
    };
    let mut request = Vec::new();
    for t in &rt {
        let f = FieldName::parse(t).ok_or_else(|| {
            format!("request field `{r}.{t}` is unknown; the fields are sub, dom, obj, purpose, level (r) and filter (r2)")
        })?;
        if request.contains(&f) {
            return Err(format!("request field `{r}.{t}` appears twice"));
        }
        request.push(f);
    }
    for f in required {
        if !request.contains(f) {
            return Err(format!(
                "request definition `{r}` lacks the field `{}`",
                format!("{f:?}").to_lowercase()
            ));
        }
    }
    let policy: Vec<Option<FieldName>> = pt.iter().map(|t| FieldName::parse(t)).collect();
    for f in [FieldName::Obj, required[required.len() - 1]] {
        if !policy.contains(&Some(f)) {
            return Err(format!(
                "policy definition `{p}` lacks the field `{}`",
                format!("{f:?}").to_lowercase()
            ));
        }
    }
    Ok(Some(Section { request, policy }))
}

impl Shape {
    /// Check a parsed model.
    pub fn of(model: &DefaultModel) -> Result<Shape, String> {
        use FieldName::*;
        let levels = section(model, "", &[Sub, Obj, Purpose, Level])?
            .ok_or("the model needs `r` and `p` definitions")?;
        if model
            .get_model()
            .get("m")
            .and_then(|m| m.get("m"))
            .is_none()
        {
            return Err("the model needs a matcher `m`".into());
        }
        let filters = section(model, "2", &[Sub, Obj, Purpose, Filter])?;
        if filters.is_some()
            && model
                .get_model()
                .get("m")
                .and_then(|m| m.get("m2"))
                .is_none()
        {
            return Err("the model defines `p2` (row filters) but no matcher `m2`".into());
        }
        let mut groupings = Vec::new();
        if let Some(g) = model.get_model().get("g") {
            for (key, ast) in g {
                groupings.push((key.clone(), ast.value.matches('_').count()));
            }
        }
        Ok(Shape {
            levels,
            filters,
            groupings,
        })
    }
}
