//! A field that differentiates inside its own evaluation (a continuous normalizing
//! flow's `d log p / dt = -tr(df/dz)`, taken with `Session::grad`) works with every
//! gradient method: its values match the closed form for a linear field, the
//! checkpointed gradient equals backprop to rounding, and all three methods match
//! central finite differences.

use autodiff::{
    Activation, GradCheck, Mlp, ParamId, ParamStore, Session, Tape, Tensor, Var, gradcheck,
    gradcheck::all_close, gradcheck_params,
};
use ndarray::{Array2, array};
use odesolve::{AdjointOptions, Gradient, Method, NeuralOdeFunc, OdeError, SolveOptions, odeint_tape};
use rand::SeedableRng;

/// `[z, l]' = [f(z), -tr(df/dz)]` for an MLP `f`, row by row: the state of a CNF, its
/// sample and its log-density change (Chen et al. 2018, eq. 4).
#[derive(Debug, Clone)]
struct CnfField {
    net: Mlp,
    dim: usize,
}

impl CnfField {
    fn new(store: &mut ParamStore, widths: &[usize], seed: u64) -> Self {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let net = Mlp::new(store, "f", widths, Activation::Tanh, &mut rng).unwrap();
        CnfField { net, dim: widths[0] }
    }
}

impl NeuralOdeFunc for CnfField {
    fn eval<S: Session>(&self, s: &S, _t: &S::T, y: &S::T) -> autodiff::Result<S::T> {
        let z = s.track(y.slice_cols(0..self.dim)?);
        let f = self.net.forward(s, &z)?;
        let mut trace: Option<S::T> = None;
        for i in 0..self.dim {
            // Rows are independent samples: the gradient of a column's sum is each
            // row's own `d f_i / d z`.
            let dfi = s.grad(&f.slice_cols(i..i + 1)?.sum(), std::slice::from_ref(&z))?.remove(0);
            let term = dfi.slice_cols(i..i + 1)?;
            trace = Some(match trace {
                None => term,
                Some(t) => t.add(&term)?,
            });
        }
        S::T::concat_cols(&[&f, &trace.expect("at least one dimension").neg()])
    }
    fn params(&self) -> Vec<ParamId> {
        self.net.params()
    }
    fn needs_tape(&self) -> bool {
        true
    }
}

const TS: [f64; 4] = [0.0, 0.4, 0.9, 1.3];

/// Samples in the first two columns, a zero log-density change in the third.
fn y0() -> Array2<f64> {
    array![[0.5, -1.0, 0.0], [1.2, 0.3, 0.0], [-0.7, 0.8, 0.0]]
}

fn loss<'t>(
    f: &CnfField,
    s: &autodiff::TapeSession<'t, '_>,
    y: Var<'t>,
    gradient: &Gradient,
) -> autodiff::Result<Var<'t>> {
    let opts = SolveOptions::new(Method::Rk4).step_size(0.05);
    let sol = odeint_tape(f, s, &y, &TS, &opts, gradient).map_err(as_tape)?;
    // Weight the log-density column more, so its gradient is not swamped.
    let w = s.constant(array![[0.3, -0.5, 2.0]]);
    let mut total = sol.ys[1].mul(&w)?.sum();
    for y in &sol.ys[2..] {
        total = total.add(&y.mul(&w)?.square().sum())?;
    }
    Ok(total)
}

fn as_tape(e: OdeError) -> autodiff::Error {
    autodiff::Error::Invalid { op: "odeint_tape", reason: e.to_string() }
}

fn gradients() -> [(&'static str, Gradient); 3] {
    [
        ("backprop", Gradient::Backprop),
        ("checkpointed", Gradient::Checkpointed { checkpoints: Some(3) }),
        (
            "backsolve",
            Gradient::Backsolve(AdjointOptions::new(SolveOptions::new(Method::Dopri5).tol(1e-12, 1e-12))),
        ),
    ]
}

#[test]
fn a_linear_field_gives_the_closed_form_log_density_change() {
    // One layer, no hidden activation: f(z) = z W + b, so tr(df/dz) = tr(W) and
    // l(t) = -t tr(W), whatever the samples do.
    let mut store = ParamStore::new();
    let f = CnfField::new(&mut store, &[2, 2], 1);
    let w = store.get(f.net.layers()[0].weight).unwrap().clone();
    let trace = w[[0, 0]] + w[[1, 1]];
    let opts = SolveOptions::new(Method::Dopri5).tol(1e-10, 1e-12);
    for (name, gradient) in gradients() {
        let tape = Tape::new();
        let s = tape.session(&store);
        let sol = odeint_tape(&f, &s, &tape.constant(y0()), &TS, &opts, &gradient).unwrap();
        for (t, y) in TS.iter().zip(&sol.ys) {
            for l in y.value().column(2) {
                assert!((l + t * trace).abs() < 1e-9, "{name}: l({t}) = {l}, want {}", -t * trace);
            }
        }
    }
}

#[test]
fn checkpointed_equals_backprop_to_rounding() {
    let mut store = ParamStore::new();
    let f = CnfField::new(&mut store, &[2, 8, 2], 2);
    let grads = |gradient: &Gradient| {
        let tape = Tape::new();
        let s = tape.session(&store);
        let y = tape.leaf(y0());
        let g = tape.backward(loss(&f, &s, y, gradient).unwrap()).unwrap();
        let mut all = vec![g.wrt(&y).unwrap().unwrap().clone()];
        all.extend(f.params().iter().map(|id| g.param(*id).unwrap().clone()));
        all
    };
    let reference = grads(&Gradient::Backprop);
    for c in [1, 2, 4, 100] {
        for (k, (a, b)) in
            grads(&Gradient::Checkpointed { checkpoints: Some(c) }).iter().zip(&reference).enumerate()
        {
            assert!(all_close(a, b, 1e-12, 1e-14), "c = {c}, input {k}: {a} vs {b}");
        }
    }
}

#[test]
fn every_method_matches_central_finite_differences() {
    let mut store = ParamStore::new();
    let f = CnfField::new(&mut store, &[2, 8, 2], 3);
    let cfg = GradCheck { eps: 1e-5, rtol: 1e-6, atol: 1e-9, seed: 0 };
    for (name, gradient) in gradients() {
        let rep = gradcheck_params(|s| loss(&f, s, s.constant(y0()), &gradient), &store, &cfg).unwrap();
        assert_eq!(rep.checked, store.num_scalars(), "{name}");
        let rep =
            gradcheck(|v| loss(&f, &v[0].tape().session(&store), v[0], &gradient), &[y0()], &cfg).unwrap();
        assert_eq!(rep.checked, 9, "{name}");
    }
}
