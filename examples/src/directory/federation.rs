//! The five departments' gateways on loopback, each with its own config, CSV data and
//! policy, sharing one audit chain on which three vote and two replicate as learners.
//! A department's gateway can be stopped and started again with an edited config, as a
//! data officer would after changing what the department publishes.

use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::net::TcpListener;

use sluice_gateway::error::{GatewayError, Result};
use sluice_gateway::identity::agency::{Addresses, AgencyKeys};
use sluice_gateway::{AgencyId, AnalystClient, GatewayConfig, RunningGateway};

use super::data::{self, DEPARTMENTS};
use crate::identities::{self, Identities};

/// How long a started federation may take to elect a leader and publish its catalogs.
const READY: Duration = Duration::from_secs(60);

/// The five departments' running gateways.
#[derive(Debug)]
pub struct Federation {
    pub dir: PathBuf,
    pub identities: Identities,
    /// In the order of [`DEPARTMENTS`]; `None` while a department is stopped.
    gateways: Vec<Option<RunningGateway>>,
    /// The gateways' and chain nodes' addresses, kept across restarts.
    addresses: Vec<(std::net::SocketAddr, std::net::SocketAddr)>,
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> GatewayError + '_ {
    move |e| GatewayError::Internal(format!("{}: {e}", path.display()))
}

fn index_of(agency: &str) -> Result<usize> {
    DEPARTMENTS
        .iter()
        .position(|d| d.id == agency)
        .ok_or_else(|| GatewayError::BadRequest(format!("no department `{agency}`")))
}

impl Federation {
    /// Writes the data, identities and configs under `dir` and starts every gateway;
    /// returns once every copy of the chain lists every department's datasets.
    pub async fn start(dir: &Path) -> Result<Self> {
        data::write(dir)?;
        let mut gateway_listeners = Vec::new();
        let mut chain_listeners = Vec::new();
        let mut addresses = Vec::new();
        for _ in DEPARTMENTS {
            let g = bind().await?;
            let c = bind().await?;
            addresses.push((local(&g)?, local(&c)?));
            gateway_listeners.push(g);
            chain_listeners.push(c);
        }
        let wanted: Vec<(&str, Addresses)> = DEPARTMENTS
            .iter()
            .zip(&addresses)
            .map(|(d, (g, c))| {
                (
                    d.id,
                    Addresses {
                        gateway: Some(g.to_string()),
                        chain: Some(c.to_string()),
                    },
                )
            })
            .collect();
        let identities = identities::create(dir, &wanted)?;
        let mut fed = Federation {
            dir: dir.to_path_buf(),
            identities,
            gateways: Vec::new(),
            addresses,
        };
        for (i, d) in DEPARTMENTS.iter().enumerate() {
            let path = fed.config_path(d.id);
            std::fs::write(&path, fed.config(i)?).map_err(io(&path))?;
        }
        for (i, (g, c)) in gateway_listeners
            .into_iter()
            .zip(chain_listeners)
            .enumerate()
        {
            let config = GatewayConfig::load(&fed.config_path(DEPARTMENTS[i].id))?;
            fed.gateways
                .push(Some(RunningGateway::start_on(&config, g, Some(c)).await?));
        }
        let all: Vec<String> = data::published()
            .iter()
            .map(data::Published::dataset)
            .collect();
        fed.ready(&all).await?;
        Ok(fed)
    }

    /// Waits until every running gateway's chain has a leader and lists `all`
    /// (`<agency>.<dataset>`).
    pub async fn ready(&self, all: &[String]) -> Result<()> {
        for g in self.gateways.iter().flatten() {
            if let Some(chain) = &g.gateway.chain {
                chain.wait_for_leader(READY).await?;
            }
        }
        for g in self.gateways.iter().flatten() {
            g.gateway.wait_for_datasets(all, READY).await?;
        }
        Ok(())
    }

    /// `agency`'s config file.
    pub fn config_path(&self, agency: &str) -> PathBuf {
        self.dir.join(format!("{agency}.toml"))
    }

    fn config(&self, i: usize) -> Result<String> {
        use base64::Engine as _;
        let d = &DEPARTMENTS[i];
        let (gateway, chain) = self.addresses[i];
        let mut toml = format!(
            "# {}\nagency = \"{}\"\nlisten = \"{gateway}\"\n",
            d.name, d.id
        );
        toml.push_str(&self.identities.config_section(d.id)?);
        toml.push_str(&format!(
            "\n[directory]\nschema_check_ms = 500\nexpiry_check_ms = 250\n\n[chain]\nnode_id = {}\nlisten = \"{chain}\"\ndata_dir = \"chain/{}\"\norigin = \"sluice/directory\"\n",
            i + 1,
            d.id
        ));
        for (j, m) in DEPARTMENTS.iter().enumerate() {
            let keys = AgencyKeys::load(
                &self.identities.get(m.id)?.keys_dir,
                &AgencyId::parse(m.id)?,
            )?;
            toml.push_str(&format!(
                "\n[[chain.members]]\nid = {}\nagency = \"{}\"\naddress = \"{}\"\npublic_key = \"{}\"\nrole = \"{}\"\n",
                j + 1,
                m.id,
                self.addresses[j].1,
                base64::engine::general_purpose::STANDARD.encode(keys.verification_key().as_bytes()),
                if m.voter { "voter" } else { "learner" }
            ));
        }
        for (j, peer) in DEPARTMENTS.iter().enumerate() {
            if j != i {
                toml.push_str(&format!(
                    "\n[[peers]]\nagency = \"{}\"\naddress = \"{}\"\n",
                    peer.id, self.addresses[j].0
                ));
            }
        }
        toml.push_str(&data::policy(&self.dir, d.id)?);
        for p in data::published().iter().filter(|p| p.agency == d.id) {
            toml.push_str(&data::dataset_toml(p));
        }
        Ok(toml)
    }

    /// `agency`'s running gateway.
    pub fn gateway(&self, agency: &str) -> Result<&RunningGateway> {
        self.gateways
            .get(index_of(agency)?)
            .and_then(Option::as_ref)
            .ok_or_else(|| GatewayError::BadRequest(format!("`{agency}`'s gateway is stopped")))
    }

    /// `agency`'s chain node.
    pub fn chain(&self, agency: &str) -> Result<&std::sync::Arc<sluice_chain::ChainNode>> {
        self.gateway(agency)?
            .gateway
            .chain
            .as_ref()
            .ok_or_else(|| GatewayError::Internal(format!("`{agency}` runs no chain node")))
    }

    /// `agency`'s copy of the chain, on disk.
    pub fn chain_dir(&self, agency: &str) -> PathBuf {
        self.dir.join("chain").join(agency)
    }

    /// A client of `agency`'s gateway logged in as its analyst, `<agency>/analyst`.
    pub async fn analyst(&self, agency: &str) -> Result<AnalystClient> {
        let id = self.identities.get(agency)?;
        self.logged_in(agency, &id.analyst.to_string(), &id.password)
            .await
    }

    /// A client of `agency`'s gateway logged in as its data officer, `<agency>/officer`.
    pub async fn officer(&self, agency: &str) -> Result<AnalystClient> {
        let id = self.identities.get(agency)?;
        self.logged_in(agency, &id.officer.to_string(), &id.officer_password)
            .await
    }

    async fn logged_in(&self, agency: &str, user: &str, password: &str) -> Result<AnalystClient> {
        let id = self.identities.get(agency)?;
        let mut client = AnalystClient::connect(
            &self.gateway(agency)?.addr.to_string(),
            &id.agency,
            &self.identities.ca_pem()?,
            Duration::from_secs(5),
        )
        .await?;
        client.login(user, password).await?;
        Ok(client)
    }

    /// Stops `agency`'s gateway and its chain node.
    pub async fn stop_department(&mut self, agency: &str) -> Result<()> {
        let i = index_of(agency)?;
        if let Some(g) = self.gateways.get_mut(i).and_then(Option::take) {
            g.stop().await?;
        }
        Ok(())
    }

    /// Starts `agency`'s gateway again, on its old addresses, from its config file as
    /// it is now (edit it first to change what the department publishes).
    pub async fn start_department(&mut self, agency: &str) -> Result<()> {
        let i = index_of(agency)?;
        let (g, c) = self.addresses[i];
        let config = GatewayConfig::load(&self.config_path(agency))?;
        let gateway = rebind(g).await?;
        let chain = rebind(c).await?;
        let running = RunningGateway::start_on(&config, gateway, Some(chain)).await?;
        if let Some(slot) = self.gateways.get_mut(i) {
            *slot = Some(running);
        }
        Ok(())
    }

    /// Stops every gateway.
    pub async fn stop(self) -> Result<()> {
        for g in self.gateways.into_iter().flatten() {
            g.stop().await?;
        }
        Ok(())
    }
}

async fn bind() -> Result<TcpListener> {
    TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| GatewayError::Transport(format!("binding a loopback port: {e}")))
}

fn local(l: &TcpListener) -> Result<std::net::SocketAddr> {
    l.local_addr()
        .map_err(|e| GatewayError::Transport(e.to_string()))
}

/// Binds `addr` again after its server stopped; the port may linger a moment.
async fn rebind(addr: std::net::SocketAddr) -> Result<TcpListener> {
    let mut last = None;
    for _ in 0..50 {
        match TcpListener::bind(addr).await {
            Ok(l) => return Ok(l),
            Err(e) => last = Some(e),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(GatewayError::Transport(format!(
        "binding {addr} again: {}",
        last.map(|e| e.to_string()).unwrap_or_default()
    )))
}
