//! The demo agencies' disclosure policy: one Casbin model and, per agency, the same
//! rules for analysts working on a provident-fund transfer. Identity numbers are plain
//! (a transfer must find the person), names and birth dates are masked, person ids only
//! join, and loan amounts leave only as aggregates over at least five loans of at least
//! five people: every dataset names `person_id` as the subject its rows are about.

use std::path::{Path, PathBuf};

use sluice_gateway::error::{GatewayError, Result};

/// The Casbin model every demo agency uses.
pub const MODEL: &str = sluice_policy::STANDARD_MODEL;

/// The rules every demo agency applies.
pub const RULES: &str = "\
# Any housing-fund analyst, for a provident-fund transfer.
p, *, *, persons.id_number, provident_fund_transfer, plain
p, *, *, persons.person_id, provident_fund_transfer, join
p, *, *, persons.name, provident_fund_transfer, masked:first:1
p, *, *, persons.birth_date, provident_fund_transfer, masked:year
p, *, *, contributions.person_id, provident_fund_transfer, join
p, *, *, contributions.month, provident_fund_transfer, plain
p, *, *, contributions.amount, provident_fund_transfer, plain
p, *, *, loans.person_id, provident_fund_transfer, join
p, *, *, loans.loan_id, provident_fund_transfer, plain
p, *, *, loans.status, provident_fund_transfer, plain
p, *, *, loans.amount, provident_fund_transfer, aggregate
";

/// Writes the model, `agency`'s rules and its hash-mask secret under `dir`; returns the
/// `[policy]` section of its config (paths relative to `dir`'s parent).
pub fn write(dir: &Path, agency: &str) -> Result<String> {
    let io = |path: PathBuf| {
        move |e: std::io::Error| GatewayError::Internal(format!("writing {}: {e}", path.display()))
    };
    std::fs::create_dir_all(dir).map_err(io(dir.to_path_buf()))?;
    let model = dir.join("model.conf");
    std::fs::write(&model, MODEL).map_err(io(model.clone()))?;
    let rules = dir.join(format!("{agency}.csv"));
    std::fs::write(&rules, RULES).map_err(io(rules.clone()))?;
    let secret = dir.join(format!("{agency}.secret"));
    let seed = sluice_chain::AgencySigner::generate(agency)?.seed();
    sluice_gateway::keys::write_key_file(&secret, &seed)?;
    Ok(format!(
        "\n[policy]\nmodel = \"policy/model.conf\"\nrules = \"policy/{agency}.csv\"\nsecret_file = \"policy/{agency}.secret\"\nkeys = [ {{ dataset = \"persons\", columns = [\"person_id\"] }}, {{ dataset = \"loans\", columns = [\"loan_id\"] }} ]\nsubjects = [ {{ dataset = \"persons\", column = \"person_id\" }}, {{ dataset = \"contributions\", column = \"person_id\" }}, {{ dataset = \"loans\", column = \"person_id\" }} ]\n"
    ))
}
