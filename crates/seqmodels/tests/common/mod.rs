//! Small batches shared by the tests.
#![allow(dead_code)] // each test file uses part of these helpers

use ndarray::{Array2, array};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use seqmodels::Series;

/// `lengths.len()` sequences of `dim` entries, padded to the longest: binary values
/// (or Gaussian-ish reals with `binary = false`), zeros in the padding, `B x 1` masks.
pub fn batch(lengths: &[usize], dim: usize, binary: bool, seed: u64) -> (Vec<Array2<f64>>, Vec<Array2<f64>>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let t_max = *lengths.iter().max().unwrap();
    let b = lengths.len();
    let mut xs = vec![Array2::zeros((b, dim)); t_max];
    let mut masks = vec![Array2::zeros((b, 1)); t_max];
    for (row, &len) in lengths.iter().enumerate() {
        for t in 0..len {
            masks[t][(row, 0)] = 1.0;
            for j in 0..dim {
                xs[t][(row, j)] =
                    if binary { f64::from(rng.random::<bool>()) } else { rng.random_range(-1.5..1.5) };
            }
        }
    }
    (xs, masks)
}

/// The same batch with garbage written into the padded steps: ones for binary data,
/// else NaN, infinities and a huge number in turn.
pub fn with_garbage_padding(xs: &[Array2<f64>], masks: &[Array2<f64>], binary: bool) -> Vec<Array2<f64>> {
    let mut garbage = [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, -1e300].into_iter().cycle();
    xs.iter()
        .zip(masks)
        .map(|(x, m)| {
            let mut x = x.clone();
            for ((r, _), v) in x.indexed_iter_mut() {
                if m[(r, 0)] == 0.0 {
                    *v = if binary { 1.0 } else { garbage.next().expect("a cycle never ends") };
                }
            }
            x
        })
        .collect()
}

/// Three irregular series of two dimensions: different counts, a shared time, an
/// unobserved entry (NaN) and a row that starts after `t0 = 0`.
pub fn series() -> Vec<Series> {
    vec![
        Series {
            times: vec![0.0, 0.3, 1.1],
            values: array![[0.5, -0.2], [0.1, f64::NAN], [-0.4, 0.9]],
            masks: array![[1.0, 1.0], [1.0, 0.0], [1.0, 1.0]],
        },
        Series::observed(vec![0.2, 0.7], array![[1.0, 0.3], [0.8, -0.6]]),
        Series::observed(vec![0.5], array![[-1.2, 0.4]]),
    ]
}

/// A model's error as the tape's, for closures that `gradcheck` runs.
pub fn as_autodiff(e: seqmodels::Error) -> autodiff::Error {
    autodiff::Error::Invalid { op: "model", reason: e.to_string() }
}

/// The three gradient methods of the ODE operation, the backsolve adjoint at a
/// tolerance tight enough for finite differences.
pub fn gradient_methods() -> [odesolve::Gradient; 3] {
    use odesolve::{AdjointOptions, Gradient, Method, SolveOptions};
    [
        Gradient::Backprop,
        Gradient::Checkpointed { checkpoints: Some(2) },
        Gradient::Backsolve(AdjointOptions::new(SolveOptions::new(Method::Dopri5).tol(1e-12, 1e-12))),
    ]
}
