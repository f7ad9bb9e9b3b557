//! A whole gateway: its identity, chain node, owner and home planner, opened from one
//! config and served over gRPC with TLS. A gateway without an `[identity]` or a
//! `[chain]` section refuses to open: one that cannot prove who it is, check who calls
//! it, or record its accesses must not serve.

use std::net::SocketAddr;
use std::sync::Arc;

use sluice_proto::GatewayServer;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tonic::transport::server::TcpIncoming;

use crate::config::{ChainChoice, GatewayConfig};
use crate::directory::publish::Publisher;
use crate::error::{GatewayError, Result};
use crate::export::Exporter;
use crate::grpc::service::GatewayService;
use crate::home::Home;
use crate::identity::agency::AgencyKeys;
use crate::identity::bundle::TrustStore;
use crate::identity::envelope::Verifier;
use crate::identity::tls::TlsSettings;
use crate::identity::users::Sessions;
use crate::ipc::MAX_MESSAGE_BYTES;
use crate::owner::Owner;
use crate::owner::audit::Audit;
use crate::peer::local::LocalClient;
use crate::peer::remote::{PeerClient, PeerTimeouts};
use crate::peer::{AgencyClient, WireStats};

/// A gateway: the owner of this agency's datasets and the home planner for its analysts.
#[derive(Debug, Clone)]
pub struct Gateway {
    pub owner: Arc<Owner>,
    pub home: Arc<Home>,
    /// This gateway's audit chain node, unless it runs unaudited.
    pub chain: Option<Arc<sluice_chain::ChainNode>>,
    /// Its analysts' logins.
    pub sessions: Arc<Sessions>,
    /// Its agency's secrets.
    pub keys: Arc<AgencyKeys>,
    /// Its analysts' sealed exports.
    pub exporter: Arc<Exporter>,
    tls: TlsSettings,
    /// Its background work: publishing, the drift watch, grant expiry.
    tasks: Arc<Tasks>,
    /// Publishes its agency's catalog on the chain, unless it runs unaudited.
    publisher: Option<Arc<Publisher>>,
}

/// How long a gateway keeps trying to publish its catalog at start.
const PUBLISH_AT_START: std::time::Duration = std::time::Duration::from_secs(300);

/// A gateway's background tasks, stopped with it.
#[derive(Debug, Default)]
struct Tasks {
    running: std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

impl Tasks {
    fn spawn(&self, task: impl std::future::Future<Output = ()> + Send + 'static) {
        let handle = tokio::spawn(task);
        self.running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(handle);
    }

    fn stop(&self) {
        for t in self
            .running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .drain(..)
        {
            t.abort();
        }
    }
}

impl Drop for Tasks {
    fn drop(&mut self) {
        self.stop();
    }
}

impl Gateway {
    /// Start the chain node, open the datasets and set up clients for the peers. Does
    /// not listen yet.
    pub async fn open(config: &GatewayConfig) -> Result<Self> {
        Self::open_on(config, None).await
    }

    /// As [`Self::open`], with the chain node serving on `chain_listener`, a socket the
    /// caller already bound to `[chain] listen`. Holding the socket from the moment its
    /// port is chosen leaves no gap in which another process can take the port.
    pub async fn open_on(
        config: &GatewayConfig,
        chain_listener: Option<TcpListener>,
    ) -> Result<Self> {
        let identity = config
            .identity
            .as_ref()
            .ok_or_else(|| GatewayError::NoIdentity {
                file: config.file.clone(),
            })?;
        let keys = Arc::new(AgencyKeys::load(&identity.keys, &config.agency)?);
        let ca = crate::identity::ca::read_text(&identity.ca)?;
        let trust = TrustStore::load(&identity.trust)?;
        let tls = TlsSettings::new(&ca, &keys);
        let sessions = Arc::new(Sessions::load(
            &config.agency,
            identity.users.as_deref(),
            identity.session,
        )?);
        let export_trust = trust.clone();
        let verifier = Verifier::new(trust, identity.request_window);
        let audit = match &config.chain {
            None => {
                return Err(GatewayError::NoChain {
                    file: config.file.clone(),
                });
            }
            Some(ChainChoice::Unaudited) => {
                tracing::warn!(
                    agency = %config.agency,
                    "[chain] none = true: accesses are not recorded on any audit chain"
                );
                Audit::unaudited()
            }
            Some(ChainChoice::Node(c)) => Audit::on_chain(
                crate::chain::start_node(
                    &config.agency,
                    c,
                    keys.signing_seed(),
                    tls.chain_peers(),
                    chain_listener,
                )
                .await?,
            ),
        };
        let chain = audit.node().cloned();
        let exporter = Arc::new(Exporter::new(
            Arc::clone(&keys),
            export_trust,
            audit.clone(),
        ));
        let owner = Arc::new(Owner::open(config, audit, Some(verifier)).await?);
        let stats = Arc::new(WireStats::default());
        let timeouts = PeerTimeouts {
            connect: config.peer_timeout,
            ..PeerTimeouts::default()
        };
        let mut clients: Vec<Arc<dyn AgencyClient>> = vec![Arc::new(LocalClient::new(
            Arc::clone(&owner),
            Arc::clone(&stats),
        ))];
        for p in &config.peers {
            clients.push(Arc::new(PeerClient::new(
                &p.agency,
                &p.address,
                timeouts,
                tls.client_for(&p.agency),
                Arc::clone(&keys),
                Arc::clone(&stats),
            )));
        }
        let directory = chain.as_ref().map(|n| Arc::clone(n.store()));
        let home = Arc::new(
            Home::new(&config.agency, clients, stats, directory)?.with_limits(config.limits),
        );
        let tasks = Arc::new(Tasks::default());
        let publisher = chain.as_ref().map(|node| {
            Arc::new(Publisher::new(
                Arc::clone(node),
                config.agency.clone(),
                config.file.clone(),
                owner.served(),
            ))
        });
        if let (Some(node), Some(publisher)) = (&chain, &publisher) {
            let publisher = Arc::clone(publisher);
            tasks.spawn(async move { publisher.at_start(PUBLISH_AT_START).await });
            let (watch, sources) = owner.watched();
            tasks.spawn(crate::directory::drift::watch_forever(
                watch,
                sources,
                config.base_dir.clone(),
                config.directory.schema_check,
            ));
            tasks.spawn(crate::directory::access::expire_forever(
                Arc::clone(node),
                config.agency.clone(),
                config.directory.expiry_check,
            ));
        }
        Ok(Gateway {
            owner,
            home,
            chain,
            sessions,
            keys,
            exporter,
            tls,
            tasks,
            publisher,
        })
    }

    /// Makes the chain's catalog say what this gateway serves now; see
    /// [`crate::directory::publish::sync`].
    pub async fn publish(&self) -> Result<crate::directory::publish::PublishReport> {
        match &self.publisher {
            Some(p) => p.publish().await,
            None => Err(GatewayError::BadRequest(
                "this gateway runs unaudited: it has no chain to publish on".into(),
            )),
        }
    }

    /// Waits until this gateway's copy of the directory lists every dataset in
    /// `datasets` (`<agency>.<dataset>`), at most `timeout`.
    pub async fn wait_for_datasets(
        &self,
        datasets: &[String],
        timeout: std::time::Duration,
    ) -> Result<()> {
        let node = self.chain.as_ref().ok_or_else(|| {
            GatewayError::BadRequest("this gateway runs unaudited: it has no directory".into())
        })?;
        let started = std::time::Instant::now();
        loop {
            let dir = node.store().directory();
            let mut missing = Vec::new();
            for d in datasets {
                if dir.dataset(d)?.is_none() {
                    missing.push(d.clone());
                }
            }
            if missing.is_empty() {
                return Ok(());
            }
            if started.elapsed() >= timeout {
                return Err(GatewayError::Audit(format!(
                    "the directory of `{}` still lacks {} after {} ms",
                    self.owner.agency(),
                    missing.join(", "),
                    timeout.as_millis()
                )));
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    /// Serve on `listener` until `shutdown` fires.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> Result<()> {
        let tls = self.tls.server();
        let service = GatewayService {
            owner: self.owner,
            home: self.home,
            sessions: self.sessions,
            exporter: self.exporter,
            chain: self.chain,
            publisher: self.publisher,
        };
        let svc = GatewayServer::new(service)
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_MESSAGE_BYTES);
        // The builder's `tcp_nodelay` does not reach sockets from a listener of our own;
        // without it, Nagle and delayed ACKs hold small replies for ~40 ms.
        let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
        tonic::transport::Server::builder()
            .tls_config(tls)
            .map_err(|e| GatewayError::Transport(format!("TLS settings: {e}")))?
            .add_service(svc)
            .serve_with_incoming_shutdown(incoming, shutdown)
            .await
            .map_err(|e| GatewayError::Transport(e.to_string()))
    }
}

/// A gateway serving in the background, stopped when dropped or by [`Self::stop`].
#[derive(Debug)]
pub struct RunningGateway {
    pub gateway: Gateway,
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<Result<()>>>,
}

impl RunningGateway {
    /// Open a gateway and start serving it on `listener`.
    pub async fn start(config: &GatewayConfig, listener: TcpListener) -> Result<Self> {
        Self::start_on(config, listener, None).await
    }

    /// As [`Self::start`], with the chain node on `chain_listener` (see
    /// [`Gateway::open_on`]).
    pub async fn start_on(
        config: &GatewayConfig,
        listener: TcpListener,
        chain_listener: Option<TcpListener>,
    ) -> Result<Self> {
        let gateway = Gateway::open_on(config, chain_listener).await?;
        let addr = listener
            .local_addr()
            .map_err(|e| GatewayError::Transport(e.to_string()))?;
        let (tx, rx) = oneshot::channel();
        let task = tokio::spawn(gateway.clone().serve(listener, async {
            let _ = rx.await;
        }));
        Ok(RunningGateway {
            gateway,
            addr,
            stop: Some(tx),
            task: Some(task),
        })
    }

    /// Stop serving and wait for the server to wind down.
    pub async fn stop(mut self) -> Result<()> {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        self.gateway.tasks.stop();
        let served = match self.task.take() {
            Some(t) => t.await.map_err(|e| GatewayError::Internal(e.to_string()))?,
            None => Ok(()),
        };
        if let Some(node) = &self.gateway.chain {
            node.shutdown().await?;
        }
        served
    }
}

impl Drop for RunningGateway {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }
}
