//! Test problems with exact solutions, and the classic benchmarks of Hairer's DOPRI5.
#![allow(dead_code)]

use autodiff::{Activation, Init, Linear, ParamId, ParamStore, Session, Tensor};
use ndarray::{Array2, array};
use odesolve::{NeuralOdeFunc, OdeFunc, Result};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// A problem `y' = f(t, y)` with its exact solution.
pub trait Exact: OdeFunc + Sync {
    fn name(&self) -> &'static str;
    fn y0(&self) -> Array2<f64>;
    fn exact(&self, t: f64) -> Array2<f64>;
}

/// `y' = -lambda y` on a batch of two samples: `y(t) = y0 e^{-lambda t}`.
pub struct Decay(pub f64);

impl OdeFunc for Decay {
    fn eval_array(&self, _t: f64, y: &Array2<f64>) -> Result<Array2<f64>> {
        Ok(y * -self.0)
    }
}
impl Exact for Decay {
    fn name(&self) -> &'static str {
        "decay"
    }
    fn y0(&self) -> Array2<f64> {
        array![[1.0], [-2.5]]
    }
    fn exact(&self, t: f64) -> Array2<f64> {
        self.y0() * (-self.0 * t).exp()
    }
}

/// The damped oscillator `y' = y A` with `A = [[-d, -w], [w, -d]]` (rows are samples, so
/// the state is a row vector): `exp(tA) = e^{-dt} [[cos wt, -sin wt], [sin wt, cos wt]]`
/// because `A = -d I + w J` with `J^2 = -I` and `I`, `J` commute.
pub struct Oscillator {
    pub d: f64,
    pub w: f64,
}

impl Oscillator {
    fn a(&self) -> Array2<f64> {
        array![[-self.d, -self.w], [self.w, -self.d]]
    }

    /// `y0 exp(tA)` for any initial rows.
    pub fn flow(&self, y0: &Array2<f64>, t: f64) -> Array2<f64> {
        let (c, s) = ((self.w * t).cos(), (self.w * t).sin());
        y0.dot(&array![[c, -s], [s, c]]) * (-self.d * t).exp()
    }
}
impl OdeFunc for Oscillator {
    fn eval_array(&self, _t: f64, y: &Array2<f64>) -> Result<Array2<f64>> {
        Ok(y.dot(&self.a()))
    }
}
impl Exact for Oscillator {
    fn name(&self) -> &'static str {
        "oscillator"
    }
    fn y0(&self) -> Array2<f64> {
        array![[1.0, 0.0], [0.3, -0.7]]
    }
    fn exact(&self, t: f64) -> Array2<f64> {
        self.flow(&self.y0(), t)
    }
}

/// The time-dependent scalar problem `y' = y cos t`: `y(t) = y0 e^{sin t}`.
pub struct CosGrowth;

impl OdeFunc for CosGrowth {
    fn eval_array(&self, t: f64, y: &Array2<f64>) -> Result<Array2<f64>> {
        Ok(y * t.cos())
    }
}
impl Exact for CosGrowth {
    fn name(&self) -> &'static str {
        "cos growth"
    }
    fn y0(&self) -> Array2<f64> {
        array![[0.5]]
    }
    fn exact(&self, t: f64) -> Array2<f64> {
        self.y0() * t.sin().exp()
    }
}

pub fn exact_problems() -> Vec<Box<dyn Exact>> {
    vec![Box::new(Decay(1.3)), Box::new(Oscillator { d: 0.2, w: 2.0 }), Box::new(CosGrowth)]
}

/// Largest absolute difference.
pub fn max_abs(a: &Array2<f64>, b: &Array2<f64>) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f64::max)
}

/// Euclidean norm of the difference.
pub fn dist(a: &Array2<f64>, b: &Array2<f64>) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum::<f64>().sqrt()
}

/// Lorenz (10, 28, 8/3), batched by rows.
pub struct Lorenz;

impl OdeFunc for Lorenz {
    fn eval_array(&self, _t: f64, y: &Array2<f64>) -> Result<Array2<f64>> {
        let mut out = Array2::zeros(y.dim());
        for (mut o, r) in out.rows_mut().into_iter().zip(y.rows()) {
            o[0] = 10.0 * (r[1] - r[0]);
            o[1] = r[0] * (28.0 - r[2]) - r[1];
            o[2] = r[0] * r[1] - (8.0 / 3.0) * r[2];
        }
        Ok(out)
    }
}

/// Van der Pol with `mu`, batched by rows.
pub struct VanDerPol(pub f64);

impl OdeFunc for VanDerPol {
    fn eval_array(&self, _t: f64, y: &Array2<f64>) -> Result<Array2<f64>> {
        let mut out = Array2::zeros(y.dim());
        for (mut o, r) in out.rows_mut().into_iter().zip(y.rows()) {
            o[0] = r[1];
            o[1] = self.0 * (1.0 - r[0] * r[0]) * r[1] - r[0];
        }
        Ok(out)
    }
}

/// The MLP right-hand side `f(t, y) = W2 tanh(W1 y + b1) + b2` (2 -> 8 -> 2), plus a
/// small explicit time term `0.1 t * c` so that `df/dt` is not zero.
#[derive(Debug, Clone)]
pub struct MlpField {
    pub l1: Linear,
    pub l2: Linear,
    pub c: ParamId,
}

impl MlpField {
    pub fn new(store: &mut ParamStore, seed: u64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let init = Init::Normal { std: 0.5 };
        let l1 = Linear::with_init(store, "f.0", 2, 8, init, Some(init), &mut rng).unwrap();
        let l2 = Linear::with_init(store, "f.1", 8, 2, init, Some(init), &mut rng).unwrap();
        let c = store.add("f.c", array![[0.3, -0.2]]).unwrap();
        MlpField { l1, l2, c }
    }
}

impl NeuralOdeFunc for MlpField {
    fn eval<S: Session>(&self, s: &S, t: &S::T, y: &S::T) -> autodiff::Result<S::T> {
        let h = Activation::Tanh.apply(&self.l1.forward(s, y)?);
        let out = self.l2.forward(s, &h)?;
        out.add(&t.mul(&s.param(self.c)?)?.scale(0.1))
    }
    fn params(&self) -> Vec<ParamId> {
        let mut p = vec![self.l1.weight, self.l1.bias.unwrap(), self.l2.weight, self.l2.bias.unwrap()];
        p.push(self.c);
        p
    }
}
