//! Three demo gateways on loopback, each with its own config file and Parquet data, as
//! `sluice demo`, the benchmarks and the integration tests run them. The three agencies
//! also run the audit chain, all three voting, with fresh keys and a fresh chain.

use std::path::PathBuf;

use tokio::net::TcpListener;

use sluice_gateway::error::{GatewayError, Result};
use sluice_gateway::identity::agency::{Addresses, AgencyKeys};
use sluice_gateway::identity::users::Session;
use sluice_gateway::{AgencyId, AnalystClient, GatewayConfig, Principal, RunningGateway};

use crate::identities::Identities;

use super::data::{AGENCIES, DemoData};

/// How long a started cluster may take to elect its chain leader.
const CHAIN_READY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

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
    /// The CA, keys, trust directory and analysts the gateways run with.
    pub identities: Identities,
}

impl Cluster {
    /// Write a config for each agency beside the data and start its gateway on an
    /// ephemeral loopback port, with `[policy] open = true`: every column is plain.
    pub async fn start(data: DemoData) -> Result<Self> {
        Self::start_with(data, false, &parquet_connector).await
    }

    /// As [`Self::start`], with the demo's disclosure policy at every agency.
    pub async fn start_with_policy(data: DemoData) -> Result<Self> {
        Self::start_with(data, true, &parquet_connector).await
    }

    /// As [`Self::start`], each dataset read through `connector(agency, dataset)`, the
    /// inline TOML table of its `connector` (for example a database the data was loaded
    /// into) rather than its Parquet file.
    pub async fn start_over(
        data: DemoData,
        connector: &(dyn Fn(&str, &str) -> String + Sync),
    ) -> Result<Self> {
        Self::start_with(data, false, connector).await
    }

    /// As [`Self::start_over`], with the demo's disclosure policy at every agency.
    pub async fn start_over_with_policy(
        data: DemoData,
        connector: &(dyn Fn(&str, &str) -> String + Sync),
    ) -> Result<Self> {
        Self::start_with(data, true, connector).await
    }

    async fn start_with(
        data: DemoData,
        policy: bool,
        connector: &(dyn Fn(&str, &str) -> String + Sync),
    ) -> Result<Self> {
        // Every port stays bound from the moment it is chosen until its server takes it:
        // a port chosen and released can be reused by any socket in between.
        let (listeners, addrs) = bind_loopback(AGENCIES.len()).await?;
        let (chain_listeners, chain_sockets) = bind_loopback(AGENCIES.len()).await?;
        let chain_addrs: Vec<String> = chain_sockets.iter().map(|a| a.to_string()).collect();

        let (identities, chain_members) = identities_and_chain(&data, &addrs, &chain_addrs)?;
        let mut gateways = Vec::new();
        let mut configs = Vec::new();
        for ((i, agency), (listener, chain_listener)) in AGENCIES
            .iter()
            .enumerate()
            .zip(listeners.into_iter().zip(chain_listeners))
        {
            let mut toml = format!(
                "# {} housing-fund centre ({})\nagency = \"{}\"\nlisten = \"{}\"\n",
                agency.city, agency.id, agency.id, addrs[i]
            );
            toml.push_str(&identities.config_section(agency.id)?);
            toml.push_str(&format!(
                "\n[chain]\nnode_id = {}\nlisten = \"{}\"\ndata_dir = \"chain/{}\"\norigin = \"sluice/demo\"\n{chain_members}",
                i + 1,
                chain_addrs[i],
                agency.id,
            ));
            for (j, peer) in AGENCIES.iter().enumerate() {
                if j != i {
                    toml.push_str(&format!(
                        "\n[[peers]]\nagency = \"{}\"\naddress = \"{}\"\n",
                        peer.id, addrs[j]
                    ));
                }
            }
            if policy {
                toml.push_str(&super::policy::write(&data.dir.join("policy"), agency.id)?);
            } else {
                toml.push_str("\n[policy]\nopen = true\n");
            }
            for (name, title, description) in DATASETS {
                toml.push_str(&format!(
                    "\n[[datasets]]\nname = \"{name}\"\ntitle = \"{} — {title}\"\ndescription = \"{description}\"\nconnector = {}\n",
                    agency.city,
                    connector(agency.id, name)
                ));
            }
            let path = data.dir.join(format!("{}.toml", agency.id));
            std::fs::write(&path, toml)
                .map_err(|e| GatewayError::Internal(format!("writing {}: {e}", path.display())))?;
            let config = GatewayConfig::load(&path)?;
            gateways.push(RunningGateway::start_on(&config, listener, Some(chain_listener)).await?);
            configs.push(path);
        }
        // Owners release no data before their access entry commits, so the cluster is
        // ready only once every chain node knows a leader.
        for g in &gateways {
            if let Some(chain) = &g.gateway.chain {
                chain.wait_for_leader(CHAIN_READY_TIMEOUT).await?;
            }
        }
        // Homes plan from the chain's directory: the cluster is ready once every copy of
        // it lists every agency's datasets.
        let all: Vec<String> = AGENCIES
            .iter()
            .flat_map(|a| {
                DATASETS
                    .iter()
                    .map(move |(name, _, _)| format!("{}.{name}", a.id))
            })
            .collect();
        for g in &gateways {
            g.gateway
                .wait_for_datasets(&all, CHAIN_READY_TIMEOUT)
                .await?;
        }
        Ok(Cluster {
            data,
            gateways,
            configs,
            identities,
        })
    }

    /// The trust directory: every agency's bundle and the `<agency>.pub` files that
    /// check the demo chain.
    pub fn trust_dir(&self) -> PathBuf {
        self.identities.trust_dir.clone()
    }

    /// A client of `agency`'s gateway, logged in as its analyst, `<agency>/analyst`.
    pub async fn analyst(&self, agency: &str) -> Result<AnalystClient> {
        let id = self.identities.get(agency)?;
        self.logged_in(agency, &id.analyst, &id.password).await
    }

    /// A client of `agency`'s gateway, logged in as its chain officer, `<agency>/officer`.
    pub async fn officer(&self, agency: &str) -> Result<AnalystClient> {
        let id = self.identities.get(agency)?;
        self.logged_in(agency, &id.officer, &id.officer_password)
            .await
    }

    async fn logged_in(
        &self,
        agency: &str,
        user: &Principal,
        password: &str,
    ) -> Result<AnalystClient> {
        let id = self.identities.get(agency)?;
        let mut client = AnalystClient::connect(
            &self.address(agency)?,
            &id.agency,
            &self.identities.ca_pem()?,
            std::time::Duration::from_secs(5),
        )
        .await?;
        client.login(&user.to_string(), password).await?;
        Ok(client)
    }

    /// A session of `agency`'s analyst at its gateway, for calling the gateway's home
    /// planner or owner in process.
    pub fn session(&self, agency: &str) -> Result<Session> {
        let id = self.identities.get(agency)?;
        let g = self
            .gateway(agency)
            .ok_or_else(|| GatewayError::BadRequest(format!("no demo agency `{agency}`")))?;
        Ok(g.gateway
            .sessions
            .login(&id.analyst.to_string(), &id.password)?
            .1)
    }

    /// `agency`'s running chain node.
    pub fn chain(&self, agency: &str) -> Option<&std::sync::Arc<sluice_chain::ChainNode>> {
        self.gateway(agency).and_then(|g| g.gateway.chain.as_ref())
    }

    /// `agency`'s copy of the chain.
    pub fn chain_dir(&self, agency: &str) -> PathBuf {
        self.data.dir.join("chain").join(agency)
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

/// The demo's own connector: `agency`'s Parquet file of `dataset`, beside the configs.
fn parquet_connector(agency: &str, dataset: &str) -> String {
    format!("{{ kind = \"parquet\", path = \"{agency}/{dataset}.parquet\" }}")
}

/// `n` listeners on ephemeral loopback ports, and their addresses.
async fn bind_loopback(n: usize) -> Result<(Vec<TcpListener>, Vec<std::net::SocketAddr>)> {
    let mut listeners = Vec::new();
    let mut addrs = Vec::new();
    for _ in 0..n {
        let l = TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| GatewayError::Transport(format!("binding a loopback port: {e}")))?;
        addrs.push(
            l.local_addr()
                .map_err(|e| GatewayError::Transport(e.to_string()))?,
        );
        listeners.push(l);
    }
    Ok((listeners, addrs))
}

/// Fresh identities and a fresh, empty chain for the three agencies, whose gateways
/// listen on `gateways` and chain nodes on `chain_addrs`; returns the identities and
/// the `[[chain.members]]` tables every config shares.
fn identities_and_chain(
    data: &DemoData,
    gateways: &[std::net::SocketAddr],
    chain_addrs: &[String],
) -> Result<(Identities, String)> {
    use base64::Engine as _;
    let io = |what: String| move |e: std::io::Error| GatewayError::Internal(format!("{what}: {e}"));
    let chain = data.dir.join("chain");
    if chain.exists() {
        std::fs::remove_dir_all(&chain).map_err(io(format!("clearing {}", chain.display())))?;
    }
    let wanted: Vec<(&str, Addresses)> = AGENCIES
        .iter()
        .enumerate()
        .map(|(i, a)| {
            (
                a.id,
                Addresses {
                    gateway: Some(gateways[i].to_string()),
                    chain: Some(chain_addrs[i].clone()),
                },
            )
        })
        .collect();
    let identities = crate::identities::create(&data.dir, &wanted)?;
    let mut toml = String::new();
    for (i, agency) in AGENCIES.iter().enumerate() {
        let keys = AgencyKeys::load(
            &identities.get(agency.id)?.keys_dir,
            &AgencyId::parse(agency.id)?,
        )?;
        toml.push_str(&format!(
            "\n[[chain.members]]\nid = {}\nagency = \"{}\"\naddress = \"{}\"\npublic_key = \"{}\"\nrole = \"voter\"\n",
            i + 1,
            agency.id,
            chain_addrs[i],
            base64::engine::general_purpose::STANDARD.encode(keys.verification_key().as_bytes())
        ));
    }
    Ok((identities, toml))
}
