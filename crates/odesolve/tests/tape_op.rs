//! The solve as one tape operation: the checkpointed gradient equals backprop through
//! the solver to rounding, for every method and number of checkpoints; the backsolve
//! adjoint agrees to its tolerance; all three match central finite differences; the
//! stored states never exceed the checkpoints; bad input is a typed error.

mod common;

use autodiff::{
    Activation, GradCheck, Mlp, NoGrad, ParamStore, Tape, Tensor, Var, gradcheck, gradcheck::all_close,
    gradcheck_params,
};
use common::MlpField;
use ndarray::{Array2, array};
use odesolve::{
    AdjointOptions, FnOde, Gradient, Method, NeuralOdeFunc, OdeError, OdeStats, SolveOptions, WithParams,
    odeint, odeint_tape,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Output times: `t_0`, interior points (some inside steps, so dense output is
/// differentiated too) and `t_1`.
const TS: [f64; 5] = [0.0, 0.3, 0.7, 1.1, 1.5];

fn y0() -> Array2<f64> {
    array![[0.5, -1.0], [1.2, 0.3], [-0.7, 0.8]]
}

/// `dL/dy(t_k) = W_k` for `L = sum_k sum(W_k * y(t_k))`.
fn weights() -> Vec<Array2<f64>> {
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    TS.iter().map(|_| Array2::from_shape_simple_fn((3, 2), || rng.random_range(-1.0..1.0))).collect()
}

fn loss_of<'t>(ys: &[Var<'t>]) -> autodiff::Result<Var<'t>> {
    let w = weights();
    let mut total = ys[0].mul(&ys[0].constant(w[0].clone()))?.sum();
    for (y, wk) in ys.iter().zip(&w).skip(1) {
        total = total.add(&y.mul(&y.constant(wk.clone()))?.sum())?;
    }
    Ok(total)
}

fn tape_loss<'t, F: NeuralOdeFunc + Clone + Send + Sync + 'static>(
    f: &F,
    s: &autodiff::TapeSession<'t, '_>,
    y: Var<'t>,
    opts: &SolveOptions,
    gradient: &Gradient,
) -> autodiff::Result<Var<'t>> {
    let sol = odeint_tape(f, s, &y, &TS, opts, gradient).map_err(as_tape)?;
    loss_of(&sol.ys)
}

fn as_tape(e: OdeError) -> autodiff::Error {
    autodiff::Error::Invalid { op: "odeint_tape", reason: e.to_string() }
}

/// The gradients of the loss with respect to `y0`, every parameter (in the field's
/// order) and the times, and the solve's work.
struct Grads {
    y0: Array2<f64>,
    params: Vec<Array2<f64>>,
    times: Array2<f64>,
    stats: OdeStats,
}

fn grads(f: &MlpField, store: &ParamStore, opts: &SolveOptions, gradient: &Gradient) -> Grads {
    let tape = Tape::new();
    let s = tape.session(store);
    let y = tape.leaf(y0());
    let ts = tape.leaf(Array2::from_shape_vec((1, TS.len()), TS.to_vec()).unwrap());
    let sol = odeint_tape(f, &s, &y, ts, opts, gradient).unwrap();
    let g = tape.backward(loss_of(&sol.ys).unwrap()).unwrap();
    Grads {
        y0: g.wrt(&y).unwrap().unwrap().clone(),
        params: f.params_of().iter().map(|id| g.param(*id).unwrap().clone()).collect(),
        times: g.wrt(&ts).unwrap().unwrap().clone(),
        stats: sol.stats(),
    }
}

trait ParamsOf {
    fn params_of(&self) -> Vec<autodiff::ParamId>;
}
impl ParamsOf for MlpField {
    fn params_of(&self) -> Vec<autodiff::ParamId> {
        NeuralOdeFunc::params(self)
    }
}

fn assert_same(a: &Grads, b: &Grads, rtol: f64, atol: f64, what: &str) {
    assert!(all_close(&a.y0, &b.y0, rtol, atol), "{what}: dL/dy0 {} vs {}", a.y0, b.y0);
    for (k, (x, y)) in a.params.iter().zip(&b.params).enumerate() {
        assert!(all_close(x, y, rtol, atol), "{what}: parameter {k}: {x} vs {y}");
    }
    assert!(all_close(&a.times, &b.times, rtol, atol), "{what}: dL/dt {} vs {}", a.times, b.times);
}

/// The four methods of the issue: two adaptive pairs and two fixed-step methods.
fn methods() -> Vec<(&'static str, SolveOptions)> {
    vec![
        ("dopri5", SolveOptions::new(Method::Dopri5).tol(1e-8, 1e-10)),
        ("tsit5", SolveOptions::new(Method::Tsit5).tol(1e-8, 1e-10)),
        ("rk4", SolveOptions::new(Method::Rk4).step_size(0.05)),
        ("euler", SolveOptions::new(Method::Euler).step_size(0.02)),
    ]
}

#[test]
fn checkpointed_equals_backprop_to_rounding_for_every_method_and_budget() {
    let mut store = ParamStore::new();
    let f = MlpField::new(&mut store, 1);
    for (name, opts) in methods() {
        let reference = grads(&f, &store, &opts, &Gradient::Backprop);
        let steps = reference.stats.forward.naccept;
        assert!(steps >= 8, "{name}: {steps} steps is too few to exercise the schedule");
        for c in [1, 2, 3, 4, 8, steps, steps + 5] {
            let got = grads(&f, &store, &opts, &Gradient::Checkpointed { checkpoints: Some(c) });
            assert_same(&got, &reference, 1e-12, 1e-14, &format!("{name}, c = {c}"));
            // Counted, not timed: never more states than slots, every step reversed once.
            assert!(got.stats.checkpoints <= c, "{name}, c = {c}: {:?}", got.stats);
            assert_eq!(got.stats.backward.naccept, steps, "{name}, c = {c}");
            if c >= steps {
                assert_eq!(got.stats.recomputed_steps, 0, "{name}: every state was kept");
            } else {
                assert!(got.stats.recomputed_steps > 0, "{name}, c = {c}");
            }
        }
    }
}

#[test]
fn backsolve_agrees_to_the_solver_tolerance() {
    let mut store = ParamStore::new();
    let f = MlpField::new(&mut store, 2);
    let opts = SolveOptions::new(Method::Dopri5).tol(1e-10, 1e-12);
    let reference = grads(&f, &store, &opts, &Gradient::Backprop);
    for seminorm in [false, true] {
        let adjoint = AdjointOptions { seminorm, ..AdjointOptions::new(opts.clone()) };
        let got = grads(&f, &store, &opts, &Gradient::Backsolve(adjoint));
        assert_same(&got, &reference, 1e-6, 1e-8, &format!("backsolve, seminorm {seminorm}"));
        assert!(got.stats.backward.nfev > 0);
    }
}

#[test]
fn at_loose_tolerance_backsolve_is_far_from_the_gradient_of_the_solution() {
    // The reason checkpointing is the default: at rtol 1e-3 the backsolve gradient
    // differs from the gradient of the computed solution by far more than rounding.
    let mut store = ParamStore::new();
    let f = MlpField::new(&mut store, 3);
    let opts = SolveOptions::new(Method::Dopri5).tol(1e-3, 1e-3);
    let exact = grads(&f, &store, &opts, &Gradient::default());
    let adjoint = grads(&f, &store, &opts, &Gradient::Backsolve(AdjointOptions::new(opts.clone())));
    let rel = |a: &Array2<f64>, b: &Array2<f64>| {
        (a - b).iter().map(|v| v * v).sum::<f64>().sqrt() / b.iter().map(|v| v * v).sum::<f64>().sqrt()
    };
    let err = rel(&adjoint.params[0], &exact.params[0]);
    eprintln!("backsolve vs checkpointed at rtol 1e-3: relative error {err:.2e} (first weight matrix)");
    assert!(err > 1e-6, "{err}");
}

#[test]
fn every_method_matches_central_finite_differences() {
    let mut store = ParamStore::new();
    let f = MlpField::new(&mut store, 4);
    // Fixed steps: the loss is a smooth function of every input (adaptive step
    // sequences would jump under the perturbations).
    let opts = SolveOptions::new(Method::Rk4).step_size(0.05);
    let cfg = GradCheck { eps: 1e-5, rtol: 1e-6, atol: 1e-9, seed: 0 };
    for gradient in [
        Gradient::Backprop,
        Gradient::Checkpointed { checkpoints: Some(3) },
        Gradient::Backsolve(AdjointOptions::new(SolveOptions::new(Method::Dopri5).tol(1e-12, 1e-12))),
    ] {
        let rep =
            gradcheck_params(|s| tape_loss(&f, s, s.tape().constant(y0()), &opts, &gradient), &store, &cfg)
                .unwrap();
        assert_eq!(rep.checked, store.num_scalars(), "{gradient:?}");
        let rep =
            gradcheck(|v| tape_loss(&f, &v[0].tape().session(&store), v[0], &opts, &gradient), &[y0()], &cfg)
                .unwrap();
        assert_eq!(rep.checked, 6, "{gradient:?}");
    }
}

#[test]
fn an_mlp_is_a_field_as_it_is() {
    let mut store = ParamStore::new();
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let mlp = Mlp::new(&mut store, "f", &[2, 8, 2], Activation::Tanh, &mut rng).unwrap();
    let opts = SolveOptions::new(Method::Rk4).step_size(0.05);
    // Its values are the network's: the same solve through a closure over `forward`.
    let closure = FnOde(|_t: f64, y: &Array2<f64>| Ok(mlp.forward(&NoGrad::new(&store), y).unwrap()));
    let by_mlp = odeint(&WithParams { func: &mlp, store: &store }, &y0(), &TS, &opts).unwrap();
    let by_closure = odeint(&closure, &y0(), &TS, &opts).unwrap();
    assert_eq!(by_mlp.ys, by_closure.ys);
    let cfg = GradCheck { eps: 1e-5, rtol: 1e-6, atol: 1e-9, seed: 0 };
    for gradient in [
        Gradient::Checkpointed { checkpoints: Some(3) },
        Gradient::Backsolve(AdjointOptions::new(SolveOptions::new(Method::Dopri5).tol(1e-12, 1e-12))),
    ] {
        let rep =
            gradcheck_params(|s| tape_loss(&mlp, s, s.tape().constant(y0()), &opts, &gradient), &store, &cfg)
                .unwrap();
        assert_eq!(rep.checked, store.num_scalars(), "{gradient:?}");
    }
}

#[test]
fn time_gradients_match_finite_differences() {
    let mut store = ParamStore::new();
    let f = MlpField::new(&mut store, 5);
    // Tight tolerances: moving an output time moves the solution by f dt, while the
    // step sequence's own dependence on the times is of the order of the tolerance.
    let opts = SolveOptions::new(Method::Dopri5).tol(1e-12, 1e-12);
    let cfg = GradCheck { eps: 1e-5, rtol: 1e-5, atol: 1e-7, seed: 0 };
    let row = Array2::from_shape_vec((1, TS.len()), TS.to_vec()).unwrap();
    for gradient in [Gradient::Backprop, Gradient::default()] {
        let rep = gradcheck(
            |v| {
                let s = v[0].tape().session(&store);
                let y = v[0].tape().constant(y0());
                let sol = odeint_tape(&f, &s, &y, v[0], &opts, &gradient).map_err(as_tape)?;
                loss_of(&sol.ys)
            },
            std::slice::from_ref(&row),
            &cfg,
        )
        .unwrap();
        assert_eq!(rep.checked, TS.len(), "{gradient:?}");
    }
}

#[test]
fn bad_input_is_a_typed_error() {
    let mut store = ParamStore::new();
    let f = MlpField::new(&mut store, 6);
    let tape = Tape::new();
    let s = tape.session(&store);
    let opts = SolveOptions::default();
    let y = tape.leaf(y0());
    let err = odeint_tape(&f, &s, &y, &[0.0, 0.5, 0.5], &opts, &Gradient::default()).unwrap_err();
    assert!(matches!(err, OdeError::Times(_)), "{err}");
    assert!(err.to_string().contains("t[1] = 0.5, t[2] = 0.5"), "{err}");
    let mut bad = y0();
    bad[[2, 1]] = f64::NAN;
    let err = odeint_tape(&f, &s, &tape.leaf(bad), &TS, &opts, &Gradient::default()).unwrap_err();
    assert!(err.to_string().contains("sample 2"), "{err}");
    let err =
        odeint_tape(&f, &s, &y, &TS, &opts, &Gradient::Checkpointed { checkpoints: Some(0) }).unwrap_err();
    assert!(matches!(err, OdeError::Options { name: "checkpoints", .. }), "{err}");
    // The field maps 2 columns to 2 columns; a 3-column state is refused by its first layer.
    let wide = tape.leaf(Array2::zeros((3, 3)));
    assert!(odeint_tape(&f, &s, &wide, &TS, &opts, &Gradient::default()).is_err());
    let column = tape.leaf(Array2::zeros((TS.len(), 1)));
    let err = odeint_tape(&f, &s, &y, column, &opts, &Gradient::default()).unwrap_err();
    assert!(matches!(err, OdeError::Shape { .. }), "{err}");
}
