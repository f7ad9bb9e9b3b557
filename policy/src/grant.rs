//! Asking Casbin. For one column, every level the policy mentions is tried from the most
//! permissive down, and the first granted wins, unless a `deny` rule matches, which
//! always wins. For one dataset, every row filter whose rule matches applies. Answers are
//! cached per subject set, purpose and object for the life of one loaded policy.

use std::collections::HashMap;
use std::sync::Mutex;

use casbin::{CoreApi, EnforceContext, Enforcer};
use datafusion::logical_expr::Expr;

use crate::decision::RuleRef;
use crate::error::{Error, Result};
use crate::level::Level;
use crate::model::{FieldName, Section, Shape};
use crate::request::Request;

/// The level a column got and the rule that decided it.
#[derive(Debug, Clone)]
pub(crate) struct Grant {
    pub level: Level,
    pub rule: Option<RuleRef>,
}

/// A row-filter rule (`p2`) of the policy.
#[derive(Debug, Clone)]
pub(crate) struct FilterRule {
    pub dataset: String,
    /// The predicate as written; also the value Casbin matches on.
    pub predicate: String,
    /// The predicate parsed against the dataset's schema (unqualified columns).
    pub expr: Expr,
    pub rule: RuleRef,
}

type Key = (Vec<String>, String, String, String);

const CACHE_LIMIT: usize = 65_536;

pub(crate) struct Grants {
    pub enforcer: Enforcer,
    pub shape: Shape,
    /// Distinct level values of the `p` rules, most permissive first, without `deny`.
    pub levels: Vec<(String, Level)>,
    /// Whether some `p` rule has level `deny`.
    pub has_deny: bool,
    /// Distinct purposes named by `p` rules, for refusal hints.
    pub purposes: Vec<String>,
    /// `p` rule values to the line that holds them.
    pub rules: HashMap<Vec<String>, RuleRef>,
    pub filters: Vec<FilterRule>,
    columns: Mutex<HashMap<Key, Grant>>,
    filter_cache: Mutex<HashMap<Key, Vec<usize>>>,
}

impl std::fmt::Debug for Grants {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Grants")
            .field("levels", &self.levels)
            .field("filters", &self.filters.len())
            .finish_non_exhaustive()
    }
}

fn request(
    section: &Section,
    sub: &str,
    dom: &str,
    obj: &str,
    purpose: &str,
    value: &str,
) -> Vec<String> {
    section
        .request
        .iter()
        .map(|f| {
            match f {
                FieldName::Sub => sub,
                FieldName::Dom => dom,
                FieldName::Obj => obj,
                FieldName::Purpose => purpose,
                FieldName::Level | FieldName::Filter => value,
            }
            .to_string()
        })
        .collect()
}

impl Grants {
    pub fn new(
        enforcer: Enforcer,
        shape: Shape,
        levels: Vec<(String, Level)>,
        has_deny: bool,
        purposes: Vec<String>,
        rules: HashMap<Vec<String>, RuleRef>,
        filters: Vec<FilterRule>,
    ) -> Self {
        Grants {
            enforcer,
            shape,
            levels,
            has_deny,
            purposes,
            rules,
            filters,
            columns: Mutex::new(HashMap::new()),
            filter_cache: Mutex::new(HashMap::new()),
        }
    }

    fn rule_ref(&self, matched: &[Vec<String>]) -> Option<RuleRef> {
        let m = matched.first()?;
        Some(self.rules.get(m).cloned().unwrap_or_else(|| RuleRef {
            file: "?".into(),
            line: 0,
            text: format!("p, {}", m.join(", ")),
            entry: None,
        }))
    }

    /// Whether some subject is granted `level` on `obj`, and by which rule.
    fn try_level(
        &self,
        subjects: &[String],
        dom: &str,
        obj: &str,
        purpose: &str,
        level: &str,
    ) -> Result<Option<Option<RuleRef>>> {
        for sub in subjects {
            let rvals = request(&self.shape.levels, sub, dom, obj, purpose, level);
            let (ok, matched) = self
                .enforcer
                .enforce_ex(rvals)
                .map_err(|e| Error::Internal(format!("casbin: {e}")))?;
            if ok {
                return Ok(Some(self.rule_ref(&matched)));
            }
        }
        Ok(None)
    }

    /// The level `obj` (`dataset.column`) gets.
    pub fn grant(&self, subjects: &[String], dom: &str, purpose: &str, obj: &str) -> Result<Grant> {
        let key = (
            subjects.to_vec(),
            dom.to_string(),
            purpose.to_string(),
            obj.to_string(),
        );
        if let Ok(cache) = self.columns.lock()
            && let Some(g) = cache.get(&key)
        {
            return Ok(g.clone());
        }
        let grant = self.decide(subjects, dom, purpose, obj)?;
        if let Ok(mut cache) = self.columns.lock() {
            if cache.len() >= CACHE_LIMIT {
                cache.clear();
            }
            cache.insert(key, grant.clone());
        }
        Ok(grant)
    }

    fn decide(&self, subjects: &[String], dom: &str, purpose: &str, obj: &str) -> Result<Grant> {
        if self.has_deny
            && let Some(rule) = self.try_level(subjects, dom, obj, purpose, "deny")?
        {
            return Ok(Grant {
                level: Level::Deny,
                rule,
            });
        }
        for (text, level) in &self.levels {
            if let Some(rule) = self.try_level(subjects, dom, obj, purpose, text)? {
                return Ok(Grant {
                    level: level.clone(),
                    rule,
                });
            }
        }
        Ok(Grant {
            level: Level::Deny,
            rule: None,
        })
    }

    /// The level `dataset.column` gets for `request`: the policy's own rules, widened by
    /// an access grant in force that the request carries. An explicit `deny` rule still
    /// wins; a grant never narrows what the rules allow.
    pub fn column(
        &self,
        request: &Request,
        subjects: &[String],
        purpose: &str,
        dataset: &str,
        column: &str,
    ) -> Result<Grant> {
        let ruled = self.grant(
            subjects,
            request.agency(),
            purpose,
            &format!("{dataset}.{column}"),
        )?;
        if ruled.level == Level::Deny && ruled.rule.is_some() {
            return Ok(ruled);
        }
        let best = request
            .grants()
            .iter()
            .filter(|g| g.active && g.dataset == dataset)
            .filter_map(|g| {
                let (_, level) = g.columns.iter().find(|(c, _)| c == column)?;
                Some((g, level))
            })
            .min_by_key(|(_, level)| level.rank());
        Ok(match best {
            Some((g, level)) if level.rank() < ruled.level.rank() => Grant {
                level: level.clone(),
                rule: Some(g.rule()),
            },
            _ => ruled,
        })
    }

    /// For a refusal: a rule that would grant `needed`-or-more for another purpose.
    pub fn purpose_hint(
        &self,
        subjects: &[String],
        dom: &str,
        purpose: &str,
        obj: &str,
    ) -> Option<String> {
        for other in &self.purposes {
            if other == purpose || other == "*" {
                continue;
            }
            for (text, _) in &self.levels {
                if let Ok(Some(Some(rule))) = self.try_level(subjects, dom, obj, other, text) {
                    return Some(format!(
                        "rule {rule} grants {text} only for purpose {other}"
                    ));
                }
            }
        }
        None
    }

    /// The row filters that apply to `dataset` for this request.
    pub fn filters_for(
        &self,
        subjects: &[String],
        dom: &str,
        purpose: &str,
        dataset: &str,
    ) -> Result<Vec<&FilterRule>> {
        let Some(section) = &self.shape.filters else {
            return Ok(Vec::new());
        };
        let key = (
            subjects.to_vec(),
            dom.to_string(),
            purpose.to_string(),
            dataset.to_string(),
        );
        let cached = self
            .filter_cache
            .lock()
            .ok()
            .and_then(|c| c.get(&key).cloned());
        let indices = match cached {
            Some(i) => i,
            None => {
                let mut indices = Vec::new();
                for (i, f) in self.filters.iter().enumerate() {
                    if f.dataset != dataset
                        || indices
                            .iter()
                            .any(|&j: &usize| self.filters[j].predicate == f.predicate)
                    {
                        continue;
                    }
                    for sub in subjects {
                        let rvals = request(section, sub, dom, dataset, purpose, &f.predicate);
                        let ok = self
                            .enforcer
                            .enforce_with_context(EnforceContext::new("2"), rvals)
                            .map_err(|e| Error::Internal(format!("casbin: {e}")))?;
                        if ok {
                            indices.push(i);
                            break;
                        }
                    }
                }
                if let Ok(mut cache) = self.filter_cache.lock() {
                    if cache.len() >= CACHE_LIMIT {
                        cache.clear();
                    }
                    cache.insert(key, indices.clone());
                }
                indices
            }
        };
        Ok(indices
            .into_iter()
            .filter_map(|i| self.filters.get(i))
            .collect())
    }
}
