//! Irregular series from CSV files: one type, [`CsvSeries`], whose doc describes the
//! layout, the order of the series and the errors; the parsing is split into the
//! header, one line, and one series' sorting.

use crate::{CsvProblem, Error, IrregularSeries, Result, Series};
use ndarray::Array2;
use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

/// Irregular series from the CSV layout of the GRU-ODE-Bayes data sets
/// (`ID,Time,Value_k..,Mask_k..`, De Brouwer et al. 2019; `BXLator.csv` and the
/// USHCN extract under `../shared/data/`).
///
/// # Layout
///
/// A header line, then one line per observation time of one series. The header must
/// name `ID`, `Time`, and a `Value_k` and a `Mask_k` for the same set of indices `k`
/// (the files here count from 0 or from 1); dimension `d` of a series is the `d`-th
/// smallest `k`, whatever the column order. Covariates of a series, the input of
/// GRU-ODE-Bayes's initial state, sit in columns named `Cov` or `Cov_k` (BXLator has
/// one, `Cov`, 0 throughout): `Cov` first, then the `Cov_k` by `k`; each must be a
/// finite number and the same on every line of a series. Other columns are read past.
/// `Mask_k` is 0 or 1, and `Value_k` must be a finite number where its mask is 1;
/// where it is 0 the value must still parse as a number but may be anything (NaN
/// included) and becomes 0, as [`IrregularSeries::new`] has it. A line whose masks
/// are all 0 is kept, as a time with nothing observed.
///
/// Fields are split on commas and trimmed of surrounding white space. The layout has no
/// quoting, so a `"` anywhere is an error rather than a guess. Blank lines are skipped
/// but counted, so that line numbers are the ones an editor shows.
///
/// # What comes out
///
/// The lines of one ID need not be adjacent nor in time order (BXLator's are neither):
/// they are grouped by ID and sorted by time, and two lines of one ID at the same time
/// are an error naming both lines. IDs are compared as text (`1` and `1.0` are two
/// series). The series come in the order in which their IDs first appear, which needs
/// no assumption about what an ID looks like; for both files here that is also
/// increasing numeric order.
///
/// # Errors
///
/// A file that cannot be opened is an [`Error::Io`]; everything else is an
/// [`Error::Csv`] naming the line (1-based, the header being line 1), the column by its
/// header name where one column is at fault, and the [`CsvProblem`].
///
/// ```
/// use seqmodels::CsvSeries;
///
/// let text = "ID,Time,Value_1,Mask_1\n7,2.0,0.5,1\n3,1.0,-1.0,1\n7,0.5,0,0\n";
/// let read = CsvSeries::from_csv_reader(text.as_bytes())?;
/// assert_eq!(read.ids, ["7", "3"]);
/// assert_eq!(read.data.series()[0].times, [0.5, 2.0]);
///
/// let err = CsvSeries::from_csv_reader("ID,Time,Value_1,Mask_1\n7,2.0,x,1\n".as_bytes()).unwrap_err();
/// assert_eq!(err.to_string(), "CSV input: line 2, column Value_1: `x` is not a number");
/// # Ok::<(), seqmodels::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct CsvSeries {
    /// The ID of each series as written in the file, in the order of `data`.
    pub ids: Vec<String>,
    /// The series, in the order in which their IDs first appear.
    pub data: IrregularSeries,
    /// Each series' covariates (`series x C`, in the order of `data`), when the
    /// header names any.
    pub covariates: Option<Array2<f64>>,
}

impl CsvSeries {
    /// Reads the layout from `reader`; errors name the source `CSV input`.
    pub fn from_csv_reader(reader: impl BufRead) -> Result<Self> {
        read(reader, "CSV input")
    }

    /// Reads the layout from the file at `path`; errors name the path.
    pub fn from_csv_path(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let file = File::open(path).map_err(|source| Error::Io { path: path.to_owned(), source })?;
        read(BufReader::new(file), &path.display().to_string())
    }
}

/// Builds the errors of one source.
struct Source<'a> {
    name: &'a str,
}

impl Source<'_> {
    fn fail(&self, line: usize, column: Option<&str>, problem: CsvProblem) -> Error {
        Error::Csv { source_name: self.name.to_owned(), line, column: column.map(str::to_owned), problem }
    }
}

/// Where the fields a series needs sit in a line.
struct Columns {
    /// The header's names, to name a column in an error.
    names: Vec<String>,
    id: usize,
    time: usize,
    /// Field index of dimension `d`'s value and mask.
    values: Vec<usize>,
    masks: Vec<usize>,
    /// Field index of each covariate, `Cov` first, then `Cov_k` by `k`.
    covariates: Vec<usize>,
}

impl Columns {
    /// Reads the header (line 1).
    fn parse(header: &str, src: &Source<'_>) -> Result<Self> {
        // An editor hides a byte-order mark, so the first name must not carry one.
        let header = header.strip_prefix('\u{feff}').unwrap_or(header);
        let names: Vec<String> = header.split(',').map(|f| f.trim().to_owned()).collect();
        if let Some(column) = quoted_field(header, &names) {
            return Err(src.fail(1, column, CsvProblem::Quote));
        }
        let (mut id, mut time) = (None, None);
        let (mut values, mut masks, mut covariates) = (BTreeMap::new(), BTreeMap::new(), BTreeMap::new());
        for (i, name) in names.iter().enumerate() {
            if names[..i].contains(name) {
                return Err(src.fail(1, Some(name), CsvProblem::DuplicateColumn));
            }
            let indexed = |suffix: &str| {
                suffix.parse::<usize>().map_err(|_| src.fail(1, Some(name), CsvProblem::ColumnIndex))
            };
            match name.as_str() {
                "ID" => id = Some(i),
                "Time" => time = Some(i),
                // `Cov` sorts before every `Cov_k`.
                "Cov" => _ = covariates.insert(None, i),
                _ => {
                    if let Some(k) = name.strip_prefix("Value_") {
                        values.insert(indexed(k)?, i);
                    } else if let Some(k) = name.strip_prefix("Mask_") {
                        masks.insert(indexed(k)?, i);
                    } else if let Some(k) = name.strip_prefix("Cov_") {
                        covariates.insert(Some(indexed(k)?), i);
                    }
                }
            }
        }
        let missing = |name: &str| src.fail(1, Some(name), CsvProblem::MissingColumn);
        let id = id.ok_or_else(|| missing("ID"))?;
        let time = time.ok_or_else(|| missing("Time"))?;
        if values.is_empty() && masks.is_empty() {
            return Err(missing("Value_k"));
        }
        if let Some(k) = values.keys().find(|k| !masks.contains_key(k)) {
            return Err(missing(&format!("Mask_{k}")));
        }
        if let Some(k) = masks.keys().find(|k| !values.contains_key(k)) {
            return Err(missing(&format!("Value_{k}")));
        }
        Ok(Columns {
            names,
            id,
            time,
            values: values.into_values().collect(),
            masks: masks.into_values().collect(),
            covariates: covariates.into_values().collect(),
        })
    }

    fn name(&self, field: usize) -> Option<&str> {
        self.names.get(field).map(String::as_str)
    }
}

/// The column holding the first `"` of `line`, if any (`None` inside the `Some` when
/// the quote lies beyond the header's columns).
fn quoted_field<'a>(line: &str, names: &'a [String]) -> Option<Option<&'a str>> {
    let at = line.find('"')?;
    let field = line[..at].matches(',').count();
    Some(names.get(field).map(String::as_str))
}

/// One data line.
struct Row {
    line: usize,
    time: f64,
    values: Vec<f64>,
    masks: Vec<f64>,
    covariates: Vec<f64>,
}

/// Reads one data line numbered `line`: its ID and the row.
fn parse_row<'l>(text: &'l str, line: usize, cols: &Columns, src: &Source<'_>) -> Result<(&'l str, Row)> {
    if let Some(column) = quoted_field(text, &cols.names) {
        return Err(src.fail(line, column, CsvProblem::Quote));
    }
    let fields: Vec<&str> = text.split(',').map(str::trim).collect();
    if fields.len() != cols.names.len() {
        let problem = CsvProblem::FieldCount { expected: cols.names.len(), found: fields.len() };
        return Err(src.fail(line, None, problem));
    }
    let number = |field: usize| {
        let text = fields[field];
        text.parse::<f64>()
            .map_err(|_| src.fail(line, cols.name(field), CsvProblem::NotANumber { text: text.to_owned() }))
    };
    let non_finite =
        |field: usize, value: f64| src.fail(line, cols.name(field), CsvProblem::NonFinite { value });
    let id = fields[cols.id];
    if id.is_empty() {
        return Err(src.fail(line, cols.name(cols.id), CsvProblem::EmptyId));
    }
    let time = number(cols.time)?;
    if !time.is_finite() {
        return Err(non_finite(cols.time, time));
    }
    // Masks first: whether a value must be finite depends on its mask.
    let masks = cols
        .masks
        .iter()
        .map(|&field| {
            let m = number(field)?;
            if m == 0.0 || m == 1.0 {
                Ok(m)
            } else {
                Err(src.fail(line, cols.name(field), CsvProblem::NotAMask { value: m }))
            }
        })
        .collect::<Result<Vec<f64>>>()?;
    let values = cols
        .values
        .iter()
        .zip(&masks)
        .map(|(&field, &m)| {
            let v = number(field)?;
            match (m == 1.0, v.is_finite()) {
                (true, false) => Err(non_finite(field, v)),
                (true, true) => Ok(v),
                (false, _) => Ok(0.0),
            }
        })
        .collect::<Result<Vec<f64>>>()?;
    let covariates = cols
        .covariates
        .iter()
        .map(|&field| {
            let c = number(field)?;
            if c.is_finite() { Ok(c) } else { Err(non_finite(field, c)) }
        })
        .collect::<Result<Vec<f64>>>()?;
    Ok((id, Row { line, time, values, masks, covariates }))
}

/// One series from its rows: sorted by time, a repeated time an error; and its
/// covariates, which must be the same on every line.
fn series(id: &str, mut rows: Vec<Row>, cols: &Columns, src: &Source<'_>) -> Result<(Series, Vec<f64>)> {
    // In file order, so that the first line that differs is the one named.
    if let Some(row) = rows.iter().find(|r| r.covariates != rows[0].covariates) {
        let k = (0..row.covariates.len()).find(|&k| row.covariates[k] != rows[0].covariates[k]);
        let column = k.and_then(|k| cols.name(cols.covariates[k]));
        let problem = CsvProblem::CovariateChanges { id: id.to_owned(), first_line: rows[0].line };
        return Err(src.fail(row.line, column, problem));
    }
    let covariates = rows[0].covariates.clone();
    rows.sort_by(|a, b| a.time.total_cmp(&b.time));
    if let Some(w) = rows.windows(2).find(|w| w[0].time == w[1].time) {
        let (first, second) = (w[0].line.min(w[1].line), w[0].line.max(w[1].line));
        let problem = CsvProblem::DuplicateTime { id: id.to_owned(), time: w[0].time, first_line: first };
        return Err(src.fail(second, Some("Time"), problem));
    }
    let (n, d) = (rows.len(), rows[0].values.len());
    let series = Series {
        times: rows.iter().map(|r| r.time).collect(),
        values: Array2::from_shape_fn((n, d), |(i, k)| rows[i].values[k]),
        masks: Array2::from_shape_fn((n, d), |(i, k)| rows[i].masks[k]),
    };
    Ok((series, covariates))
}

fn read(reader: impl BufRead, name: &str) -> Result<CsvSeries> {
    let src = Source { name };
    let mut lines = reader.lines().enumerate().map(|(i, l)| (i + 1, l));
    let header = match lines.next() {
        None => return Err(src.fail(1, None, CsvProblem::Empty)),
        Some((n, Err(e))) => return Err(src.fail(n, None, CsvProblem::Read(e))),
        Some((_, Ok(h))) => h,
    };
    let cols = Columns::parse(&header, &src)?;
    let mut ids: Vec<String> = Vec::new();
    let mut group_of: HashMap<String, usize> = HashMap::new();
    let mut groups: Vec<Vec<Row>> = Vec::new();
    for (n, text) in lines {
        let text = text.map_err(|e| src.fail(n, None, CsvProblem::Read(e)))?;
        if text.trim().is_empty() {
            continue;
        }
        let (id, row) = parse_row(&text, n, &cols, &src)?;
        let g = match group_of.get(id) {
            Some(&g) => g,
            None => {
                group_of.insert(id.to_owned(), groups.len());
                ids.push(id.to_owned());
                groups.push(Vec::new());
                groups.len() - 1
            }
        };
        groups[g].push(row);
    }
    if groups.is_empty() {
        return Err(src.fail(2, None, CsvProblem::NoRows));
    }
    let (series, covariates): (Vec<Series>, Vec<Vec<f64>>) = ids
        .iter()
        .zip(groups)
        .map(|(id, rows)| series(id, rows, &cols, &src))
        .collect::<Result<Vec<_>>>()?
        .into_iter()
        .unzip();
    let c = cols.covariates.len();
    let covariates = (c > 0).then(|| Array2::from_shape_fn((covariates.len(), c), |(i, k)| covariates[i][k]));
    Ok(CsvSeries { ids, data: IrregularSeries::new(series)?, covariates })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    /// Reads `text`, expecting a CSV error: its line, column and problem.
    fn csv_error(text: &str) -> (usize, Option<String>, CsvProblem) {
        match CsvSeries::from_csv_reader(text.as_bytes()) {
            Err(Error::Csv { line, column, problem, .. }) => (line, column, problem),
            other => panic!("expected a CSV error, got {other:?}"),
        }
    }

    #[test]
    fn interleaved_unsorted_rows_become_sorted_series_in_order_of_first_appearance() {
        // Series 7 on lines 2, 4, 6 (times 2.0, 0.5, 1.0), series 3 on lines 3 and 5;
        // a masked NaN, white space, a CRLF line and a blank line on the way.
        let text = "ID,Time,Value_1,Value_2,Mask_1,Mask_2,Cov\n\
                    7,2.0,1.5,2.5,1,1,0\n\
                    3,0.25,-1,nan,1,0,9\n\
                    7, 0.5 ,3,0,1.0,0.0,0\r\n\
                    3,0.1,0,4,0,1,9\n\
                    \n\
                    7,1.0,5,6,1,1,0\n";
        let read = CsvSeries::from_csv_reader(text.as_bytes()).unwrap();
        assert_eq!(read.ids, ["7", "3"]);
        let s = read.data.series();
        assert_eq!(read.data.dim(), 2);
        assert_eq!(s[0].times, [0.5, 1.0, 2.0]);
        assert_eq!(s[0].values, array![[3.0, 0.0], [5.0, 6.0], [1.5, 2.5]]);
        assert_eq!(s[0].masks, array![[1.0, 0.0], [1.0, 1.0], [1.0, 1.0]]);
        assert_eq!(s[1].times, [0.1, 0.25]);
        // The masked NaN is read as 0.
        assert_eq!(s[1].values, array![[0.0, 4.0], [-1.0, 0.0]]);
        assert_eq!(s[1].masks, array![[0.0, 1.0], [1.0, 0.0]]);
        assert_eq!(read.covariates, Some(array![[0.0], [9.0]]));
    }

    #[test]
    fn covariates_are_per_series_in_index_order_and_must_not_change() {
        let text = "ID,Time,Value_0,Mask_0,Cov_1,Cov\na,0.0,1,1,5,7\nb,0.5,2,1,6,8\na,1.0,3,1,5,7\n";
        let read = CsvSeries::from_csv_reader(text.as_bytes()).unwrap();
        assert_eq!(read.covariates, Some(array![[7.0, 5.0], [8.0, 6.0]]), "`Cov` first, then `Cov_1`");
        let text = "ID,Time,Value_0,Mask_0,Cov\na,0.0,1,1,5\nb,0.5,2,1,6\na,1.0,3,1,4\n";
        let (line, column, problem) = csv_error(text);
        assert_eq!((line, column.as_deref()), (4, Some("Cov")));
        assert!(
            matches!(problem, CsvProblem::CovariateChanges { ref id, first_line: 2 } if id == "a"),
            "{problem:?}"
        );
        let (line, column, problem) = csv_error("ID,Time,Value_0,Mask_0,Cov\na,0.0,1,1,inf\n");
        assert_eq!((line, column.as_deref()), (2, Some("Cov")));
        assert!(matches!(problem, CsvProblem::NonFinite { .. }), "{problem:?}");
        let plain = CsvSeries::from_csv_reader("ID,Time,Value_0,Mask_0\na,0.0,1,1\n".as_bytes()).unwrap();
        assert_eq!(plain.covariates, None);
    }

    #[test]
    fn dimensions_follow_the_index_not_the_column_order() {
        let text = "Mask_1,ID,Value_1,Time,Value_0,Mask_0\n1,a,10,0.0,20,0\n";
        let read = CsvSeries::from_csv_reader(text.as_bytes()).unwrap();
        // Dimension 0 is Value_0 (masked, so 0), dimension 1 is Value_1.
        assert_eq!(read.data.series()[0].values, array![[0.0, 10.0]]);
        assert_eq!(read.data.series()[0].masks, array![[0.0, 1.0]]);
    }

    #[test]
    fn every_header_problem_names_line_1_and_the_column() {
        assert!(matches!(csv_error(""), (1, None, CsvProblem::Empty)));
        assert!(matches!(csv_error("ID,Time,Value_1,Mask_1\n"), (2, None, CsvProblem::NoRows)));
        assert!(matches!(csv_error("ID,Time,Value_1,Mask_1\n\n  \n"), (2, None, CsvProblem::NoRows)));
        let cases = [
            ("ID,Value_1,Mask_1\n0,1,1\n", "Time", "missing"),
            ("Time,Value_1,Mask_1\n", "ID", "missing"),
            ("ID,Time,Value_1,Value_2,Mask_1\n", "Mask_2", "missing"),
            ("ID,Time,Value_0,Mask_0,Mask_1\n", "Value_1", "missing"),
            ("ID,Time,Cov\n", "Value_k", "missing"),
            ("ID,Time,Value_1,Time,Mask_1\n", "Time", "twice"),
            ("ID,Time,Value_x,Mask_x\n", "Value_x", "index"),
            // A quoted header field is named as written, quotes included.
            ("ID,\"Time\",Value_1,Mask_1\n", "\"Time\"", "quote"),
        ];
        for (text, name, kind) in cases {
            let (line, column, problem) = csv_error(text);
            assert_eq!((line, column.as_deref()), (1, Some(name)), "{text:?}");
            let right_kind = match kind {
                "missing" => matches!(problem, CsvProblem::MissingColumn),
                "twice" => matches!(problem, CsvProblem::DuplicateColumn),
                "index" => matches!(problem, CsvProblem::ColumnIndex),
                _ => matches!(problem, CsvProblem::Quote),
            };
            assert!(right_kind, "{text:?}: {problem:?}");
        }
    }

    #[test]
    fn every_line_problem_names_its_line_and_column() {
        let h = "ID,Time,Value_1,Mask_1\n0,0.0,1.0,1\n";
        let (line, column, problem) = csv_error(&format!("{h}0,1.0,2.0\n"));
        assert_eq!((line, column), (3, None));
        assert!(matches!(problem, CsvProblem::FieldCount { expected: 4, found: 3 }), "{problem:?}");
        // The blank line 3 still counts.
        let (line, column, problem) = csv_error(&format!("{h}\n0,1.0,abc,1\n"));
        assert_eq!((line, column.as_deref()), (4, Some("Value_1")));
        assert!(matches!(&problem, CsvProblem::NotANumber { text } if text == "abc"), "{problem:?}");
        let (line, column, problem) = csv_error(&format!("{h}0,1.0,NaN,1\n"));
        assert_eq!((line, column.as_deref()), (3, Some("Value_1")));
        assert!(matches!(problem, CsvProblem::NonFinite { value } if value.is_nan()));
        let (line, column, problem) = csv_error(&format!("{h}0,inf,1.0,1\n"));
        assert_eq!((line, column.as_deref()), (3, Some("Time")));
        assert!(matches!(problem, CsvProblem::NonFinite { value: f64::INFINITY }));
        let (line, column, problem) = csv_error(&format!("{h}0,1.0,1.0,0.5\n"));
        assert_eq!((line, column.as_deref()), (3, Some("Mask_1")));
        assert!(matches!(problem, CsvProblem::NotAMask { value: 0.5 }));
        let (line, column, problem) = csv_error(&format!("{h}0,1.0,\"1,5\",1\n"));
        assert_eq!((line, column.as_deref()), (3, Some("Value_1")));
        assert!(matches!(problem, CsvProblem::Quote));
        let (line, column, problem) = csv_error(&format!("{h} ,1.0,1.0,1\n"));
        assert_eq!((line, column.as_deref()), (3, Some("ID")));
        assert!(matches!(problem, CsvProblem::EmptyId));
        // Series 0 at time 0.0 on lines 2 and 4; series 1 between them.
        let (line, column, problem) = csv_error(&format!("{h}1,0.0,1.0,1\n0,0.0,5.0,1\n"));
        assert_eq!((line, column.as_deref()), (4, Some("Time")));
        assert!(
            matches!(&problem, CsvProblem::DuplicateTime { id, time: 0.0, first_line: 2 } if id == "0"),
            "{problem:?}"
        );
    }

    #[test]
    fn messages_name_the_source_line_and_column() {
        let err = CsvSeries::from_csv_reader("ID,Time,Value_1,Mask_1\n0,0.0,1.0,2\n".as_bytes()).unwrap_err();
        assert_eq!(err.to_string(), "CSV input: line 2, column Mask_1: mask 2 is neither 0 nor 1");
        let err = CsvSeries::from_csv_reader("ID,Time,Value_1,Mask_1\n0,0.0\n".as_bytes()).unwrap_err();
        assert_eq!(err.to_string(), "CSV input: line 2: 2 fields where the header has 4");
        let text = "ID,Time,Value_1,Mask_1\n4,1.5,1.0,1\n4,1.5,2.0,1\n";
        let err = CsvSeries::from_csv_reader(text.as_bytes()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "CSV input: line 3, column Time: series `4` has a second line at time 1.5 (the other is line 2)"
        );
    }

    #[test]
    fn io_failures_are_typed() {
        let missing = Path::new("/nonexistent/latent-seq/no.csv");
        assert!(matches!(CsvSeries::from_csv_path(missing), Err(Error::Io { path, .. }) if path == missing));
        // Bytes that are not UTF-8 on line 3.
        let bytes = b"ID,Time,Value_1,Mask_1\n0,0.0,1.0,1\n0,1.0,\xff,1\n";
        let err = CsvSeries::from_csv_reader(&bytes[..]).unwrap_err();
        assert!(
            matches!(err, Error::Csv { line: 3, column: None, problem: CsvProblem::Read(_), .. }),
            "{err}"
        );
    }

    /// The two irregular files of `../shared/data/`, when this machine has them.
    #[test]
    fn the_shared_data_files_have_the_counts_of_their_readme() {
        let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data");
        // (file, series and dimensions stated in the data README, lines below the header by `wc -l`)
        let files =
            [("ushcn_ri/ushcn_ri_sporadic.csv", 72, 5, 11_575), ("bxlator/BXLator.csv", 1000, 2, 24_409)];
        for (file, series, dim, rows) in files {
            let path = data.join(file);
            if !path.exists() {
                println!("skipped: {} is not on this machine", path.display());
                continue;
            }
            let read = CsvSeries::from_csv_path(&path).unwrap();
            assert_eq!(
                (read.ids.len(), read.data.series().len(), read.data.dim()),
                (series, series, dim),
                "{file}"
            );
            let lines: usize = read.data.series().iter().map(|s| s.times.len()).sum();
            assert_eq!(lines, rows, "{file}");
            if file.starts_with("ushcn") {
                // "72 series of time 0..100"
                let times = read.data.series().iter().flat_map(|s| s.times.iter().copied());
                assert!(times.clone().all(|t| (0.0..=100.0).contains(&t)), "{file}");
            }
        }
    }
}
