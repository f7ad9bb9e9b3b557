//! Masks: the functions a `masked:<fn>` level applies to a column directly above its
//! table scan. Each mask lives in its own file and implements [`MaskKind`] (parse the
//! policy's spelling) and [`Mask`] (transform an Arrow array); [`MaskUdf`] wraps any mask
//! as a DataFusion scalar UDF.
//!
//! # Adding a mask
//! Write one file with a type implementing [`MaskKind`] and one implementing [`Mask`],
//! then list the kind in [`KINDS`]. A mask must:
//! - return an array of the **same type and length** as its input (the rest of the plan
//!   was type-checked against the raw column);
//! - keep nulls null, and be deterministic for one [`MaskContext`];
//! - reject, in [`Mask::supports`], the column types it cannot mask, so that a policy
//!   naming it for such a column fails at load.

mod first;
mod hash;
mod last;
mod null;
mod redact;
mod year;

use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, StringArray};
use arrow::compute::cast;
use arrow::datatypes::DataType;
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// One mask, ready to apply.
pub trait Mask: fmt::Debug + Send + Sync {
    /// The spec as written in a policy, e.g. `last:4`.
    fn spec(&self) -> String;

    /// Whether this mask can mask a column of `data_type`. Masks keep the type.
    fn supports(&self, data_type: &DataType) -> bool;

    /// Mask every value of `values`. The result has the same type and length; nulls
    /// stay null.
    fn apply(&self, values: &ArrayRef, ctx: &MaskContext) -> DfResult<ArrayRef>;
}

/// A kind of mask, as named in a policy (`last` in `masked:last:4`).
pub trait MaskKind: Sync {
    /// The name used in policies.
    fn name(&self) -> &'static str;

    /// Build the mask from its argument (`4` in `last:4`), or say what is wrong.
    fn parse(&self, arg: Option<&str>) -> Result<Box<dyn Mask>, String>;
}

/// Every mask this crate knows. Adding a mask adds one line here.
pub static KINDS: &[&dyn MaskKind] = &[
    &redact::RedactKind,
    &last::LastKind,
    &first::FirstKind,
    &year::YearKind,
    &null::NullKind,
    &hash::HashKind,
];

/// The names of the known masks.
pub fn names() -> Vec<&'static str> {
    KINDS.iter().map(|k| k.name()).collect()
}

/// A mask as written after `masked:`, e.g. `last:4`: a mask name and its argument.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MaskSpec {
    /// The mask's name, e.g. `last`.
    pub name: String,
    /// Its argument, e.g. `4`, if any.
    pub arg: Option<String>,
}

impl fmt::Display for MaskSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.arg {
            Some(a) => write!(f, "{}:{a}", self.name),
            None => f.write_str(&self.name),
        }
    }
}

/// Build the mask a spec names.
pub fn parse(spec: &MaskSpec) -> Result<Box<dyn Mask>, String> {
    let kind = KINDS
        .iter()
        .find(|k| k.name() == spec.name)
        .ok_or_else(|| {
            format!(
                "unknown mask `{}`; known masks: {}",
                spec.name,
                names().join(", ")
            )
        })?;
    kind.parse(spec.arg.as_deref())
}

/// What masks may depend on besides the value: the key of `hash`, which belongs to the
/// owner and the requesting agency. Its `Debug` never shows the key.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct MaskContext {
    hash_key: [u8; 32],
}

impl fmt::Debug for MaskContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MaskContext { .. }")
    }
}

impl MaskContext {
    /// The context for requests from `requesting_agency`: the hash key is
    /// HMAC-SHA256(owner secret, "sluice/mask/hash/v1\0" || requesting agency), so hashes
    /// are stable for one requester and unlinkable across requesters.
    pub fn new(owner_secret: &[u8], requesting_agency: &str) -> Self {
        let mut key = [0u8; 32];
        // HMAC takes keys of any length, so `new_from_slice` cannot fail.
        if let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(owner_secret) {
            mac.update(b"sluice/mask/hash/v1\0");
            mac.update(requesting_agency.as_bytes());
            key.copy_from_slice(&mac.finalize().into_bytes());
        }
        MaskContext { hash_key: key }
    }

    pub(crate) fn hash_key(&self) -> &[u8; 32] {
        &self.hash_key
    }
}

/// A mask as a DataFusion scalar UDF: `mask_<name>[_<arg>](column)`.
#[derive(Debug)]
pub struct MaskUdf {
    name: String,
    mask: Arc<dyn Mask>,
    ctx: MaskContext,
    signature: Signature,
}

impl MaskUdf {
    /// Wrap `mask` with the context it runs in.
    pub fn new(mask: Arc<dyn Mask>, ctx: MaskContext) -> Self {
        let spec = mask.spec();
        let name = format!(
            "mask_{}",
            spec.chars()
                .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
                .collect::<String>()
        );
        MaskUdf {
            name,
            mask,
            ctx,
            signature: Signature::any(1, Volatility::Immutable),
        }
    }

    /// The UDF, ready to call.
    pub fn into_udf(self) -> Arc<ScalarUDF> {
        Arc::new(ScalarUDF::new_from_impl(self))
    }
}

impl PartialEq for MaskUdf {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && self.ctx == other.ctx
    }
}

impl Eq for MaskUdf {}

impl Hash for MaskUdf {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.name.hash(state);
        self.ctx.hash(state);
    }
}

impl ScalarUDFImpl for MaskUdf {
    fn name(&self) -> &str {
        &self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> DfResult<DataType> {
        match arg_types {
            [t] if self.mask.supports(t) => Ok(t.clone()),
            [t] => Err(DataFusionError::Plan(format!(
                "mask `{}` cannot mask a column of type {t}",
                self.mask.spec()
            ))),
            _ => Err(DataFusionError::Plan(format!(
                "{} takes one argument",
                self.name
            ))),
        }
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let [arg] = args.args.as_slice() else {
            return Err(DataFusionError::Internal(format!(
                "{} takes one argument",
                self.name
            )));
        };
        let values = arg.to_array(args.number_rows)?;
        let masked = self.mask.apply(&values, &self.ctx)?;
        if masked.len() != values.len() || masked.data_type() != values.data_type() {
            return Err(DataFusionError::Internal(format!(
                "mask {} changed the length or type of its input",
                self.mask.spec()
            )));
        }
        Ok(ColumnarValue::Array(masked))
    }
}

/// Whether `t` is one of Arrow's string types.
pub(crate) fn is_string(t: &DataType) -> bool {
    matches!(t, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View)
}

/// Map each non-null string of `values` (any string type) through `f`, keeping the type.
pub(crate) fn map_strings(values: &ArrayRef, f: impl Fn(&str) -> String) -> DfResult<ArrayRef> {
    let utf8 = cast(values, &DataType::Utf8)?;
    let strings = utf8
        .as_any()
        .downcast_ref::<StringArray>()
        .ok_or_else(|| DataFusionError::Internal("cast to Utf8 gave no StringArray".into()))?;
    let out: StringArray = strings.iter().map(|v| v.map(&f)).collect();
    let out: ArrayRef = Arc::new(out);
    Ok(cast(&out, values.data_type())?)
}

/// Parse a mask's count argument (`4` in `last:4`).
pub(crate) fn count_arg(mask: &str, arg: Option<&str>) -> Result<usize, String> {
    let arg = arg.ok_or_else(|| format!("mask `{mask}` needs a count, e.g. `{mask}:4`"))?;
    arg.parse::<usize>()
        .map_err(|_| format!("mask `{mask}:{arg}`: the count must be a whole number"))
}
