//! Writing query results for people and programs: a table on the terminal, or CSV,
//! JSON or Parquet to a file or standard output, batch by batch. An empty result is
//! still a valid file of its format, with the result's columns.

use std::io::Write;

use anyhow::Context as _;
use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use comfy_table::{Cell, Table, presets::UTF8_FULL_CONDENSED};

/// Output formats of `sluice query`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// A table for the terminal (the first 1,000 rows).
    Table,
    /// CSV with a header line.
    Csv,
    /// One JSON object per line.
    Json,
    /// A Parquet file (needs --output).
    Parquet,
}

/// Rows shown by the table format; the rest are counted, not drawn.
pub const TABLE_ROW_LIMIT: usize = 1000;

/// Writes batches in one format as they arrive.
// One writer exists per query, so the size of the largest variant does not matter.
#[allow(clippy::large_enum_variant)]
pub enum ResultWriter<W: Write + Send> {
    Table {
        out: W,
        table: Box<Table>,
        shown: usize,
        total: usize,
    },
    Csv(arrow::csv::Writer<W>),
    Json(arrow::json::LineDelimitedWriter<W>),
    Parquet(Box<datafusion::parquet::arrow::ArrowWriter<W>>),
}

impl<W: Write + Send> ResultWriter<W> {
    pub fn new(format: Format, out: W, schema: SchemaRef) -> anyhow::Result<Self> {
        Ok(match format {
            Format::Table => {
                let mut table = Table::new();
                table.load_preset(UTF8_FULL_CONDENSED);
                table.set_header(schema.fields().iter().map(|f| Cell::new(f.name())));
                ResultWriter::Table {
                    out,
                    table: Box::new(table),
                    shown: 0,
                    total: 0,
                }
            }
            Format::Csv => {
                let mut w = arrow::csv::WriterBuilder::new()
                    .with_header(true)
                    .build(out);
                // The header goes out even when no row follows.
                w.write(&RecordBatch::new_empty(schema)).map_err(arrow_io)?;
                ResultWriter::Csv(w)
            }
            Format::Json => ResultWriter::Json(arrow::json::LineDelimitedWriter::new(out)),
            Format::Parquet => ResultWriter::Parquet(Box::new(
                datafusion::parquet::arrow::ArrowWriter::try_new(out, schema, None)
                    .context("starting the Parquet file")?,
            )),
        })
    }

    pub fn write(&mut self, batch: &RecordBatch) -> anyhow::Result<()> {
        match self {
            ResultWriter::Table {
                table,
                shown,
                total,
                ..
            } => {
                *total += batch.num_rows();
                let options = arrow::util::display::FormatOptions::default().with_null("NULL");
                let formatters = batch
                    .columns()
                    .iter()
                    .map(|c| arrow::util::display::ArrayFormatter::try_new(c.as_ref(), &options))
                    .collect::<Result<Vec<_>, _>>()?;
                for row in 0..batch.num_rows() {
                    if *shown >= TABLE_ROW_LIMIT {
                        break;
                    }
                    table.add_row(
                        formatters
                            .iter()
                            .map(|f| Cell::new(f.value(row).to_string())),
                    );
                    *shown += 1;
                }
                Ok(())
            }
            ResultWriter::Csv(w) => w.write(batch).map_err(arrow_io),
            ResultWriter::Json(w) => w.write(batch).map_err(arrow_io),
            ResultWriter::Parquet(w) => w.write(batch).context("writing the Parquet file"),
        }
    }

    /// Finish the format's framing and hand back the output.
    pub fn finish(self) -> anyhow::Result<W> {
        match self {
            ResultWriter::Table {
                mut out,
                table,
                shown,
                total,
            } => {
                if total == 0 {
                    writeln!(out, "{table}\n(no rows)")?;
                } else {
                    writeln!(out, "{table}")?;
                }
                if total > shown {
                    writeln!(
                        out,
                        "({shown} of {total} rows shown; use --format csv to get them all)"
                    )?;
                }
                Ok(out)
            }
            ResultWriter::Csv(w) => Ok(w.into_inner()),
            ResultWriter::Json(mut w) => {
                w.finish().map_err(arrow_io)?;
                Ok(w.into_inner())
            }
            ResultWriter::Parquet(w) => w.into_inner().context("closing the Parquet file"),
        }
    }
}

/// Arrow's writers wrap I/O errors; unwrap them so a closed pipe is seen as one.
fn arrow_io(e: arrow::error::ArrowError) -> anyhow::Error {
    match e {
        arrow::error::ArrowError::IoError(_, io) => {
            anyhow::Error::new(io).context("writing the result")
        }
        other => anyhow::Error::new(other).context("writing the result"),
    }
}

/// A unix time in milliseconds as `YYYY-MM-DD HH:MM:SS` (UTC), or the number itself
/// where it is out of range.
pub fn utc(ms: u64) -> String {
    i64::try_from(ms)
        .ok()
        .and_then(chrono::DateTime::from_timestamp_millis)
        .map_or_else(
            || ms.to_string(),
            |t| t.format("%Y-%m-%d %H:%M:%S").to_string(),
        )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::sync::Arc;

    use arrow::datatypes::{DataType, Field, Schema};

    use super::*;

    fn schema() -> SchemaRef {
        Arc::new(Schema::new(vec![Field::new("id", DataType::Int64, true)]))
    }

    #[test]
    fn an_empty_parquet_result_is_a_parquet_file_with_its_columns() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("empty.parquet");
        let file = std::fs::File::create(&path).unwrap();
        ResultWriter::new(Format::Parquet, file, schema())
            .unwrap()
            .finish()
            .unwrap();
        let reader =
            datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
                std::fs::File::open(&path).unwrap(),
            )
            .unwrap();
        assert_eq!(reader.schema().fields().len(), 1);
        assert_eq!(reader.schema().field(0).name(), "id");
    }

    #[test]
    fn an_empty_csv_result_is_its_header() {
        let w = ResultWriter::new(Format::Csv, Vec::new(), schema()).unwrap();
        let out = String::from_utf8(w.finish().unwrap()).unwrap();
        assert_eq!(out, "id\n");
    }
}
