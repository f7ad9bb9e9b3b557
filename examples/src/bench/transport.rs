//! `sluice bench transport`: what sealing and handshakes cost. One owner (sh_hf)
//! streams the same result over TLS on loopback twice: as plain Arrow IPC frames to its
//! own analyst, and sealed with HPKE to bj_hf's gateway, which opens every frame. Then
//! a small query over a pooled connection against one that opens (and handshakes) a
//! new connection each time.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use sluice_gateway::error::{GatewayError, Result};
use sluice_gateway::identity::agency::AgencyKeys;
use sluice_gateway::identity::envelope;
use sluice_gateway::identity::tls::TlsSettings;
use sluice_gateway::peer::stream::{Wrapping, open};
use sluice_gateway::{AgencyId, AnalystClient, Principal, Purpose, QueryId, RequestContext};
use sluice_proto::GatewayClient;
use sluice_proto::v1;

use super::chain::process_cpu;
use crate::provident_fund::{Cluster, DemoData};

/// The streamed query: every contribution sh_hf holds.
pub const SQL: &str = "SELECT person_id, month, amount FROM sh_hf.contributions";
/// The small query for the handshake comparison.
pub const SMALL: &str = "SELECT COUNT(*) FROM sh_hf.loans";

/// Medians of the runs.
#[derive(Debug, Clone)]
pub struct TransportResult {
    pub rows: usize,
    pub plain: Duration,
    pub sealed: Duration,
    /// CPU time (user and system, every thread of the process: both gateways) of one
    /// plain stream.
    pub plain_cpu: Duration,
    /// The same for one sealed stream.
    pub sealed_cpu: Duration,
    pub pooled: Duration,
    pub fresh: Duration,
}

/// The median of `times`; zero for none.
pub(crate) fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times.get(times.len() / 2).copied().unwrap_or_default()
}

/// Runs the comparison on the cluster over `data`, `iterations` times each.
pub async fn run(data: DemoData, iterations: usize) -> Result<TransportResult> {
    let cluster = Cluster::start(data).await?;
    let purpose = Purpose::parse("benchmark")?;
    let sh_analyst = cluster.analyst("sh_hf").await?;
    let bj = cluster.identities.get("bj_hf")?;
    let bj_keys = Arc::new(AgencyKeys::load(&bj.keys_dir, &bj.agency)?);
    let sh = AgencyId::parse("sh_hf")?;
    let tls = TlsSettings::new(&cluster.identities.ca_pem()?, &bj_keys).client_for(&sh);
    let channel = sluice_gateway::peer::remote::connect(
        &cluster.address("sh_hf")?,
        tls,
        Duration::from_secs(5),
    )
    .await
    .map_err(GatewayError::Transport)?;
    let owner = GatewayClient::new(channel)
        .max_decoding_message_size(sluice_gateway::ipc::MAX_MESSAGE_BYTES);

    let (mut plain, mut sealed, mut rows) = (Vec::new(), Vec::new(), 0);
    let (mut plain_cpu, mut sealed_cpu) = (Vec::new(), Vec::new());
    for _ in 0..iterations.max(1) {
        let cpu = process_cpu()?;
        let t = Instant::now();
        let mut n = 0;
        let mut s = sh_analyst.query(&purpose, SQL).await?;
        while let Some(b) = s.next().await {
            n += b?.num_rows();
        }
        plain.push(t.elapsed());
        plain_cpu.push(process_cpu()?.saturating_sub(cpu));

        let cpu = process_cpu()?;
        let t = Instant::now();
        let ctx = RequestContext {
            principal: Principal::parse("bj_hf/analyst")?,
            purpose: purpose.clone(),
            query_id: QueryId::new(),
        };
        let signed = envelope::sign(&bj_keys, &ctx, &["fund_analyst".to_string()], SQL)?;
        let frames = owner
            .clone()
            .fetch(v1::FetchRequest {
                request: Some(signed),
                sql: SQL.into(),
            })
            .await
            .map_err(|s| GatewayError::Transport(s.message().to_string()))?
            .into_inner();
        let wrapping = Wrapping::Sealed {
            keys: Arc::clone(&bj_keys),
            query_id: ctx.query_id.to_string(),
        };
        let (_, mut batches) =
            open("sh_hf".into(), frames, Duration::from_secs(60), wrapping).await?;
        let mut m = 0;
        while let Some(b) = batches.next().await {
            m += b?.num_rows();
        }
        sealed.push(t.elapsed());
        sealed_cpu.push(process_cpu()?.saturating_sub(cpu));
        if m != n {
            return Err(GatewayError::Internal(format!(
                "the sealed stream delivered {m} rows, the plain one {n}"
            )));
        }
        rows = n;
    }

    let (mut pooled, mut fresh) = (Vec::new(), Vec::new());
    let token = sh_analyst.token().unwrap_or_default().to_string();
    for _ in 0..(iterations.max(1) * 10) {
        let t = Instant::now();
        sh_analyst.query_all(&purpose, SMALL).await?;
        pooled.push(t.elapsed());

        let t = Instant::now();
        let client = AnalystClient::connect(
            &cluster.address("sh_hf")?,
            &sh,
            &cluster.identities.ca_pem()?,
            Duration::from_secs(5),
        )
        .await?
        .with_token(token.clone());
        client.query_all(&purpose, SMALL).await?;
        fresh.push(t.elapsed());
    }
    cluster.stop().await?;
    Ok(TransportResult {
        rows,
        plain: median(plain),
        sealed: median(sealed),
        plain_cpu: median(plain_cpu),
        sealed_cpu: median(sealed_cpu),
        pooled: median(pooled),
        fresh: median(fresh),
    })
}
