//! Every loader of the library, fed valid files mutated the ways files break
//! (truncated, a byte changed, a byte inserted, a number replaced by NaN or an
//! overflowing one): never a panic, and an error names its source.

use latent_seq::autodiff::ParamStore;
use latent_seq::autodiff::ndarray::{Array2, ArrayD, IxDyn};
use latent_seq::seqmodels::CsvSeries;
use latent_seq::seqmodels::data::{parse_digits, parse_polyphonic};
use latent_seq::trainers::{Adam, Optim, Trainer, checkpoint, npy, safetensors};
use proptest::prelude::*;
use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

/// A way a file breaks.
#[derive(Debug, Clone)]
enum Mutation {
    Truncate(usize),
    Set(usize, u8),
    Insert(usize, u8),
    /// The `n`-th run of digits replaced by this text.
    Number(usize, &'static str),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        any::<usize>().prop_map(Mutation::Truncate),
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Set(i, b)),
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Insert(i, b)),
        (
            any::<usize>(),
            prop::sample::select(vec!["NaN", "1e999", "-inf", "18446744073709551616", "-1", ""])
        )
            .prop_map(|(i, t)| Mutation::Number(i, t)),
    ]
}

fn mutate(bytes: &[u8], m: &Mutation) -> Vec<u8> {
    let mut out = bytes.to_vec();
    match *m {
        Mutation::Truncate(i) => out.truncate(i % (bytes.len() + 1)),
        Mutation::Set(i, b) => out[i % bytes.len()] = b,
        Mutation::Insert(i, b) => out.insert(i % (bytes.len() + 1), b),
        Mutation::Number(n, text) => {
            let runs: Vec<(usize, usize)> = digit_runs(bytes);
            if let Some(&(from, to)) = runs.get(n % runs.len().max(1)) {
                out.splice(from..to, text.bytes());
            }
        }
    }
    out
}

/// The byte ranges of the runs of ASCII digits.
fn digit_runs(bytes: &[u8]) -> Vec<(usize, usize)> {
    let mut runs = Vec::new();
    let mut start = None;
    for (i, b) in bytes.iter().chain([&b' ']).enumerate() {
        match (b.is_ascii_digit(), start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                runs.push((s, i));
                start = None;
            }
            _ => {}
        }
    }
    runs
}

/// Runs `load` on `bytes` under `catch_unwind`: a panic fails the test with the
/// input; an error must name `source`.
fn survives<T, E: std::fmt::Display>(bytes: &[u8], source: &str, load: impl FnOnce(&[u8]) -> Result<T, E>) {
    let outcome = catch_unwind(AssertUnwindSafe(|| load(bytes)));
    match outcome {
        Err(_) => panic!("a panic on input {:?}", String::from_utf8_lossy(bytes)),
        Ok(Err(e)) => {
            let message = e.to_string();
            assert!(message.contains(source), "the error does not name {source}: {message}");
        }
        Ok(Ok(_)) => {}
    }
}

/// A fresh file path in a per-process folder.
fn temp_file(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("loaders-under-mutation-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

const POLYPHONIC: &str =
    r#"{"train": [[[60, 64, 67], [62], []], [[48]]], "valid": [[[50, 53]]], "test": [[[72], [74, 77]]]}"#;

fn digits_csv() -> String {
    let mut text: String = (0..64).map(|i| format!("pixel{i},")).collect();
    text.push_str("label\n");
    for row in 0..3 {
        let pixels: String = (0..64).map(|i| format!("{},", (i + row) % 2)).collect();
        text.push_str(&format!("{pixels}{row}\n"));
    }
    text
}

const IRREGULAR_CSV: &str = "ID,Time,Value_1,Value_2,Mask_1,Mask_2\n\
                             0,0.5,1.25,0,1,0\n0,1.5,0.5,-2,1,1\n1,0.25,0,3.5,0,1\n";

fn safetensors_bytes() -> Vec<u8> {
    let mut tensors = BTreeMap::new();
    tensors.insert("w".to_owned(), ArrayD::from_shape_fn(IxDyn(&[2, 3]), |i| (i[0] * 3 + i[1]) as f64));
    let meta = BTreeMap::from([("note".to_owned(), "a test".to_owned())]);
    safetensors::to_bytes(&tensors, &meta).unwrap()
}

/// A checkpoint of a one-parameter store and the store to load it into.
fn checkpoint_bytes() -> (Vec<u8>, ParamStore) {
    let mut store = ParamStore::new();
    store.add("w", Array2::from_elem((2, 2), 0.5)).unwrap();
    let path = temp_file("valid.safetensors");
    Trainer::new(store.clone(), Optim::new(Adam::default()).unwrap(), 0).save_checkpoint(&path).unwrap();
    (std::fs::read(&path).unwrap(), store)
}

fn npy_bytes() -> Vec<u8> {
    let path = temp_file("valid.npy");
    npy::write_npy(&path, &ArrayD::from_shape_fn(IxDyn(&[2, 3]), |i| i[1] as f64)).unwrap();
    std::fs::read(path).unwrap()
}

/// Writes `bytes` to a fresh file named after the case and returns its path.
fn written(bytes: &[u8], name: &str, case: u64) -> PathBuf {
    let path = temp_file(&format!("{case}-{name}"));
    std::fs::write(&path, bytes).unwrap();
    path
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn piano_roll_json(m in mutation()) {
        let bytes = mutate(POLYPHONIC.as_bytes(), &m);
        survives(&bytes, "rolls.json", |b| parse_polyphonic(&String::from_utf8_lossy(b), "rolls.json"));
    }

    #[test]
    fn digits_csv_text(m in mutation()) {
        let bytes = mutate(digits_csv().as_bytes(), &m);
        survives(&bytes, "digits.csv", |b| parse_digits(&String::from_utf8_lossy(b), "digits.csv"));
    }

    #[test]
    fn irregular_csv(m in mutation()) {
        let bytes = mutate(IRREGULAR_CSV.as_bytes(), &m);
        survives(&bytes, "CSV input", |b| CsvSeries::from_csv_reader(b));
    }

    #[test]
    fn safetensors_file(m in mutation()) {
        let bytes = mutate(&safetensors_bytes(), &m);
        survives(&bytes, "model.safetensors", |b| safetensors::from_bytes(b, Path::new("model.safetensors")));
    }

    #[test]
    fn checkpoint_file(m in mutation(), case in any::<u64>()) {
        let (valid, store) = checkpoint_bytes();
        let path = written(&mutate(&valid, &m), "ckpt.safetensors", case);
        let name = path.display().to_string();
        survives(&[], &name, |_| checkpoint::load(&path, &mut store.clone()));
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn npy_file(m in mutation(), case in any::<u64>()) {
        let path = written(&mutate(&npy_bytes(), &m), "array.npy", case);
        let name = path.display().to_string();
        survives(&[], &name, |_| npy::read_npy(&path));
        std::fs::remove_file(&path).unwrap();
    }
}

#[test]
fn the_mutations_reach_what_they_aim_at() {
    assert_eq!(digit_runs(b"a12b3"), [(1, 3), (4, 5)]);
    assert_eq!(mutate(b"x=12;", &Mutation::Number(0, "NaN")), b"x=NaN;");
    assert_eq!(mutate(b"abc", &Mutation::Truncate(6)), b"ab");
    assert_eq!(mutate(b"abc", &Mutation::Insert(1, b'!')), b"a!bc");
}

/// Sizes declared far beyond the file: the safetensors header length and an npy
/// shape of 1.6e19 elements are errors naming the file, not an allocation.
#[test]
fn huge_declared_sizes_are_errors() {
    for declared in [u64::MAX, 1 << 40] {
        let mut bytes = safetensors_bytes();
        bytes[..8].copy_from_slice(&declared.to_le_bytes());
        let err = safetensors::from_bytes(&bytes, Path::new("big.safetensors")).unwrap_err().to_string();
        assert!(err.contains("big.safetensors"), "{err}");
    }
    let mut bytes = npy_bytes();
    let at = bytes.windows(6).position(|w| w == b"(2, 3)").expect("the header holds the shape");
    let shape = b"(4000000000, 4000000000)";
    bytes.splice(at..at + 6, shape.iter().copied());
    // Take the added length out of the header's padding, so its declared length holds.
    let end = at + bytes[at..].iter().position(|&b| b == b'\n').expect("the header ends in a newline");
    bytes.drain(end - (shape.len() - 6)..end);
    let path = written(&bytes, "huge.npy", 0);
    let err = npy::read_npy(&path).unwrap_err().to_string();
    assert!(err.contains("huge.npy"), "{err}");
}
