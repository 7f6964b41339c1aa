//! Arrays from NumPy: a `.npz` written by `np.savez_compressed`
//! (`tests/data/numpy_arrays.py`) reads back with every dtype as `f64`, makes a data
//! set in the padded layout, and what this library writes reads back the same.

use latent_seq::autodiff::ndarray::{ArrayD, IxDyn, array};
use latent_seq::trainers::npy;
use std::path::Path;

#[test]
fn a_numpy_npz_reads_with_every_dtype_and_round_trips() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/numpy_arrays.npz");
    let arrays = npy::read_npz(&path).unwrap();
    let x = ArrayD::from_shape_fn(IxDyn(&[2, 3, 4]), |i| (i[0] * 12 + i[1] * 4 + i[2]) as f64 / 7.0);
    assert_eq!(arrays["x64"], x, "float64 to the bit");
    assert_eq!(arrays["x32"], x.mapv(|v| f64::from(v as f32)), "float32, widened exactly");
    assert_eq!(arrays["lengths"], array![3.0, 1.0].into_dyn());
    assert_eq!(arrays["mask"], array![[1.0, 0.0], [0.0, 1.0]].into_dyn());
    // The same arrays as a data set of two sequences of 3 and 1 steps (the padded
    // layout of `Sequences::from_arrays`), masks all ones.
    let mut layout = latent_seq::seqmodels::Arrays::new();
    layout.insert("values".into(), arrays["x64"].clone());
    layout.insert("masks".into(), ArrayD::ones(IxDyn(&[2, 3, 4])));
    layout.insert("lengths".into(), arrays["lengths"].clone());
    let seqs = latent_seq::seqmodels::Sequences::from_arrays(&layout).unwrap();
    assert_eq!(seqs.values()[1].dim(), (1, 4));
    assert_eq!(seqs.values()[0][(2, 3)], x[[0, 2, 3]]);
    let dir = std::env::temp_dir().join(format!("numpy-interop-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for compressed in [false, true] {
        let out = dir.join(format!("again-{compressed}.npz"));
        npy::write_npz(&out, &arrays, compressed).unwrap();
        assert_eq!(npy::read_npz(&out).unwrap(), arrays);
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
