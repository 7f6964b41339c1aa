//! The workloads shared by the benchmarks: Lorenz, and torchdiffeq's `ode_demo` Neural ODE
//! iteration (`../shared/bench/bench_neural_ode.py`).
#![allow(dead_code)]

use autodiff::{Activation, Init, Linear, ParamId, ParamStore, Session, Tape, Tensor};
use ndarray::{Array2, array};
use odesolve::{
    AdjointOptions, Gradient, Method, NeuralOdeFunc, OdeFunc, OdeStats, Result, SolveOptions, odeint,
    odeint_tape,
};
use rand::SeedableRng;
use rand::seq::index::sample;
use rand_chacha::ChaCha8Rng;

/// Lorenz (10, 28, 8/3) on a `1 x 3` state.
pub struct Lorenz;

impl OdeFunc for Lorenz {
    fn eval_array(&self, _t: f64, y: &Array2<f64>) -> Result<Array2<f64>> {
        let (a, b, c) = (y[[0, 0]], y[[0, 1]], y[[0, 2]]);
        Ok(array![[10.0 * (b - a), a * (28.0 - c) - b, a * b - (8.0 / 3.0) * c]])
    }
    fn eval_into(&self, _t: f64, y: &Array2<f64>, out: &mut Array2<f64>) -> Result<()> {
        let (a, b, c) = (y[[0, 0]], y[[0, 1]], y[[0, 2]]);
        out[[0, 0]] = 10.0 * (b - a);
        out[[0, 1]] = a * (28.0 - c) - b;
        out[[0, 2]] = a * b - (8.0 / 3.0) * c;
        Ok(())
    }
}

/// The true dynamics of ode_demo: `y' = y^3 A`.
struct Spiral;

impl OdeFunc for Spiral {
    fn eval_array(&self, _t: f64, y: &Array2<f64>) -> Result<Array2<f64>> {
        Ok(y.mapv(|v| v * v * v).dot(&array![[-0.1, 2.0], [-2.0, -0.1]]))
    }
}

/// ode_demo's `ODEFunc`: Linear(2, 50) - tanh - Linear(50, 2) applied to `y^3`, weights
/// N(0, 0.1^2), biases 0.
#[derive(Clone)]
pub struct OdeDemoFunc {
    l1: Linear,
    l2: Linear,
}

impl NeuralOdeFunc for OdeDemoFunc {
    fn eval<S: Session>(&self, s: &S, _t: &S::T, y: &S::T) -> autodiff::Result<S::T> {
        let h = Activation::Tanh.apply(&self.l1.forward(s, &y.powf(3.0))?);
        self.l2.forward(s, &h)
    }
    fn params(&self) -> Vec<ParamId> {
        vec![self.l1.weight, self.l1.bias.unwrap(), self.l2.weight, self.l2.bias.unwrap()]
    }
}

/// The batch, model and optimiser state of one ode_demo iteration.
#[derive(Clone)]
pub struct NeuralOde {
    pub func: OdeDemoFunc,
    pub store: ParamStore,
    pub y0: Array2<f64>,
    pub ts: Vec<f64>,
    pub targets: Vec<Array2<f64>>,
    /// Largest Dopri5 step (`None`: the interval), to set the number of steps.
    pub max_step: Option<f64>,
}

/// Which solver and gradient method the iteration uses (all through `odeint_tape`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Variant {
    Dopri5Backprop,
    Dopri5Backsolve {
        seminorm: bool,
    },
    /// Dopri5 with binomial checkpointing, at most this many stored states.
    Dopri5Checkpointed(usize),
    /// RK4 (3/8 rule) on the output grid, checkpointed with the default budget.
    Rk4Grid,
}

impl Variant {
    fn gradient(self, opts: &SolveOptions) -> Gradient {
        match self {
            Variant::Dopri5Backprop => Gradient::Backprop,
            Variant::Dopri5Backsolve { seminorm } => {
                Gradient::Backsolve(AdjointOptions { seminorm, ..AdjointOptions::new(opts.clone()) })
            }
            Variant::Dopri5Checkpointed(c) => Gradient::Checkpointed { checkpoints: Some(c) },
            Variant::Rk4Grid => Gradient::default(),
        }
    }
}

impl NeuralOde {
    /// `batch_time` observation times starting at 0 with ode_demo's spacing 25/999,
    /// and `batch_size` random windows of the true trajectory.
    pub fn new(batch_time: usize, batch_size: usize) -> Self {
        let data_size = 1000;
        let t: Vec<f64> = (0..data_size).map(|i| 25.0 * i as f64 / (data_size - 1) as f64).collect();
        let truth = odeint(&Spiral, &array![[2.0, 0.0]], &t, &SolveOptions::default()).unwrap().ys;
        let mut rng = ChaCha8Rng::seed_from_u64(42);
        let starts = sample(&mut rng, data_size - batch_time, batch_size).into_vec();
        let rows = |k: usize| {
            let mut a = Array2::zeros((batch_size, 2));
            for (r, &s) in starts.iter().enumerate() {
                a.row_mut(r).assign(&truth[s + k].row(0));
            }
            a
        };
        let mut store = ParamStore::new();
        let init = Init::Normal { std: 0.1 };
        let l1 = Linear::with_init(&mut store, "net.0", 2, 50, init, Some(Init::Zeros), &mut rng).unwrap();
        let l2 = Linear::with_init(&mut store, "net.2", 50, 2, init, Some(Init::Zeros), &mut rng).unwrap();
        NeuralOde {
            func: OdeDemoFunc { l1, l2 },
            store,
            y0: rows(0),
            ts: t[..batch_time].to_vec(),
            targets: (0..batch_time).map(rows).collect(),
            max_step: None,
        }
    }

    /// The same model and batch with two output times `0` and `t_end` (zero targets)
    /// and Dopri5 steps of at most `t_end / steps`: about `steps` accepted steps.
    pub fn with_steps(&self, t_end: f64, steps: usize) -> Self {
        let zeros = Array2::zeros(self.y0.dim());
        NeuralOde {
            ts: vec![0.0, t_end],
            targets: vec![zeros.clone(), zeros],
            max_step: Some(t_end / steps as f64),
            ..self.clone()
        }
    }

    fn opts(&self, variant: Variant) -> SolveOptions {
        match variant {
            Variant::Rk4Grid => SolveOptions::new(Method::Rk4ThreeEighths).grid(),
            _ => {
                SolveOptions { max_step: self.max_step, ..SolveOptions::new(Method::Dopri5).tol(1e-7, 1e-9) }
            }
        }
    }

    /// `mean |pred - target|` over every output time, on the tape.
    fn loss<'t>(&self, tape: &'t Tape, ys: &[autodiff::Var<'t>]) -> autodiff::Var<'t> {
        let n = (ys.len() * self.y0.len()) as f64;
        let mut total = tape.constant(Array2::zeros((1, 1)));
        for (y, target) in ys.iter().zip(&self.targets) {
            total = total.add(&y.sub(&tape.constant(target.clone())).unwrap().abs().sum()).unwrap();
        }
        total.scale(1.0 / n)
    }

    /// Loss, then gradients for every parameter, by the chosen method. Returns the
    /// gradients in `func.params()` order and the solver work.
    pub fn gradients(&self, variant: Variant) -> (Vec<Array2<f64>>, OdeStats) {
        let opts = self.opts(variant);
        let tape = Tape::new();
        let s = tape.session(&self.store);
        let y0 = tape.constant(self.y0.clone());
        let sol = odeint_tape(&self.func, &s, &y0, &self.ts, &opts, &variant.gradient(&opts)).unwrap();
        let g = self.loss(&tape, &sol.ys).backward().unwrap();
        let grads = self.func.params().iter().map(|id| g.param(*id).unwrap().clone()).collect();
        (grads, sol.stats())
    }

    /// One training iteration: gradients, then RMSprop (lr 1e-3, alpha 0.99, eps 1e-8,
    /// PyTorch's defaults) on `store` with square averages `sq`.
    pub fn step(&mut self, variant: Variant, sq: &mut [Array2<f64>]) {
        let (grads, _) = self.gradients(variant);
        for ((id, g), v) in self.func.params().into_iter().zip(&grads).zip(sq.iter_mut()) {
            v.zip_mut_with(g, |v, g| *v = 0.99 * *v + 0.01 * g * g);
            let mut upd = g.clone();
            upd.zip_mut_with(v, |u, v| *u = 1e-3 * *u / (v.sqrt() + 1e-8));
            *self.store.get_mut(id).expect("the field's own parameter") -= &upd;
        }
    }

    /// Zero square averages, one per parameter.
    pub fn rms_state(&self) -> Vec<Array2<f64>> {
        self.func
            .params()
            .iter()
            .map(|id| Array2::zeros(self.store.shape(*id).expect("the field's own parameter")))
            .collect()
    }
}
