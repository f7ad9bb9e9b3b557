//! A fixed catalog for the search test: the directory scenario's datasets and forty
//! more of a city's departments, with words that recur across them, so ranks depend on
//! term frequency, document frequency and length alike.

use sluice_chain::entry::{CatalogColumn, CatalogRecord, Classification, SharingClass};
use sluice_examples::directory::data;

/// The queries the test ranks.
pub const QUERIES: [&str; 8] = [
    "household registration",
    "income tax income",
    "housing loans",
    "hospital beds district",
    "person_id",
    "social assistance allowance district",
    "vaccination health records",
    "enterprise employees tax registration",
];

const TOPICS: [(&str, &str, &[&str], &[&str]); 8] = [
    (
        "schools",
        "Primary and secondary schools by district, with pupils and teachers.",
        &["education", "schools"],
        &["school_id", "district", "pupils", "teachers"],
    ),
    (
        "parks",
        "Public parks with their area and opening hours.",
        &["parks", "green space"],
        &["park_id", "district", "area"],
    ),
    (
        "permits",
        "Building permits granted, by district and year.",
        &["construction", "permits", "housing"],
        &["permit_id", "district", "year"],
    ),
    (
        "pensions",
        "Pension payments to retired persons each month.",
        &["pensions", "social insurance"],
        &["person_id", "month", "amount"],
    ),
    (
        "clinics",
        "Community health clinics and the districts they serve.",
        &["health", "clinics"],
        &["clinic_id", "district", "doctors"],
    ),
    (
        "companies",
        "Registered companies with employees and tax registration numbers.",
        &["business", "tax registration"],
        &["company_id", "employees", "district"],
    ),
    (
        "rentals",
        "Public rental housing units and their tenants.",
        &["housing", "rental"],
        &["unit_id", "person_id", "rent"],
    ),
    (
        "benefits",
        "Unemployment benefits paid to persons, by month.",
        &["social assistance", "unemployment"],
        &["person_id", "month", "benefit"],
    ),
];

/// The corpus: the scenario's datasets, then five agencies' variations on eight topics.
pub fn records() -> Vec<CatalogRecord> {
    let mut out: Vec<CatalogRecord> = data::published()
        .iter()
        .map(|d| {
            record(
                &d.dataset(),
                d.title,
                d.description,
                d.keywords,
                &d.columns.iter().map(|c| c.0).collect::<Vec<_>>(),
            )
        })
        .collect();
    for (i, agency) in ["bj_edu", "bj_gov", "bj_hr", "bj_si", "bj_res"]
        .iter()
        .enumerate()
    {
        for (j, (name, description, keywords, columns)) in TOPICS.iter().enumerate() {
            if (i + j) % 5 == 4 {
                continue;
            }
            let title = format!("{} register {}", name, i + 1);
            out.push(record(
                &format!("{agency}.{name}"),
                &title,
                description,
                keywords,
                columns,
            ));
        }
    }
    out
}

fn record(
    dataset: &str,
    title: &str,
    description: &str,
    keywords: &[&str],
    columns: &[&str],
) -> CatalogRecord {
    CatalogRecord {
        dataset: dataset.into(),
        version: 1,
        title: title.into(),
        description: description.into(),
        keywords: keywords.iter().map(|k| k.to_string()).collect(),
        department: String::new(),
        legal_basis: String::new(),
        columns: columns
            .iter()
            .map(|c| CatalogColumn {
                name: c.to_string(),
                data_type: "Utf8".into(),
                nullable: true,
                classification: Classification::Internal,
            })
            .collect(),
        sharing: SharingClass::Unconditional,
        update_frequency: String::new(),
        row_count: None,
        last_update: String::new(),
        contact: String::new(),
    }
}
