//! `last:N`: keep a string's last N characters and replace the others by `*`.

use arrow::array::ArrayRef;
use arrow::datatypes::DataType;
use datafusion::error::Result as DfResult;

use super::{Mask, MaskContext, MaskKind, count_arg, is_string, map_strings};

/// The `last:N` mask kind.
pub struct LastKind;

impl MaskKind for LastKind {
    fn name(&self) -> &'static str {
        "last"
    }

    fn parse(&self, arg: Option<&str>) -> Result<Box<dyn Mask>, String> {
        Ok(Box::new(Last(count_arg("last", arg)?)))
    }
}

/// Shows the last N characters: `110101199001011234` becomes `**************1234`.
#[derive(Debug)]
pub struct Last(pub usize);

impl Mask for Last {
    fn spec(&self) -> String {
        format!("last:{}", self.0)
    }

    fn supports(&self, t: &DataType) -> bool {
        is_string(t)
    }

    fn apply(&self, values: &ArrayRef, _: &MaskContext) -> DfResult<ArrayRef> {
        let n = self.0;
        map_strings(values, |s| {
            let len = s.chars().count();
            let hide = len.saturating_sub(n);
            s.chars()
                .enumerate()
                .map(|(i, c)| if i < hide { '*' } else { c })
                .collect()
        })
    }
}
