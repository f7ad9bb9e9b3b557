//! `hash`: a keyed HMAC-SHA256 of the value. The key belongs to the owner and the
//! requesting agency ([`MaskContext`]), so one requester's hashes are stable (its joins on
//! them work) while two requesters cannot link their results.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, Int32Array, Int64Array};
use arrow::datatypes::DataType;
use datafusion::error::{DataFusionError, Result as DfResult};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::{Mask, MaskContext, MaskKind, is_string, map_strings};

/// The `hash` mask kind.
pub struct HashKind;

impl MaskKind for HashKind {
    fn name(&self) -> &'static str {
        "hash"
    }

    fn parse(&self, arg: Option<&str>) -> Result<Box<dyn Mask>, String> {
        match arg {
            None => Ok(Box::new(HashMask)),
            Some(a) => Err(format!("mask `hash` takes no argument (got `{a}`)")),
        }
    }
}

/// Strings become the first 16 bytes of HMAC-SHA256(key, value) in hex (32 characters);
/// integers become the first 8 (or 4) bytes of HMAC-SHA256(key, decimal value).
#[derive(Debug)]
pub struct HashMask;

fn mac(key: &[u8; 32], value: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    // HMAC takes keys of any length, so `new_from_slice` cannot fail.
    if let Ok(mut m) = Hmac::<Sha256>::new_from_slice(key) {
        m.update(value);
        out.copy_from_slice(&m.finalize().into_bytes());
    }
    out
}

fn first8(d: &[u8; 32]) -> [u8; 8] {
    let mut b = [0u8; 8];
    b.copy_from_slice(&d[..8]);
    b
}

impl Mask for HashMask {
    fn spec(&self) -> String {
        "hash".into()
    }

    fn supports(&self, t: &DataType) -> bool {
        is_string(t) || matches!(t, DataType::Int64 | DataType::Int32)
    }

    fn apply(&self, values: &ArrayRef, ctx: &MaskContext) -> DfResult<ArrayRef> {
        let key = ctx.hash_key();
        match values.data_type() {
            t if is_string(t) => {
                map_strings(values, |s| hex::encode(&mac(key, s.as_bytes())[..16]))
            }
            DataType::Int64 => {
                let a = values
                    .as_any()
                    .downcast_ref::<Int64Array>()
                    .ok_or_else(|| DataFusionError::Internal("not an Int64Array".into()))?;
                let out: Int64Array = a
                    .iter()
                    .map(|v| {
                        v.map(|v| i64::from_be_bytes(first8(&mac(key, v.to_string().as_bytes()))))
                    })
                    .collect();
                Ok(Arc::new(out))
            }
            DataType::Int32 => {
                let a = values
                    .as_any()
                    .downcast_ref::<Int32Array>()
                    .ok_or_else(|| DataFusionError::Internal("not an Int32Array".into()))?;
                let out: Int32Array = a
                    .iter()
                    .map(|v| {
                        v.map(|v| {
                            let d = first8(&mac(key, v.to_string().as_bytes()));
                            i32::from_be_bytes([d[0], d[1], d[2], d[3]])
                        })
                    })
                    .collect();
                Ok(Arc::new(out))
            }
            t => Err(DataFusionError::Plan(format!(
                "mask `hash` cannot mask type {t}"
            ))),
        }
    }
}
