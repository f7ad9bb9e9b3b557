//! `sluice bench policy`: the planning time the disclosure policy adds at an owner. The
//! sub-queries sh_hf receives in the demo are planned (parse, plan, optimize, physical
//! plan) with and without the policy's analysis and rewrite in between.

use std::path::Path;
use std::time::{Duration, Instant};

use sluice_gateway::config::{GatewayConfig, PolicyChoice};
use sluice_gateway::error::Result;
use sluice_gateway::owner::audit::Audit;
use sluice_gateway::{Owner, Principal, Purpose, RequestContext};

use crate::provident_fund::{self, Cluster};

/// One query's planning time without and with the policy.
#[derive(Debug)]
pub struct PolicyTiming {
    pub sql: String,
    pub without: Duration,
    pub with: Duration,
}

/// The sub-queries the demo sends sh_hf.
pub fn queries() -> Vec<String> {
    let id = provident_fund::mover_id_number();
    vec![
        format!(
            "SELECT 'sh_hf' AS city, c.month, c.amount FROM sh_hf.persons p JOIN sh_hf.contributions c ON c.person_id = p.person_id WHERE p.id_number = '{id}'"
        ),
        "SELECT COUNT(*) AS __p0, SUM(amount) AS __p1, COUNT(amount) AS __p2 FROM sh_hf.contributions".into(),
        "SELECT s.id_number, l.status FROM sh_hf.loans l JOIN sh_hf.persons s ON l.person_id = s.person_id".into(),
        format!("SELECT name, birth_date FROM sh_hf.persons WHERE id_number = '{id}'"),
        "SELECT loan_id, status FROM sh_hf.loans ORDER BY loan_id LIMIT 10".into(),
    ]
}

/// Times planning each of [`queries`] `iterations` times at sh_hf, with the demo policy
/// and without one. Returns the mean per query.
pub async fn run(dir: &Path, iterations: u32) -> Result<Vec<PolicyTiming>> {
    let data = provident_fund::generate(dir, 0.01)?;
    // Writes the configs and policy files; the gateways themselves are not needed.
    let cluster = Cluster::start_with_policy(data).await?;
    let config_path = cluster.configs[1].clone();
    cluster.stop().await?;
    let with_policy = GatewayConfig::load(&config_path)?;
    let mut without_policy = with_policy.clone();
    without_policy.policy = PolicyChoice::Open;
    let judged_owner = Owner::open(&with_policy, Audit::unaudited(), None).await?;
    let plain_owner = Owner::open(&without_policy, Audit::unaudited(), None).await?;
    let ctx = RequestContext::new(
        Principal::parse("bj_hf/analyst")?,
        Purpose::parse("provident_fund_transfer")?,
    );
    let mut out = Vec::new();
    for sql in queries() {
        let (mut without, mut with) = (Duration::ZERO, Duration::ZERO);
        for i in 0..iterations + 5 {
            let t = Instant::now();
            plain_owner.describe(ctx.clone(), &sql, false).await?;
            let plain = t.elapsed();

            let t = Instant::now();
            judged_owner.describe(ctx.clone(), &sql, true).await?;
            let policed = t.elapsed();
            // The first runs warm caches up.
            if i >= 5 {
                without += plain;
                with += policed;
            }
        }
        out.push(PolicyTiming {
            sql,
            without: without / iterations,
            with: with / iterations,
        });
    }
    Ok(out)
}
