//! Writing query results for people and programs: a table on the terminal, or CSV,
//! JSON or Parquet to a file or standard output, batch by batch.

use std::io::Write;
use std::str::FromStr;
use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use comfy_table::{Cell, Table, presets::UTF8_FULL_CONDENSED};

use crate::error::{GatewayError, Result};

/// Output formats of `sluice query`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Table,
    Csv,
    Json,
    Parquet,
}

impl FromStr for Format {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        match s {
            "table" => Ok(Format::Table),
            "csv" => Ok(Format::Csv),
            "json" => Ok(Format::Json),
            "parquet" => Ok(Format::Parquet),
            other => Err(format!(
                "unknown format `{other}`: use table, csv, json or parquet"
            )),
        }
    }
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

fn io(e: impl std::fmt::Display) -> GatewayError {
    GatewayError::Transport(format!("writing the result: {e}"))
}

impl<W: Write + Send> ResultWriter<W> {
    pub fn new(format: Format, out: W, schema: &SchemaRef) -> Result<Self> {
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
            Format::Csv => ResultWriter::Csv(
                arrow::csv::WriterBuilder::new()
                    .with_header(true)
                    .build(out),
            ),
            Format::Json => ResultWriter::Json(arrow::json::LineDelimitedWriter::new(out)),
            Format::Parquet => ResultWriter::Parquet(Box::new(
                datafusion::parquet::arrow::ArrowWriter::try_new(out, Arc::clone(schema), None)
                    .map_err(io)?,
            )),
        })
    }

    pub fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        match self {
            ResultWriter::Table {
                table,
                shown,
                total,
                ..
            } => {
                *total += batch.num_rows();
                let formatters = batch
                    .columns()
                    .iter()
                    .map(|c| {
                        arrow::util::display::ArrayFormatter::try_new(c.as_ref(), &table_format())
                    })
                    .collect::<std::result::Result<Vec<_>, _>>()
                    .map_err(io)?;
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
            ResultWriter::Csv(w) => w.write(batch).map_err(io),
            ResultWriter::Json(w) => w.write(batch).map_err(io),
            ResultWriter::Parquet(w) => w.write(batch).map_err(io),
        }
    }

    pub fn finish(self) -> Result<()> {
        match self {
            ResultWriter::Table {
                mut out,
                table,
                shown,
                total,
            } => {
                writeln!(out, "{table}").map_err(io)?;
                if total > shown {
                    writeln!(
                        out,
                        "({shown} of {total} rows shown; use --format csv to get them all)"
                    )
                    .map_err(io)?;
                }
                out.flush().map_err(io)
            }
            ResultWriter::Csv(w) => w.into_inner().flush().map_err(io),
            ResultWriter::Json(mut w) => {
                w.finish().map_err(io)?;
                w.into_inner().flush().map_err(io)
            }
            ResultWriter::Parquet(w) => w.close().map(|_| ()).map_err(io),
        }
    }
}

fn table_format() -> arrow::util::display::FormatOptions<'static> {
    arrow::util::display::FormatOptions::default().with_null("NULL")
}

/// Render batches as a table string, for the demo and tests.
pub fn render_table(batches: &[RecordBatch]) -> Result<String> {
    let Some(first) = batches.first() else {
        return Ok("(no rows)".to_string());
    };
    let mut buf = Vec::new();
    let mut w = ResultWriter::new(Format::Table, &mut buf, &first.schema())?;
    for b in batches {
        w.write(b)?;
    }
    w.finish()?;
    Ok(String::from_utf8_lossy(&buf).into_owned())
}
