//! Helpers shared by the integration tests: quadrature and seeded generators.
#![allow(dead_code)]

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// A seeded generator (proptest's own RNG is another rand version).
pub fn rng(seed: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed)
}

/// Composite Simpson's rule of `f` on `[a, b]` with `n` (even) intervals.
pub fn simpson(f: impl Fn(f64) -> f64, a: f64, b: f64, n: usize) -> f64 {
    assert!(n.is_multiple_of(2));
    let h = (b - a) / n as f64;
    let inner: f64 = (1..n).map(|i| f(a + i as f64 * h) * if i % 2 == 1 { 4.0 } else { 2.0 }).sum();
    (f(a) + f(b) + inner) * h / 3.0
}

/// The points of an `n x n` midpoint grid on `[lo, hi]^2` as rows, and the cell area.
pub fn grid_2d(lo: f64, hi: f64, n: usize) -> (ndarray::Array2<f64>, f64) {
    let h = (hi - lo) / n as f64;
    let pts = ndarray::Array2::from_shape_fn((n * n, 2), |(i, j)| {
        let idx = if j == 0 { i / n } else { i % n };
        lo + (idx as f64 + 0.5) * h
    });
    (pts, h * h)
}

/// Asserts that `f` (returning this crate's result) passes `autodiff::gradcheck`
/// with the default tolerances at `inputs`.
pub fn grad_ok<F>(f: F, inputs: &[ndarray::Array2<f64>])
where
    F: for<'t> Fn(&[autodiff::Var<'t>]) -> dists::Result<autodiff::Var<'t>>,
{
    let report = autodiff::gradcheck(|v| Ok(f(v)?), inputs, &autodiff::GradCheck::default());
    assert!(report.is_ok(), "{report:?}");
}

/// The value of `f` at `inputs` (all tracked leaves of a fresh tape) and its gradient
/// with respect to each: what a masked API must give alike whatever placeholders
/// its unobserved entries hold.
pub fn value_and_gradients<F>(f: F, inputs: &[ndarray::Array2<f64>]) -> (f64, Vec<ndarray::Array2<f64>>)
where
    F: for<'t> Fn(&[autodiff::Var<'t>]) -> dists::Result<autodiff::Var<'t>>,
{
    use autodiff::Tensor;
    let tape = autodiff::Tape::new();
    let leaves: Vec<_> = inputs.iter().map(|x| tape.leaf(x.clone())).collect();
    let y = f(&leaves).unwrap();
    let grads = y.backward().unwrap();
    let dx = leaves
        .iter()
        .map(|l| grads.wrt(l).unwrap().cloned().unwrap_or_else(|| ndarray::Array2::zeros(l.shape())))
        .collect();
    (y.item().unwrap(), dx)
}
