//! Reading and writing the [safetensors](https://huggingface.co/docs/safetensors)
//! format through the reference `safetensors` crate, which parses and validates the
//! header (its length, the JSON, dtypes, shapes against byte offsets, offsets that
//! tile the data without gaps or overflow).
//!
//! A file is:
//!
//! 1. 8 bytes: `N`, the header length, as a little-endian `u64`;
//! 2. `N` bytes of UTF-8 JSON, an object mapping each tensor name to `{"dtype": "F64",
//!    "shape": [...], "data_offsets": [begin, end]}`, plus an optional
//!    `"__metadata__"` object of string to string;
//! 3. the data: each tensor's entries, row-major, little-endian.
//!
//! Tensors are N-dimensional ([`Tensors`]); this library writes `F64` and reads every
//! dtype holding real numbers (`F64`, `F32`, `F16`, `BF16`, signed and unsigned
//! integers of 8 to 64 bits, `BOOL`) by converting each entry to `f64` (exact for all
//! but 64-bit integers beyond `2^53`), so a PyTorch state dict, `float32` by default,
//! loads as it is. [`matrix`] views a tensor of rank 0, 1 or 2 as a matrix, the shape
//! of a parameter. From Python, `safetensors.torch.load_file(path)` returns a dict of
//! `float64` tensors, and `safetensors.safe_open(path, "pt").metadata()` the metadata.

use crate::{Error, Result};
use autodiff::ndarray::{Array2, ArrayD, IxDyn};
use safetensors::tensor::{Dtype, SafeTensors, View};
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::io::Write;
use std::path::Path;

/// Tensors by name, each N-dimensional.
pub type Tensors = BTreeMap<String, ArrayD<f64>>;

/// An `f64` tensor laid out for the writer.
struct F64Bytes {
    shape: Vec<usize>,
    bytes: Vec<u8>,
}

impl View for &F64Bytes {
    fn dtype(&self) -> Dtype {
        Dtype::F64
    }
    fn shape(&self) -> &[usize] {
        &self.shape
    }
    fn data(&self) -> Cow<'_, [u8]> {
        Cow::Borrowed(&self.bytes)
    }
    fn data_len(&self) -> usize {
        self.bytes.len()
    }
}

/// The bytes of a safetensors file holding `tensors` (as `F64`) and string
/// `metadata`.
pub fn to_bytes(tensors: &Tensors, metadata: &BTreeMap<String, String>) -> Result<Vec<u8>> {
    let laid_out: Vec<(&String, F64Bytes)> = tensors
        .iter()
        // `iter` walks in logical (row-major) order whatever the memory layout.
        .map(|(name, t)| {
            (
                name,
                F64Bytes {
                    shape: t.shape().to_vec(),
                    bytes: t.iter().flat_map(|v| v.to_le_bytes()).collect(),
                },
            )
        })
        .collect();
    let info = (!metadata.is_empty()).then(|| metadata.iter().map(|(k, v)| (k.clone(), v.clone())).collect());
    safetensors::tensor::serialize(laid_out.iter().map(|(name, t)| (name.as_str(), t)), info)
        .map_err(|e| Error::format(Path::new("(in memory)"), format!("cannot serialize: {e}")))
}

/// Entries of a `dtype` tensor's little-endian `bytes` as `f64`, or `None` for a
/// dtype without real values this reader knows (complex, sub-byte and 8-bit floats).
fn to_f64(dtype: Dtype, bytes: &[u8]) -> Option<Vec<f64>> {
    fn each<const N: usize>(bytes: &[u8], f: impl Fn([u8; N]) -> f64) -> Vec<f64> {
        bytes.chunks_exact(N).map(|c| f(c.try_into().expect("chunks of N bytes"))).collect()
    }
    Some(match dtype {
        Dtype::F64 => each(bytes, f64::from_le_bytes),
        Dtype::F32 => each(bytes, |b| f64::from(f32::from_le_bytes(b))),
        Dtype::F16 => each(bytes, |b| half_to_f64(u16::from_le_bytes(b))),
        // bfloat16 is the upper half of an f32.
        Dtype::BF16 => each(bytes, |b| f64::from(f32::from_bits(u32::from(u16::from_le_bytes(b)) << 16))),
        Dtype::I64 => each(bytes, |b| i64::from_le_bytes(b) as f64),
        Dtype::U64 => each(bytes, |b| u64::from_le_bytes(b) as f64),
        Dtype::I32 => each(bytes, |b| f64::from(i32::from_le_bytes(b))),
        Dtype::U32 => each(bytes, |b| f64::from(u32::from_le_bytes(b))),
        Dtype::I16 => each(bytes, |b| f64::from(i16::from_le_bytes(b))),
        Dtype::U16 => each(bytes, |b| f64::from(u16::from_le_bytes(b))),
        Dtype::I8 => each(bytes, |[b]| f64::from(b as i8)),
        Dtype::U8 | Dtype::BOOL => each(bytes, |[b]| f64::from(b)),
        _ => return None,
    })
}

/// An IEEE 754 half-precision number (1 sign, 5 exponent, 10 fraction bits), exactly.
fn half_to_f64(bits: u16) -> f64 {
    let sign = if bits >> 15 == 1 { -1.0 } else { 1.0 };
    let exponent = i32::from((bits >> 10) & 0x1f);
    let fraction = f64::from(bits & 0x3ff);
    sign * match exponent {
        0 => fraction * 2f64.powi(-24),
        31 if fraction == 0.0 => f64::INFINITY,
        31 => f64::NAN,
        e => (1.0 + fraction / 1024.0) * 2f64.powi(e - 15),
    }
}

/// Parses safetensors bytes; `path` only names the source in errors.
pub fn from_bytes(bytes: &[u8], path: &Path) -> Result<(Tensors, BTreeMap<String, String>)> {
    let bad = |reason: String| Error::format(path, reason);
    let (_, header) = SafeTensors::read_metadata(bytes).map_err(|e| bad(format!("invalid header: {e}")))?;
    let file = SafeTensors::deserialize(bytes).map_err(|e| bad(format!("invalid header: {e}")))?;
    let metadata = header.metadata().clone().unwrap_or_default().into_iter().collect();
    let mut tensors = Tensors::new();
    for (name, view) in file.iter() {
        let values = to_f64(view.dtype(), view.data()).ok_or_else(|| {
            bad(format!(
                "tensor `{name}` has dtype {}, which holds no real numbers this reader knows",
                view.dtype()
            ))
        })?;
        let t = ArrayD::from_shape_vec(IxDyn(view.shape()), values)
            .expect("the crate checked shape against bytes");
        tensors.insert(name.to_owned(), t);
    }
    Ok((tensors, metadata))
}

/// A tensor of rank 0, 1 or 2 as a matrix (`1 x 1`, `1 x n`, or itself), the shape of
/// a parameter; `name` and `path` name it in the error for higher ranks.
pub fn matrix(t: ArrayD<f64>, name: &str, path: &Path) -> Result<Array2<f64>> {
    let (rows, cols) = match *t.shape() {
        [] => (1, 1),
        [c] => (1, c),
        [r, c] => (r, c),
        ref shape => {
            return Err(Error::format(path, format!("tensor `{name}` has shape {shape:?}, rank > 2")));
        }
    };
    Ok(t.into_shape_with_order((rows, cols)).expect("same number of entries"))
}

/// Writes a safetensors file atomically (see [`atomic_write`]).
pub fn write(path: &Path, tensors: &Tensors, metadata: &BTreeMap<String, String>) -> Result<()> {
    atomic_write(path, &to_bytes(tensors, metadata)?)
}

/// Reads a safetensors file: its tensors and metadata.
pub fn read(path: &Path) -> Result<(Tensors, BTreeMap<String, String>)> {
    let bytes = std::fs::read(path).map_err(Error::io(path))?;
    from_bytes(&bytes, path)
}

/// Writes `bytes` to `path` so that readers see the old file or the new one, never a
/// part: a temporary file in the same directory is written, flushed to disk and
/// renamed over `path` (rename is atomic within a file system). The temporary files
/// of `path` that writers killed mid-save left are removed first (see
/// [`remove_stale_temps`]).
pub fn atomic_write(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = path.file_name().ok_or_else(|| Error::format(path, "not a file path"))?;
    remove_stale_temps(dir, |target| target == name);
    let tmp = dir.join(format!(".{}{TEMP_MARK}{}", name.to_string_lossy(), std::process::id()));
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

/// What separates a temporary file's target name from its writer's process id:
/// `.{name}.tmp-{pid}`.
const TEMP_MARK: &str = ".tmp-";

/// How long a temporary file must have been left unchanged before it counts as
/// stale: a writer on another machine sharing the directory (whose process ids this
/// machine cannot see) is still writing to a younger one.
const STALE_AFTER: std::time::Duration = std::time::Duration::from_secs(60);

/// Removes the temporary files of [`atomic_write`] in `dir` for the targets that
/// `is_target` accepts (by file name) whose writer is no longer running (a process
/// killed mid-save leaves one the size of the file) and which have not changed for
/// a minute. A writer's liveness is read from `/proc`; where there is none, nothing
/// is removed. Best effort: a file that cannot be listed or removed is left alone.
pub fn remove_stale_temps(dir: &Path, is_target: impl Fn(&OsStr) -> bool) {
    let proc = Path::new("/proc");
    if !proc.is_dir() {
        return;
    }
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some((target, pid)) = name.to_str().and_then(temp_writer) else { continue };
        let idle = entry.metadata().and_then(|m| m.modified()).ok().and_then(|t| t.elapsed().ok());
        if is_target(OsStr::new(target))
            && pid != std::process::id()
            && !proc.join(pid.to_string()).exists()
            && idle.is_some_and(|d| d >= STALE_AFTER)
        {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// The target name and the writer's process id if `name` is a temporary file of
/// [`atomic_write`].
fn temp_writer(name: &str) -> Option<(&str, u32)> {
    let (target, pid) = name.strip_prefix('.')?.rsplit_once(TEMP_MARK)?;
    let digits = !target.is_empty() && !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit());
    Some((target, digits.then(|| pid.parse().ok())??))
}

#[cfg(test)]
mod tests {
    use super::*;
    use autodiff::ndarray::{ArrayD, array};

    /// Raw little-endian bytes of any dtype, to write what other tools write.
    struct Raw(Dtype, Vec<usize>, Vec<u8>);

    impl View for &Raw {
        fn dtype(&self) -> Dtype {
            self.0
        }
        fn shape(&self) -> &[usize] {
            &self.1
        }
        fn data(&self) -> Cow<'_, [u8]> {
            Cow::Borrowed(&self.2)
        }
        fn data_len(&self) -> usize {
            self.2.len()
        }
    }

    fn raw_file(tensors: &[(&str, Raw)]) -> Vec<u8> {
        safetensors::tensor::serialize(tensors.iter().map(|(n, r)| (*n, r)), None).unwrap()
    }

    #[test]
    fn round_trip_and_layout() {
        let mut t = Tensors::new();
        t.insert("b".into(), array![1.5, -2.0, 3.25].into_dyn());
        t.insert("a".into(), array![[1.0], [2.0]].into_dyn());
        t.insert("c".into(), array![[1.0, 2.0], [3.0, 4.0]].reversed_axes().into_dyn());
        t.insert("d".into(), ArrayD::from_shape_fn(IxDyn(&[2, 1, 3]), |i| (i[0] * 3 + i[2]) as f64));
        let meta = BTreeMap::from([("k".to_string(), "v".to_string())]);
        let bytes = to_bytes(&t, &meta).unwrap();
        let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
        assert_eq!(n % 8, 0);
        // Data: a (2 values), b (3), c (4), d (6) in name order, 8 bytes each.
        assert_eq!(bytes.len(), 8 + n + 8 * 15);
        // c is the transpose [[1, 3], [2, 4]], stored row-major whatever its memory layout.
        let c0 = 8 + n + 8 * 5;
        let c: Vec<f64> =
            bytes[c0..c0 + 32].chunks(8).map(|b| f64::from_le_bytes(b.try_into().unwrap())).collect();
        assert_eq!(c, [1.0, 3.0, 2.0, 4.0]);
        let (back, m) = from_bytes(&bytes, Path::new("mem")).unwrap();
        assert_eq!(back, t);
        assert_eq!(m, meta);
        let p = Path::new("mem");
        assert_eq!(matrix(back["b"].clone(), "b", p).unwrap(), array![[1.5, -2.0, 3.25]]);
        assert_eq!(matrix(ArrayD::from_elem(IxDyn(&[]), 7.0), "s", p).unwrap(), array![[7.0]]);
        let err = matrix(back["d"].clone(), "d", p).unwrap_err().to_string();
        assert!(err.contains("tensor `d` has shape [2, 1, 3], rank > 2"), "{err}");
    }

    #[test]
    fn every_real_dtype_reads_as_f64_exactly() {
        let le = |v: &[u32]| v.iter().flat_map(|x| (*x as u16).to_le_bytes()).collect::<Vec<u8>>();
        let file = raw_file(&[
            (
                "f32",
                Raw(Dtype::F32, vec![3], [0.1f32, -2.5, 1e30].iter().flat_map(|v| v.to_le_bytes()).collect()),
            ),
            // Half: 1.0 (0x3c00), -2.0 (0xc000), 65504 (0x7bff, the largest), 2^-24 (0x0001,
            // the smallest subnormal), infinity (0x7c00).
            ("f16", Raw(Dtype::F16, vec![5], le(&[0x3c00, 0xc000, 0x7bff, 0x0001, 0x7c00]))),
            // bfloat16: 1.0 (0x3f80), -3.0 (0xc040), 1/3 rounded (0x3eab).
            ("bf16", Raw(Dtype::BF16, vec![3], le(&[0x3f80, 0xc040, 0x3eab]))),
            (
                "i64",
                Raw(Dtype::I64, vec![2], [-5i64, 1 << 40].iter().flat_map(|v| v.to_le_bytes()).collect()),
            ),
            ("i8", Raw(Dtype::I8, vec![2], vec![0xff, 0x7f])),
            ("bool", Raw(Dtype::BOOL, vec![2], vec![1, 0])),
        ]);
        let (t, _) = from_bytes(&file, Path::new("torch.safetensors")).unwrap();
        let v = |n: &str| t[n].iter().copied().collect::<Vec<f64>>();
        assert_eq!(v("f32"), [f64::from(0.1f32), -2.5, f64::from(1e30f32)]);
        assert_eq!(v("f16"), [1.0, -2.0, 65504.0, 2f64.powi(-24), f64::INFINITY]);
        assert_eq!(v("bf16"), [1.0, -3.0, f64::from(f32::from_bits(0x3eab_0000))]);
        assert_eq!(v("i64"), [-5.0, 2f64.powi(40)]);
        assert_eq!(v("i8"), [-1.0, 127.0]);
        assert_eq!(v("bool"), [1.0, 0.0]);
        let complex = raw_file(&[("z", Raw(Dtype::C64, vec![1], vec![0; 8]))]);
        let err = from_bytes(&complex, Path::new("z.safetensors")).unwrap_err().to_string();
        assert!(err.contains("z.safetensors") && err.contains("tensor `z` has dtype C64"), "{err}");
    }

    #[test]
    fn malformed_files_are_reported() {
        let p = Path::new("x.safetensors");
        assert!(from_bytes(&[1, 2], p).unwrap_err().to_string().contains("x.safetensors"));
        let mut bytes =
            to_bytes(&Tensors::from([("w".into(), array![[1.0, 2.0]].into_dyn())]), &BTreeMap::new())
                .unwrap();
        bytes.truncate(bytes.len() - 8);
        let err = from_bytes(&bytes, p).unwrap_err().to_string();
        assert!(err.contains("x.safetensors") && err.contains("invalid header"), "{err}");
        // A header length far beyond the file (an overflowing declared size).
        let mut huge = bytes.clone();
        huge[..8].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(from_bytes(&huge, p).unwrap_err().to_string().contains("invalid header"));
    }

    /// A temporary file of the same target whose writer is dead and which has been
    /// idle for a minute goes at the next save; a live writer's (process 1 never
    /// dies), a recent one, another target's and other files stay.
    #[test]
    fn stale_temporary_files_are_removed_at_the_next_save() {
        let dir = std::env::temp_dir().join(format!("stale-temps-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        // Above Linux's largest process id (2^22), so never a running process.
        let dead = dir.join(".model.safetensors.tmp-4999999");
        let recent = dir.join(".model.safetensors.tmp-4999998");
        let kept = [
            ".model.safetensors.tmp-1",
            ".other.safetensors.tmp-4999999",
            ".notes.tmp-12x",
            "model.safetensors.tmp-4999999",
        ]
        .map(|n| dir.join(n));
        let an_hour_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
        for f in kept.iter().chain([&dead, &recent]) {
            let file = std::fs::File::create(f).unwrap();
            if f != &recent {
                file.set_modified(an_hour_ago).unwrap();
            }
        }
        atomic_write(&dir.join("model.safetensors"), b"new").unwrap();
        assert!(!dead.exists(), "the dead writer's file is removed");
        for f in kept.iter().chain([&recent]) {
            assert!(f.exists(), "{} stays", f.display());
        }
        assert_eq!(temp_writer(".a.tmp-42"), Some(("a", 42)));
        assert_eq!(temp_writer(".tmp-42"), None);
        assert_eq!(temp_writer(".a.tmp-"), None);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
