//! Arrays in NumPy's formats: `.npy` (one array) and `.npz` (a zip of named `.npy`
//! files, compressed or not), through the `ndarray-npy` crate.
//!
//! Reading takes every real dtype NumPy writes (`float64`, `float32`, signed and
//! unsigned integers, `bool`) and returns `f64` arrays of any rank, so
//! `np.save("x.npy", x.astype(np.float32))` loads as it is; writing is `float64`,
//! C order. A dtype this reader does not take (complex, strings, objects) is an error
//! naming the file and the array.
//!
//! ```
//! use autodiff::ndarray::{ArrayD, IxDyn};
//! use std::collections::BTreeMap;
//! use trainers::npy;
//!
//! let x = ArrayD::from_shape_fn(IxDyn(&[2, 3, 4]), |i| (i[0] * 12 + i[1] * 4 + i[2]) as f64);
//! let dir = std::env::temp_dir();
//! npy::write_npy(&dir.join("npy_doc.npy"), &x)?;
//! assert_eq!(npy::read_npy(&dir.join("npy_doc.npy"))?, x);
//! let arrays = BTreeMap::from([("x".to_string(), x.clone())]);
//! npy::write_npz(&dir.join("npy_doc.npz"), &arrays, true)?;
//! assert_eq!(npy::read_npz(&dir.join("npy_doc.npz"))?["x"], x);
//! # Ok::<(), trainers::Error>(())
//! ```

use crate::safetensors::atomic_write;
use crate::{Error, Result};
use autodiff::ndarray::{ArrayD, ArrayViewD, IxDyn, OwnedRepr};
use ndarray_npy::{
    NpzReader, NpzWriter, ReadNpyError, ReadNpyExt, ReadNpzError, ReadableElement, WriteNpyExt,
};
use std::collections::BTreeMap;
use std::io::{Cursor, Read, Seek};
use std::path::Path;

/// Where one array is read from: a `.npy` file's bytes or an entry of a `.npz`.
trait Source {
    fn read<T: ReadableElement>(&mut self) -> std::result::Result<ArrayD<T>, ReadNpyError>;
}

impl Source for &[u8] {
    fn read<T: ReadableElement>(&mut self) -> std::result::Result<ArrayD<T>, ReadNpyError> {
        ArrayD::<T>::read_npy(*self)
    }
}

/// The entry `name` of an open `.npz`.
struct NpzEntry<'a, R: Read + Seek>(&'a mut NpzReader<R>, &'a str);

impl<R: Read + Seek> Source for NpzEntry<'_, R> {
    fn read<T: ReadableElement>(&mut self) -> std::result::Result<ArrayD<T>, ReadNpyError> {
        self.0.by_name::<OwnedRepr<T>, IxDyn>(self.1).map_err(|e| match e {
            ReadNpzError::Npy(e) => e,
            other => ReadNpyError::Io(std::io::Error::other(other)),
        })
    }
}

/// The array of `src` as type `T`, converted to `f64` by `to_f64`.
fn as_f64<T: ReadableElement + Copy, S: Source>(
    src: &mut S,
    to_f64: fn(T) -> f64,
) -> std::result::Result<ArrayD<f64>, ReadNpyError> {
    src.read::<T>().map(|a| a.mapv(to_f64))
}

/// The array of `src` as `f64`, whatever real element type it holds: each type is
/// tried in turn, a wrong dtype being the only error that moves on to the next.
/// Exact except for 64-bit integers beyond `2^53`.
fn read_f64<S: Source>(src: &mut S) -> std::result::Result<ArrayD<f64>, ReadNpyError> {
    type Attempt<S> = fn(&mut S) -> std::result::Result<ArrayD<f64>, ReadNpyError>;
    let attempts: [Attempt<S>; 11] = [
        |s| as_f64::<f64, S>(s, |v| v),
        |s| as_f64::<f32, S>(s, f64::from),
        |s| as_f64::<i64, S>(s, |v| v as f64),
        |s| as_f64::<i32, S>(s, f64::from),
        |s| as_f64::<i16, S>(s, f64::from),
        |s| as_f64::<i8, S>(s, f64::from),
        |s| as_f64::<u64, S>(s, |v| v as f64),
        |s| as_f64::<u32, S>(s, f64::from),
        |s| as_f64::<u16, S>(s, f64::from),
        |s| as_f64::<u8, S>(s, f64::from),
        |s| as_f64::<bool, S>(s, |v| f64::from(u8::from(v))),
    ];
    let mut outcome = attempts[0](src);
    for next in &attempts[1..] {
        if !matches!(outcome, Err(ReadNpyError::WrongDescriptor(_))) {
            break;
        }
        outcome = next(src);
    }
    outcome
}

fn bad_array<'a>(path: &'a Path, name: Option<&'a str>) -> impl FnOnce(ReadNpyError) -> Error + 'a {
    move |e| {
        let what = name.map_or(String::new(), |n| format!("array `{n}`: "));
        Error::format(path, format!("{what}{e}"))
    }
}

/// Reads a `.npy` file as an `f64` array of its own rank.
pub fn read_npy(path: &Path) -> Result<ArrayD<f64>> {
    let bytes = std::fs::read(path).map_err(Error::io(path))?;
    read_f64(&mut bytes.as_slice()).map_err(bad_array(path, None))
}

/// Writes `array` as a `float64` `.npy` file, atomically.
pub fn write_npy<'a>(path: &Path, array: impl Into<ArrayViewD<'a, f64>>) -> Result<()> {
    let mut bytes = Vec::new();
    array.into().write_npy(&mut bytes).map_err(|e| Error::format(path, format!("cannot write: {e}")))?;
    atomic_write(path, &bytes)
}

/// Reads every array of a `.npz` file (as `np.savez` or `np.savez_compressed`
/// writes it) by name.
pub fn read_npz(path: &Path) -> Result<BTreeMap<String, ArrayD<f64>>> {
    let bytes = std::fs::read(path).map_err(Error::io(path))?;
    let zip_err = |e: ReadNpzError| Error::format(path, format!("not a readable .npz: {e}"));
    let mut npz = NpzReader::new(Cursor::new(bytes)).map_err(zip_err)?;
    let mut arrays = BTreeMap::new();
    for name in npz.names().map_err(zip_err)? {
        // NumPy stores array `x` as the entry `x.npy`; `by_name` takes either.
        let key = name.strip_suffix(".npy").unwrap_or(&name).to_owned();
        let array = read_f64(&mut NpzEntry(&mut npz, &name)).map_err(bad_array(path, Some(&key)))?;
        arrays.insert(key, array);
    }
    Ok(arrays)
}

/// Writes `arrays` as a `.npz` file (deflate-compressed with `compressed`, as
/// `np.savez_compressed`), atomically; `np.load(path)[name]` reads each back.
pub fn write_npz(path: &Path, arrays: &BTreeMap<String, ArrayD<f64>>, compressed: bool) -> Result<()> {
    let cursor = Cursor::new(Vec::new());
    let mut npz = if compressed { NpzWriter::new_compressed(cursor) } else { NpzWriter::new(cursor) };
    let write_err = |e: ndarray_npy::WriteNpzError| Error::format(path, format!("cannot write: {e}"));
    for (name, array) in arrays {
        npz.add_array(name.as_str(), array).map_err(write_err)?;
    }
    let bytes = npz.finish().map_err(write_err)?.into_inner();
    atomic_write(path, &bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use autodiff::ndarray::array;

    #[test]
    fn integer_and_single_precision_files_read_as_f64_and_garbage_is_named() {
        let dir = std::env::temp_dir().join(format!("npy-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (f32s, i16s) = (array![[0.1f32, -2.5], [3.0, 1e30]], array![-3i16, 7, 300]);
        let mut bytes = Vec::new();
        f32s.write_npy(&mut bytes).unwrap();
        std::fs::write(dir.join("f32.npy"), &bytes).unwrap();
        let back = read_npy(&dir.join("f32.npy")).unwrap();
        assert_eq!(back, f32s.mapv(f64::from).into_dyn());
        let file = std::fs::File::create(dir.join("mixed.npz")).unwrap();
        let mut npz = NpzWriter::new_compressed(file);
        npz.add_array("ints", &i16s).unwrap();
        npz.add_array("flags", &array![true, false]).unwrap();
        npz.finish().unwrap();
        let arrays = read_npz(&dir.join("mixed.npz")).unwrap();
        assert_eq!(arrays["ints"], array![-3.0, 7.0, 300.0].into_dyn());
        assert_eq!(arrays["flags"], array![1.0, 0.0].into_dyn());
        std::fs::write(dir.join("junk.npy"), b"\x93NUMPY junk").unwrap();
        let err = read_npy(&dir.join("junk.npy")).unwrap_err().to_string();
        assert!(err.contains("junk.npy"), "{err}");
        let err = read_npz(&dir.join("f32.npy")).unwrap_err().to_string();
        assert!(err.contains("f32.npy") && err.contains("not a readable .npz"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
