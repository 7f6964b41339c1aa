//! Continuous flows against truth: a linear field's log-determinant and
//! regularisers in closed form, Hutchinson's estimator's mean and variance, probes
//! fixed within a solve and fresh between solves, the round trip, the
//! log-determinant against a finite-difference Jacobian, gradients with every
//! method, and a trained density that integrates to one.

mod common;

use autodiff::{GradCheck, NoGrad, ParamStore, Session, Tape, Tensor, gradcheck_params};
use common::{check_flow, randomize, rng, to_ad};
use flows::cnf::{CnfConfig, ContinuousFlow, Probe, TimeInput, TraceEstimator};
use flows::{Chain, Error, Flow, FlowDistribution, Grid, Layer, Toy, models};
use ndarray::{Array2, array};
use odesolve::{AdjointOptions, Gradient, Method, OdeError, SolveOptions};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use trainers::{Adam, Optim, Optimizer};

const T: f64 = 0.7;

fn tight() -> SolveOptions {
    SolveOptions::new(Method::Dopri5).tol(1e-10, 1e-10)
}

/// A flow whose field is `f(z) = z W + b` (no hidden layer, no time): its Jacobian
/// is `W^T` everywhere. With `diag`, `W` is set to that diagonal and `b` to 0.
fn linear_flow(
    store: &mut ParamStore,
    dim: usize,
    eval_trace: TraceEstimator,
) -> (ContinuousFlow, Array2<f64>) {
    let config = CnfConfig {
        hidden: vec![],
        time_input: TimeInput::Ignore,
        end_time: T,
        learn_end_time: false,
        eval_trace,
        eval_solver: tight(),
        seed: 7,
        ..CnfConfig::default()
    };
    let flow = ContinuousFlow::new(store, "lin", dim, config, &mut rng(1)).unwrap();
    let w = store.get(store.id("lin.f.0.main.weight").unwrap()).unwrap().clone();
    (flow, w)
}

#[test]
fn a_linear_field_has_log_det_t_times_its_trace() {
    let mut store = ParamStore::new();
    let (flow, w) = linear_flow(&mut store, 3, TraceEstimator::Exact);
    let s = NoGrad::new(&store);
    let x = array![[0.5, -1.0, 2.0], [0.0, 0.3, -0.2]];
    let (z, ld) = flow.forward(&s, &x).unwrap();
    // ln|det e^{T W^T}| = T tr(W), wherever the sample starts.
    for v in &ld {
        assert!((v - T * w.diag().sum()).abs() < 1e-9, "{v} vs {}", T * w.diag().sum());
    }
    let (back, ld_back) = flow.inverse(&s, &z).unwrap();
    assert!((&back - &x).iter().all(|d| d.abs() < 1e-8));
    assert!((&ld_back + &ld).iter().all(|d| d.abs() < 1e-9));
}

/// Mean, variance and the fourth central moment of the values.
fn moments(v: &[f64]) -> (f64, f64, f64) {
    let n = v.len() as f64;
    let mean = v.iter().sum::<f64>() / n;
    let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0);
    let m4 = v.iter().map(|x| (x - mean).powi(4)).sum::<f64>() / n;
    (mean, var, m4)
}

#[test]
fn hutchinson_is_unbiased_with_the_variance_of_its_probe() {
    let n = 20_000;
    for probe in [Probe::Gaussian, Probe::Rademacher] {
        let mut store = ParamStore::new();
        let (flow, w) = linear_flow(&mut store, 3, TraceEstimator::Hutchinson { probe, samples: 1 });
        let x = Array2::zeros((n, 3));
        let (_, ld) = flow.forward(&NoGrad::new(&store), &x).unwrap();
        // Each row is one probe's estimate T e^T W^T e: unbiased for T tr(W), with
        // variance T^2 2 ||W_s||_F^2 (Gaussian), T^2 2 (||W_s||_F^2 - sum W_ii^2)
        // (Rademacher), W_s the symmetric part.
        let ws = (&w + &w.t()) / 2.0;
        let frob2 = ws.iter().map(|v| v * v).sum::<f64>();
        let diag2 = w.diag().iter().map(|v| v * v).sum::<f64>();
        let want_var = T * T * 2.0 * if probe == Probe::Gaussian { frob2 } else { frob2 - diag2 };
        let (mean, var, m4) = moments(ld.as_slice().unwrap());
        let se_mean = (var / n as f64).sqrt();
        assert!(
            (mean - T * w.diag().sum()).abs() < 3.0 * se_mean,
            "{probe:?}: mean {mean} vs {}",
            T * w.diag().sum()
        );
        // The standard error of a sample variance: sqrt((m4 - var^2) / n).
        let se_var = ((m4 - var * var) / n as f64).sqrt();
        assert!(
            (var - want_var).abs() < 4.0 * se_var,
            "{probe:?}: variance {var} vs {want_var} (se {se_var})"
        );
    }
}

#[test]
fn a_probe_is_kept_through_a_solve_and_drawn_afresh_for_the_next() {
    let mut store = ParamStore::new();
    let estimator = TraceEstimator::Hutchinson { probe: Probe::Gaussian, samples: 2 };
    let (flow, w) = linear_flow(&mut store, 2, estimator);
    let mut replay = ChaCha8Rng::seed_from_u64(7); // the flow's seed
    let x = array![[0.3, -0.4]];
    for solve in 0..3 {
        let (_, ld) = flow.forward(&NoGrad::new(&store), &x).unwrap();
        // With the Jacobian constant, a probe kept for the whole solve gives exactly
        // T times the probes' mean estimate; probes redrawn per evaluation would not.
        let probes: Vec<Array2<f64>> = (0..2).map(|_| Probe::Gaussian.draw(1, 2, &mut replay)).collect();
        let want = T * probes.iter().map(|e| e.dot(&w.t()).dot(&e.t())[[0, 0]]).sum::<f64>() / 2.0;
        assert!((ld[[0, 0]] - want).abs() < 1e-9, "solve {solve}: {} vs {want}", ld[[0, 0]]);
    }
    assert_eq!(flow.take_work().len(), 3, "one work record per solve");
}

/// A small nonlinear flow with every parameter perturbed, exact trace, tight solves.
fn small_flow(store: &mut ParamStore, input: TimeInput, gradient: Gradient) -> ContinuousFlow {
    let config = CnfConfig {
        hidden: vec![4],
        time_input: input,
        trace: TraceEstimator::Exact,
        solver: tight(),
        eval_solver: tight(),
        gradient,
        ..CnfConfig::default()
    };
    let flow = ContinuousFlow::new(store, "cnf", 2, config, &mut rng(2)).unwrap();
    randomize(store, 0.3, &mut rng(3));
    flow
}

#[test]
fn every_time_input_passes_the_checks_of_every_flow() {
    // Round trip, log-determinant against the finite-difference Jacobian (ln|det| by
    // LU), and gradients with respect to parameters and inputs.
    for input in [TimeInput::ConcatSquash, TimeInput::Concat, TimeInput::Ignore] {
        let mut store = ParamStore::new();
        let flow = small_flow(&mut store, input, Gradient::default());
        let x = array![[0.5, -1.0], [1.2, 0.3]];
        check_flow(&flow, &store, &x);
    }
}

#[test]
fn a_continuous_flow_chains_with_discrete_layers() {
    let mut store = ParamStore::new();
    let cnf = small_flow(&mut store, TimeInput::ConcatSquash, Gradient::default());
    let nvp = models::real_nvp(&mut store, "nvp", 2, 2, &[6], &mut rng(8)).unwrap();
    randomize(&mut store, 0.1, &mut rng(9));
    let layers = std::iter::once(Layer::from(cnf)).chain(nvp.layers().iter().cloned()).collect();
    check_flow(&Chain::new(layers).unwrap(), &store, &array![[0.5, -1.0], [1.2, 0.3]]);
}

#[test]
fn blocks_in_sequence_draw_their_own_probes() {
    let mut store = ParamStore::new();
    let estimator = TraceEstimator::Hutchinson { probe: Probe::Gaussian, samples: 1 };
    let config = CnfConfig {
        hidden: vec![],
        time_input: TimeInput::Ignore,
        learn_end_time: false,
        end_time: T,
        eval_trace: estimator,
        eval_solver: tight(),
        seed: 20,
        ..CnfConfig::default()
    };
    let chain = models::ffjord(&mut store, "ff", 2, 2, &config, &mut rng(3)).unwrap();
    assert_eq!(chain.len(), 2);
    let x = array![[0.3, -0.4]];
    let (_, ld) = chain.forward(&NoGrad::new(&store), &x).unwrap();
    // Linear blocks: each contributes T e_i^T W_i^T e_i with its own seed's probe.
    let want: f64 = (0..2)
        .map(|i| {
            let w = store.get(store.id(&format!("ff.{i}.f.0.main.weight")).unwrap()).unwrap();
            let e = Probe::Gaussian.draw(1, 2, &mut ChaCha8Rng::seed_from_u64(20 + i));
            T * e.dot(&w.t()).dot(&e.t())[[0, 0]]
        })
        .sum();
    assert!((ld[[0, 0]] - want).abs() < 1e-9, "{} vs {want}", ld[[0, 0]]);
}

#[test]
fn the_likelihood_gradient_is_right_with_every_method() {
    let methods = [
        ("backprop", Gradient::Backprop),
        ("checkpointed", Gradient::Checkpointed { checkpoints: Some(2) }),
        (
            "backsolve",
            Gradient::Backsolve(AdjointOptions::new(SolveOptions::new(Method::Dopri5).tol(1e-12, 1e-12))),
        ),
    ];
    for (name, gradient) in methods {
        let mut store = ParamStore::new();
        let dist = FlowDistribution::standard(small_flow(&mut store, TimeInput::ConcatSquash, gradient));
        let x = array![[0.5, -1.0], [1.2, 0.3], [-0.7, 0.1]];
        let cfg = GradCheck { rtol: 1e-5, atol: 1e-7, ..GradCheck::default() };
        let report = gradcheck_params(
            |s| Ok(dist.log_prob(s, &s.constant(x.clone())).map_err(to_ad)?.mean()?.neg()),
            &store,
            &cfg,
        )
        .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(report.checked, store.num_scalars(), "{name}: the end time too");
    }
}

#[test]
fn checkpointed_gradients_keep_the_probes_of_their_solve() {
    // Two flows with the same seed draw the same probes; the checkpointed backward
    // pass replays the steps, and equals backprop only if it replays them with the
    // forward solve's probes.
    let estimator = TraceEstimator::Hutchinson { probe: Probe::Rademacher, samples: 2 };
    let grads = |gradient: Gradient| {
        let mut store = ParamStore::new();
        let config =
            CnfConfig { hidden: vec![5], trace: estimator, gradient, seed: 11, ..CnfConfig::default() };
        let flow = ContinuousFlow::new(&mut store, "cnf", 2, config, &mut rng(4)).unwrap();
        let tape = Tape::new();
        let s = tape.session(&store);
        let (_, ld) = flow.forward(&s, &s.constant(array![[0.5, -1.0], [1.2, 0.3]])).unwrap();
        let g = ld.sum().backward().unwrap().into_params();
        let work = flow.take_work();
        (store.ids().map(|id| g.get(id).unwrap().clone()).collect::<Vec<_>>(), work)
    };
    let (backprop, _) = grads(Gradient::Backprop);
    let (checkpointed, work) = grads(Gradient::Checkpointed { checkpoints: Some(2) });
    for (a, b) in backprop.iter().zip(&checkpointed) {
        assert!((a - b).iter().all(|d| d.abs() < 1e-9), "{a} vs {b}");
    }
    // The backward pass's work is on record once it has run.
    assert!(work[0].forward.nfev > 0 && work[0].backward.naccept > 0, "{work:?}");
}

#[test]
fn the_regularisers_of_a_diagonal_linear_field_have_closed_forms() {
    let mut store = ParamStore::new();
    let (flow, _) = linear_flow(&mut store, 2, TraceEstimator::Exact);
    let a = [0.4, -0.9];
    *store.get_mut(store.id("lin.f.0.main.weight").unwrap()).unwrap() = array![[a[0], 0.0], [0.0, a[1]]];
    *store.get_mut(store.id("lin.f.0.main.bias").unwrap()).unwrap() = array![[0.0, 0.0]];
    let x = array![[0.5, -1.0], [2.0, 0.3]];
    let out = flow.forward_regularised(&NoGrad::new(&store), &x).unwrap();
    for r in 0..2 {
        // z_i(t) = x_i e^{a_i t}: int_0^T |f|^2 = sum_i a_i x_i^2 (e^{2 a_i T} - 1) / 2,
        // and int_0^T |df/dz|_F^2 = T sum_i a_i^2.
        let kinetic: f64 =
            (0..2).map(|i| a[i] * x[[r, i]].powi(2) * ((2.0 * a[i] * T).exp() - 1.0) / 2.0).sum();
        assert!((out.kinetic[[r, 0]] - kinetic).abs() < 1e-9, "{} vs {kinetic}", out.kinetic[[r, 0]]);
        assert!((out.jacobian[[r, 0]] - T * (a[0] * a[0] + a[1] * a[1])).abs() < 1e-9);
        assert!((out.log_det[[r, 0]] - T * (a[0] + a[1])).abs() < 1e-9);
    }
}

#[test]
fn a_trained_density_integrates_to_one() {
    let mut store = ParamStore::new();
    let config = CnfConfig {
        hidden: vec![16, 16],
        solver: SolveOptions::default().tol(1e-4, 1e-4),
        eval_solver: SolveOptions::default().tol(1e-8, 1e-8),
        ..CnfConfig::default()
    };
    let dist =
        FlowDistribution::standard(ContinuousFlow::new(&mut store, "cnf", 2, config, &mut rng(5)).unwrap());
    let mut adam = Optim::new(Adam { lr: 1e-2, ..Adam::default() }).unwrap();
    let mut data = rng(6);
    for _ in 0..15 {
        let x = Toy::EightGaussians.sample(64, &mut data);
        let tape = Tape::new();
        let s = tape.session(&store);
        let nll = dist.log_prob(&s, &s.constant(x)).unwrap().mean().unwrap().neg();
        let grads = nll.backward().unwrap().into_params();
        adam.step(&mut store, &grads).unwrap();
    }
    assert!(dist.flow().end_time(&store).unwrap() != 0.5, "the end time is learned");
    // The mass outside [-7, 7]^2 of a density this close to the base's is below 1e-9.
    let grid = Grid::new(7.0, 100).unwrap();
    let lp = dist.log_prob(&NoGrad::new(&store), &grid.points()).unwrap();
    let mass = grid.integrate(&lp.mapv(f64::exp)).unwrap();
    assert!((mass - 1.0).abs() < 1e-3, "mass {mass}");
}

#[test]
fn bad_settings_and_exhausted_step_budgets_are_typed_errors() {
    let mut store = ParamStore::new();
    let bad =
        |config: CnfConfig| ContinuousFlow::new(&mut ParamStore::new(), "c", 2, config, &mut rng(0)).is_err();
    assert!(bad(CnfConfig { end_time: 0.0, ..CnfConfig::default() }));
    assert!(bad(CnfConfig {
        trace: TraceEstimator::Hutchinson { probe: Probe::Gaussian, samples: 0 },
        ..CnfConfig::default()
    }));
    let config = CnfConfig { eval_solver: SolveOptions { max_steps: 1, ..tight() }, ..CnfConfig::default() };
    let flow = ContinuousFlow::new(&mut store, "c", 2, config, &mut rng(0)).unwrap();
    let err = flow.forward(&NoGrad::new(&store), &array![[40.0, -3.0]]).unwrap_err();
    assert!(
        matches!(err, Error::Solve { flow: "continuous", source: OdeError::MaxStepsExceeded { .. } }),
        "{err:?}"
    );
    assert!(matches!(flow.forward(&NoGrad::new(&store), &array![[1.0]]), Err(Error::Dim { .. })));
}

/// `f(t, z) = t z A` for a fixed `A = [[a, b], [-b, a]]` (a scaled rotation): no
/// parameters, and a time-dependent field, so a span that starts after 0 is tested.
#[derive(Debug, Clone)]
struct TimesRotation {
    a: f64,
    b: f64,
}

impl flows::cnf::Field for TimesRotation {
    fn dim(&self) -> usize {
        2
    }
    fn eval<S: Session>(&self, s: &S, t: &S::T, z: &S::T) -> autodiff::Result<S::T> {
        z.matmul(&s.constant(array![[self.a, self.b], [-self.b, self.a]]))?.mul(t)
    }
    fn params(&self) -> Vec<autodiff::ParamId> {
        Vec::new()
    }
}

#[test]
fn any_field_solves_with_its_log_determinant_over_a_span() {
    use flows::cnf::{LogDetOptions, solve_log_det};
    // With s = (t_1^2 - t_0^2) / 2, z(t_1) = z(t_0) exp(s A): a rotation by s b scaled
    // by e^{s a}, and the log-determinant is s tr(A) = 2 s a.
    let field = TimesRotation { a: -0.3, b: 1.2 };
    let (t0, t1) = (0.25, 1.5);
    let area = (t1 * t1 - t0 * t0) / 2.0;
    let x = array![[1.0, 0.5], [-0.4, 2.0]];
    let (c, sn) = ((area * field.b).cos(), (area * field.b).sin());
    let expected = x.dot(&array![[c, sn], [-sn, c]]) * (area * field.a).exp();
    let store = ParamStore::new();
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    for trace in [TraceEstimator::Exact, TraceEstimator::Hutchinson { probe: Probe::Rademacher, samples: 1 }]
    {
        // A's symmetric part is a I, whose off-diagonal is zero: Rademacher probes are exact.
        let options = LogDetOptions { trace, solver: tight(), gradient: Gradient::default() };
        let out = flows::cnf::solve_log_det(&NoGrad::new(&store), &field, &x, (t0, t1), &options, &mut rng)
            .unwrap();
        assert!((&out.z - &expected).iter().all(|d| d.abs() < 1e-8), "{trace:?}: {} vs {expected}", out.z);
        assert!(out.log_det.iter().all(|l| (l - 2.0 * area * field.a).abs() < 1e-8), "{trace:?}");
        assert!(out.work.get().forward.nfev > 0);
    }
    let options =
        LogDetOptions { trace: TraceEstimator::Exact, solver: tight(), gradient: Gradient::default() };
    let backwards = solve_log_det(&NoGrad::new(&store), &field, &x, (t1, t0), &options, &mut rng);
    assert!(matches!(backwards, Err(Error::Config { .. })));
}
