//! Three demo gateways on loopback, each with its own config file and Parquet data, as
//! `sluice demo`, the benchmarks and the integration tests run them.

use std::path::PathBuf;

use tokio::net::TcpListener;

use super::data::{AGENCIES, DemoData};
use crate::config::GatewayConfig;
use crate::error::{GatewayError, Result};
use crate::server::RunningGateway;

/// The datasets every demo agency publishes: name, title, description.
pub const DATASETS: [(&str, &str, &str); 3] = [
    (
        "persons",
        "Registered persons",
        "Everyone registered with the housing-fund centre: id number, name, birth date, employer.",
    ),
    (
        "contributions",
        "Monthly contributions",
        "One row per person and month paid into the housing fund.",
    ),
    (
        "loans",
        "Housing loans",
        "Provident-fund loans granted: amount, term, status and rate.",
    ),
];

/// Three running demo gateways.
#[derive(Debug)]
pub struct Cluster {
    pub data: DemoData,
    pub gateways: Vec<RunningGateway>,
    pub configs: Vec<PathBuf>,
}

impl Cluster {
    /// Write a config for each agency beside the data and start its gateway on an
    /// ephemeral loopback port.
    pub async fn start(data: DemoData) -> Result<Self> {
        let mut listeners = Vec::new();
        for _ in AGENCIES {
            listeners.push(
                TcpListener::bind("127.0.0.1:0").await.map_err(|e| {
                    GatewayError::Transport(format!("binding a loopback port: {e}"))
                })?,
            );
        }
        let addrs = listeners
            .iter()
            .map(|l| {
                l.local_addr()
                    .map_err(|e| GatewayError::Transport(e.to_string()))
            })
            .collect::<Result<Vec<_>>>()?;

        let mut gateways = Vec::new();
        let mut configs = Vec::new();
        for ((i, agency), listener) in AGENCIES.iter().enumerate().zip(listeners) {
            let mut toml = format!(
                "# {} housing-fund centre ({})\nagency = \"{}\"\nlisten = \"{}\"\n",
                agency.city, agency.id, agency.id, addrs[i]
            );
            for (j, peer) in AGENCIES.iter().enumerate() {
                if j != i {
                    toml.push_str(&format!(
                        "\n[[peers]]\nagency = \"{}\"\naddress = \"{}\"\n",
                        peer.id, addrs[j]
                    ));
                }
            }
            for (name, title, description) in DATASETS {
                toml.push_str(&format!(
                    "\n[[datasets]]\nname = \"{name}\"\ntitle = \"{} — {title}\"\ndescription = \"{description}\"\nconnector = {{ kind = \"parquet\", path = \"{}/{name}.parquet\" }}\n",
                    agency.city, agency.id
                ));
            }
            let path = data.dir.join(format!("{}.toml", agency.id));
            std::fs::write(&path, toml)
                .map_err(|e| GatewayError::Internal(format!("writing {}: {e}", path.display())))?;
            let config = GatewayConfig::load(&path)?;
            gateways.push(RunningGateway::start(&config, listener).await?);
            configs.push(path);
        }
        Ok(Cluster {
            data,
            gateways,
            configs,
        })
    }

    /// The gateway of `agency`.
    pub fn gateway(&self, agency: &str) -> Option<&RunningGateway> {
        AGENCIES
            .iter()
            .position(|a| a.id == agency)
            .and_then(|i| self.gateways.get(i))
    }

    /// `host:port` of `agency`'s gateway.
    pub fn address(&self, agency: &str) -> Result<String> {
        self.gateway(agency)
            .map(|g| g.addr.to_string())
            .ok_or_else(|| GatewayError::BadRequest(format!("no demo agency `{agency}`")))
    }

    /// Stop every gateway.
    pub async fn stop(self) -> Result<()> {
        for g in self.gateways {
            g.stop().await?;
        }
        Ok(())
    }
}
