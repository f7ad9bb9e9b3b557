//! `redact`: strings become `***`; values of any other type become null.

use arrow::array::{ArrayRef, new_null_array};
use arrow::datatypes::DataType;
use datafusion::error::Result as DfResult;

use super::{Mask, MaskContext, MaskKind, is_string, map_strings};

/// The `redact` mask kind.
pub struct RedactKind;

impl MaskKind for RedactKind {
    fn name(&self) -> &'static str {
        "redact"
    }

    fn parse(&self, arg: Option<&str>) -> Result<Box<dyn Mask>, String> {
        match arg {
            None => Ok(Box::new(Redact)),
            Some(a) => Err(format!("mask `redact` takes no argument (got `{a}`)")),
        }
    }
}

/// Replaces every value: strings by `***`, anything else by null.
#[derive(Debug)]
pub struct Redact;

impl Mask for Redact {
    fn spec(&self) -> String {
        "redact".into()
    }

    fn supports(&self, _: &DataType) -> bool {
        true
    }

    fn apply(&self, values: &ArrayRef, _: &MaskContext) -> DfResult<ArrayRef> {
        if is_string(values.data_type()) {
            map_strings(values, |_| "***".to_string())
        } else {
            Ok(new_null_array(values.data_type(), values.len()))
        }
    }
}
