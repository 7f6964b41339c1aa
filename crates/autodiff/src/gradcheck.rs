//! Gradient checks against central finite differences.
//!
//! The analytic gradient from the tape is compared, element by element, with
//! `(f(x + h e_i) - f(x - h e_i)) / 2h`, whose error is `O(h^2)` from truncation plus
//! `O(eps_mach |f| / h)` from rounding. With `h = 1e-5 * max(1, |x_i|)` both are far
//! below the default tolerance for smooth functions of moderate size.
//!
//! A function with a non-scalar output is contracted with fixed random weights
//! (`L = sum(W * f(x))`, `W` uniform in `[-1, 1]` from a seeded generator), which
//! checks a random direction of the full Jacobian in one backward pass.

use crate::{Error, ParamStore, Result, Tape, TapeSession, Tensor, Var};
use ndarray::Array2;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Settings of a gradient check.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GradCheck {
    /// Relative step: `h = eps * max(1, |x|)`.
    pub eps: f64,
    /// Relative tolerance: pass when `|a - n| <= atol + rtol * max(|a|, |n|)`.
    pub rtol: f64,
    /// Absolute tolerance (covers rounding where the gradient is near zero).
    pub atol: f64,
    /// Seed of the random contraction weights for non-scalar outputs.
    pub seed: u64,
}

impl Default for GradCheck {
    fn default() -> Self {
        GradCheck { eps: 1e-5, rtol: 1e-6, atol: 1e-8, seed: 0 }
    }
}

/// What a passing check measured.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct GradCheckReport {
    /// Number of gradient entries compared.
    pub checked: usize,
    /// Largest `|a - n|`.
    pub max_abs_err: f64,
    /// Largest `|a - n| / max(|a|, |n|)` over entries where that is non-zero.
    pub max_rel_err: f64,
}

struct Contraction(Option<Array2<f64>>);

impl Contraction {
    /// `sum(W * y)` for a non-scalar `y`, or `y` itself for a `1 x 1` output.
    fn apply<'t>(&mut self, y: Var<'t>, seed: u64) -> Result<Var<'t>> {
        if y.shape() == (1, 1) {
            return Ok(y);
        }
        let w = self.0.get_or_insert_with(|| {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            Array2::from_shape_simple_fn(y.shape(), || rng.random_range(-1.0..=1.0))
        });
        Ok(y.mul(&y.constant(w.clone()))?.sum())
    }
}

impl GradCheck {
    /// Checks the settings: a finite step `eps > 0` (a zero step makes every
    /// difference quotient 0 / 0, which would then be reported as a wrong gradient),
    /// and finite tolerances `>= 0`. The error is [`Error::Invalid`] naming the field.
    pub fn validate(&self) -> Result<()> {
        check_step("gradcheck", self.eps)?;
        for (name, tol) in [("rtol", self.rtol), ("atol", self.atol)] {
            if !(tol.is_finite() && tol >= 0.0) {
                return Err(Error::Invalid {
                    op: "gradcheck",
                    reason: format!("{name} = {tol} is not finite and >= 0"),
                });
            }
        }
        Ok(())
    }

    fn compare(
        &self,
        report: &mut GradCheckReport,
        input: usize,
        idx: (usize, usize),
        a: f64,
        n: f64,
    ) -> Result<()> {
        let err = (a - n).abs();
        let scale = a.abs().max(n.abs());
        report.checked += 1;
        report.max_abs_err = report.max_abs_err.max(err);
        if scale > 0.0 {
            report.max_rel_err = report.max_rel_err.max(err / scale);
        }
        if err <= self.atol + self.rtol * scale {
            Ok(())
        } else {
            Err(Error::GradCheck { input, row: idx.0, col: idx.1, analytic: a, numeric: n })
        }
    }

    fn step(&self, x: f64) -> f64 {
        self.eps * x.abs().max(1.0)
    }
}

/// Fails unless the relative finite-difference step `eps` is finite and positive.
fn check_step(op: &'static str, eps: f64) -> Result<()> {
    match eps.is_finite() && eps > 0.0 {
        true => Ok(()),
        false => Err(Error::Invalid { op, reason: format!("step eps = {eps} is not finite and > 0") }),
    }
}

/// Checks the gradient of `f` with respect to each of `inputs`.
///
/// `f` receives the inputs as tracked leaves of a fresh tape and returns a value of
/// any shape. Returns the largest errors seen, or an error naming the first entry
/// outside tolerance (settings that fail [`GradCheck::validate`] are refused first).
///
/// ```
/// use autodiff::{gradcheck, GradCheck, Tensor};
/// use ndarray::array;
/// let x = array![[0.3, -1.2], [2.0, 0.5]];
/// let report = gradcheck(|v| Ok(v[0].tanh().mul(&v[0])?), &[x], &GradCheck::default()).unwrap();
/// assert!(report.max_rel_err < 1e-6);
/// ```
pub fn gradcheck<F>(f: F, inputs: &[Array2<f64>], cfg: &GradCheck) -> Result<GradCheckReport>
where
    F: for<'t> Fn(&[Var<'t>]) -> Result<Var<'t>>,
{
    cfg.validate()?;
    let mut contraction = Contraction(None);
    let tape = Tape::new();
    let leaves: Vec<_> = inputs.iter().map(|x| tape.leaf(x.clone())).collect();
    let loss = contraction.apply(f(&leaves)?, cfg.seed)?;
    let grads = tape.backward(loss)?;

    let mut eval = |xs: &[Array2<f64>]| -> Result<f64> {
        let tape = Tape::new();
        let consts: Vec<_> = xs.iter().map(|x| tape.constant(x.clone())).collect();
        contraction.apply(f(&consts)?, cfg.seed)?.item()
    };
    let mut report = GradCheckReport::default();
    let mut xs = inputs.to_vec();
    for (k, leaf) in leaves.iter().enumerate() {
        let zeros = Array2::zeros(inputs[k].dim());
        let analytic = grads.wrt(leaf)?.unwrap_or(&zeros);
        for (idx, &x0) in inputs[k].indexed_iter() {
            let h = cfg.step(x0);
            xs[k][idx] = x0 + h;
            let up = eval(&xs)?;
            xs[k][idx] = x0 - h;
            let down = eval(&xs)?;
            xs[k][idx] = x0;
            cfg.compare(&mut report, k, idx, analytic[idx], (up - down) / (2.0 * h))?;
        }
    }
    Ok(report)
}

/// Checks the gradient of a model loss with respect to every parameter in `store`.
///
/// `f` runs the forward pass in the given session and returns the loss (any shape;
/// non-scalar outputs are contracted as in [`gradcheck`]). The `input` index in a
/// failure is the parameter's [`ParamId::index`](crate::ParamId::index).
pub fn gradcheck_params<F>(f: F, store: &ParamStore, cfg: &GradCheck) -> Result<GradCheckReport>
where
    F: for<'t, 's> Fn(&TapeSession<'t, 's>) -> Result<Var<'t>>,
{
    cfg.validate()?;
    let mut contraction = Contraction(None);
    let tape = Tape::new();
    let loss = contraction.apply(f(&tape.session(store))?, cfg.seed)?;
    let grads = tape.backward(loss)?;

    let mut work = store.clone();
    let mut report = GradCheckReport::default();
    for id in store.ids() {
        let zeros = Array2::zeros(store.shape(id)?);
        let analytic = grads.param(id).unwrap_or(&zeros).clone();
        for (idx, &x0) in store.get(id)?.indexed_iter() {
            let h = cfg.step(x0);
            let mut at = |x: f64| -> Result<f64> {
                work.get_mut(id)?[idx] = x;
                let tape = Tape::new();
                let s = tape.session(&work);
                let y = f(&s)?;
                contraction.apply(y.detach(), cfg.seed)?.item()
            };
            let (up, down) = (at(x0 + h)?, at(x0 - h)?);
            work.get_mut(id)?[idx] = x0;
            cfg.compare(&mut report, id.index(), idx, analytic[idx], (up - down) / (2.0 * h))?;
        }
    }
    Ok(report)
}

/// The Jacobian `d f(x)_j / d x_i` of a row-wise map, by central differences.
///
/// `f` maps a `1 x n` row to a `1 x m` row; the result is `m x n` (row `j` is the
/// gradient of output `j`). Used to check log-determinants and autoregressive
/// structure. The relative step `eps` must be finite and positive.
pub fn jacobian_fd(
    f: impl Fn(&Array2<f64>) -> Array2<f64>,
    x: &Array2<f64>,
    eps: f64,
) -> Result<Array2<f64>> {
    check_step("jacobian_fd", eps)?;
    if x.nrows() != 1 {
        return Err(Error::Shape { op: "jacobian_fd", lhs: x.dim(), rhs: (1, x.ncols()) });
    }
    let n = x.ncols();
    let m = f(x).ncols();
    let mut jac = Array2::zeros((m, n));
    let mut xp = x.clone();
    for i in 0..n {
        let h = eps * x[(0, i)].abs().max(1.0);
        xp[(0, i)] = x[(0, i)] + h;
        let up = f(&xp);
        xp[(0, i)] = x[(0, i)] - h;
        let down = f(&xp);
        xp[(0, i)] = x[(0, i)];
        for j in 0..m {
            jac[(j, i)] = (up[(0, j)] - down[(0, j)]) / (2.0 * h);
        }
    }
    Ok(jac)
}

/// `true` if `a` and `b` agree to `atol + rtol * max(|a|, |b|)` everywhere.
pub fn all_close(a: &Array2<f64>, b: &Array2<f64>, rtol: f64, atol: f64) -> bool {
    a.dim() == b.dim() && a.iter().zip(b).all(|(&x, &y)| (x - y).abs() <= atol + rtol * x.abs().max(y.abs()))
}
