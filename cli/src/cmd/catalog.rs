//! `sluice catalog`: the federated data catalog as a gateway sees it.

use anyhow::bail;

/// How `catalog list` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ListFormat {
    Table,
    Json,
}

#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// Every dataset of every agency the gateway can reach.
    List {
        /// `host:port` of your home gateway (your session comes from `SLUICE_TOKEN`).
        #[arg(long, value_name = "ADDR")]
        gateway: String,
        /// The federation CA certificate the gateway's certificate chains to.
        #[arg(long, value_name = "FILE", env = "SLUICE_CA")]
        ca: std::path::PathBuf,
        #[arg(long, value_enum, default_value_t = ListFormat::Table)]
        format: ListFormat,
        /// Seconds to wait for the gateway.
        #[arg(long, default_value_t = 5)]
        timeout: u64,
    },
}

pub async fn run(cmd: Command) -> anyhow::Result<()> {
    let Command::List {
        gateway,
        ca,
        format,
        timeout,
    } = cmd;
    let client = super::login::client(&gateway, &ca, timeout).await?;
    let listing = client.catalog(true).await?;
    match format {
        ListFormat::Json => {
            let items: Vec<_> = listing
                .agencies
                .iter()
                .flat_map(|c| c.datasets.iter())
                .map(|d| {
                    serde_json::json!({
                        "agency": d.agency.as_str(),
                        "dataset": d.name.as_str(),
                        "title": d.title,
                        "description": d.description,
                        "columns": d.schema.fields().iter().map(|f| serde_json::json!({
                            "name": f.name(), "type": f.data_type().to_string(), "nullable": f.is_nullable()
                        })).collect::<Vec<_>>(),
                    })
                })
                .collect();
            let unreachable: Vec<_> = listing
                .unreachable
                .iter()
                .map(|(a, m)| serde_json::json!({"agency": a, "error": m}))
                .collect();
            println!(
                "{}",
                serde_json::to_string_pretty(
                    &serde_json::json!({"datasets": items, "unreachable": unreachable})
                )?
            );
        }
        ListFormat::Table => {
            let mut table = comfy_table::Table::new();
            table.load_preset(comfy_table::presets::UTF8_FULL_CONDENSED);
            table.set_header(["dataset", "title", "columns"]);
            for c in &listing.agencies {
                for d in &c.datasets {
                    let cols = d
                        .schema
                        .fields()
                        .iter()
                        .map(|f| format!("{} {}", f.name(), f.data_type()))
                        .collect::<Vec<_>>()
                        .join(", ");
                    table.add_row([d.dataset_ref().to_string(), d.title.clone(), cols]);
                }
            }
            println!("{table}");
            for (agency, message) in &listing.unreachable {
                eprintln!("warning: agency {agency} is unreachable: {message}");
            }
        }
    }
    if !listing.unreachable.is_empty() {
        bail!(
            "{} agencies could not be reached",
            listing.unreachable.len()
        );
    }
    Ok(())
}
