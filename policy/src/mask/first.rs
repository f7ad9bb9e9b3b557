//! `first:N`: keep a string's first N characters and replace the others by `*`.

use arrow::array::ArrayRef;
use arrow::datatypes::DataType;
use datafusion::error::Result as DfResult;

use super::{Mask, MaskContext, MaskKind, count_arg, is_string, map_strings};

/// The `first:N` mask kind.
pub struct FirstKind;

impl MaskKind for FirstKind {
    fn name(&self) -> &'static str {
        "first"
    }

    fn parse(&self, arg: Option<&str>) -> Result<Box<dyn Mask>, String> {
        Ok(Box::new(First(count_arg("first", arg)?)))
    }
}

/// Shows the first N characters: `Zhang Wei` becomes `Zh*******` with `first:2`.
#[derive(Debug)]
pub struct First(pub usize);

impl Mask for First {
    fn spec(&self) -> String {
        format!("first:{}", self.0)
    }

    fn supports(&self, t: &DataType) -> bool {
        is_string(t)
    }

    fn apply(&self, values: &ArrayRef, _: &MaskContext) -> DfResult<ArrayRef> {
        let n = self.0;
        map_strings(values, |s| {
            s.chars()
                .enumerate()
                .map(|(i, c)| if i < n { c } else { '*' })
                .collect()
        })
    }
}
