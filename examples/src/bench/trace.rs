//! `sluice bench trace`: auditors' filtered traces over a store of many entries.

use std::path::Path;
use std::time::{Duration, Instant};

use sluice_gateway::error::Result;

use crate::chain_fixtures::{fill_store, trace_queries};

/// One trace's result: its name, how many entries matched, and the median time.
#[derive(Debug)]
pub struct TraceTiming {
    pub name: &'static str,
    pub matches: usize,
    pub median: Duration,
}

/// Fills (or reuses) a store of `entries` entries under `dir`, then times each trace
/// five times. Returns the store's size and the timings.
pub fn run(dir: &Path, entries: u64) -> Result<(u64, Vec<TraceTiming>)> {
    let store = fill_store(dir, entries)?;
    let mut out = Vec::new();
    for (name, filter) in trace_queries() {
        let mut times = Vec::new();
        let mut matches = 0;
        for _ in 0..5 {
            let t = Instant::now();
            matches = store.trace(&filter)?.len();
            times.push(t.elapsed());
        }
        times.sort_unstable();
        out.push(TraceTiming {
            name,
            matches,
            median: times[times.len() / 2],
        });
    }
    Ok((store.len()?, out))
}
