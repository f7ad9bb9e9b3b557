//! The five departments of the directory scenario and what they publish: each dataset's
//! catalog declaration (title, keywords, department, legal basis, sharing class, column
//! classifications) and a small deterministic CSV of its rows.

use std::fmt::Write as _;
use std::path::Path;

use sluice_gateway::error::{GatewayError, Result};

/// One department: its agency id, its name, and whether it votes on the chain.
#[derive(Debug, Clone, Copy)]
pub struct Department {
    pub id: &'static str,
    pub name: &'static str,
    /// Core agencies vote; the others replicate the chain as learners.
    pub voter: bool,
}

/// The five departments: public security, civil affairs, health, housing fund and tax.
pub const DEPARTMENTS: [Department; 5] = [
    Department {
        id: "bj_psb",
        name: "Beijing Public Security Bureau",
        voter: true,
    },
    Department {
        id: "bj_ca",
        name: "Beijing Civil Affairs Bureau",
        voter: false,
    },
    Department {
        id: "bj_hc",
        name: "Beijing Health Commission",
        voter: false,
    },
    Department {
        id: "bj_hf",
        name: "Beijing Housing Provident Fund Centre",
        voter: true,
    },
    Department {
        id: "bj_tax",
        name: "Beijing Tax Service",
        voter: true,
    },
];

/// One column: name, Arrow type, classification.
pub type Column = (&'static str, &'static str, &'static str);

/// One published dataset and its catalog declaration.
#[derive(Debug, Clone)]
pub struct Published {
    pub agency: &'static str,
    pub name: &'static str,
    pub title: &'static str,
    pub description: &'static str,
    pub keywords: &'static [&'static str],
    pub department: &'static str,
    pub legal_basis: &'static str,
    pub sharing: &'static str,
    pub frequency: &'static str,
    pub columns: &'static [Column],
    /// The dataset's unique key, if it has one.
    pub key: Option<&'static str>,
    /// The column naming each row's person, if the rows are about people.
    pub subject: Option<&'static str>,
}

impl Published {
    /// `<agency>.<name>`.
    pub fn dataset(&self) -> String {
        format!("{}.{}", self.agency, self.name)
    }
}

/// People in the scenario; every department's person-level data is about them.
pub const PEOPLE: i64 = 400;
const DISTRICTS: [&str; 6] = [
    "dongcheng",
    "xicheng",
    "chaoyang",
    "haidian",
    "fengtai",
    "shijingshan",
];

/// Everything the five departments publish.
pub fn published() -> Vec<Published> {
    let p =
        |agency, name, title, description, keywords, department, legal_basis, sharing| Published {
            agency,
            name,
            title,
            description,
            keywords,
            department,
            legal_basis,
            sharing,
            frequency: "monthly",
            columns: &[],
            key: None,
            subject: None,
        };
    vec![
        Published {
            columns: &[
                ("person_id", "Int64", "personal"),
                ("id_number", "Utf8", "personal"),
                ("district", "Utf8", "internal"),
                ("registered_year", "Int64", "personal"),
            ],
            key: Some("person_id"),
            subject: Some("person_id"),
            ..p(
                "bj_psb",
                "households",
                "Household registration",
                "Where each resident is registered (hukou): district and year of registration.",
                &["household registration", "hukou", "residence"],
                "Household Registration Division",
                "Household Registration Regulations, art. 3",
                "conditional",
            )
        },
        Published {
            columns: &[
                ("plate", "Utf8", "personal"),
                ("person_id", "Int64", "personal"),
                ("make", "Utf8", "internal"),
            ],
            ..p(
                "bj_psb",
                "vehicles",
                "Registered motor vehicles",
                "Vehicle registrations and their owners.",
                &["vehicles", "traffic"],
                "Traffic Management Division",
                "Road Traffic Safety Law, art. 8",
                "none",
            )
        },
        Published {
            columns: &[
                ("person_id", "Int64", "personal"),
                ("spouse_id", "Int64", "personal"),
                ("married_year", "Int64", "personal"),
            ],
            subject: Some("person_id"),
            ..p(
                "bj_ca",
                "marriages",
                "Marriage registrations",
                "Marriages registered with the civil affairs bureau.",
                &["marriage", "family"],
                "Marriage Registration Office",
                "Marriage Registration Regulations, art. 2",
                "conditional",
            )
        },
        Published {
            columns: &[
                ("person_id", "Int64", "personal"),
                ("district", "Utf8", "internal"),
                ("monthly_amount", "Int64", "sensitive"),
            ],
            subject: Some("person_id"),
            ..p(
                "bj_ca",
                "assistance",
                "Minimum living allowance",
                "Households receiving the minimum living allowance, by district and monthly amount.",
                &["social assistance", "allowance", "dibao"],
                "Social Assistance Division",
                "Interim Measures for Social Assistance, art. 9",
                "conditional",
            )
        },
        Published {
            columns: &[
                ("hospital_id", "Int64", "public"),
                ("name", "Utf8", "public"),
                ("district", "Utf8", "public"),
                ("beds", "Int64", "public"),
            ],
            key: Some("hospital_id"),
            ..p(
                "bj_hc",
                "hospitals",
                "Hospitals",
                "Licensed hospitals with their district and number of beds.",
                &["hospitals", "health care", "beds"],
                "Medical Administration Division",
                "Regulations on Medical Institutions, art. 15",
                "unconditional",
            )
        },
        Published {
            columns: &[
                ("person_id", "Int64", "personal"),
                ("vaccine", "Utf8", "sensitive"),
                ("year", "Int64", "internal"),
            ],
            subject: Some("person_id"),
            ..p(
                "bj_hc",
                "vaccinations",
                "Vaccination records",
                "Vaccines given, by person and year.",
                &["vaccination", "immunisation", "health"],
                "Disease Control Division",
                "Vaccine Administration Law, art. 48",
                "none",
            )
        },
        Published {
            columns: &[
                ("person_id", "Int64", "personal"),
                ("month", "Int64", "internal"),
                ("amount", "Int64", "sensitive"),
            ],
            subject: Some("person_id"),
            ..p(
                "bj_hf",
                "contributions",
                "Housing fund contributions",
                "Monthly contributions paid into each person's housing provident fund account.",
                &["housing fund", "contributions", "provident fund"],
                "Collection Department",
                "Housing Provident Fund Regulations, art. 13",
                "conditional",
            )
        },
        Published {
            columns: &[
                ("loan_id", "Int64", "internal"),
                ("person_id", "Int64", "personal"),
                ("amount", "Int64", "sensitive"),
                ("status", "Utf8", "internal"),
            ],
            key: Some("loan_id"),
            subject: Some("person_id"),
            ..p(
                "bj_hf",
                "loans",
                "Housing loans",
                "Provident-fund housing loans: amount and status.",
                &["housing fund", "loans", "mortgage"],
                "Loans Department",
                "Housing Provident Fund Regulations, art. 26",
                "conditional",
            )
        },
        Published {
            columns: &[
                ("person_id", "Int64", "personal"),
                ("year", "Int64", "internal"),
                ("income", "Int64", "sensitive"),
            ],
            subject: Some("person_id"),
            ..p(
                "bj_tax",
                "income",
                "Individual income",
                "Yearly taxable income of each resident taxpayer.",
                &["income tax", "income", "taxpayer"],
                "Individual Income Tax Division",
                "Individual Income Tax Law, art. 15",
                "conditional",
            )
        },
        Published {
            columns: &[
                ("enterprise_id", "Int64", "public"),
                ("name", "Utf8", "public"),
                ("district", "Utf8", "public"),
                ("employees", "Int64", "internal"),
            ],
            key: Some("enterprise_id"),
            ..p(
                "bj_tax",
                "enterprises",
                "Registered enterprises",
                "Enterprises registered for tax, with district and number of employees.",
                &["enterprises", "companies", "business"],
                "Taxpayer Registration Division",
                "Tax Collection Administration Law, art. 15",
                "unconditional",
            )
        },
    ]
}

/// A small deterministic generator, so the same run always writes the same rows.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n.max(1)
    }
}

fn district(rng: &mut Lcg) -> &'static str {
    DISTRICTS[rng.next(DISTRICTS.len() as u64) as usize]
}

/// The rows of `d` as CSV, header first.
pub fn csv(d: &Published) -> String {
    let mut rng = Lcg(d
        .name
        .bytes()
        .fold(7u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b))));
    let mut out = d.columns.iter().map(|c| c.0).collect::<Vec<_>>().join(",");
    out.push('\n');
    let mut row = |line: String| {
        out.push_str(&line);
        out.push('\n');
    };
    match (d.agency, d.name) {
        ("bj_psb", "households") => {
            for id in 1..=PEOPLE {
                row(format!(
                    "{id},{:06}-{:012},{},{}",
                    110101 + rng.next(8),
                    id,
                    district(&mut rng),
                    1980 + rng.next(44)
                ));
            }
        }
        ("bj_psb", "vehicles") => {
            for i in 0..PEOPLE / 3 {
                row(format!(
                    "JING-{i:05},{},{}",
                    1 + rng.next(PEOPLE as u64),
                    ["BYD", "Geely", "Volkswagen", "Toyota"][rng.next(4) as usize]
                ));
            }
        }
        ("bj_ca", "marriages") => {
            for id in (1..=PEOPLE).step_by(4) {
                row(format!("{id},{},{}", id + 1, 1990 + rng.next(34)));
            }
        }
        ("bj_ca", "assistance") => {
            for id in (1..=PEOPLE).step_by(9) {
                row(format!(
                    "{id},{},{}",
                    district(&mut rng),
                    800 + 50 * rng.next(20)
                ));
            }
        }
        ("bj_hc", "hospitals") => {
            for id in 1..=24 {
                row(format!(
                    "{id},Hospital {id},{},{}",
                    district(&mut rng),
                    100 + 50 * rng.next(30)
                ));
            }
        }
        ("bj_hc", "vaccinations") => {
            for id in 1..=PEOPLE {
                row(format!(
                    "{id},{},{}",
                    ["influenza", "hepatitis b", "measles"][rng.next(3) as usize],
                    2015 + rng.next(10)
                ));
            }
        }
        ("bj_hf", "contributions") => {
            for id in 1..=PEOPLE {
                for month in 1..=6 {
                    row(format!("{id},{month},{}", 500 + 10 * rng.next(200)));
                }
            }
        }
        ("bj_hf", "loans") => {
            for (loan, id) in (1..=PEOPLE).step_by(5).enumerate() {
                row(format!(
                    "{},{id},{},{}",
                    1000 + loan,
                    200_000 + 10_000 * rng.next(100),
                    ["active", "repaid", "overdue"][rng.next(3) as usize]
                ));
            }
        }
        ("bj_tax", "income") => {
            for id in 1..=PEOPLE {
                for year in [2024, 2025] {
                    row(format!("{id},{year},{}", 60_000 + 1_000 * rng.next(300)));
                }
            }
        }
        ("bj_tax", "enterprises") => {
            for id in 1..=60 {
                row(format!(
                    "{id},Enterprise {id},{},{}",
                    district(&mut rng),
                    5 + rng.next(2_000)
                ));
            }
        }
        _ => {}
    }
    out
}

/// The `[[datasets]]` table of `d`, reading `<agency>/<name>.csv` under the config's
/// directory.
pub fn dataset_toml(d: &Published) -> String {
    let mut t = String::new();
    let list = |items: &[&str]| {
        items
            .iter()
            .map(|k| format!("\"{k}\""))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let _ = write!(
        t,
        "\n[[datasets]]\nname = \"{}\"\ntitle = \"{}\"\ndescription = \"{}\"\nkeywords = [{}]\ndepartment = \"{}\"\nlegal_basis = \"{}\"\nsharing = \"{}\"\nupdate_frequency = \"{}\"\ncontact = \"data-office@{}.example.gov.cn\"\nlast_update = \"2026-11-30\"\nconnector = {{ kind = \"csv\", path = \"{}/{}.csv\" }}\ncolumns = [\n",
        d.name,
        d.title,
        d.description,
        list(d.keywords),
        d.department,
        d.legal_basis,
        d.sharing,
        d.frequency,
        d.agency.replace('_', "-"),
        d.agency,
        d.name
    );
    for (name, ty, class) in d.columns {
        let _ = writeln!(
            t,
            "  {{ name = \"{name}\", type = \"{ty}\", classification = \"{class}\" }},"
        );
    }
    t.push_str("]\n");
    t
}

/// Writes every dataset's CSV under `dir/<agency>/`.
pub fn write(dir: &Path) -> Result<()> {
    for d in published() {
        let folder = dir.join(d.agency);
        std::fs::create_dir_all(&folder)
            .map_err(|e| GatewayError::Internal(format!("{}: {e}", folder.display())))?;
        let path = folder.join(format!("{}.csv", d.name));
        std::fs::write(&path, csv(&d))
            .map_err(|e| GatewayError::Internal(format!("{}: {e}", path.display())))?;
    }
    Ok(())
}

/// Each department's policy: its own users see everything; anyone may read its
/// unconditional datasets. Conditional datasets have no rule for other agencies: only
/// an approved access grant opens them.
pub fn rules(agency: &str) -> String {
    let mut r =
        format!("# {agency}'s own staff, for any purpose.\np, {agency}/*, *, *, *, plain\n");
    for d in published()
        .into_iter()
        .filter(|d| d.agency == agency && d.sharing == "unconditional")
    {
        let _ = writeln!(r, "p, *, *, {}.*, *, plain", d.name);
    }
    r
}

/// The `[policy]` section of `agency`'s config, with its files written under
/// `dir/policy`.
pub fn policy(dir: &Path, agency: &str) -> Result<String> {
    let policy = dir.join("policy");
    let io = |e: std::io::Error| GatewayError::Internal(format!("{}: {e}", policy.display()));
    std::fs::create_dir_all(&policy).map_err(io)?;
    std::fs::write(policy.join("model.conf"), sluice_policy::STANDARD_MODEL).map_err(io)?;
    std::fs::write(policy.join(format!("{agency}.csv")), rules(agency)).map_err(io)?;
    let seed = sluice_chain::AgencySigner::generate(agency)?.seed();
    sluice_gateway::keys::write_key_file(&policy.join(format!("{agency}.secret")), &seed)?;
    let mine: Vec<Published> = published()
        .into_iter()
        .filter(|d| d.agency == agency)
        .collect();
    let keys: Vec<String> = mine
        .iter()
        .filter_map(|d| {
            d.key
                .map(|k| format!("{{ dataset = \"{}\", columns = [\"{k}\"] }}", d.name))
        })
        .collect();
    let subjects: Vec<String> = mine
        .iter()
        .filter_map(|d| {
            d.subject
                .map(|s| format!("{{ dataset = \"{}\", column = \"{s}\" }}", d.name))
        })
        .collect();
    Ok(format!(
        "\n[policy]\nmodel = \"policy/model.conf\"\nrules = \"policy/{agency}.csv\"\nsecret_file = \"policy/{agency}.secret\"\nkeys = [ {} ]\nsubjects = [ {} ]\n",
        keys.join(", "),
        subjects.join(", ")
    ))
}
