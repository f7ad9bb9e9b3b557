//! `sluice catalog`: the federated data catalog, as your home gateway's copy of the audit
//! chain holds it. Listing, showing, searching and a dataset's history need no other
//! agency's gateway; publishing appends your agency's records.

use anyhow::Context as _;
use sluice_chain::SignedEntry;
use sluice_chain::entry::{Body, CatalogRecord};
use sluice_gateway::directory::read::schema_diff;
use sluice_proto::v1::{self, directory_request::Ask};

use super::login::HomeGateway;

/// How catalog commands print.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ListFormat {
    Table,
    Json,
}

/// What the catalog can be exported as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportFormat {
    /// DCAT-AP 3 JSON-LD, for data portals and dataspace connectors.
    Dcat,
}

/// Which datasets a listing or search keeps.
#[derive(clap::Args, Debug, Default)]
pub struct Filters {
    /// Only this agency's datasets.
    #[arg(long)]
    agency: Option<String>,
    /// Only datasets with a column of this classification (public, internal, sensitive,
    /// personal).
    #[arg(long)]
    classification: Option<String>,
    /// Only datasets shared this way (unconditional, conditional, none).
    #[arg(long)]
    sharing: Option<String>,
    /// Only datasets with this keyword.
    #[arg(long)]
    keyword: Option<String>,
}

impl Filters {
    fn request(&self, ask: Ask) -> v1::DirectoryRequest {
        v1::DirectoryRequest {
            ask: ask as i32,
            agency: self.agency.clone().unwrap_or_default(),
            classification: self.classification.clone().unwrap_or_default(),
            sharing: self.sharing.clone().unwrap_or_default(),
            keyword: self.keyword.clone().unwrap_or_default(),
            ..Default::default()
        }
    }
}

#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// Every dataset in the catalog that passes the filters.
    List {
        #[command(flatten)]
        gateway: HomeGateway,
        #[command(flatten)]
        filters: Filters,
        #[arg(long, value_enum, default_value_t = ListFormat::Table)]
        format: ListFormat,
    },
    /// One dataset's current record: its schema with each column's classification, its
    /// sharing class, owner, legal basis and contact.
    Show {
        #[command(flatten)]
        gateway: HomeGateway,
        /// `<agency>.<dataset>`.
        dataset: String,
        #[arg(long, value_enum, default_value_t = ListFormat::Table)]
        format: ListFormat,
    },
    /// Datasets ranked by how well their titles, descriptions, keywords and column names
    /// match the words.
    Search {
        #[command(flatten)]
        gateway: HomeGateway,
        /// The words to look for.
        words: String,
        #[command(flatten)]
        filters: Filters,
        /// At most this many results.
        #[arg(long, default_value_t = 20)]
        limit: u32,
        #[arg(long, value_enum, default_value_t = ListFormat::Table)]
        format: ListFormat,
    },
    /// Every version of a dataset's record: when, by whom, and how its schema changed.
    History {
        #[command(flatten)]
        gateway: HomeGateway,
        /// `<agency>.<dataset>`.
        dataset: String,
        #[arg(long, value_enum, default_value_t = ListFormat::Table)]
        format: ListFormat,
    },
    /// Append the records of your agency's datasets that are new or changed, and withdraw
    /// those your gateway no longer serves (needs the role `data_officer`).
    Publish {
        #[command(flatten)]
        gateway: HomeGateway,
    },
    /// Write the catalog in a format for data portals.
    Export {
        #[command(flatten)]
        gateway: HomeGateway,
        #[command(flatten)]
        filters: Filters,
        #[arg(long, value_enum)]
        format: ExportFormat,
        /// Write here instead of standard output.
        #[arg(long, value_name = "FILE")]
        out: Option<std::path::PathBuf>,
    },
}

/// A catalog entry as the gateway sent it: its chain index, author, time and body.
struct Record {
    index: u64,
    author: String,
    time_ms: u64,
    body: Body,
}

fn decode(records: &[v1::ChainRecord]) -> anyhow::Result<Vec<Record>> {
    records
        .iter()
        .map(|r| {
            let signed = SignedEntry::from_bytes(&r.entry)
                .with_context(|| format!("the gateway sent a malformed entry {}", r.index))?;
            let e = signed.entry();
            Ok(Record {
                index: r.index,
                author: e.author.clone(),
                time_ms: e.time_ms,
                body: e.body.clone(),
            })
        })
        .collect()
}

fn current(records: Vec<Record>) -> Vec<(Record, CatalogRecord)> {
    records
        .into_iter()
        .filter_map(|r| match &r.body {
            Body::CatalogPublish(c) | Body::CatalogChange(c) => {
                let c = c.clone();
                Some((r, c))
            }
            _ => None,
        })
        .collect()
}

fn table() -> comfy_table::Table {
    let mut t = comfy_table::Table::new();
    t.load_preset(comfy_table::presets::UTF8_FULL_CONDENSED);
    t
}

fn print_list(
    records: &[(Record, CatalogRecord)],
    scores: &[f64],
    format: ListFormat,
) -> anyhow::Result<()> {
    match format {
        ListFormat::Json => {
            let items: Vec<_> = records
                .iter()
                .enumerate()
                .map(|(i, (r, c))| {
                    let mut v = sluice_chain::render::record_json(c);
                    v["entry"] = r.index.into();
                    if let Some(s) = scores.get(i) {
                        v["score"] = (*s).into();
                    }
                    v
                })
                .collect();
            println!("{}", serde_json::to_string_pretty(&items)?);
        }
        ListFormat::Table => {
            let mut t = table();
            let mut header = vec!["dataset", "version", "title", "sharing", "department"];
            if !scores.is_empty() {
                header.insert(0, "score");
            }
            t.set_header(header);
            for (i, (_, c)) in records.iter().enumerate() {
                let mut row = vec![
                    c.dataset.clone(),
                    c.version.to_string(),
                    c.title.clone(),
                    c.sharing.as_str().to_string(),
                    c.department.clone(),
                ];
                if let Some(s) = scores.get(i) {
                    row.insert(0, format!("{s:.3}"));
                }
                t.add_row(row);
            }
            println!("{t}");
        }
    }
    Ok(())
}

fn print_show(r: &Record, c: &CatalogRecord, format: ListFormat) -> anyhow::Result<()> {
    if format == ListFormat::Json {
        let mut v = sluice_chain::render::record_json(c);
        v["entry"] = r.index.into();
        v["published_by"] = r.author.clone().into();
        v["time_ms"] = r.time_ms.into();
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    println!(
        "{} (version {}, chain entry {})",
        c.dataset, c.version, r.index
    );
    println!("  title:        {}", c.title);
    println!("  description:  {}", c.description);
    println!("  keywords:     {}", c.keywords.join(", "));
    println!("  department:   {}", c.department);
    println!("  legal basis:  {}", c.legal_basis);
    println!("  sharing:      {}", c.sharing.as_str());
    println!("  updated:      {} ({})", c.last_update, c.update_frequency);
    if let Some(n) = c.row_count {
        println!("  rows:         {n}");
    }
    println!("  contact:      {}", c.contact);
    println!(
        "  published:    {} by {}",
        crate::output::utc(r.time_ms),
        r.author
    );
    let mut t = table();
    t.set_header(["column", "type", "nullable", "classification"]);
    for col in &c.columns {
        t.add_row([
            col.name.clone(),
            col.data_type.clone(),
            col.nullable.to_string(),
            col.classification.as_str().to_string(),
        ]);
    }
    println!("{t}");
    Ok(())
}

fn print_history(records: &[Record], format: ListFormat) -> anyhow::Result<()> {
    let mut previous: Option<&CatalogRecord> = None;
    let mut rows = Vec::new();
    for r in records {
        let (what, version, changes) = match &r.body {
            Body::CatalogPublish(c) | Body::CatalogChange(c) => {
                let what = if matches!(r.body, Body::CatalogPublish(_)) {
                    "publish"
                } else {
                    "change"
                };
                let changes = match previous {
                    Some(p) => schema_diff(&p.columns, &c.columns),
                    None => c
                        .columns
                        .iter()
                        .map(|col| format!("+ {} {}", col.name, col.data_type))
                        .collect(),
                };
                previous = Some(c);
                (what, c.version, changes)
            }
            Body::CatalogWithdraw(w) => ("withdraw", w.version, vec![w.reason.clone()]),
            _ => continue,
        };
        rows.push((r, what, version, changes));
    }
    match format {
        ListFormat::Json => {
            let items: Vec<_> = rows
                .iter()
                .map(|(r, what, version, changes)| {
                    serde_json::json!({
                        "entry": r.index, "action": what, "version": version,
                        "author": r.author, "time_ms": r.time_ms, "changes": changes,
                    })
                })
                .collect();
            println!("{}", serde_json::to_string_pretty(&items)?);
        }
        ListFormat::Table => {
            let mut t = table();
            t.set_header(["entry", "time", "author", "action", "version", "schema"]);
            for (r, what, version, changes) in rows {
                t.add_row([
                    r.index.to_string(),
                    crate::output::utc(r.time_ms),
                    r.author.clone(),
                    what.to_string(),
                    version.to_string(),
                    changes.join("\n"),
                ]);
            }
            println!("{t}");
        }
    }
    Ok(())
}

pub async fn run(cmd: Command) -> anyhow::Result<()> {
    match cmd {
        Command::List {
            gateway,
            filters,
            format,
        } => {
            let client = gateway.client().await?;
            let resp = client.directory(filters.request(Ask::List)).await?;
            print_list(&current(decode(&resp.records)?), &[], format)
        }
        Command::Show {
            gateway,
            dataset,
            format,
        } => {
            let client = gateway.client().await?;
            let resp = client
                .directory(v1::DirectoryRequest {
                    ask: Ask::Show as i32,
                    dataset,
                    ..Default::default()
                })
                .await?;
            for (r, c) in current(decode(&resp.records)?) {
                print_show(&r, &c, format)?;
            }
            Ok(())
        }
        Command::Search {
            gateway,
            words,
            filters,
            limit,
            format,
        } => {
            let client = gateway.client().await?;
            let mut ask = filters.request(Ask::Search);
            ask.words = words;
            ask.limit = limit;
            let resp = client.directory(ask).await?;
            print_list(&current(decode(&resp.records)?), &resp.scores, format)
        }
        Command::History {
            gateway,
            dataset,
            format,
        } => {
            let client = gateway.client().await?;
            let resp = client
                .directory(v1::DirectoryRequest {
                    ask: Ask::History as i32,
                    dataset,
                    ..Default::default()
                })
                .await?;
            print_history(&decode(&resp.records)?, format)
        }
        Command::Publish { gateway } => {
            let client = gateway.client().await?;
            let resp = client.publish_catalog().await?;
            for (what, list) in [
                ("published", &resp.published),
                ("changed", &resp.changed),
                ("withdrawn", &resp.withdrawn),
                ("unchanged", &resp.unchanged),
            ] {
                for d in list {
                    println!("{what}: {d}");
                }
            }
            Ok(())
        }
        Command::Export {
            gateway,
            filters,
            format: ExportFormat::Dcat,
            out,
        } => {
            let client = gateway.client().await?;
            let resp = client.directory(filters.request(Ask::List)).await?;
            let records: Vec<(u64, CatalogRecord)> = current(decode(&resp.records)?)
                .into_iter()
                .map(|(r, c)| (r.time_ms, c))
                .collect();
            let doc = sluice_gateway::directory::dcat::catalog(&records);
            let text = serde_json::to_string_pretty(&doc)?;
            match out {
                Some(path) => std::fs::write(&path, text)
                    .with_context(|| format!("writing {}", path.display()))?,
                None => println!("{text}"),
            }
            Ok(())
        }
    }
}
