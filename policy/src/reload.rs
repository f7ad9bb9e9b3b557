//! Hot reload: [`ReloadingPolicy`] checks the model and policy files' size and
//! modification time on each use and reloads when either changed. A file that fails to
//! load is rejected with its line, the last good policy stays in force, and the error is
//! kept for the gateway to log.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::SystemTime;

use datafusion::logical_expr::LogicalPlan;

use crate::config::PolicyConfig;
use crate::decision::Decided;
use crate::error::{LoadError, Result};
use crate::policy::{Policy, policy_digest, read};
use crate::request::Request;

#[derive(Debug, Clone, PartialEq, Eq)]
struct Stamp {
    len: u64,
    modified: Option<SystemTime>,
}

fn stamp(path: &Path) -> Option<Stamp> {
    let m = std::fs::metadata(path).ok()?;
    Some(Stamp {
        len: m.len(),
        modified: m.modified().ok(),
    })
}

/// A policy that follows its files.
#[derive(Debug)]
pub struct ReloadingPolicy {
    config: PolicyConfig,
    model: PathBuf,
    policy: PathBuf,
    current: RwLock<Arc<Policy>>,
    stamps: Mutex<(Option<Stamp>, Option<Stamp>)>,
    last_error: Mutex<Option<LoadError>>,
}

impl ReloadingPolicy {
    /// Load the files; the first load must succeed.
    pub fn open(
        config: PolicyConfig,
        model: impl Into<PathBuf>,
        policy: impl Into<PathBuf>,
    ) -> Result<Self, LoadError> {
        let (model, policy) = (model.into(), policy.into());
        let stamps = (stamp(&model), stamp(&policy));
        let loaded = Policy::load(config.clone(), &model, &policy)?;
        Ok(ReloadingPolicy {
            config,
            model,
            policy,
            current: RwLock::new(Arc::new(loaded)),
            stamps: Mutex::new(stamps),
            last_error: Mutex::new(None),
        })
    }

    /// The policy in force, reloading first if a file changed since the last look.
    pub fn current(&self) -> Arc<Policy> {
        let now = (stamp(&self.model), stamp(&self.policy));
        let changed = match self.stamps.lock() {
            Ok(mut s) if *s != now => {
                *s = now;
                true
            }
            _ => false,
        };
        if changed {
            // The outcome is kept in `last_error`; the policy in force is returned either way.
            let _ = self.reload();
        }
        self.snapshot()
    }

    fn snapshot(&self) -> Arc<Policy> {
        match self.current.read() {
            Ok(p) => Arc::clone(&p),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// Reload now. On failure the last good policy stays in force and the error is also
    /// kept for [`ReloadingPolicy::last_error`].
    pub fn reload(&self) -> Result<Arc<Policy>, LoadError> {
        let outcome = (|| {
            let (m, p) = (read(&self.model)?, read(&self.policy)?);
            let current = self.snapshot();
            if policy_digest(&m, &p) == current.digest() {
                return Ok(current);
            }
            let loaded = Arc::new(Policy::from_bytes(
                self.config.clone(),
                &self.model.display().to_string(),
                &m,
                &self.policy.display().to_string(),
                &p,
            )?);
            if let Ok(mut c) = self.current.write() {
                *c = Arc::clone(&loaded);
            }
            Ok(loaded)
        })();
        if let Ok(mut last) = self.last_error.lock() {
            *last = outcome.as_ref().err().cloned();
        }
        outcome
    }

    /// Why the last reload failed, if it did; `None` once a reload succeeds.
    pub fn last_error(&self) -> Option<LoadError> {
        self.last_error.lock().ok().and_then(|e| e.clone())
    }

    /// The digest of the policy in force (see [`crate::policy_digest`]).
    pub fn digest(&self) -> String {
        self.current().digest().to_string()
    }

    /// [`Policy::decide`] with the policy in force.
    pub fn decide(&self, plan: &LogicalPlan, request: &Request) -> Result<Decided> {
        self.current().decide(plan, request)
    }
}
