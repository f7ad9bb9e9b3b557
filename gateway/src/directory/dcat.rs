//! The catalog as DCAT-AP 3 JSON-LD, for data portals and dataspace connectors: one
//! `dcat:Catalog` of every dataset, each with its publisher (the agency), its department,
//! a contact point, keywords, a theme, its update frequency, its access rights and one
//! distribution (federated SQL through the owner's gateway, as Arrow IPC).
//!
//! Every node is typed with the class the DCAT-AP 3 shapes expect, so the output
//! validates against them without RDFS inference.

use serde_json::{Value, json};
use sluice_chain::entry::{CatalogRecord, SharingClass};

/// EU vocabularies DCAT-AP recommends for themes, frequencies and access rights.
const EU_THEME: &str = "http://publications.europa.eu/resource/authority/data-theme/";
const EU_FREQUENCY: &str = "http://publications.europa.eu/resource/authority/frequency/";
const EU_ACCESS: &str = "http://publications.europa.eu/resource/authority/access-right/";
/// The IANA media type of what a gateway streams.
const ARROW_STREAM: &str =
    "https://www.iana.org/assignments/media-types/application/vnd.apache.arrow.stream";

fn context() -> Value {
    json!({
        "dcat": "http://www.w3.org/ns/dcat#",
        "dct": "http://purl.org/dc/terms/",
        "foaf": "http://xmlns.com/foaf/0.1/",
        "vcard": "http://www.w3.org/2006/vcard/ns#",
        "skos": "http://www.w3.org/2004/02/skos/core#",
        "rdfs": "http://www.w3.org/2000/01/rdf-schema#",
        "xsd": "http://www.w3.org/2001/XMLSchema#",
    })
}

/// An IRI of this federation's own: agencies, departments and datasets.
fn urn(parts: &[&str]) -> String {
    let mut s = String::from("urn:sluice");
    for p in parts {
        s.push(':');
        s.extend(p.chars().map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.') {
                c
            } else {
                '-'
            }
        }));
    }
    s
}

fn literal(text: &str) -> Value {
    json!({ "@value": text, "@language": "en" })
}

/// The EU frequency a record's `update_frequency` names, or UNKNOWN.
fn frequency(text: &str) -> &'static str {
    match text.trim().to_ascii_lowercase().as_str() {
        "continuous" | "realtime" | "real-time" => "CONT",
        "hourly" => "HOURLY",
        "daily" => "DAILY",
        "weekly" => "WEEKLY",
        "monthly" => "MONTHLY",
        "quarterly" => "QUARTERLY",
        "yearly" | "annual" | "annually" => "ANNUAL",
        "irregular" => "IRREG",
        "never" => "NEVER",
        _ => "UNKNOWN",
    }
}

fn agent(agency: &str) -> Value {
    json!({
        "@id": urn(&["agency", agency]),
        "@type": "foaf:Agent",
        "foaf:name": agency,
    })
}

fn contact(r: &CatalogRecord) -> Value {
    let name = if r.department.is_empty() {
        r.agency().to_string()
    } else {
        format!("{}, {}", r.agency(), r.department)
    };
    let mut v = json!({
        "@id": urn(&["contact", &r.dataset]),
        "@type": ["vcard:Kind", "vcard:Organization"],
        "vcard:fn": name,
    });
    let c = r.contact.trim();
    if c.contains('@') && !c.contains(char::is_whitespace) {
        v["vcard:hasEmail"] = json!({ "@id": format!("mailto:{c}") });
    } else if !c.is_empty() {
        v["vcard:note"] = json!(c);
    }
    v
}

fn rights(r: &CatalogRecord) -> Value {
    let (code, how) = match r.sharing {
        SharingClass::Unconditional => (
            "RESTRICTED",
            "Shared with the federation's agencies under the owner's disclosure policy.",
        ),
        SharingClass::Conditional => (
            "RESTRICTED",
            "Shared on request: the owner approves each access on the audit chain, for a purpose and a time.",
        ),
        SharingClass::None => ("NON_PUBLIC", "Listed, but not shared."),
    };
    let mut label = format!("{} ({how})", r.sharing.as_str());
    if !r.legal_basis.is_empty() {
        label.push_str(&format!(" Legal basis: {}.", r.legal_basis));
    }
    json!({
        "@id": format!("{EU_ACCESS}{code}"),
        "@type": "dct:RightsStatement",
        "rdfs:label": label,
    })
}

/// One dataset; `modified_ms` is when its current record was published.
fn dataset(r: &CatalogRecord, modified_ms: u64) -> Value {
    let id = urn(&["dataset", &r.dataset]);
    let mut d = json!({
        "@id": id,
        "@type": "dcat:Dataset",
        "dct:identifier": r.dataset,
        "dct:title": literal(&r.title),
        "dct:description": literal(&r.description),
        "dcat:keyword": r.keywords.iter().map(|k| literal(k)).collect::<Vec<_>>(),
        "dcat:version": r.version.to_string(),
        "dct:publisher": agent(r.agency()),
        "dcat:contactPoint": contact(r),
        "dcat:theme": {
            "@id": format!("{EU_THEME}GOVE"),
            "@type": "skos:Concept",
            "skos:prefLabel": literal("Government and public sector"),
        },
        "dct:accrualPeriodicity": {
            "@id": format!("{EU_FREQUENCY}{}", frequency(&r.update_frequency)),
            "@type": "dct:Frequency",
        },
        "dct:accessRights": rights(r),
        "dcat:distribution": {
            "@id": urn(&["distribution", &r.dataset]),
            "@type": "dcat:Distribution",
            "dct:title": literal("Federated SQL through the owner's Sluice gateway"),
            "dct:description": literal(&format!(
                "Query as `{}` through your agency's gateway; the owner's policy decides what each column releases. Columns: {}.",
                r.dataset,
                r.columns
                    .iter()
                    .map(|c| format!("{} {} ({})", c.name, c.data_type, c.classification.as_str()))
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
            "dcat:accessURL": { "@id": urn(&["sql", &r.dataset]), "@type": "rdfs:Resource" },
            "dcat:mediaType": { "@id": ARROW_STREAM, "@type": "dct:MediaType" },
        },
    });
    if !r.department.is_empty() {
        d["dct:creator"] = json!({
            "@id": urn(&["agency", r.agency(), "department", &r.department]),
            "@type": "foaf:Agent",
            "foaf:name": r.department,
        });
    }
    let modified = if r.last_update.is_empty() {
        i64::try_from(modified_ms)
            .ok()
            .and_then(chrono::DateTime::from_timestamp_millis)
            .map(|t| json!({ "@value": t.format("%Y-%m-%dT%H:%M:%SZ").to_string(), "@type": "xsd:dateTime" }))
    } else {
        Some(json!({ "@value": r.last_update, "@type": "xsd:date" }))
    };
    if let Some(m) = modified {
        d["dct:modified"] = m;
    }
    if let Some(n) = r.row_count {
        d["dct:extent"] = json!({
            "@type": "dct:SizeOrDuration",
            "rdfs:label": format!("{n} rows"),
        });
    }
    d
}

/// The catalog of `records`, each with the time (unix ms) its current version was
/// published, as one DCAT-AP 3 JSON-LD document.
pub fn catalog(records: &[(u64, CatalogRecord)]) -> Value {
    let datasets: Vec<Value> = records.iter().map(|(ms, r)| dataset(r, *ms)).collect();
    json!({
        "@context": context(),
        "@id": urn(&["catalog"]),
        "@type": "dcat:Catalog",
        "dct:title": literal("Sluice federated catalog"),
        "dct:description": literal(
            "The datasets the agencies of a Sluice federation publish on their shared audit chain."
        ),
        "dct:publisher": {
            "@id": urn(&["federation"]),
            "@type": "foaf:Agent",
            "foaf:name": "The agencies of the Sluice federation",
        },
        "dcat:dataset": datasets,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frequencies_map_to_the_eu_vocabulary() {
        assert_eq!(frequency("Monthly"), "MONTHLY");
        assert_eq!(frequency("annual"), "ANNUAL");
        assert_eq!(frequency("when it rains"), "UNKNOWN");
    }

    #[test]
    fn urns_keep_only_safe_characters() {
        assert_eq!(
            urn(&["agency", "bj_hf", "department", "Collection dept/2"]),
            "urn:sluice:agency:bj_hf:department:Collection-dept-2"
        );
    }
}
