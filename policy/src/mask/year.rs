//! `year`: a date or timestamp becomes the first instant of its year (1987-06-05 becomes
//! 1987-01-01), keeping the column's type.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, Date32Array};
use arrow::compute::cast;
use arrow::datatypes::DataType;
use chrono::{Datelike, NaiveDate};
use datafusion::error::{DataFusionError, Result as DfResult};

use super::{Mask, MaskContext, MaskKind};

/// The `year` mask kind.
pub struct YearKind;

impl MaskKind for YearKind {
    fn name(&self) -> &'static str {
        "year"
    }

    fn parse(&self, arg: Option<&str>) -> Result<Box<dyn Mask>, String> {
        match arg {
            None => Ok(Box::new(Year)),
            Some(a) => Err(format!("mask `year` takes no argument (got `{a}`)")),
        }
    }
}

/// Keeps only the year of a date.
#[derive(Debug)]
pub struct Year;

/// Days from 0001-01-01 (chrono's day 1) to 1970-01-01.
const UNIX_EPOCH_DAYS_FROM_CE: i32 = 719_163;

fn year_start(days: i32) -> Option<i32> {
    let date = NaiveDate::from_num_days_from_ce_opt(days.checked_add(UNIX_EPOCH_DAYS_FROM_CE)?)?;
    let start = NaiveDate::from_ymd_opt(date.year(), 1, 1)?;
    start
        .num_days_from_ce()
        .checked_sub(UNIX_EPOCH_DAYS_FROM_CE)
}

impl Mask for Year {
    fn spec(&self) -> String {
        "year".into()
    }

    fn supports(&self, t: &DataType) -> bool {
        matches!(
            t,
            DataType::Date32 | DataType::Date64 | DataType::Timestamp(_, None)
        )
    }

    fn apply(&self, values: &ArrayRef, _: &MaskContext) -> DfResult<ArrayRef> {
        let days = cast(values, &DataType::Date32)?;
        let days = days.as_any().downcast_ref::<Date32Array>().ok_or_else(|| {
            DataFusionError::Internal("cast to Date32 gave no Date32Array".into())
        })?;
        // A date chrono cannot represent becomes null rather than passing through.
        let years: Date32Array = days.iter().map(|d| d.and_then(year_start)).collect();
        let years: ArrayRef = Arc::new(years);
        Ok(cast(&years, values.data_type())?)
    }
}
