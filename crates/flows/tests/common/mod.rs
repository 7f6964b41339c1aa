//! Checks every flow must pass: round trip, log-determinant against the
//! finite-difference Jacobian, and gradients against finite differences.

#![allow(dead_code)]

use autodiff::gradcheck::{all_close, jacobian_fd};
use autodiff::{GradCheck, NoGrad, ParamStore, Session, Tensor, gradcheck, gradcheck_params};
use flows::{Direction, Error, Flow};
use ndarray::{Array2, s};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;

pub type TestRng = ChaCha8Rng;

pub fn rng(seed: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed)
}

pub fn normal(shape: (usize, usize), std: f64, rng: &mut ChaCha8Rng) -> Array2<f64> {
    Array2::from_shape_simple_fn(shape, || std * rng.sample::<f64, _>(StandardNormal))
}

/// Adds `N(0, std^2)` noise to every parameter: "random parameters", including
/// biases and scales that start at zero.
pub fn randomize(store: &mut ParamStore, std: f64, rng: &mut ChaCha8Rng) {
    for id in store.ids().collect::<Vec<_>>() {
        let noise = normal(store.shape(id).unwrap(), std, rng);
        *store.get_mut(id).unwrap() += &noise;
    }
}

/// The flow in `dir`, on plain arrays.
pub fn apply<F: Flow>(
    flow: &F,
    store: &ParamStore,
    x: &Array2<f64>,
    dir: Direction,
) -> flows::Result<(Array2<f64>, Array2<f64>)> {
    let s = NoGrad::new(store);
    match dir {
        Direction::Forward => flow.forward(&s, x),
        Direction::Inverse => flow.inverse(&s, x),
    }
}

fn run<S: odesolve::OdeSession, F: Flow>(flow: &F, s: &S, x: &S::T, dir: Direction) -> flows::Result<S::T> {
    let (y, ld) = match dir {
        Direction::Forward => flow.forward(s, x)?,
        Direction::Inverse => flow.inverse(s, x)?,
    };
    Ok(S::T::concat_cols(&[&y, &ld])?)
}

/// ln|det| of the finite-difference Jacobian of row `r` in direction `dir`.
pub fn fd_log_det<F: Flow>(flow: &F, store: &ParamStore, x: &Array2<f64>, r: usize, dir: Direction) -> f64 {
    let row = x.slice(s![r..r + 1, ..]).to_owned();
    let jac = jacobian_fd(|v| apply(flow, store, v, dir).unwrap().0, &row, 1e-6).unwrap();
    let (ld, _) = flows::linalg::log_abs_det(&jac).unwrap();
    #[cfg(feature = "lapack")]
    {
        use ndarray_linalg::Determinant;
        let det = jac.det().unwrap();
        assert!((det.abs().ln() - ld).abs() < 1e-10, "LU {ld} vs LAPACK {}", det.abs().ln());
    }
    ld
}

/// Every check, in every direction the flow has; returns the directions checked.
pub fn check_flow<F: Flow>(flow: &F, store: &ParamStore, x: &Array2<f64>) -> Vec<Direction> {
    let mut dirs = Vec::new();
    let fwd = apply(flow, store, x, Direction::Forward);
    match &fwd {
        Ok((z, ld)) => {
            dirs.push(Direction::Forward);
            assert_eq!(ld.dim(), (x.nrows(), 1), "{}: log-det shape", flow.name());
            assert!(z.iter().chain(ld).all(|v| v.is_finite()), "{}: non-finite forward", flow.name());
            let (back, ld_inv) = apply(flow, store, z, Direction::Inverse)
                .expect("every flow with a forward direction here has an inverse");
            dirs.push(Direction::Inverse);
            let err = (&back - x).iter().fold(0.0f64, |m, v| m.max(v.abs()));
            assert!(err < 1e-9, "{}: inverse(forward(x)) off by {err:e}", flow.name());
            assert!(
                all_close(&ld_inv, &ld.mapv(|v| -v), 1e-10, 1e-10),
                "{}: inverse log-det is not -forward",
                flow.name()
            );
        }
        Err(Error::NoClosedForm { .. }) => {
            assert_eq!(flow.cheap_direction(), Direction::Inverse, "{}", flow.name());
            dirs.push(Direction::Inverse);
        }
        Err(e) => panic!("{}: forward failed: {e}", flow.name()),
    }
    for &dir in &dirs {
        let (_, ld) = apply(flow, store, x, dir).unwrap();
        for r in 0..x.nrows().min(4) {
            let fd = fd_log_det(flow, store, x, r, dir);
            assert!(
                (fd - ld[(r, 0)]).abs() < 1e-6 * (1.0 + fd.abs()),
                "{} {dir:?} row {r}: log-det {} vs finite differences {fd}",
                flow.name(),
                ld[(r, 0)]
            );
        }
        let cfg = GradCheck { rtol: 1e-5, atol: 1e-7, ..GradCheck::default() };
        if !store.is_empty() {
            let report =
                gradcheck_params(|s| run(flow, s, &s.constant(x.clone()), dir).map_err(to_ad), store, &cfg)
                    .unwrap_or_else(|e| panic!("{} {dir:?}: parameter gradcheck: {e}", flow.name()));
            assert_eq!(report.checked, store.num_scalars());
        }
        gradcheck(|v| run(flow, &v[0].tape().session(store), &v[0], dir).map_err(to_ad), &[x.clone()], &cfg)
            .unwrap_or_else(|e| panic!("{} {dir:?}: input gradcheck: {e}", flow.name()));
    }
    dirs
}

/// Flow errors inside a gradcheck closure (which must return autodiff's error).
pub fn to_ad(e: Error) -> autodiff::Error {
    match e {
        Error::Autodiff(e) => e,
        other => autodiff::Error::Invalid { op: "flow", reason: other.to_string() },
    }
}
