//! GRU-ODE-Bayes: the state stays in [-1, 1], autonomous or reading an input; a row with nothing observed keeps its
//! state through a jump; the jump's per-dimension preparation is the reference's;
//! the loss terms are their closed forms and a batch is its rows one at a time; gradients match central differences with
//! each gradient method; solves land on every observation; with the exact jump and
//! a linear-Gaussian field it is the Kalman filter; bad input is named.

mod common;

use autodiff::{GradCheck, NoGrad, ParamStore, gradcheck::all_close, gradcheck_params};
use common::{as_autodiff, gradient_methods, series};
use ndarray::{Array2, array, s};
use odesolve::{Gradient, Method, NeuralOdeFunc, SolveOptions};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use seqmodels::gru_ode_bayes::Jump;
use seqmodels::{GruOdeBayes, GruOdeBayesConfig, IrregularBatch, Series};

fn model(gradient: Gradient, solver: SolveOptions) -> (GruOdeBayes, ParamStore) {
    model_with(gradient, solver, false)
}

/// The test model, its GRU-ODE autonomous or reading the observation model's
/// prediction (`impute`).
fn model_with(gradient: Gradient, solver: SolveOptions, impute: bool) -> (GruOdeBayes, ParamStore) {
    let mut store = ParamStore::new();
    let config = GruOdeBayesConfig {
        hidden: 4,
        p_hidden: 3,
        prep_hidden: 2,
        mixing: 0.5,
        solver,
        gradient,
        impute,
        ..GruOdeBayesConfig::new(2)
    };
    let m = GruOdeBayes::new(&mut store, "gob", config, &mut ChaCha8Rng::seed_from_u64(7)).unwrap();
    (m, store)
}

#[test]
fn the_state_stays_in_the_unit_cube() {
    for impute in [false, true] {
        state_stays_in_the_unit_cube(impute);
    }
}

fn state_stays_in_the_unit_cube(impute: bool) {
    let (m, store) = model_with(Gradient::default(), SolveOptions::default(), impute);
    let s = NoGrad::new(&store);
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    // Starts anywhere inside, including on the faces; a long solve with large steps.
    let mut h0 = Array2::from_shape_simple_fn((64, 4), || rng.random_range(-1.0..=1.0));
    h0.row_mut(0).fill(1.0);
    h0.row_mut(1).fill(-1.0);
    let euler = SolveOptions::new(Method::Euler).step_size(0.5);
    for solver in [SolveOptions::default(), euler] {
        let field = odesolve::WithParams { func: m.field(), store: &store };
        for h in &odesolve::odeint(&field, &h0, &[0.0, 5.0, 50.0], &solver).unwrap().ys {
            assert!(h.iter().all(|v| (-1.0..=1.0).contains(v)), "{h}");
        }
    }
    // On a face the field points inwards.
    let f = m.field().eval(&s, &array![[0.0]], &h0).unwrap();
    assert!(f.row(0).iter().all(|&v| v <= 0.0) && f.row(1).iter().all(|&v| v >= 0.0), "{f}");
}

#[test]
fn a_jump_updates_only_the_observed_rows_from_the_observed_dimensions() {
    let (m, store) = model(Gradient::default(), SolveOptions::default());
    let s = NoGrad::new(&store);
    let h = Array2::from_shape_fn((3, 4), |(r, c)| 0.1 * (r as f64) - 0.2 * (c as f64));
    let x = array![[0.5, 9.0], [0.3, -0.7], [4.0, 4.0]];
    let mask = array![[1.0, 0.0], [1.0, 1.0], [0.0, 0.0]];
    let after = m.jump(&s, &h, &x, &mask).unwrap();
    assert_eq!(after.row(2), h.row(2), "nothing observed: the state is kept");
    assert_ne!(after.row(0), h.row(0));
    // An unobserved value changes nothing, even a NaN.
    let mut other = x.clone();
    other[(0, 1)] = f64::NAN;
    assert_eq!(m.jump(&s, &h, &other, &mask).unwrap(), after);
}

#[test]
fn the_loss_terms_are_the_closed_form_nll_and_kl() {
    let (m, store) = model(Gradient::default(), SolveOptions::default().tol(1e-10, 1e-12));
    let batch = IrregularBatch::new(series()).unwrap();
    let s = NoGrad::new(&store);
    let f = m.run(&s, &batch, None).unwrap();
    // By hand: solve row by row, jump, and add the terms.
    let func = odesolve::WithParams { func: m.field(), store: &store };
    let tight = SolveOptions::default().tol(1e-10, 1e-12);
    let h0 = m.initial_state(&s, &batch, None).unwrap();
    let (mut nll, mut kl) = (0.0, 0.0);
    for b in 0..batch.batch_size() {
        let row = batch.row(b);
        let mut h = h0.row(b).to_owned().insert_axis(ndarray::Axis(0));
        let mut t = 0.0;
        for (k, &tk) in row.times.iter().enumerate() {
            if tk != t {
                h = odesolve::odeint(&func, &h, &[t, tk], &tight).unwrap().ys.pop().unwrap();
                t = tk;
            }
            let x = row.values.slice(s![k..=k, ..]).to_owned();
            let mask = row.masks.slice(s![k..=k, ..]).to_owned();
            let (mu, v) = m.observation_model(&s, &h).unwrap();
            for d in 0..2 {
                if mask[(0, d)] == 1.0 {
                    let e = x[(0, d)] - mu[(0, d)];
                    nll += 0.5 * (e * e / v[(0, d)].exp() + v[(0, d)] + (2.0 * std::f64::consts::PI).ln());
                }
            }
            h = m.jump(&s, &h, &x, &mask).unwrap();
            let (mu, v) = m.observation_model(&s, &h).unwrap();
            let target: f64 = 0.01;
            for d in 0..2 {
                if mask[(0, d)] == 1.0 {
                    let (var, e) = (v[(0, d)].exp(), mu[(0, d)] - x[(0, d)]);
                    kl += target.ln() - 0.5 * v[(0, d)] + (var + e * e) / (2.0 * target * target) - 0.5;
                }
            }
        }
    }
    assert!((f.nll[(0, 0)] - nll).abs() < 1e-8 * nll.abs().max(1.0), "{} vs {nll}", f.nll[(0, 0)]);
    assert!((f.kl[(0, 0)] - kl).abs() < 1e-8 * kl.abs().max(1.0), "{} vs {kl}", f.kl[(0, 0)]);
    assert_eq!(f.observed, 5 + 4 + 2);
    // The batch is its rows one at a time.
    let alone: f64 = (0..batch.batch_size())
        .map(|b| m.run(&s, &IrregularBatch::new(vec![batch.row(b)]).unwrap(), None).unwrap().nll[(0, 0)])
        .sum();
    assert!((alone - nll).abs() < 1e-8 * nll.abs().max(1.0), "{alone} vs {nll}");
    let (loss, _) = m.loss(&s, &batch, None).unwrap();
    assert!((loss.normalised().unwrap()[(0, 0)] - (nll + 0.5 * kl) / 11.0).abs() < 1e-8);
}

#[test]
fn the_loss_matches_finite_differences_with_every_gradient_method() {
    let batch = IrregularBatch::new(series()).unwrap();
    // RK4 steps fine enough that the backsolve adjoint (the gradient of the exact
    // flow) agrees with the differences of the discretised loss.
    let cases = gradient_methods().into_iter().map(|g| (g, false)).chain([(Gradient::default(), true)]);
    for (gradient, impute) in cases {
        let (m, store) = model_with(gradient.clone(), SolveOptions::new(Method::Rk4).step_size(0.05), impute);
        let cfg = GradCheck { eps: 1e-5, rtol: 1e-5, atol: 1e-7, seed: 0 };
        let rep =
            gradcheck_params(|s| m.loss(s, &batch, None).map_err(as_autodiff)?.0.normalised(), &store, &cfg)
                .unwrap();
        assert_eq!(rep.checked, store.num_scalars(), "{gradient:?}, impute {impute}");
    }
}

#[test]
fn an_input_through_zero_gates_leaves_the_autonomous_field() {
    // The imputing model registers the autonomous model's parameters first, with the
    // same draws; zeroing its input gates' weights and biases must leave the field.
    let (plain, plain_store) = model(Gradient::default(), SolveOptions::default());
    let (imputing, mut store) = model_with(Gradient::default(), SolveOptions::default(), true);
    for (_, name, value) in plain_store.iter() {
        assert_eq!(store.get(store.id(name).unwrap()).unwrap(), value, "{name}");
    }
    let h = Array2::from_shape_fn((5, 4), |(r, c)| 0.3 * (r as f64) - 0.25 * (c as f64));
    let t = array![[0.0]];
    let moved = imputing.field().eval(&NoGrad::new(&store), &t, &h).unwrap();
    assert!(!all_close(&moved, &plain.field().eval(&NoGrad::new(&plain_store), &t, &h).unwrap(), 0.0, 1e-6));
    for id in store.ids().filter(|&id| store.name(id).unwrap().contains(".w_")).collect::<Vec<_>>() {
        store.get_mut(id).unwrap().fill(0.0);
    }
    let gated = imputing.field().eval(&NoGrad::new(&store), &t, &h).unwrap();
    assert!(all_close(&gated, &plain.field().eval(&NoGrad::new(&plain_store), &t, &h).unwrap(), 0.0, 1e-12));
    // The exact jump has no learned observation model to impute from.
    let exact = GruOdeBayesConfig {
        hidden: 4,
        impute: true,
        jump: Jump::Exact { obs_std: 0.1 },
        ..GruOdeBayesConfig::new(2)
    };
    assert!(GruOdeBayes::new(&mut ParamStore::new(), "e", exact, &mut ChaCha8Rng::seed_from_u64(0)).is_err());
}

#[test]
fn fixed_steps_land_on_every_observation_and_predictions_see_the_state_before_the_jump() {
    // An observation off the step grid: Euler steps of 0.05 must stop at 0.33 exactly,
    // so the result is the same as stepping there from 0.3 with a step of 0.03.
    let (m, store) = model(Gradient::default(), SolveOptions::new(Method::Euler).step_size(0.05));
    let one = vec![Series::observed(vec![0.33, 0.5], array![[0.2, -0.1], [0.4, 0.3]])];
    let batch = IrregularBatch::new(one).unwrap();
    let pred = m.predict(&store, &batch, None, &[0.33, 0.4, 2.0]).unwrap();
    let s = NoGrad::new(&store);
    let func = odesolve::WithParams { func: m.field(), store: &store };
    let euler = |h: &Array2<f64>, from: f64, to: f64| {
        let euler = SolveOptions::new(Method::Euler).step_size(0.05);
        odesolve::odeint(&func, h, &[from, to], &euler).unwrap().ys.pop().unwrap()
    };
    let h0 = m.initial_state(&s, &batch, None).unwrap();
    assert!(h0.iter().any(|&v| v != 0.0), "a learned initial state from zero covariates");
    let h = euler(&h0, 0.0, 0.33);
    let (mu, v) = m.observation_model(&s, &h).unwrap();
    assert!(
        all_close(&pred[0].mean, &mu, 1e-14, 1e-14)
            && all_close(&pred[0].variance, &v.mapv(f64::exp), 1e-14, 1e-14)
    );
    let jumped = m.jump(&s, &h, &array![[0.2, -0.1]], &array![[1.0, 1.0]]).unwrap();
    let (mu, _) = m.observation_model(&s, &euler(&jumped, 0.33, 0.4)).unwrap();
    assert!(all_close(&pred[1].mean, &mu, 1e-14, 1e-14), "{} vs {mu}", pred[1].mean);
    assert!(pred[2].variance.iter().all(|v| v.is_finite() && *v > 0.0));
}

/// The moments `[m, ln v]` of `dy = -theta (y - mu) dt + sigma dW` in each of `d`
/// dimensions: `dm/dt = -theta (m - mu)`, `d ln v/dt = sigma^2 / v - 2 theta`.
#[derive(Debug, Clone)]
struct OuMoments {
    theta: f64,
    mu: f64,
    sigma: f64,
    d: usize,
}

impl NeuralOdeFunc for OuMoments {
    fn eval<S: autodiff::Session>(&self, _s: &S, _t: &S::T, h: &S::T) -> autodiff::Result<S::T> {
        use autodiff::Tensor;
        let (m, lv) = (h.slice_cols(0..self.d)?, h.slice_cols(self.d..2 * self.d)?);
        let dm = m.add_scalar(-self.mu).scale(-self.theta);
        let dlv = lv.neg().exp().scale(self.sigma * self.sigma).add_scalar(-2.0 * self.theta);
        S::T::concat_cols(&[&dm, &dlv])
    }
    fn params(&self) -> Vec<autodiff::ParamId> {
        Vec::new()
    }
}

#[test]
fn with_the_exact_jump_and_linear_gaussian_moments_it_is_the_kalman_filter() {
    let (theta, mu, sigma, r) = (0.7, 0.4, 0.5, 0.1);
    let field = OuMoments { theta, mu, sigma, d: 2 };
    let config = GruOdeBayesConfig {
        hidden: 4,
        jump: Jump::Exact { obs_std: r },
        solver: SolveOptions::default().tol(1e-11, 1e-12),
        ..GruOdeBayesConfig::new(2)
    };
    let mut store = ParamStore::new();
    let m =
        GruOdeBayes::with_field(&mut store, "kf", config, field, &mut ChaCha8Rng::seed_from_u64(0)).unwrap();
    let batch = IrregularBatch::new(series()).unwrap();
    let (m0, v0): (f64, f64) = (-0.3, 0.8);
    let h0 = Array2::from_shape_fn((3, 4), |(_, c)| if c < 2 { m0 } else { v0.ln() });
    let f = m.run_from(&NoGrad::new(&store), &batch, h0).unwrap();
    // The scalar Kalman filter of each row and dimension, with the exact OU transition.
    let mut nll = 0.0;
    for b in 0..batch.batch_size() {
        let row = batch.row(b);
        for d in 0..2 {
            let (mut mean, mut var, mut t) = (m0, v0, 0.0);
            for (k, &tk) in row.times.iter().enumerate() {
                let decay = (-theta * (tk - t)).exp();
                mean = mu + (mean - mu) * decay;
                var = var * decay * decay + sigma * sigma / (2.0 * theta) * (1.0 - decay * decay);
                t = tk;
                if row.masks[(k, d)] == 1.0 {
                    let (x, total) = (row.values[(k, d)], var + r * r);
                    nll += 0.5 * ((2.0 * std::f64::consts::PI * total).ln() + (x - mean).powi(2) / total);
                    let gain = var / total;
                    mean += gain * (x - mean);
                    var *= 1.0 - gain;
                }
            }
        }
    }
    assert!((f.nll[(0, 0)] - nll).abs() < 1e-8, "{} vs the Kalman filter's {nll}", f.nll[(0, 0)]);
    let mut other = ParamStore::new();
    let bad = GruOdeBayesConfig { hidden: 5, jump: Jump::Exact { obs_std: r }, ..GruOdeBayesConfig::new(2) };
    let err = GruOdeBayes::with_field(
        &mut other,
        "kf",
        bad,
        OuMoments { theta, mu, sigma, d: 2 },
        &mut ChaCha8Rng::seed_from_u64(0),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("2 x_dim = 4"), "{err}");
}

#[test]
fn bad_input_is_named() {
    let (m, store) = model(Gradient::default(), SolveOptions::default());
    let s = NoGrad::new(&store);
    let wide = IrregularBatch::new(vec![Series::observed(vec![0.5], array![[0.0, 0.0, 1.0]])]).unwrap();
    assert!(m.run(&s, &wide, None).unwrap_err().to_string().contains("expects 2 features"));
    let early = IrregularBatch::new(vec![Series::observed(vec![-0.5], array![[0.0, 0.0]])]).unwrap();
    assert!(m.run(&s, &early, None).unwrap_err().to_string().contains("before t0 = 0"));
    let batch = IrregularBatch::new(series()).unwrap();
    let err = m.predict(&store, &batch, None, &[0.5, 0.2]).unwrap_err().to_string();
    assert!(err.contains("times[1] = 0.2"), "{err}");
    let err = m.run(&s, &batch, Some(&Array2::zeros((2, 1)))).unwrap_err().to_string();
    assert!(err.contains("covariates must be 3 x 1"), "{err}");
    let err = m.run(&s, &batch, Some(&array![[0.0], [f64::NAN], [1.0]])).unwrap_err().to_string();
    assert!(err.contains("covariates") && err.contains("NaN"), "{err}");
    let moved = m.initial_state(&s, &batch, Some(&array![[0.0], [2.0], [-1.0]])).unwrap();
    assert_ne!(moved.row(1), moved.row(0), "covariates set the initial state");
    let mut store2 = ParamStore::new();
    let bad = GruOdeBayesConfig { kl_target_std: 0.0, ..GruOdeBayesConfig::new(2) };
    assert!(GruOdeBayes::new(&mut store2, "g", bad, &mut ChaCha8Rng::seed_from_u64(0)).is_err());
}
