//! Masks: each mask's output, the hash mask's key per requesting agency, and masks seen
//! through the whole pipeline.

use std::collections::BTreeSet;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, Date32Array, Int64Array, StringArray};
use sluice_policy::MaskSpec;
use sluice_policy::mask::{self, MaskContext};

use super::common::*;

fn spec(s: &str) -> MaskSpec {
    let (name, arg) = match s.split_once(':') {
        Some((n, a)) => (n.to_string(), Some(a.to_string())),
        None => (s.to_string(), None),
    };
    MaskSpec { name, arg }
}

fn apply(s: &str, values: ArrayRef, requester: &str) -> ArrayRef {
    let m = mask::parse(&spec(s)).unwrap();
    m.apply(&values, &MaskContext::new(SECRET, requester))
        .unwrap()
}

fn strings(a: &ArrayRef) -> Vec<Option<String>> {
    let a = a.as_any().downcast_ref::<StringArray>().unwrap();
    a.iter().map(|v| v.map(str::to_string)).collect()
}

#[test]
fn string_masks() {
    let v: ArrayRef = Arc::new(StringArray::from(vec![
        Some("110101199001011234"),
        None,
        Some("ab"),
    ]));
    assert_eq!(
        strings(&apply("last:4", Arc::clone(&v), "sh_hf")),
        vec![Some("**************1234".into()), None, Some("ab".into())]
    );
    assert_eq!(
        strings(&apply("first:2", Arc::clone(&v), "sh_hf")),
        vec![Some("11****************".into()), None, Some("ab".into())]
    );
    assert_eq!(
        strings(&apply("redact", Arc::clone(&v), "sh_hf")),
        vec![Some("***".into()), None, Some("***".into())]
    );
    let n = apply("null", Arc::clone(&v), "sh_hf");
    assert_eq!(n.null_count(), 3);
    assert_eq!(n.data_type(), v.data_type());
}

#[test]
fn year_and_number_masks() {
    // 1987-06-05 and 2000-02-29
    let d: ArrayRef = Arc::new(Date32Array::from(vec![Some(6364), Some(11_016), None]));
    let y = apply("year", d, "sh_hf");
    let y = y.as_any().downcast_ref::<Date32Array>().unwrap();
    assert_eq!(
        y.iter().collect::<Vec<_>>(),
        vec![Some(6209), Some(10_957), None]
    );

    let n: ArrayRef = Arc::new(Int64Array::from(vec![Some(12345), None]));
    let r = apply("redact", Arc::clone(&n), "sh_hf");
    assert_eq!(r.null_count(), 2);
    let h = apply("hash", n, "sh_hf");
    let h = h.as_any().downcast_ref::<Int64Array>().unwrap();
    assert_ne!(h.value(0), 12345);
    assert!(h.is_null(1));
}

#[test]
fn hash_is_keyed_by_requesting_agency() {
    let v: ArrayRef = Arc::new(StringArray::from(vec![
        "110101199001011234",
        "110101199001011235",
    ]));
    let sh = strings(&apply("hash", Arc::clone(&v), "sh_hf"));
    let sh2 = strings(&apply("hash", Arc::clone(&v), "sh_hf"));
    let cd = strings(&apply("hash", Arc::clone(&v), "cd_hf"));
    assert_eq!(sh, sh2, "stable for one requester");
    assert_ne!(sh[0], cd[0], "unlinkable across requesters");
    assert_ne!(sh[0], sh[1]);
    let h = sh[0].clone().unwrap();
    assert_eq!(h.len(), 32);
    assert!(h.chars().all(|c| c.is_ascii_hexdigit()));
    // A different owner secret gives different hashes for the same requester.
    let other = mask::parse(&spec("hash"))
        .unwrap()
        .apply(
            &v,
            &MaskContext::new(b"another owner's secret key!!", "sh_hf"),
        )
        .unwrap();
    assert_ne!(strings(&other)[0], sh[0]);
}

#[test]
fn unknown_and_malformed_masks_are_refused() {
    for bad in ["rot13", "last", "last:x", "first:-1", "year:2", "hash:md5"] {
        assert!(mask::parse(&spec(bad)).is_err(), "{bad}");
    }
    assert_eq!(mask::names().len(), 6);
}

#[tokio::test]
async fn hash_through_the_pipeline_is_stable_per_agency_and_joins() {
    let w = world();
    let sql = "SELECT id_number FROM persons ORDER BY id_number";
    let carol = cells(
        &w.query("sh_hf/carol", "provident_fund_transfer", sql)
            .await
            .unwrap(),
    );
    let carol2 = cells(
        &w.query("sh_hf/carol", "provident_fund_transfer", sql)
            .await
            .unwrap(),
    );
    let erin = cells(
        &w.query("cd_hf/erin", "provident_fund_transfer", sql)
            .await
            .unwrap(),
    );
    assert_eq!(carol, carol2);
    // The officers' row filter keeps Beijing and Tianjin: 14 persons.
    assert_eq!(carol.len(), 14);
    let a: BTreeSet<_> = carol.iter().collect();
    let b: BTreeSet<_> = erin.iter().collect();
    assert!(
        a.is_disjoint(&b),
        "two agencies must not be able to link their results"
    );
    for p in persons() {
        assert!(!carol.contains(&p.id_number));
    }
    // A self-join on the hashed id works for one requester.
    let b = w
        .query(
            "sh_hf/carol",
            "provident_fund_transfer",
            "SELECT COUNT(*) FROM persons a JOIN persons b ON a.id_number = b.id_number",
        )
        .await
        .unwrap();
    assert_eq!(cells(&b), vec!["14"]);
}

#[tokio::test]
async fn masked_values_come_out_masked() {
    let w = world();
    let b = w
        .query(
            "sh_hf/bob",
            "statistics",
            "SELECT id_number, name, birth_date FROM persons ORDER BY city, birth_date",
        )
        .await
        .unwrap();
    let r = rows(&b);
    assert_eq!(
        r.len(),
        16,
        "the analysts' filter drops Langfang's two persons"
    );
    for row in r {
        assert!(row[0].starts_with("**************"), "{row:?}");
        assert!(row[1].chars().skip(1).all(|c| c == '*'), "{row:?}");
        assert!(row[2].ends_with("-01-01"), "{row:?}");
    }
}
