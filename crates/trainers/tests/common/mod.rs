//! Shared helpers of the integration tests: temporary directories and a small model.
#![allow(dead_code)] // each test binary uses a different subset

use autodiff::data::{RowBatch, Rows};
use autodiff::ndarray::Array2;
use autodiff::{Activation, Loss, Mlp, ParamStore, Session, TapeSession, Tensor, Var};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use trainers::{BoxError, StepCtx};

/// A fresh directory under the system temp dir, removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> Self {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
        let dir = std::env::temp_dir().join(format!("trainers-{tag}-{}-{n}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create temp dir");
        TempDir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `rows x cols` standard normal entries.
pub fn randn(rows: usize, cols: usize, rng: &mut ChaCha8Rng) -> Array2<f64> {
    Array2::from_shape_simple_fn((rows, cols), || StandardNormal.sample(rng))
}

/// An MLP 2-16-2 (tanh) with its regression data set `y = sin(x)` (plus noise).
pub fn mlp_problem(n: usize, seed: u64) -> (Mlp, ParamStore, Rows) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut store = ParamStore::new();
    let net = Mlp::new(&mut store, "mlp", &[2, 16, 2], Activation::Tanh, &mut rng).unwrap();
    let x = randn(n, 2, &mut rng);
    let y = x.mapv(f64::sin) + randn(n, 2, &mut rng) * 0.1;
    (net, store, Rows::new(vec![x, y]).unwrap())
}

/// Mean squared error of the MLP on a row batch, plus a noise term drawn from the
/// step's generator (so that the RNG state matters for reproducibility tests).
pub fn mlp_loss<'t>(
    net: &Mlp,
    s: &TapeSession<'t, '_>,
    b: &RowBatch,
    ctx: &mut StepCtx,
) -> Result<Loss<Var<'t>>, BoxError> {
    let noise = randn(b.arrays[0].nrows(), 2, &mut ctx.rng) * 0.01;
    let x = s.constant(&b.arrays[0] + &noise);
    let err = net.forward(s, &x)?.sub(&s.constant(b.arrays[1].clone()))?;
    let mse = Loss::mean(&err.square());
    ctx.record("mse", mse.value()?);
    Ok(mse)
}
