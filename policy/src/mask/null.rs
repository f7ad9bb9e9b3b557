//! `null`: every value becomes null (of the column's own type).

use arrow::array::{ArrayRef, new_null_array};
use arrow::datatypes::DataType;
use datafusion::error::Result as DfResult;

use super::{Mask, MaskContext, MaskKind};

/// The `null` mask kind.
pub struct NullKind;

impl MaskKind for NullKind {
    fn name(&self) -> &'static str {
        "null"
    }

    fn parse(&self, arg: Option<&str>) -> Result<Box<dyn Mask>, String> {
        match arg {
            None => Ok(Box::new(Null)),
            Some(a) => Err(format!("mask `null` takes no argument (got `{a}`)")),
        }
    }
}

/// Replaces every value by null.
#[derive(Debug)]
pub struct Null;

impl Mask for Null {
    fn spec(&self) -> String {
        "null".into()
    }

    fn supports(&self, _: &DataType) -> bool {
        true
    }

    fn apply(&self, values: &ArrayRef, _: &MaskContext) -> DfResult<ArrayRef> {
        Ok(new_null_array(values.data_type(), values.len()))
    }
}
