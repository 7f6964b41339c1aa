//! The metrics log: one row per optimizer step and one per epoch, as JSON lines or CSV.
//!
//! Step rows hold `kind = "step"`, `step` (steps taken, counting this one), `epoch`,
//! `loss`, `lr`, `grad_norm` (before clipping), `kl_weight`, `elapsed_s` and every
//! value the loss recorded with [`StepCtx::record`](crate::StepCtx::record). Epoch
//! rows hold `kind = "epoch"`, `step`, `epoch` (epochs completed), `train_loss`,
//! `elapsed_s` and every metric the epoch callbacks added (`val_loss`, ...).
//!
//! JSON lines (any extension but `.csv`) write each row as one object, keys in that
//! order. CSV needs its columns up front, so the first epoch's rows are held back
//! until the epoch ends (or training stops), when every column has been seen; a
//! column appearing later is an error (switch to JSON lines for such logs). Fields
//! are written and the header read back by the `csv` crate, so a metric name or a
//! text value holding a comma or a quote is quoted as RFC 4180 says. Resuming
//! appends to the existing file (reusing a CSV's header).

use crate::{Error, Result};
use serde_json::Value;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

/// One row: named values in order.
pub type Row = Vec<(String, Value)>;

/// How rows are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// One JSON object per line.
    JsonLines,
    /// Comma-separated values with a header line.
    Csv,
}

impl LogFormat {
    /// CSV for a `.csv` path, JSON lines otherwise.
    pub fn from_path(path: &Path) -> Self {
        match path.extension().and_then(|e| e.to_str()) {
            Some(e) if e.eq_ignore_ascii_case("csv") => LogFormat::Csv,
            _ => LogFormat::JsonLines,
        }
    }
}

/// An open metrics log.
#[derive(Debug)]
pub struct MetricsLog {
    path: PathBuf,
    format: LogFormat,
    out: BufWriter<std::fs::File>,
    columns: Option<Vec<String>>,
    pending: Vec<Row>,
}

impl MetricsLog {
    /// Creates (or, with `append`, continues) the log at `path`, its format from the extension.
    pub fn open(path: &Path, append: bool) -> Result<Self> {
        let format = LogFormat::from_path(path);
        let mut columns = None;
        if append && format == LogFormat::Csv && path.exists() {
            let mut reader =
                csv::ReaderBuilder::new().has_headers(false).from_path(path).map_err(csv_err(path))?;
            if let Some(header) = reader.records().next() {
                columns = Some(header.map_err(csv_err(path))?.iter().map(str::to_owned).collect());
            }
        }
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(Error::io(dir))?;
        }
        let file = std::fs::OpenOptions::new()
            .create(true)
            .write(true)
            .append(append)
            .truncate(!append)
            .open(path)
            .map_err(Error::io(path))?;
        Ok(MetricsLog {
            path: path.to_owned(),
            format,
            out: BufWriter::new(file),
            columns,
            pending: Vec::new(),
        })
    }

    /// Appends a row (held back for a CSV whose columns are not fixed yet).
    pub fn write(&mut self, row: Row) -> Result<()> {
        match (self.format, &self.columns) {
            (LogFormat::JsonLines, _) => {
                let fields: Vec<String> =
                    row.iter().map(|(k, v)| format!("{}:{}", Value::String(k.clone()), v)).collect();
                writeln!(self.out, "{{{}}}", fields.join(",")).map_err(Error::io(&self.path))
            }
            (LogFormat::Csv, None) => {
                self.pending.push(row);
                Ok(())
            }
            (LogFormat::Csv, Some(_)) => self.write_csv(&row),
        }
    }

    /// Fixes the CSV columns from the rows held back and writes them; then flushes.
    pub fn commit(&mut self) -> Result<()> {
        if self.format == LogFormat::Csv && self.columns.is_none() && !self.pending.is_empty() {
            let mut cols: Vec<String> = Vec::new();
            for (k, _) in self.pending.iter().flatten() {
                if !cols.contains(k) {
                    cols.push(k.clone());
                }
            }
            self.write_record(&cols)?;
            self.columns = Some(cols);
            for row in std::mem::take(&mut self.pending) {
                self.write_csv(&row)?;
            }
        }
        self.out.flush().map_err(Error::io(&self.path))
    }

    fn write_csv(&mut self, row: &Row) -> Result<()> {
        let cols = self.columns.as_ref().expect("columns are fixed before CSV rows are written");
        if let Some((k, _)) = row.iter().find(|(k, _)| !cols.contains(k)) {
            return Err(Error::config(
                format!("metrics log {}", self.path.display()),
                format!("column `{k}` appeared after the CSV header was written; use a .jsonl log"),
            ));
        }
        let cells: Vec<String> = cols
            .iter()
            .map(|c| match row.iter().find(|(k, _)| k == c).map(|(_, v)| v) {
                Some(Value::String(s)) => s.clone(),
                Some(v) => v.to_string(),
                None => String::new(),
            })
            .collect();
        self.write_record(&cells)
    }

    /// One CSV record, quoted where a field needs it.
    fn write_record(&mut self, fields: &[String]) -> Result<()> {
        let mut w = csv::WriterBuilder::new().has_headers(false).from_writer(&mut self.out);
        w.write_record(fields).map_err(csv_err(&self.path))?;
        w.flush().map_err(Error::io(&self.path))
    }
}

/// A `csv` error as this crate's I/O or format error for `path`.
fn csv_err(path: &Path) -> impl Fn(csv::Error) -> Error + '_ {
    move |e| match e.into_kind() {
        csv::ErrorKind::Io(io) => Error::io(path)(io),
        other => Error::format(path, format!("CSV: {other:?}")),
    }
}
