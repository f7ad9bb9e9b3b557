//! Disclosure levels: what a principal may learn from one column. A level is parsed from
//! the `level` field of a policy rule; this module also fixes the order used when several
//! rules grant a column different levels, and the level a use of a column needs.

use std::fmt;

use crate::mask::{self, MaskSpec};

/// k of small-group suppression when an `aggregate` rule does not name one.
pub const DEFAULT_K: u32 = 5;

/// What a principal may learn from a column (see the Policy section of DESIGN.md).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Level {
    /// The value itself, usable anywhere.
    Plain,
    /// Only the masked value; every operator above the scan sees only the masked value.
    Masked(MaskSpec),
    /// Only inside COUNT, SUM, AVG, MIN or MAX over groups of at least `k` rows.
    Aggregate {
        /// Smallest group released.
        k: u32,
    },
    /// Only as an equality join key; never released.
    Join,
    /// Nothing. The default for anything no rule names.
    Deny,
}

impl Level {
    /// Parse a rule's level field: `plain`, `masked:<mask>`, `aggregate`,
    /// `aggregate:<k>`, `join` or `deny`. The mask must be a known one.
    pub fn parse(s: &str) -> Result<Level, String> {
        let s = s.trim();
        match s {
            "plain" => return Ok(Level::Plain),
            "join" => return Ok(Level::Join),
            "deny" => return Ok(Level::Deny),
            "aggregate" => return Ok(Level::Aggregate { k: DEFAULT_K }),
            _ => {}
        }
        if let Some(k) = s.strip_prefix("aggregate:") {
            let k: u32 = k
                .parse()
                .map_err(|_| format!("`{s}`: k must be a whole number, e.g. `aggregate:10`"))?;
            if k < 2 {
                return Err(format!("`{s}`: k must be at least 2"));
            }
            return Ok(Level::Aggregate { k });
        }
        if let Some(m) = s.strip_prefix("masked:") {
            let (name, arg) = match m.split_once(':') {
                Some((n, a)) => (n, Some(a.to_string())),
                None => (m, None),
            };
            let spec = MaskSpec {
                name: name.to_string(),
                arg,
            };
            mask::parse(&spec).map_err(|e| format!("`{s}`: {e}"))?;
            return Ok(Level::Masked(spec));
        }
        Err(format!(
            "unknown level `{s}`; expected plain, masked:<mask>, aggregate, aggregate:<k>, join or deny \
             (masks: {})",
            mask::names().join(", ")
        ))
    }

    /// Rank for choosing between levels granted by several rules: lower is more
    /// permissive. `deny` rules are handled apart (an explicit deny always wins).
    pub(crate) fn rank(&self) -> (u8, u32) {
        match self {
            Level::Plain => (0, 0),
            Level::Masked(_) => (1, 0),
            Level::Aggregate { k } => (2, *k),
            Level::Join => (3, 0),
            Level::Deny => (4, 0),
        }
    }

    /// Whether this level allows a use that needs `need`.
    pub fn allows(&self, need: Need) -> bool {
        matches!(
            (self, need),
            (Level::Plain | Level::Masked(_), _)
                | (Level::Aggregate { .. }, Need::Aggregate)
                | (Level::Join, Need::Join)
        )
    }

    /// Columns whose raw values the lineage analysis must follow: every level but the
    /// unrestricted ones (plain, and masked, whose raw value never leaves the scan).
    pub(crate) fn is_protected(&self) -> bool {
        !matches!(self, Level::Plain | Level::Masked(_))
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Level::Plain => f.write_str("plain"),
            Level::Masked(m) => write!(f, "masked:{m}"),
            Level::Aggregate { k } if *k == DEFAULT_K => f.write_str("aggregate"),
            Level::Aggregate { k } => write!(f, "aggregate:{k}"),
            Level::Join => f.write_str("join"),
            Level::Deny => f.write_str("deny"),
        }
    }
}

/// The level a particular use of a column needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Need {
    /// Row-level use: in the result, a row-level filter, a sort, a grouping or a window
    /// (`plain` or `masked` allow it).
    Plain,
    /// Inside COUNT/SUM/AVG/MIN/MAX, or a comparison whose result is aggregated.
    Aggregate,
    /// As an equality join key between two dataset columns.
    Join,
}

impl fmt::Display for Need {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Need::Plain => "plain",
            Need::Aggregate => "aggregate",
            Need::Join => "join",
        })
    }
}
