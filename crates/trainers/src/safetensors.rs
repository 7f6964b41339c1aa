//! Reading and writing the [safetensors](https://huggingface.co/docs/safetensors)
//! format by hand (it is small enough not to need a dependency).
//!
//! A file is:
//!
//! 1. 8 bytes: `N`, the header length, as a little-endian `u64`;
//! 2. `N` bytes of UTF-8 JSON (padded with spaces to a multiple of 8), an object
//!    mapping each tensor name to `{"dtype": "F64", "shape": [rows, cols],
//!    "data_offsets": [begin, end]}`, plus an optional `"__metadata__"` object of
//!    string to string;
//! 3. the data: each tensor's entries, row-major, as little-endian `f64`, at byte
//!    offsets `begin..end` counted from the end of the header.
//!
//! From Python, `safetensors.torch.load_file("ckpt.safetensors")` returns a dict of
//! `float64` tensors, and `safetensors.safe_open(path, "pt").metadata()` the metadata.
//! Tensors are written in name order; shapes of rank 0 and 1 are read as `1 x 1` and
//! `1 x n`.

use crate::{Error, Result};
use autodiff::ndarray::Array2;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

/// Tensors by name.
pub type Tensors = BTreeMap<String, Array2<f64>>;

/// The bytes of a safetensors file holding `tensors` and string `metadata`.
pub fn to_bytes(tensors: &Tensors, metadata: &BTreeMap<String, String>) -> Vec<u8> {
    let mut header = Map::new();
    if !metadata.is_empty() {
        header.insert("__metadata__".into(), json!(metadata));
    }
    let mut offset = 0;
    for (name, t) in tensors {
        let end = offset + 8 * t.len();
        header.insert(
            name.clone(),
            json!({"dtype": "F64", "shape": [t.nrows(), t.ncols()], "data_offsets": [offset, end]}),
        );
        offset = end;
    }
    let mut head = serde_json::to_vec(&Value::Object(header)).expect("a JSON object serializes");
    head.resize(head.len().div_ceil(8) * 8, b' ');
    let mut out = Vec::with_capacity(8 + head.len() + offset);
    out.extend_from_slice(&(head.len() as u64).to_le_bytes());
    out.extend_from_slice(&head);
    for t in tensors.values() {
        // `iter` walks in logical (row-major) order whatever the memory layout.
        out.extend(t.iter().flat_map(|v| v.to_le_bytes()));
    }
    out
}

/// Parses safetensors bytes; `path` only names the source in errors.
pub fn from_bytes(bytes: &[u8], path: &Path) -> Result<(Tensors, BTreeMap<String, String>)> {
    let bad = |reason: String| Error::format(path, reason);
    let n = bytes.get(..8).ok_or_else(|| bad("shorter than the 8-byte header length".into()))?;
    let n = u64::from_le_bytes(n.try_into().expect("8 bytes")) as usize;
    let head = bytes
        .get(8..8usize.saturating_add(n))
        .ok_or_else(|| bad(format!("header length {n} exceeds the file")))?;
    let data = &bytes[8 + n..];
    let header: Map<String, Value> =
        serde_json::from_slice(head).map_err(|e| bad(format!("header is not a JSON object: {e}")))?;
    let mut metadata = BTreeMap::new();
    let mut tensors = Tensors::new();
    for (name, entry) in header {
        if name == "__metadata__" {
            metadata = serde_json::from_value(entry).map_err(|e| bad(format!("__metadata__: {e}")))?;
            continue;
        }
        let entry: Entry = serde_json::from_value(entry).map_err(|e| bad(format!("tensor `{name}`: {e}")))?;
        if entry.dtype != "F64" {
            return Err(bad(format!("tensor `{name}` has dtype {}, only F64 is supported", entry.dtype)));
        }
        let (rows, cols) = match entry.shape[..] {
            [] => (1, 1),
            [c] => (1, c),
            [r, c] => (r, c),
            _ => return Err(bad(format!("tensor `{name}` has rank {} > 2", entry.shape.len()))),
        };
        let [begin, end] = entry.data_offsets;
        if end < begin || end > data.len() || end - begin != 8 * rows * cols {
            return Err(bad(format!(
                "tensor `{name}`: offsets [{begin}, {end}] do not hold {rows}x{cols} f64 in {} data bytes",
                data.len()
            )));
        }
        let values =
            data[begin..end].chunks_exact(8).map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes")));
        let t = Array2::from_shape_vec((rows, cols), values.collect()).expect("length checked above");
        tensors.insert(name, t);
    }
    Ok((tensors, metadata))
}

#[derive(serde::Deserialize)]
struct Entry {
    dtype: String,
    shape: Vec<usize>,
    data_offsets: [usize; 2],
}

/// Writes a safetensors file atomically (see [`atomic_write`]).
pub fn write(path: &Path, tensors: &Tensors, metadata: &BTreeMap<String, String>) -> Result<()> {
    atomic_write(path, &to_bytes(tensors, metadata))
}

/// Reads a safetensors file: its tensors and metadata.
pub fn read(path: &Path) -> Result<(Tensors, BTreeMap<String, String>)> {
    let bytes = std::fs::read(path).map_err(Error::io(path))?;
    from_bytes(&bytes, path)
}

/// Writes `bytes` to `path` so that readers see the old file or the new one, never a
/// part: a temporary file in the same directory is written, flushed to disk and
/// renamed over `path` (rename is atomic within a file system).
pub fn atomic_write(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = path.file_name().ok_or_else(|| Error::format(path, "not a file path"))?;
    let tmp = dir.join(format!(".{}.tmp-{}", name.to_string_lossy(), std::process::id()));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp).map_err(Error::io(&tmp))?;
        f.write_all(bytes).map_err(Error::io(&tmp))?;
        f.sync_all().map_err(Error::io(&tmp))?;
        std::fs::rename(&tmp, path).map_err(Error::io(path))
    })();
    if result.is_err() {
        // Best effort: the temporary file is garbage either way.
        let _ = std::fs::remove_file(&tmp);
    }
    result?;
    // Make the rename itself durable where the platform allows syncing a directory.
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use autodiff::ndarray::array;

    #[test]
    fn round_trip_and_layout() {
        let mut t = Tensors::new();
        t.insert("b".into(), array![[1.5, -2.0, 3.25]]);
        t.insert("a".into(), array![[1.0], [2.0]]);
        t.insert("c".into(), array![[1.0, 2.0], [3.0, 4.0]].reversed_axes());
        let meta = BTreeMap::from([("k".to_string(), "v".to_string())]);
        let bytes = to_bytes(&t, &meta);
        let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
        assert_eq!(n % 8, 0);
        // Data: a (2 values), b (3), c (4) in name order, 8 bytes each.
        assert_eq!(bytes.len(), 8 + n + 8 * 9);
        // c is the transpose [[1, 3], [2, 4]], stored row-major whatever its memory layout.
        let c0 = 8 + n + 8 * 5;
        let c: Vec<f64> = bytes[c0..].chunks(8).map(|b| f64::from_le_bytes(b.try_into().unwrap())).collect();
        assert_eq!(c, [1.0, 3.0, 2.0, 4.0]);
        let (back, m) = from_bytes(&bytes, Path::new("mem")).unwrap();
        assert_eq!(back, t);
        assert_eq!(m, meta);
    }

    #[test]
    fn malformed_files_are_reported() {
        let p = Path::new("x.safetensors");
        assert!(from_bytes(&[1, 2], p).unwrap_err().to_string().contains("8-byte"));
        let mut bytes = to_bytes(&Tensors::from([("w".into(), array![[1.0, 2.0]])]), &BTreeMap::new());
        bytes.truncate(bytes.len() - 8);
        let err = from_bytes(&bytes, p).unwrap_err().to_string();
        assert!(err.contains("tensor `w`: offsets [0, 16]"), "{err}");
    }
}
