//! `sluice bench directory`: the directory at a municipality's scale. A store holds the
//! catalogs of many agencies (53 × 200 datasets by default, plus 10 more versions of
//! 1,000 of them); `catalog list`, `catalog show` and `catalog search` are timed over its
//! view, and so is rebuilding the view from the entries alone.

use std::path::Path;
use std::time::{Duration, Instant};

use sluice_chain::directory::SearchFilter;
use sluice_chain::entry::{Body, CatalogColumn, CatalogRecord, Classification, SharingClass};
use sluice_chain::{AgencySigner, ChainStore, Entry, TrustBundle};
use sluice_gateway::error::Result;

/// The shape of the benchmark's catalog.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    pub agencies: usize,
    pub datasets: usize,
    /// Datasets that get more versions.
    pub changed: usize,
    /// Versions each of those gets after the first.
    pub versions: usize,
}

/// What was measured.
#[derive(Debug)]
pub struct DirectoryTimings {
    pub entries: u64,
    pub live: usize,
    pub fill: Duration,
    /// Listing every live dataset, and one agency's.
    pub list_all: Duration,
    pub list_agency: Duration,
    /// One dataset's current record: median and p99 over many.
    pub show: (Duration, Duration),
    /// The first search, which builds the index.
    pub index_build: Duration,
    /// Searches once the index is built: median and p99.
    pub search: (Duration, Duration),
    /// Emptying the view and applying every entry again.
    pub rebuild: Duration,
}

const WORDS: [&str; 24] = [
    "household",
    "registration",
    "income",
    "tax",
    "housing",
    "fund",
    "loans",
    "hospital",
    "school",
    "pension",
    "vehicle",
    "permit",
    "enterprise",
    "marriage",
    "allowance",
    "vaccination",
    "rental",
    "water",
    "transit",
    "land",
    "court",
    "police",
    "district",
    "benefit",
];

fn record(agency: usize, dataset: usize, version: u64) -> CatalogRecord {
    let w = |i: usize| WORDS[(agency * 7 + dataset * 13 + i) % WORDS.len()];
    CatalogRecord {
        dataset: format!("a{agency:02}.d{dataset:03}"),
        version,
        title: format!("{} {} register", w(0), w(1)),
        description: format!(
            "Records of {} and {} kept by department {agency}, version {version}.",
            w(2),
            w(3)
        ),
        keywords: vec![w(4).to_string(), format!("{} {}", w(5), w(6))],
        department: format!("Department {agency}"),
        legal_basis: "Municipal data regulation, art. 7".into(),
        columns: (0..6)
            .map(|c| CatalogColumn {
                name: format!("{}_{c}", w(c + 7)),
                data_type: "Int64".into(),
                nullable: true,
                classification: Classification::ALL[c % 4],
            })
            .collect(),
        sharing: SharingClass::ALL[dataset % 3],
        update_frequency: "monthly".into(),
        row_count: Some(1_000 * dataset as u64),
        last_update: "2026-11-30".into(),
        contact: format!("office@a{agency:02}.example.gov.cn"),
    }
}

fn percentile(times: &mut [Duration], p: f64) -> Duration {
    times.sort_unstable();
    let i = ((times.len() as f64 - 1.0) * p).round() as usize;
    times.get(i).copied().unwrap_or_default()
}

/// Fills a store under `dir` with `shape`'s catalog and times the directory over it.
pub fn run(dir: &Path, shape: Shape) -> Result<DirectoryTimings> {
    let store = ChainStore::open(dir)?;
    let mut trust = TrustBundle::new();
    let signers: Vec<AgencySigner> = (0..shape.agencies)
        .map(|a| {
            let mut seed = [7u8; 32];
            seed[0] = a as u8;
            let s = AgencySigner::from_seed(&format!("a{a:02}"), seed)?;
            trust.insert(s.agency(), s.verifying_key())?;
            Ok(s)
        })
        .collect::<Result<_>>()?;
    let started = Instant::now();
    let mut time_ms = 1_767_225_600_000u64;
    let mut append = |bodies: Vec<(usize, Body)>| -> Result<()> {
        let batch = bodies
            .into_iter()
            .map(|(a, body)| {
                time_ms += 1;
                let e = Entry {
                    author: signers[a].agency().to_string(),
                    time_ms,
                    body,
                };
                Ok(trust.verify(signers[a].sign(e)?)?)
            })
            .collect::<Result<Vec<_>>>()?;
        store.append_batch(batch)?;
        Ok(())
    };
    for a in 0..shape.agencies {
        append(
            (0..shape.datasets)
                .map(|d| (a, Body::CatalogPublish(record(a, d, 1))))
                .collect(),
        )?;
    }
    for v in 2..=shape.versions as u64 + 1 {
        let changes = (0..shape.changed)
            .map(|i| {
                let (a, d) = (i % shape.agencies, i / shape.agencies % shape.datasets);
                (a, Body::CatalogChange(record(a, d, v)))
            })
            .collect();
        append(changes)?;
    }
    let fill = started.elapsed();
    let view = store.directory();

    let t = Instant::now();
    let live = view.datasets(None)?.len();
    let list_all = t.elapsed();
    let t = Instant::now();
    view.datasets(Some("a07"))?;
    let list_agency = t.elapsed();

    let mut shows = Vec::new();
    for i in 0..2_000 {
        let name = format!(
            "a{:02}.d{:03}",
            i * 7 % shape.agencies,
            i * 13 % shape.datasets
        );
        let t = Instant::now();
        view.dataset(&name)?;
        shows.push(t.elapsed());
    }

    let t = Instant::now();
    view.search("household registration", &SearchFilter::default(), 20)?;
    let index_build = t.elapsed();
    let mut searches = Vec::new();
    for i in 0..500 {
        let q = format!(
            "{} {} {}",
            WORDS[i % WORDS.len()],
            WORDS[(i * 5 + 3) % WORDS.len()],
            WORDS[(i * 11 + 1) % WORDS.len()]
        );
        let filter = if i % 4 == 0 {
            SearchFilter {
                sharing: Some(SharingClass::Conditional),
                ..SearchFilter::default()
            }
        } else {
            SearchFilter::default()
        };
        let t = Instant::now();
        view.search(&q, &filter, 20)?;
        searches.push(t.elapsed());
    }

    let t = Instant::now();
    store.rebuild_directory()?;
    let rebuild = t.elapsed();

    Ok(DirectoryTimings {
        entries: store.len()?,
        live,
        fill,
        list_all,
        list_agency,
        show: (percentile(&mut shows, 0.5), percentile(&mut shows, 0.99)),
        index_build,
        search: (
            percentile(&mut searches, 0.5),
            percentile(&mut searches, 0.99),
        ),
        rebuild,
    })
}
