//! Loaders for the data sets of the examples: polyphonic music piano rolls and the
//! 8x8 digits.
//!
//! **Polyphonic music** (Boulanger-Lewandowski et al. 2012): a JSON object
//! `{"train": [...], "valid": [...], "test": [...]}`; a split is a list of
//! sequences, a sequence a list of time steps, a step the list of active MIDI
//! pitches in `21..=108` (an empty list is silence). Each step becomes an
//! 88-dimensional 0/1 row with a 1 at column `pitch - 21`.
//!
//! **Digits** (UCI optical digits, as shipped by scikit-learn): CSV with a header,
//! 64 pixel columns then the label, one image per line.

use crate::{Error, Result};
use ndarray::Array2;
use serde_json::Value;
use std::path::Path;

/// Lowest MIDI pitch of the piano roll (A0).
pub const PITCH_LO: u64 = 21;
/// Highest MIDI pitch of the piano roll (C8).
pub const PITCH_HI: u64 = 108;
/// Width of a piano-roll step: `PITCH_HI - PITCH_LO + 1`.
pub const NOTES: usize = 88;

/// The three splits of a polyphonic music data set, each a list of `T_i x 88` 0/1
/// piano rolls (row = time step).
#[derive(Debug, Clone, PartialEq)]
pub struct PianoRolls {
    /// Training sequences.
    pub train: Vec<Array2<f64>>,
    /// Validation sequences.
    pub valid: Vec<Array2<f64>>,
    /// Test sequences.
    pub test: Vec<Array2<f64>>,
}

impl PianoRolls {
    /// Total number of time steps of a split.
    pub fn steps(split: &[Array2<f64>]) -> usize {
        split.iter().map(Array2::nrows).sum()
    }
}

/// Reads a polyphonic music JSON file (see the module docs).
pub fn load_polyphonic(path: &Path) -> Result<PianoRolls> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Io { path: path.to_owned(), source })?;
    parse_polyphonic(&text, &path.display().to_string())
}

/// Parses polyphonic music JSON; `source` names the input in error messages.
pub fn parse_polyphonic(text: &str, source: &str) -> Result<PianoRolls> {
    let fail = |reason: String| Error::Format { source_name: source.to_owned(), reason };
    let root: Value = serde_json::from_str(text).map_err(|e| fail(format!("not valid JSON: {e}")))?;
    let split = |name: &str| -> Result<Vec<Array2<f64>>> {
        let seqs = root
            .get(name)
            .ok_or_else(|| fail(format!("no \"{name}\" split")))?
            .as_array()
            .ok_or_else(|| fail(format!("split \"{name}\" is not a list of sequences")))?;
        seqs.iter()
            .enumerate()
            .map(|(i, seq)| piano_roll(seq).map_err(|r| fail(format!("{name}[{i}]{r}"))))
            .collect()
    };
    Ok(PianoRolls { train: split("train")?, valid: split("valid")?, test: split("test")? })
}

/// One sequence as a `T x 88` roll; errors are the location suffix and reason.
fn piano_roll(seq: &Value) -> Result<Array2<f64>, String> {
    let steps = seq.as_array().ok_or(": a sequence must be a list of time steps".to_owned())?;
    if steps.is_empty() {
        return Err(": a sequence has no time steps".into());
    }
    let mut roll = Array2::zeros((steps.len(), NOTES));
    for (t, step) in steps.iter().enumerate() {
        let notes = step.as_array().ok_or(format!("[{t}]: a time step must be a list of pitches"))?;
        for note in notes {
            let pitch = note
                .as_u64()
                .or_else(|| note.as_f64().filter(|p| p.fract() == 0.0 && *p >= 0.0).map(|p| p as u64))
                .ok_or(format!("[{t}]: pitch {note} is not a non-negative integer"))?;
            if !(PITCH_LO..=PITCH_HI).contains(&pitch) {
                return Err(format!("[{t}]: pitch {pitch} outside the piano range {PITCH_LO}..={PITCH_HI}"));
            }
            roll[(t, (pitch - PITCH_LO) as usize)] = 1.0;
        }
    }
    Ok(roll)
}

/// Images and labels of the digits CSV.
#[derive(Debug, Clone, PartialEq)]
pub struct Digits {
    /// One image per row, 64 pixels in row-major order.
    pub images: Array2<f64>,
    /// The digit shown by each image.
    pub labels: Vec<u8>,
}

/// Reads the digits CSV (64 pixel columns and a label, after a header line).
pub fn load_digits(path: &Path) -> Result<Digits> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Io { path: path.to_owned(), source })?;
    parse_digits(&text, &path.display().to_string())
}

/// Parses the digits CSV; `source` names the input in error messages.
pub fn parse_digits(text: &str, source: &str) -> Result<Digits> {
    const PIXELS: usize = 64;
    let fail = |line: usize, reason: String| Error::Format {
        source_name: source.to_owned(),
        reason: format!("line {line}: {reason}"),
    };
    // The first line is skipped as the header: a file without one would silently
    // lose its first image, so a first line that reads as numbers is refused.
    if let Some(first) = text.lines().next()
        && !first.trim().is_empty()
        && first.split(',').all(|f| f.trim().parse::<f64>().is_ok())
    {
        return Err(fail(1, "numbers where the header belongs (the file needs a header line)".into()));
    }
    let mut pixels = Vec::new();
    let mut labels = Vec::new();
    for (i, line) in text.lines().enumerate().skip(1).filter(|(_, l)| !l.trim().is_empty()) {
        let fields: Vec<&str> = line.split(',').collect();
        if fields.len() != PIXELS + 1 {
            return Err(fail(
                i + 1,
                format!("{} fields, expected {} pixels and a label", fields.len(), PIXELS),
            ));
        }
        for f in &fields[..PIXELS] {
            let v = f.trim().parse().ok().filter(|v: &f64| v.is_finite());
            pixels.push(v.ok_or_else(|| fail(i + 1, format!("pixel `{f}` is not a finite number")))?);
        }
        let label = fields[PIXELS].trim();
        let digit = label.parse().ok().filter(|d: &u8| *d <= 9);
        labels.push(digit.ok_or_else(|| fail(i + 1, format!("label `{label}` is not a digit")))?);
    }
    if labels.is_empty() {
        return Err(fail(1, "no images".into()));
    }
    let images = Array2::from_shape_vec((labels.len(), PIXELS), pixels).expect("64 pixels per label");
    Ok(Digits { images, labels })
}
