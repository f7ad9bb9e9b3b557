//! `sluice access`: the online sharing process. An analyst asks for a conditional
//! dataset; the owning agency's data officer lists what is pending and approves
//! (perhaps for fewer columns or at narrower levels) or denies. Every step is an entry
//! on the audit chain, and an approval is a grant the owner enforces until it ends.

use anyhow::{Context as _, bail};
use sluice_chain::SignedEntry;
use sluice_chain::entry::Body;
use sluice_proto::v1;

use super::login::HomeGateway;

#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// Ask for access to a conditional dataset.
    Request {
        #[command(flatten)]
        gateway: HomeGateway,
        /// `<agency>.<dataset>`.
        dataset: String,
        /// The columns and the level asked for each: `amount:aggregate,person_id:join`
        /// (a column without a level asks for `plain`).
        #[arg(long, value_delimiter = ',', required = true)]
        columns: Vec<String>,
        /// The one purpose the access is for.
        #[arg(long)]
        purpose: String,
        /// When the access would end: a date (`2027-03-31`, through that day, UTC), a
        /// time (`2027-03-31T12:00:00Z`), or a span from now (`+90d`, `+12h`, `+30m`,
        /// `+45s`).
        #[arg(long)]
        until: String,
        /// Why the access is needed.
        #[arg(long)]
        reason: String,
    },
    /// Requests to your agency's datasets that wait for a decision (data officers).
    Pending {
        #[command(flatten)]
        gateway: HomeGateway,
    },
    /// Your own requests and what became of them; with `--to-my-agency`, every request
    /// to your agency's datasets (data officers).
    List {
        #[command(flatten)]
        gateway: HomeGateway,
        #[arg(long)]
        to_my_agency: bool,
    },
    /// Approve a request to your agency's datasets (data officers).
    Approve {
        #[command(flatten)]
        gateway: HomeGateway,
        /// The request's id.
        request: String,
        /// Grant only these columns, or at narrower levels (`amount:aggregate:10`);
        /// default: as asked.
        #[arg(long, value_delimiter = ',')]
        columns: Vec<String>,
        /// End the grant earlier than asked (same forms as `request --until`).
        #[arg(long)]
        until: Option<String>,
    },
    /// Deny a request to your agency's datasets (data officers).
    Deny {
        #[command(flatten)]
        gateway: HomeGateway,
        /// The request's id.
        request: String,
        /// Why; the requester sees it.
        #[arg(long)]
        reason: String,
    },
}

/// `column[:level]` pairs; the level may itself hold colons (`masked:last:4`).
fn columns(specs: &[String]) -> anyhow::Result<Vec<v1::ColumnLevelSpec>> {
    specs
        .iter()
        .map(|s| {
            let s = s.trim();
            if s.is_empty() {
                bail!("an empty column in --columns");
            }
            let (column, level) = s.split_once(':').unwrap_or((s, "plain"));
            Ok(v1::ColumnLevelSpec {
                column: column.to_string(),
                level: level.to_string(),
            })
        })
        .collect()
}

/// A point in time as `--until` takes it, in unix ms.
pub fn until_ms(text: &str, now_ms: u64) -> anyhow::Result<u64> {
    let text = text.trim();
    if let Some(span) = text.strip_prefix('+') {
        let (n, unit) = span.split_at(span.len().saturating_sub(1));
        let n: u64 = n
            .parse()
            .with_context(|| format!("`{text}`: expected a number before the unit, e.g. `+90d`"))?;
        let ms = match unit {
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            _ => bail!("`{text}`: the unit is one of s, m, h, d"),
        };
        return Ok(now_ms.saturating_add(n.saturating_mul(ms)));
    }
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(text) {
        return u64::try_from(t.timestamp_millis()).context("a time before 1970");
    }
    let date = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").with_context(|| {
        format!("`{text}` is neither a date (2027-03-31), a time (2027-03-31T12:00:00Z) nor a span (+90d)")
    })?;
    let end = date
        .succ_opt()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .context("a date past the calendar")?;
    u64::try_from(end.and_utc().timestamp_millis()).context("a date before 1970")
}

fn now_ms() -> u64 {
    sluice_gateway::identity::envelope::now_ms()
}

fn body(record: Option<&v1::ChainRecord>) -> anyhow::Result<Option<Body>> {
    record
        .map(|r| {
            SignedEntry::from_bytes(&r.entry)
                .map(|s| s.entry().body.clone())
                .with_context(|| format!("the gateway sent a malformed entry {}", r.index))
        })
        .transpose()
}

fn print_cases(cases: &[v1::AccessCaseInfo]) -> anyhow::Result<()> {
    let mut t = comfy_table::Table::new();
    t.load_preset(comfy_table::presets::UTF8_FULL_CONDENSED);
    t.set_header([
        "request", "status", "who", "dataset", "columns", "purpose", "until", "why",
    ]);
    for c in cases {
        let Some(Body::AccessRequest(r)) = body(c.request.as_ref())? else {
            bail!("request `{}` came without its entry", c.request_id);
        };
        let decision = body(c.decision.as_ref())?;
        let (granted, until, why) = match &decision {
            Some(Body::AccessApprove(a)) => (
                a.columns
                    .iter()
                    .map(|c| format!("{}:{}", c.column, c.level))
                    .collect::<Vec<_>>()
                    .join(", "),
                crate::output::utc(a.valid_until_ms),
                format!("approved by {}", a.approver),
            ),
            Some(Body::AccessDeny(d)) => (
                String::new(),
                String::new(),
                format!("denied by {}: {}", d.approver, d.reason),
            ),
            _ => (
                r.columns
                    .iter()
                    .map(|c| format!("{}:{}", c.column, c.level))
                    .collect::<Vec<_>>()
                    .join(", "),
                crate::output::utc(r.until_ms),
                r.justification.clone(),
            ),
        };
        t.add_row([
            c.request_id.clone(),
            c.status.clone(),
            r.principal.clone(),
            r.dataset.clone(),
            granted,
            r.purpose.clone(),
            until,
            why,
        ]);
    }
    println!("{t}");
    Ok(())
}

pub async fn run(cmd: Command) -> anyhow::Result<()> {
    match cmd {
        Command::Request {
            gateway,
            dataset,
            columns: specs,
            purpose,
            until,
            reason,
        } => {
            let ask = v1::AccessAsk {
                dataset: dataset.clone(),
                columns: columns(&specs)?,
                purpose,
                until_ms: until_ms(&until, now_ms())?,
                reason,
            };
            let client = gateway.client().await?;
            let receipt = client.request_access(ask).await?;
            println!(
                "requested {dataset} as `{}` (chain entry {}); the owner's data officer decides",
                receipt.request_id, receipt.index
            );
            Ok(())
        }
        Command::Pending { gateway } => {
            let client = gateway.client().await?;
            let resp = client
                .list_access(v1::AccessListRequest {
                    to_my_agency: true,
                    pending_only: true,
                })
                .await?;
            print_cases(&resp.cases)
        }
        Command::List {
            gateway,
            to_my_agency,
        } => {
            let client = gateway.client().await?;
            let resp = client
                .list_access(v1::AccessListRequest {
                    to_my_agency,
                    pending_only: false,
                })
                .await?;
            print_cases(&resp.cases)
        }
        Command::Approve {
            gateway,
            request,
            columns: specs,
            until,
        } => {
            let until_ms = match until {
                Some(u) => until_ms(&u, now_ms())?,
                None => 0,
            };
            let decide = v1::AccessDecide {
                request_id: request.clone(),
                approve: true,
                columns: columns(&specs)?,
                until_ms,
                reason: String::new(),
            };
            let client = gateway.client().await?;
            let receipt = client.decide_access(decide).await?;
            println!("approved `{request}` (chain entry {})", receipt.index);
            Ok(())
        }
        Command::Deny {
            gateway,
            request,
            reason,
        } => {
            let client = gateway.client().await?;
            let receipt = client
                .decide_access(v1::AccessDecide {
                    request_id: request.clone(),
                    approve: false,
                    columns: Vec::new(),
                    until_ms: 0,
                    reason,
                })
                .await?;
            println!("denied `{request}` (chain entry {})", receipt.index);
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn until_takes_dates_times_and_spans() {
        let now = 1_000_000;
        assert_eq!(until_ms("+45s", now).unwrap(), now + 45_000);
        assert_eq!(until_ms("+2d", now).unwrap(), now + 2 * 86_400_000);
        // A date runs through its day.
        assert_eq!(until_ms("1970-01-01", now).unwrap(), 86_400_000);
        assert_eq!(until_ms("1970-01-01T00:00:10Z", now).unwrap(), 10_000);
        for bad in ["+5y", "+d", "tomorrow", "2027-13-01"] {
            assert!(until_ms(bad, now).is_err(), "{bad}");
        }
    }

    #[test]
    fn columns_default_to_plain_and_keep_mask_arguments() {
        let c = columns(&[
            "amount:aggregate:10".into(),
            "name".into(),
            "id:masked:last:4".into(),
        ])
        .unwrap();
        assert_eq!(
            c.iter()
                .map(|c| (c.column.as_str(), c.level.as_str()))
                .collect::<Vec<_>>(),
            [
                ("amount", "aggregate:10"),
                ("name", "plain"),
                ("id", "masked:last:4")
            ]
        );
        assert!(columns(&[" ".into()]).is_err());
    }
}
