//! Diffusion as a hierarchical VAE: the noising chain's marginals and posteriors
//! against composing its steps, Bayes' rule and sampled moments; the bound's KL terms
//! against the bound written directly; gradients against central differences; and
//! the bound of the optimal noise predictor for Gaussian data against the exact
//! log-density.

mod common;

use autodiff::{GradCheck, NoGrad, ParamId, ParamStore, Session, Tensor, gradcheck_params};
use common::as_autodiff;
use flows::cnf::{Probe, TraceEstimator};
use ndarray::{Array1, Array2, Axis, array};
use odesolve::SolveOptions;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use seqmodels::diffusion::{
    Diffusion, DiffusionConfig, FlowOptions, NoisePredictor, ReverseVariance, Schedule,
};

fn schedules() -> [Schedule; 2] {
    [Schedule::linear(12, 0.01, 0.3).unwrap(), Schedule::cosine(12, 0.008).unwrap()]
}

fn standard_normal(rows: usize, cols: usize, rng: &mut ChaCha8Rng) -> Array2<f64> {
    Array2::from_shape_simple_fn((rows, cols), || StandardNormal.sample(rng))
}

/// Mean and standard error of a column of values.
fn mean_and_se(v: &Array2<f64>) -> (f64, f64) {
    let n = v.len() as f64;
    let mean = v.iter().sum::<f64>() / n;
    let var = v.iter().map(|a| (a - mean).powi(2)).sum::<f64>() / (n - 1.0);
    (mean, (var / n).sqrt())
}

#[test]
fn schedules_hold_their_closed_forms() {
    // Linear: the ends as given; alpha_bar the running product.
    let linear = Schedule::linear(1000, 1e-4, 0.02).unwrap();
    assert_eq!(linear.beta(1).unwrap(), 1e-4);
    assert!((linear.beta(1000).unwrap() - 0.02).abs() < 1e-15);
    let product: f64 = linear.betas().iter().map(|b| 1.0 - b).product();
    assert!((linear.alpha_bar(1000).unwrap() - product).abs() < 1e-15);
    assert_eq!(linear.alpha_bar(0).unwrap(), 1.0);
    // Cosine: alpha_bar_t = f(t) / f(0) wherever the 0.999 clip is not reached.
    let cosine = Schedule::cosine(50, 0.008).unwrap();
    let f = |t: f64| (((t / 50.0 + 0.008) / 1.008) * std::f64::consts::FRAC_PI_2).cos().powi(2);
    for t in [1, 10, 25, 40] {
        assert!((cosine.alpha_bar(t).unwrap() - f(t as f64) / f(0.0)).abs() < 1e-12, "t = {t}");
    }
    assert_eq!(cosine.beta(50).unwrap(), 0.999, "the last step is clipped");
    // beta_tilde_1 = 0: the posterior at the first step is the data.
    assert_eq!(linear.posterior_variance(1).unwrap(), 0.0);
    // The continuous reading: exact at the steps, log-linear between them, and its
    // rate the derivative of -ln alpha_bar.
    for t in [0, 1, 7, 12] {
        let u = t as f64 / 12.0;
        let s = &schedules()[0];
        assert!((s.alpha_bar_at(u).unwrap() - s.alpha_bar(t).unwrap()).abs() < 1e-14, "t = {t}");
    }
    // step_at_noise inverts it, within steps and at their ends.
    for s in schedules() {
        for t in [0.0, 0.4, 1.0, 6.5, 12.0] {
            let noise = -s.alpha_bar_at(t / 12.0).unwrap().ln();
            assert!((s.step_at_noise(noise).unwrap() - t).abs() < 1e-12, "t = {t}");
        }
        let last = -s.alpha_bar(12).unwrap().ln();
        assert_eq!(s.step_at_noise(last * (1.0 + 1e-15)).unwrap(), 12.0, "rounding past the end");
        assert!(s.step_at_noise(last * 1.01).is_err() && s.step_at_noise(-1e-3).is_err());
    }
}

#[test]
fn bad_schedules_and_steps_are_typed_errors() {
    for bad in
        [Schedule::from_betas(vec![]), Schedule::from_betas(vec![0.1, 1.0]), Schedule::linear(0, 0.1, 0.2)]
    {
        assert!(matches!(bad, Err(seqmodels::Error::Config { what: "Schedule", .. })), "{bad:?}");
    }
    let s = &schedules()[0];
    assert!(s.beta(0).is_err() && s.beta(13).is_err() && s.alpha_bar(13).is_err());
    assert!(s.alpha_bar_at(1.5).is_err());
    let x = Array2::<f64>::zeros((2, 3));
    assert!(s.q_marginal(&x, &[1]).is_err(), "one step per row");
    assert!(s.q_posterior(&x, &x, &[1, 2]).is_err(), "no posterior density at t = 1");
}

#[test]
fn marginals_compose_the_steps() {
    // z_{t-1} ~ N(a x, v) and z_t | z_{t-1} ~ N(c z_{t-1}, w) give z_t ~ N(c a x, c^2 v + w):
    // the steps' coefficients read from q_step, composed, against eq. 4.
    let x = array![[0.7, -1.3]];
    for s in schedules() {
        let (mut a, mut v) = (1.0, 0.0);
        for t in 1..=s.steps() {
            let step = s.q_step(&array![[1.0, 1.0]], &[t]).unwrap();
            let (c, w) = (step.mean()[[0, 0]], step.variance()[[0, 0]]);
            (a, v) = (c * a, c * c * v + w);
            let q = s.q_marginal(&x, &[t]).unwrap();
            assert!((q.mean() - &x.mapv(|e| e * a)).iter().all(|d| d.abs() < 1e-14), "mean at t = {t}");
            assert!(q.variance().iter().all(|e| (e - v).abs() < 1e-14), "variance at t = {t}");
        }
    }
}

#[test]
fn marginals_match_the_moments_of_sampled_chains() {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let n = 20_000;
    let x = array![[1.5, -0.5]];
    let xs = x.broadcast((n, 2)).unwrap().to_owned();
    for s in schedules() {
        let mut z = xs.clone();
        for t in 1..=s.steps() {
            z = s.q_step(&z, &vec![t; n]).unwrap().sample(&mut rng).unwrap();
            let q = s.q_marginal(&x, &[t]).unwrap();
            for d in 0..2 {
                let column = z.column(d).to_owned().insert_axis(Axis(1));
                let (mean, se) = mean_and_se(&column);
                let var = q.variance()[[0, d]];
                // Four standard errors: the sample mean's sqrt(var / n), the sample
                // variance's var sqrt(2 / (n - 1)) for Gaussian draws.
                assert!((mean - q.mean()[[0, d]]).abs() < 4.0 * se, "mean t = {t}, d = {d}");
                let sample_var = column.iter().map(|e| (e - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
                assert!((sample_var - var).abs() < 4.0 * var * (2.0 / (n - 1) as f64).sqrt(), "var t = {t}");
            }
        }
    }
}

#[test]
fn posteriors_are_bayes_rule_on_the_steps() {
    // q(z_{t-1} | z_t, x) = q(z_t | z_{t-1}) q(z_{t-1} | x) / q(z_t | x) at any points
    // (for t = 2, q(z_1 | x) is the first step itself).
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    for s in schedules() {
        let rows = s.steps() - 1;
        let steps: Vec<usize> = (2..=s.steps()).collect();
        let previous: Vec<usize> = steps.iter().map(|t| t - 1).collect();
        let x = standard_normal(rows, 3, &mut rng);
        let z_prev = standard_normal(rows, 3, &mut rng);
        let z_t = standard_normal(rows, 3, &mut rng);
        let lhs = s.q_posterior(&x, &z_t, &steps).unwrap().log_prob_rows(&z_prev).unwrap();
        let rhs = s.q_step(&z_prev, &steps).unwrap().log_prob_rows(&z_t).unwrap()
            + s.q_marginal(&x, &previous).unwrap().log_prob_rows(&z_prev).unwrap()
            - s.q_marginal(&x, &steps).unwrap().log_prob_rows(&z_t).unwrap();
        assert!((&lhs - &rhs).iter().all(|d| d.abs() < 1e-10), "{lhs} vs {rhs}");
    }
}

fn tiny_model(variance: ReverseVariance, steps: usize) -> (Diffusion, ParamStore) {
    let mut store = ParamStore::new();
    let config = DiffusionConfig { embedding: 4, variance, ..DiffusionConfig::new(2, vec![5]) };
    let schedule = Schedule::linear(steps, 0.05, 0.4).unwrap();
    let model =
        Diffusion::new(&mut store, "ddpm", schedule, config, &mut ChaCha8Rng::seed_from_u64(3)).unwrap();
    (model, store)
}

#[test]
fn step_kls_sum_to_the_bound_written_directly() {
    // Both estimate E_q[ln p(x, z) - ln q(z | x)] for each x; eq. 5 only regroups it.
    // Their means over many draws agree within four standard errors of the difference.
    let mut rng = ChaCha8Rng::seed_from_u64(4);
    for variance in [ReverseVariance::Beta, ReverseVariance::PosteriorBeta] {
        let (model, store) = tiny_model(variance, 6);
        let s = NoGrad::new(&store);
        let x = array![[0.3, -0.8]].broadcast((20_000, 2)).unwrap().to_owned();
        let bound = model.chain_bound(&s, &x, &mut rng).unwrap();
        let by_terms = bound.clone().into_elbo().unwrap().elbo().unwrap();
        let summed = bound.step_kls.iter().fold(&bound.decoder - &bound.prior_kl, |acc, k| acc - k);
        assert!((&by_terms - &summed).iter().all(|d| d.abs() < 1e-12));
        let direct = model.path_log_ratio(&s, &x, &mut rng).unwrap();
        let ((a, se_a), (b, se_b)) = (mean_and_se(&by_terms), mean_and_se(&direct));
        println!("{variance:?}: by terms {a:.4} +- {se_a:.4}, directly {b:.4} +- {se_b:.4}");
        assert!((a - b).abs() < 4.0 * se_a.hypot(se_b), "{variance:?}: {a} +- {se_a} vs {b} +- {se_b}");
    }
}

#[test]
fn the_sampled_bound_is_unbiased_for_the_chain_bound() {
    // One random step per row, scaled by T: the same mean as the sum of all T terms,
    // within four standard errors of the difference.
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let (model, store) = tiny_model(ReverseVariance::Beta, 6);
    let s = NoGrad::new(&store);
    let x = array![[0.3, -0.8]].broadcast((40_000, 2)).unwrap().to_owned();
    let full = model.chain_bound(&s, &x, &mut rng).unwrap().into_elbo().unwrap().elbo().unwrap();
    let sampled = model.sampled_bound(&s, &x, &mut rng).unwrap();
    let ((a, se_a), (b, se_b)) = (mean_and_se(&full), mean_and_se(&sampled));
    assert!((a - b).abs() < 4.0 * se_a.hypot(se_b), "{a} +- {se_a} vs {b} +- {se_b}");
}

#[test]
fn losses_pass_gradcheck() {
    let (model, store) = tiny_model(ReverseVariance::PosteriorBeta, 4);
    let x = array![[0.3, -0.8], [1.1, 0.2], [-0.5, 0.4]];
    let cfg = GradCheck { eps: 1e-5, rtol: 1e-5, atol: 1e-7, seed: 0 };
    let bound = gradcheck_params(
        |s| {
            let mut rng = ChaCha8Rng::seed_from_u64(5);
            let elbo = model.chain_bound(s, &x, &mut rng).and_then(|b| b.into_elbo()).map_err(as_autodiff)?;
            elbo.loss_per_sequence(1.0).map_err(as_autodiff)?.normalised()
        },
        &store,
        &cfg,
    )
    .unwrap();
    let simple = gradcheck_params(
        |s| {
            let mut rng = ChaCha8Rng::seed_from_u64(6);
            model.simple_loss(s, &x, &mut rng).map_err(as_autodiff)?.mean()
        },
        &store,
        &cfg,
    )
    .unwrap();
    // Six rows whose steps (the generator's first draws, as sampled_bound makes them)
    // include t = 1 (the decoder's term) and later steps (KL terms).
    let mut draws = ChaCha8Rng::seed_from_u64(12);
    let steps: Vec<usize> = (0..6).map(|_| draws.random_range(1..=4)).collect();
    assert!(steps.contains(&1) && steps.iter().any(|&t| t > 1), "{steps:?}");
    let six = array![[0.3, -0.8], [1.1, 0.2], [-0.5, 0.4], [0.0, 1.0], [2.0, -1.0], [-1.5, -0.2]];
    let sampled = gradcheck_params(
        |s| {
            let mut rng = ChaCha8Rng::seed_from_u64(12);
            model.sampled_bound(s, &six, &mut rng).map_err(as_autodiff)?.mean()
        },
        &store,
        &cfg,
    )
    .unwrap();
    assert_eq!(bound.checked, store.num_scalars());
    assert_eq!(simple.checked, store.num_scalars());
    assert_eq!(sampled.checked, store.num_scalars());
}

/// The noise predictor that minimises the simplified loss for data from
/// `N(m, s^2 I)`: `z_t = sqrt(a) x + sqrt(1 - a) eps` is jointly Gaussian with
/// `eps`, so `E[eps | z_t] = sqrt(1 - a) (z_t - sqrt(a) m) / (a s^2 + 1 - a)`, with
/// `a = alpha_bar` at the (possibly fractional) step.
#[derive(Debug, Clone)]
struct GaussianOptimal {
    mean: Array1<f64>,
    var: f64,
    schedule: Schedule,
}

impl NoisePredictor for GaussianOptimal {
    fn predict<S: Session>(&self, _s: &S, z: &S::T, times: &Array2<f64>) -> seqmodels::Result<S::T> {
        let steps = self.schedule.steps() as f64;
        let abar: Vec<f64> =
            times.iter().map(|t| self.schedule.alpha_bar_at(t / steps)).collect::<seqmodels::Result<_>>()?;
        let centre = z.constant(Array2::from_shape_fn(z.shape(), |(b, d)| abar[b].sqrt() * self.mean[d]));
        let gain = z.constant(Array2::from_shape_fn((abar.len(), 1), |(b, _)| {
            (1.0 - abar[b]).sqrt() / (abar[b] * self.var + 1.0 - abar[b])
        }));
        Ok(z.sub(&centre)?.mul(&gain)?)
    }
    fn params(&self) -> Vec<ParamId> {
        Vec::new()
    }
}

fn gaussian_log_density(x: &Array2<f64>, mean: &Array1<f64>, var: f64) -> Array2<f64> {
    let d = mean.len() as f64;
    let maha = Array2::from_shape_fn((x.nrows(), 1), |(b, _)| {
        x.row(b).iter().zip(mean).map(|(e, m)| (e - m).powi(2)).sum::<f64>() / var
    });
    maha.mapv(|q| -0.5 * (q + d * (2.0 * std::f64::consts::PI * var).ln()))
}

#[test]
fn optimal_predictor_bound_approaches_the_gaussian_log_density() {
    // Data N(m, 0.04 I) on Song et al.'s VP schedule (beta from 0.1 / T to 20 / T), at
    // growing T. The gap ln p(x) - ELBO is the expected KL from the noising path's
    // posterior to the model's; with the optimal predictor only the fixed reverse
    // variances are wrong. With sigma_t^2 = beta_t the gap falls like 1 / T (measured,
    // seed 7, 4,000 draws: 0.539 +- 0.017, 0.115 +- 0.021, -0.009 +- 0.022 nats; T gap
    // 11-14), so at T = 1000 it is within 0.02 nats plus four standard errors.
    // With beta_tilde_t it does not close: at the first steps the true reverse
    // variance is about beta_tilde_t + beta_t^2 / (1 - alpha_bar_t), a ratio to
    // beta_tilde_t near 1 + 1 / t whatever T is, so the first steps' KL terms add up
    // to a constant (measured 0.88 +- 0.03 nats at T = 1000).
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let (mean, var) = (array![0.5, -1.0], 0.04);
    let store = ParamStore::new();
    let gap_at = |steps: usize, variance: ReverseVariance, rng: &mut ChaCha8Rng| {
        let schedule = Schedule::linear(steps, 0.1 / steps as f64, 20.0 / steps as f64).unwrap();
        let optimal = GaussianOptimal { mean: mean.clone(), var, schedule: schedule.clone() };
        let model = Diffusion::with_predictor(schedule, variance, optimal, 2).unwrap();
        let x = standard_normal(4000, 2, rng).mapv(|e| e * var.sqrt()) + &mean;
        let elbo = model.chain_bound(&NoGrad::new(&store), &x, rng).unwrap().into_elbo().unwrap();
        let (gap, se) = mean_and_se(&(gaussian_log_density(&x, &mean, var) - elbo.elbo().unwrap()));
        println!("{variance:?}, T = {steps}: gap {gap:.4} +- {se:.4} nats");
        assert!(gap > -4.0 * se, "a bound: T = {steps}, gap {gap} +- {se}");
        (gap, se)
    };
    let beta: Vec<(f64, f64)> =
        [25, 100, 1000].iter().map(|&t| gap_at(t, ReverseVariance::Beta, &mut rng)).collect();
    for pair in beta.windows(2) {
        let ((a, se_a), (b, se_b)) = (pair[0], pair[1]);
        assert!(a - b > 4.0 * se_a.hypot(se_b), "the gap shrinks with T: {beta:?}");
    }
    let (last, se) = beta[2];
    assert!(last < 0.02 + 4.0 * se, "T = 1000: {last} +- {se}");
    let (tilde, se) = gap_at(1000, ReverseVariance::PosteriorBeta, &mut rng);
    assert!(tilde > 0.5 + 4.0 * se, "beta_tilde leaves a gap: {tilde} +- {se}");
}

#[test]
fn optimal_predictor_probability_flow_is_the_exact_gaussian_map() {
    // For data N(m, s^2 I) the marginal at u is N(sqrt(a) m, v I), a = alpha_bar(u),
    // v = a s^2 + 1 - a, and the optimal score is exact, so the flow is the affine map
    // that keeps (z - sqrt(a) m) / sqrt(v) fixed: from u_0 to 1 it scales by
    // sqrt(v_1 / v_0), its log-determinant is D/2 ln(v_1 / v_0), and the
    // log-likelihood is the exact marginal density at u_0 apart from the prior's
    // mismatch ln N(z_1; 0, I) - ln N(z_1; sqrt(a_1) m, v_1), added back here.
    let (mean, var) = (array![0.5, -1.0], 0.04);
    let mut rng = ChaCha8Rng::seed_from_u64(8);
    // The Jacobian is a multiple of I, so a Rademacher probe's estimate is exact too.
    // Measured at tolerance 1e-9: errors below 4e-9 in 398-434 evaluations.
    let rademacher = TraceEstimator::Hutchinson { probe: Probe::Rademacher, samples: 1 };
    for (steps, trace) in [(20, TraceEstimator::Exact), (100, rademacher), (1000, TraceEstimator::Exact)] {
        let schedule = Schedule::linear(steps, 0.1 / steps as f64, 15.0 / steps as f64).unwrap();
        let optimal = GaussianOptimal { mean: mean.clone(), var, schedule: schedule.clone() };
        let model = Diffusion::with_predictor(schedule.clone(), ReverseVariance::Beta, optimal, 2).unwrap();
        let mut options = FlowOptions::default();
        options.solve.solver = SolveOptions::default().tol(1e-9, 1e-9);
        options.solve.trace = trace;
        let x = standard_normal(6, 2, &mut rng).mapv(|e| e * var.sqrt()) + &mean;
        let store = ParamStore::new();
        let out = model.flow_log_likelihood(&NoGrad::new(&store), &x, &options, &mut rng).unwrap();
        let marginal = |u: f64| {
            let a = schedule.alpha_bar_at(u).unwrap();
            (mean.mapv(|m| a.sqrt() * m), a * var + 1.0 - a)
        };
        let ((m0, v0), (m1, v1)) = (marginal(options.start), marginal(1.0));
        let z1 = (&x - &m0) * (v1 / v0).sqrt() + &m1;
        let z = &out.solution.z;
        assert!((z - &z1).iter().all(|d| d.abs() < 1e-7), "T = {steps}: {z} vs {z1}");
        let log_det = (v1 / v0).ln();
        assert!(out.solution.log_det.iter().all(|l| (l - log_det).abs() < 1e-7), "T = {steps}");
        let prior_mismatch =
            gaussian_log_density(z, &Array1::zeros(2), 1.0) - gaussian_log_density(z, &m1, v1);
        let exact = gaussian_log_density(&x, &m0, v0);
        let recovered = &out.log_likelihood - &prior_mismatch;
        assert!((&recovered - &exact).iter().all(|d| d.abs() < 1e-7), "T = {steps}: {recovered} vs {exact}");
        println!(
            "T = {steps}: prior mismatch up to {:.2e} nats, {} evaluations",
            prior_mismatch.iter().fold(0f64, |a, b| a.max(b.abs())),
            out.solution.work.get().forward.nfev
        );
    }
}

#[test]
fn the_probability_flow_likelihood_passes_gradcheck() {
    // On a tape the solve is one ODE node (checkpointed gradients); fixed RK4 steps so
    // that finite differences see the same discretisation.
    let (model, store) = tiny_model(ReverseVariance::Beta, 4);
    let x = array![[0.3, -0.8], [1.1, 0.2]];
    let mut options = FlowOptions { start: 0.05, ..FlowOptions::default() };
    options.solve.solver = SolveOptions::new(odesolve::Method::Rk4).step_size(0.1);
    let cfg = GradCheck { eps: 1e-5, rtol: 1e-5, atol: 1e-7, seed: 0 };
    let report = gradcheck_params(
        |s| {
            let mut rng = ChaCha8Rng::seed_from_u64(10);
            let out = model.flow_log_likelihood(s, &x, &options, &mut rng).map_err(as_autodiff)?;
            out.log_likelihood.mean()
        },
        &store,
        &cfg,
    )
    .unwrap();
    assert_eq!(report.checked, store.num_scalars());
}
