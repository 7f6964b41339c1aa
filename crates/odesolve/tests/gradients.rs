//! Gradients through the solver: adjoint = backprop = central finite differences, for
//! an MLP right-hand side (2 -> 8 -> 2, tanh) at rtol = atol = 1e-10.

mod common;

use autodiff::{GradCheck, ParamStore, Tape, Tensor, Var, gradcheck, gradcheck::all_close, gradcheck_params};
use common::MlpField;
use ndarray::{Array2, array};
use odesolve::{
    AdjointOptions, Method, OdeFunc, SolveOptions, WithParams, adjoint_backward, odeint, odeint_session,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const TS: [f64; 4] = [0.0, 0.4, 0.9, 1.5];

fn opts() -> SolveOptions {
    SolveOptions::new(Method::Dopri5).tol(1e-10, 1e-10)
}

fn y0() -> Array2<f64> {
    array![[0.5, -1.0], [1.2, 0.3], [-0.7, 0.8]]
}

/// Loss weights, one matrix per output time: `L = sum_i sum(W_i * y(t_i))`, so
/// `dL/dy(t_i) = W_i` (the adjoint jumps at every output time, including `t_0`).
fn weights() -> Vec<Array2<f64>> {
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    TS.iter().map(|_| Array2::from_shape_simple_fn((3, 2), || rng.random_range(-1.0..1.0))).collect()
}

fn loss_on_tape<'t>(ys: &[Var<'t>], w: &[Array2<f64>]) -> autodiff::Result<Var<'t>> {
    let mut total = ys[0].mul(&ys[0].constant(w[0].clone()))?.sum();
    for (y, wi) in ys.iter().zip(w).skip(1) {
        total = total.add(&y.mul(&y.constant(wi.clone()))?.sum())?;
    }
    Ok(total)
}

fn loss_of(ys: &[Array2<f64>], w: &[Array2<f64>]) -> f64 {
    ys.iter().zip(w).map(|(y, wi)| (y * wi).iter().sum::<f64>()).sum()
}

fn backprop_loss<'t>(
    f: &MlpField,
    s: &autodiff::TapeSession<'t, '_>,
    y0: Var<'t>,
) -> autodiff::Result<Var<'t>> {
    let sol = odeint_session(f, s, &y0, &TS, &opts())
        .map_err(|e| autodiff::Error::Invalid { op: "odeint", reason: e.to_string() })?;
    loss_on_tape(&sol.ys, &weights())
}

fn adjoint(f: &MlpField, store: &ParamStore, seminorm: bool) -> odesolve::AdjointGradients {
    let sol = odeint(&WithParams { func: f, store }, &y0(), &TS, &opts()).unwrap();
    let aopts = AdjointOptions { seminorm, ..AdjointOptions::new(opts()) };
    adjoint_backward(f, store, &sol, &weights(), &aopts).unwrap()
}

#[test]
fn backprop_through_the_solver_matches_finite_differences() {
    let mut store = ParamStore::new();
    let f = MlpField::new(&mut store, 1);
    // The step eps = 1e-4 balances truncation (eps^2 ~ 1e-8) against the solver's
    // O(tol) dependence on the step sequence (tol / eps ~ 1e-6 relative for eps = 1e-4,
    // measured: 1e-6 steps see 1e-12 jumps in the loss).
    let cfg = GradCheck { eps: 1e-4, rtol: 1e-6, atol: 1e-8, seed: 0 };
    let rep = gradcheck_params(|s| backprop_loss(&f, s, s.tape().constant(y0())), &store, &cfg).unwrap();
    assert_eq!(rep.checked, store.num_scalars());
    let rep = gradcheck(
        |v| {
            let s = v[0].tape().session(&store);
            backprop_loss(&f, &s, v[0])
        },
        &[y0()],
        &cfg,
    )
    .unwrap();
    assert_eq!(rep.checked, 6);
}

#[test]
fn adjoint_matches_backprop() {
    let mut store = ParamStore::new();
    let f = MlpField::new(&mut store, 1);
    let tape = Tape::new();
    let s = tape.session(&store);
    let y0v = tape.leaf(y0());
    let grads = backprop_loss(&f, &s, y0v).unwrap().backward().unwrap();
    let adj = adjoint(&f, &store, false);
    assert!(
        all_close(&adj.y0, grads.wrt(&y0v).unwrap().unwrap(), 1e-6, 1e-9),
        "{} vs {}",
        adj.y0,
        grads.wrt(&y0v).unwrap().unwrap()
    );
    for id in odesolve::NeuralOdeFunc::params(&f) {
        let (a, b) = (adj.param(id).unwrap(), grads.param(id).unwrap());
        assert!(all_close(a, b, 1e-6, 1e-9), "{}: {a} vs {b}", store.name(id).unwrap());
    }
}

#[test]
fn adjoint_time_gradients_match_finite_differences() {
    let mut store = ParamStore::new();
    let f = MlpField::new(&mut store, 2);
    let adj = adjoint(&f, &store, false);
    let w = weights();
    let field = WithParams { func: &f, store: &store };
    for i in 0..TS.len() {
        let at = |dt: f64| {
            let mut ts = TS.to_vec();
            ts[i] += dt;
            loss_of(&odeint(&field, &y0(), &ts, &opts()).unwrap().ys, &w)
        };
        let h = 1e-4;
        let fd = (at(h) - at(-h)) / (2.0 * h);
        assert!((adj.times[i] - fd).abs() <= 1e-6 * fd.abs().max(1.0), "t[{i}]: {} vs {fd}", adj.times[i]);
    }
    // For t_0 the integral of a_t gives -a(t_0+) . f(t_0, y_0), where a(t_0+) is the
    // adjoint just after t_0, before the jump W_0 (y(t_0) = y_0 whatever t_0 is).
    let f0 = field.eval_array(TS[0], &y0()).unwrap();
    let direct = -(&f0 * &(&adj.y0 - &w[0])).iter().sum::<f64>();
    assert!((adj.times[0] - direct).abs() < 1e-7, "{} vs {direct}", adj.times[0]);
}

#[test]
fn seminorm_saves_backward_evaluations_with_the_same_gradients() {
    let mut store = ParamStore::new();
    let f = MlpField::new(&mut store, 1);
    let full = adjoint(&f, &store, false);
    let semi = adjoint(&f, &store, true);
    eprintln!(
        "adjoint backward evaluations: full norm {} ({} steps), seminorm {} ({} steps)",
        full.stats.nfev,
        full.stats.nsteps(),
        semi.stats.nfev,
        semi.stats.nsteps()
    );
    assert!(semi.stats.nfev < full.stats.nfev);
    assert!(all_close(&semi.y0, &full.y0, 1e-6, 1e-9));
    for ((_, a), (_, b)) in semi.params.iter().zip(&full.params) {
        assert!(all_close(a, b, 1e-6, 1e-9));
    }
}

#[test]
fn adjoint_memory_does_not_grow_with_the_number_of_steps() {
    let mut store = ParamStore::new();
    let f = MlpField::new(&mut store, 1);
    let field = WithParams { func: &f, store: &store };
    let measure = |tend: f64| {
        let ts = [0.0, tend];
        let sol = odeint(&field, &y0(), &ts, &opts()).unwrap();
        let g = vec![Array2::zeros((3, 2)), Array2::ones((3, 2))];
        let adj = adjoint_backward(&f, &store, &sol, &g, &AdjointOptions::new(opts())).unwrap();
        let tape = Tape::new();
        let s = tape.session(&store);
        let on_tape = odeint_session(&f, &s, &tape.constant(y0()), &ts, &opts()).unwrap();
        (sol.stats.naccept, adj.max_tape_nodes, tape.len(), on_tape.stats.naccept)
    };
    let (steps1, adj1, tape1, _) = measure(1.0);
    let (steps10, adj10, tape10, _) = measure(10.0);
    eprintln!(
        "steps {steps1} -> {steps10}; adjoint tape {adj1} -> {adj10} nodes; backprop tape {tape1} -> {tape10}"
    );
    assert!(steps10 > 3 * steps1);
    assert_eq!(adj1, adj10);
    assert!(tape10 as f64 > 3.0 * tape1 as f64);
}

#[test]
fn augmented_layout_places_the_four_parts_side_by_side() {
    let mut store = ParamStore::new();
    let f = MlpField::new(&mut store, 1);
    let l = odesolve::AugmentedLayout::new((3, 2), &store, odesolve::NeuralOdeFunc::params(&f)).unwrap();
    // y and a: 3 x 2 each; parameters 2x8 + 1x8 + 8x2 + 1x2 + 1x2 = 44 scalars; a_t: 1.
    assert_eq!((l.state(), l.adjoint()), (0..6, 6..12));
    assert_eq!((l.param(0), l.param(4)), (12..28, 54..56));
    assert_eq!((l.time(), l.width()), (56, 57));
}

#[test]
fn adjoint_of_a_solution_without_output_times_is_an_error_not_a_panic() {
    let mut store = ParamStore::new();
    let f = MlpField::new(&mut store, 1);
    let empty = odesolve::Solution { ts: vec![], ys: vec![], stats: odesolve::Stats::default() };
    let err = adjoint_backward(&f, &store, &empty, &[], &AdjointOptions::new(opts())).unwrap_err();
    assert!(matches!(err, odesolve::OdeError::Times(_)), "{err:?}");
    assert_eq!(err.to_string(), "output times: adjoint: the forward solution has no output times");
}
