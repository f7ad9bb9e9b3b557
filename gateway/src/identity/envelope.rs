//! The signed envelope of a request between gateways: the requesting gateway signs who
//! asks (principal and roles), why, which query, a digest of the SQL, a nonce, the time
//! and the HPKE key to seal the answer to. The owner checks it, as the first state of
//! its path, against the caller's TLS certificate and its trust directory, and refuses
//! a stale time or a nonce it has seen within the window.

use std::collections::{BTreeSet, HashSet, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use prost::Message as _;
use sha2::{Digest as _, Sha256};
use sluice_core::AgencyId;
use sluice_proto::v1;

use super::agency::{AgencyKeys, verify_request};
use super::bundle::TrustStore;
use crate::context::RequestContext;
use crate::error::{GatewayError, Result};
use crate::seal;

/// Nonces remembered at most; past this the oldest are forgotten early, and requests
/// whose time is older than the oldest remembered nonce are refused.
const MAX_REMEMBERED: usize = 1_000_000;

pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or_default()
}

/// Signs a request for `sql` on behalf of `ctx`'s principal.
pub fn sign(
    keys: &AgencyKeys,
    ctx: &RequestContext,
    roles: &[String],
    sql: &str,
) -> Result<v1::SignedRequest> {
    let mut nonce = [0u8; 16];
    getrandom::getrandom(&mut nonce)
        .map_err(|e| GatewayError::Internal(format!("the system's random source: {e}")))?;
    let envelope = v1::RequestEnvelope {
        requester: keys.agency().to_string(),
        context: Some(ctx.to_proto()),
        roles: roles.to_vec(),
        sql_sha256: Sha256::digest(sql.as_bytes()).to_vec(),
        nonce: nonce.to_vec(),
        time_ms: now_ms(),
        hpke_public_key: seal::public_bytes(&keys.hpke_public()),
    }
    .encode_to_vec();
    let signature = keys.sign_request(&envelope).to_vec();
    Ok(v1::SignedRequest {
        envelope,
        signature,
    })
}

/// A request whose envelope checked out. Only [`Verifier::verify`] makes one.
#[derive(Debug)]
pub struct VerifiedRequest {
    requester: AgencyId,
    ctx: RequestContext,
    roles: Vec<String>,
    reply_to: seal::PublicKey,
}

impl VerifiedRequest {
    /// The agency whose gateway sent the request.
    pub fn requester(&self) -> &AgencyId {
        &self.requester
    }

    pub fn context(&self) -> &RequestContext {
        &self.ctx
    }

    pub fn roles(&self) -> &[String] {
        &self.roles
    }

    /// The key the answer is sealed to.
    pub fn reply_to(&self) -> &seal::PublicKey {
        &self.reply_to
    }

    pub(crate) fn into_parts(self) -> (AgencyId, RequestContext, Vec<String>, seal::PublicKey) {
        (self.requester, self.ctx, self.roles, self.reply_to)
    }
}

/// Checks envelopes at an owner: signatures against the trust directory, times
/// against the window, nonces against those already seen.
#[derive(Debug)]
pub struct Verifier {
    trust: TrustStore,
    window: Duration,
    seen: Mutex<Seen>,
}

#[derive(Debug, Default)]
struct Seen {
    nonces: HashSet<Vec<u8>>,
    /// (time the nonce may be forgotten, nonce), oldest first.
    order: VecDeque<(u64, Vec<u8>)>,
    /// Requests older than this are refused: their nonces may have been forgotten.
    floor_ms: u64,
}

impl Verifier {
    pub fn new(trust: TrustStore, window: Duration) -> Self {
        Verifier {
            trust,
            window,
            seen: Mutex::new(Seen::default()),
        }
    }

    pub fn trust(&self) -> &TrustStore {
        &self.trust
    }

    /// Checks `signed` for `sql`, sent by a caller whose TLS certificate names
    /// `caller`, at the owner's time `now_ms`.
    pub fn verify(
        &self,
        caller: &AgencyId,
        signed: Option<&v1::SignedRequest>,
        sql: &str,
        now_ms: u64,
    ) -> Result<VerifiedRequest> {
        let refuse = |m: String| GatewayError::Unauthenticated(m);
        let signed =
            signed.ok_or_else(|| refuse("the request carries no signed envelope".into()))?;
        let bundle = self.trust.get(caller)?;
        // Decoded before the signature is checked only to name a mismatched requester;
        // nothing in it is trusted until the signature verifies.
        let env = v1::RequestEnvelope::decode(signed.envelope.as_slice())
            .map_err(|e| refuse(format!("the signed envelope does not decode: {e}")))?;
        if env.requester != caller.as_str() {
            return Err(refuse(format!(
                "the envelope says it comes from `{}`, but the client certificate is `{caller}`'s",
                env.requester
            )));
        }
        verify_request(&bundle.signing_key, &signed.envelope, &signed.signature).map_err(|_| {
            refuse(format!(
                "the request signature does not verify under `{caller}`'s key"
            ))
        })?;
        let ctx = RequestContext::from_proto(env.context.as_ref())?;
        if ctx.principal.agency() != caller {
            return Err(refuse(format!(
                "`{caller}`'s gateway cannot speak for `{}`",
                ctx.principal
            )));
        }
        if env.sql_sha256 != Sha256::digest(sql.as_bytes()).as_slice() {
            return Err(refuse("the SQL is not the SQL the envelope signs".into()));
        }
        let window = u64::try_from(self.window.as_millis()).unwrap_or(u64::MAX);
        if env.time_ms.abs_diff(now_ms) > window {
            return Err(refuse(format!(
                "the request is stale: made at {} ms, {} ms from this gateway's clock, and the window is ±{} ms",
                env.time_ms,
                env.time_ms.abs_diff(now_ms),
                window
            )));
        }
        if env.nonce.len() != 16 {
            return Err(refuse("the nonce is not 16 bytes".into()));
        }
        let reply_to = seal::public_from_bytes(&env.hpke_public_key)
            .map_err(|e| refuse(format!("hpke_public_key: {e}")))?;
        if seal::public_bytes(&reply_to) != seal::public_bytes(&bundle.hpke_key) {
            return Err(refuse(format!(
                "the result would be sealed to a key that is not `{caller}`'s"
            )));
        }
        for r in &env.roles {
            sluice_policy::Request::new(&ctx.principal.to_string(), None)
                .and_then(|q| q.with_roles([r]))
                .map_err(|e| refuse(e.to_string()))?;
        }
        self.remember(&env.nonce, env.time_ms, now_ms, window)?;
        let roles: BTreeSet<String> = env.roles.into_iter().collect();
        Ok(VerifiedRequest {
            requester: caller.clone(),
            ctx,
            roles: roles.into_iter().collect(),
            reply_to,
        })
    }

    fn remember(&self, nonce: &[u8], time_ms: u64, now_ms: u64, window: u64) -> Result<()> {
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        while let Some((forget_at, _)) = seen.order.front() {
            if *forget_at > now_ms && seen.order.len() < MAX_REMEMBERED {
                break;
            }
            if let Some((forget_at, n)) = seen.order.pop_front() {
                seen.nonces.remove(&n);
                // Forgotten before its time: anything as old could be a replay.
                if forget_at > now_ms {
                    seen.floor_ms = seen.floor_ms.max(forget_at.saturating_sub(2 * window));
                }
            }
        }
        if time_ms < seen.floor_ms {
            return Err(GatewayError::Unauthenticated(
                "the request is older than this gateway can check for replays".into(),
            ));
        }
        if !seen.nonces.insert(nonce.to_vec()) {
            return Err(GatewayError::Unauthenticated(
                "the request is a replay: its nonce was seen within the window".into(),
            ));
        }
        // A nonce must be remembered until its request's time leaves the window.
        seen.order
            .push_back((time_ms.max(now_ms) + window, nonce.to_vec()));
        Ok(())
    }
}
