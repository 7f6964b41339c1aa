//! The Latent ODE: gradients against central differences with each gradient method
//! of the solve, a batch equal to its rows one at a time, padding and unobserved
//! entries that change nothing, and the bound's terms against closed forms.

mod common;

use autodiff::{GradCheck, NoGrad, ParamStore, Tape, gradcheck::all_close, gradcheck_params};
use common::{as_autodiff, gradient_methods, series};
use ndarray::{Array2, array};
use odesolve::{Gradient, Method, SolveOptions};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use seqmodels::{CellKind, Encoder, GruConvention, IrregularBatch, LatentOde, LatentOdeConfig, Series};

fn model(gradient: Gradient, solver: SolveOptions) -> (LatentOde, ParamStore) {
    model_with(gradient, solver, Encoder::default())
}

/// The ODE-RNN encoder, on the decoder's solver.
fn ode_rnn(solver: &SolveOptions) -> Encoder {
    Encoder::OdeRnn { field_hidden: 4, solver: solver.clone(), cell: CellKind::Gru(GruConvention::PyTorch) }
}

fn model_with(gradient: Gradient, solver: SolveOptions, encoder: Encoder) -> (LatentOde, ParamStore) {
    build(LatentOdeConfig { encoder, gradient, ..small(solver) })
}

/// The tests' small sizes on `solver`.
fn small(solver: SolveOptions) -> LatentOdeConfig {
    LatentOdeConfig {
        z_dim: 3,
        rnn_hidden: 5,
        field_hidden: 6,
        dec_hidden: 4,
        solver,
        ..LatentOdeConfig::new(2)
    }
}

fn build(config: LatentOdeConfig) -> (LatentOde, ParamStore) {
    let mut store = ParamStore::new();
    let m = LatentOde::new(&mut store, "lode", config, &mut ChaCha8Rng::seed_from_u64(3)).unwrap();
    (m, store)
}

#[test]
fn the_bound_matches_finite_differences_with_every_gradient_method() {
    let batch = IrregularBatch::new(series()).unwrap();
    // Fixed steps keep the loss a smooth function of the parameters, and fine ones
    // keep the backsolve adjoint (the gradient of the exact flow) within the
    // tolerance of the differences of the discretised loss.
    let solver = SolveOptions::new(Method::Rk4).step_size(0.025);
    for gradient in gradient_methods() {
        let reference = Encoder::OdeRnn {
            field_hidden: 4,
            solver: solver.clone(),
            cell: CellKind::MeanStdGru { units: 3 },
        };
        for encoder in [Encoder::default(), ode_rnn(&solver), reference] {
            let (m, store) = model_with(gradient.clone(), solver.clone(), encoder.clone());
            let cfg = GradCheck { eps: 1e-5, rtol: 1e-5, atol: 1e-7, seed: 0 };
            let rep = gradcheck_params(
                |s| {
                    let mut rng = ChaCha8Rng::seed_from_u64(9);
                    let (bound, _) = m.elbo(s, &batch, &mut rng).map_err(as_autodiff)?;
                    bound.loss_per_sequence(1.0).map_err(as_autodiff)?.normalised()
                },
                &store,
                &cfg,
            )
            .unwrap_or_else(|e| panic!("{gradient:?}, {encoder:?}: {e}"));
            assert_eq!(rep.checked, store.num_scalars(), "{gradient:?}, {encoder:?}");
        }
    }
}

#[test]
fn a_batch_equals_its_rows_one_at_a_time() {
    let tight = SolveOptions::default().tol(1e-12, 1e-12);
    // The GRU encoder reads each row exactly as alone; the ODE-RNN's solves agree to
    // their tolerance.
    for (encoder, tol) in [(Encoder::default(), 1e-13), (ode_rnn(&tight), 1e-8)] {
        let (m, store) = model_with(Gradient::default(), tight.clone(), encoder);
        let batch = IrregularBatch::new(series()).unwrap();
        let tape = Tape::new();
        let s = tape.session(&store);
        let eps = Array2::from_shape_fn((3, 3), |(i, j)| ((i * 3 + j) as f64 * 0.7).sin());
        // The same noise for each row: draw the posterior and sample with fixed eps.
        let q = m.encode(&s, &batch).unwrap();
        let z0 = q.rsample_with(&eps).unwrap();
        let means = m.decode(&s, &z0, batch.times()).unwrap().means;
        for (b, row) in series().into_iter().enumerate() {
            let alone = IrregularBatch::new(vec![row]).unwrap();
            let q1 = m.encode(&s, &alone).unwrap();
            assert!(all_close(
                &q1.mean().value(),
                &q.mean().value().row(b).to_owned().insert_axis(ndarray::Axis(0)),
                tol,
                tol
            ));
            let z1 = q1.rsample_with(&eps.row(b).to_owned().insert_axis(ndarray::Axis(0))).unwrap();
            let m1 = m.decode(&s, &z1, alone.times()).unwrap().means;
            for (k, t) in alone.times().iter().enumerate() {
                let j = batch.times().iter().position(|u| u == t).unwrap();
                let got = means[j].value().row(b).to_owned();
                let want = m1[k].value().row(0).to_owned();
                assert!(
                    got.iter().zip(&want).all(|(a, w)| (a - w).abs() < 1e-9),
                    "row {b}, t {t}: {got} vs {want}"
                );
            }
        }
    }
}

#[test]
fn the_bound_is_the_closed_form_gaussian_likelihood_and_kl() {
    let (m, store) = model(Gradient::default(), SolveOptions::default());
    let batch = IrregularBatch::new(series()).unwrap();
    let s = NoGrad::new(&store);
    let q = m.encode(&s, &batch).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(4);
    let (bound, _) = m.elbo(&s, &batch, &mut rng).unwrap();
    // KL(N(mu, sigma^2) || N(0, 1)) = (sigma^2 + mu^2 - 1 - ln sigma^2) / 2, summed.
    let (mu, lv) = (q.mean(), q.log_var());
    for b in 0..3 {
        let kl: f64 = (0..3).map(|j| 0.5 * (lv[(b, j)].exp() + mu[(b, j)].powi(2) - 1.0 - lv[(b, j)])).sum();
        assert!((bound.kl[(b, 0)] - kl).abs() < 1e-12);
    }
    // The likelihood at the same z0 (same generator state), by hand.
    let by_hand = likelihood_by_hand(&m, &s, &q, &batch, 4);
    for (b, ll) in by_hand.iter().enumerate() {
        assert!((bound.recon[(b, 0)] - ll).abs() < 1e-10, "row {b}: {} vs {ll}", bound.recon[(b, 0)]);
    }
    assert_eq!(bound.lengths, [3, 2, 1]);
}

/// `ln N(x; g(z_t), 0.3^2)` of each row of `series()` summed over its observed
/// entries, with `z0` drawn from `q` by a generator seeded `seed` and decoded at
/// `batch`'s times.
fn likelihood_by_hand(
    m: &LatentOde,
    s: &NoGrad<'_>,
    q: &dists::DiagNormal<Array2<f64>>,
    batch: &IrregularBatch,
    seed: u64,
) -> Vec<f64> {
    let z0 = q.rsample(&mut ChaCha8Rng::seed_from_u64(seed)).unwrap();
    let means = m.decode(s, &z0, batch.times()).unwrap().means;
    let sigma: f64 = 0.3;
    series()
        .iter()
        .enumerate()
        .map(|(b, row)| {
            let mut ll = 0.0;
            for (k, t) in row.times.iter().enumerate() {
                let j = batch.times().iter().position(|u| u == t).unwrap();
                for c in 0..2 {
                    if row.masks[(k, c)] == 1.0 {
                        let d = row.values[(k, c)] - means[j][(b, c)];
                        ll +=
                            -0.5 * (d / sigma).powi(2) - sigma.ln() - 0.5 * (2.0 * std::f64::consts::PI).ln();
                    }
                }
            }
            ll
        })
        .collect()
}

#[test]
fn the_conditioned_bound_reads_a_prefix_and_scores_every_observation() {
    let (m, store) = model(Gradient::default(), SolveOptions::default());
    let batch = IrregularBatch::new(series()).unwrap();
    let prefix = batch.before(0.6).unwrap();
    let s = NoGrad::new(&store);
    let q = m.encode(&s, &prefix).unwrap();
    let (bound, _) = m.elbo_given(&s, &prefix, &batch, &mut ChaCha8Rng::seed_from_u64(4)).unwrap();
    let (alone, _) = m.elbo(&s, &prefix, &mut ChaCha8Rng::seed_from_u64(4)).unwrap();
    assert_eq!(bound.kl, alone.kl, "the posterior is the prefix's");
    for (b, ll) in likelihood_by_hand(&m, &s, &q, &batch, 4).iter().enumerate() {
        assert!((bound.recon[(b, 0)] - ll).abs() < 1e-10, "row {b}: {} vs {ll}", bound.recon[(b, 0)]);
    }
    assert_eq!(bound.lengths, [3, 2, 1]);
    let fixed = SolveOptions::new(Method::Rk4).step_size(0.05);
    let (m, store) = model(Gradient::default(), fixed);
    let cfg = GradCheck { eps: 1e-5, rtol: 1e-5, atol: 1e-7, seed: 0 };
    let rep = gradcheck_params(
        |s| {
            let mut rng = ChaCha8Rng::seed_from_u64(9);
            let (bound, _) = m.elbo_given(s, &prefix, &batch, &mut rng).map_err(as_autodiff)?;
            bound.loss_per_sequence(1.0).map_err(as_autodiff)?.normalised()
        },
        &store,
        &cfg,
    )
    .unwrap();
    assert_eq!(rep.checked, store.num_scalars());
    let two = IrregularBatch::new(series()[..2].to_vec()).unwrap();
    let err =
        m.elbo_given(&NoGrad::new(&store), &two, &batch, &mut ChaCha8Rng::seed_from_u64(4)).unwrap_err();
    assert!(err.to_string().contains("conditioned on 2 series, asked to score 3"), "{err}");
}

#[test]
fn padding_and_unobserved_values_change_nothing_and_bad_input_is_named() {
    let (m, store) = model(Gradient::default(), SolveOptions::default());
    let s = NoGrad::new(&store);
    let mut other = series();
    other[0].values[[1, 1]] = 123.0; // unobserved: ignored
    let a = m.elbo(&s, &IrregularBatch::new(series()).unwrap(), &mut ChaCha8Rng::seed_from_u64(1)).unwrap().0;
    let b = m.elbo(&s, &IrregularBatch::new(other).unwrap(), &mut ChaCha8Rng::seed_from_u64(1)).unwrap().0;
    assert_eq!(a.elbo().unwrap(), b.elbo().unwrap());
    let early = vec![Series::observed(vec![-0.5], array![[0.0, 0.0]])];
    let err =
        m.elbo(&s, &IrregularBatch::new(early).unwrap(), &mut ChaCha8Rng::seed_from_u64(1)).unwrap_err();
    assert!(err.to_string().contains("before t0 = 0"), "{err}");
    let wide = vec![Series::observed(vec![0.5], array![[0.0, 0.0, 1.0]])];
    let err = m.elbo(&s, &IrregularBatch::new(wide).unwrap(), &mut ChaCha8Rng::seed_from_u64(1)).unwrap_err();
    assert!(err.to_string().contains("expects 2 features"), "{err}");
}

/// Mean and standard error of `n` draws of `f`.
fn mean_and_error(n: usize, mut f: impl FnMut(u64) -> f64) -> (f64, f64) {
    let draws: Vec<f64> = (0..n as u64).map(&mut f).collect();
    let mean = draws.iter().sum::<f64>() / n as f64;
    let var = draws.iter().map(|d| (d - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
    (mean, (var / n as f64).sqrt())
}

#[test]
fn the_importance_weighted_bound_averages_to_the_elbo_at_one_sample_and_grows_with_more() {
    let (m, store) = model(Gradient::default(), SolveOptions::default().tol(1e-8, 1e-10));
    let batch = IrregularBatch::new(series()).unwrap();
    let s = NoGrad::new(&store);
    let total = |v: Array2<f64>| v.iter().sum::<f64>();
    let (elbo, elbo_se) = mean_and_error(400, |seed| {
        total(m.elbo(&s, &batch, &mut ChaCha8Rng::seed_from_u64(seed)).unwrap().0.elbo().unwrap())
    });
    let (iwae1, iwae1_se) = mean_and_error(400, |seed| {
        total(m.iwae(&s, &batch, 1, &mut ChaCha8Rng::seed_from_u64(1000 + seed)).unwrap().0)
    });
    // E[ln p(x|z) + ln p(z) - ln q(z)] = E[ln p(x|z)] - KL: the same expectation.
    let tol = 4.0 * (elbo_se.powi(2) + iwae1_se.powi(2)).sqrt();
    assert!((elbo - iwae1).abs() < tol, "ELBO {elbo} vs IWAE(1) {iwae1} (tolerance {tol})");
    let (iwae20, iwae20_se) = mean_and_error(100, |seed| {
        total(m.iwae(&s, &batch, 20, &mut ChaCha8Rng::seed_from_u64(5000 + seed)).unwrap().0)
    });
    assert!(
        iwae20 - 4.0 * iwae20_se > elbo + 4.0 * elbo_se,
        "IWAE(20) {iwae20} +- {iwae20_se} vs ELBO {elbo}"
    );
    let err = m.iwae(&s, &batch, 0, &mut ChaCha8Rng::seed_from_u64(0)).unwrap_err();
    assert!(err.to_string().contains("at least one sample"), "{err}");
}

#[test]
fn the_importance_weighted_bound_matches_finite_differences() {
    let batch = IrregularBatch::new(series()).unwrap();
    let solver = SolveOptions::new(Method::Rk4).step_size(0.05);
    let (m, store) = model(Gradient::default(), solver);
    let cfg = GradCheck { eps: 1e-5, rtol: 1e-5, atol: 1e-7, seed: 0 };
    let rep = gradcheck_params(
        |s| {
            let (bound, _) = m.iwae(s, &batch, 4, &mut ChaCha8Rng::seed_from_u64(2)).map_err(as_autodiff)?;
            Ok(autodiff::Tensor::sum(&bound))
        },
        &store,
        &cfg,
    )
    .unwrap();
    assert_eq!(rep.checked, store.num_scalars());
}

fn poisson_model(solver: SolveOptions, poisson: Option<usize>) -> (LatentOde, ParamStore) {
    build(LatentOdeConfig { poisson, ..small(solver) })
}

#[test]
fn a_constant_intensity_gives_the_closed_form_poisson_term() {
    // Fixed steps: the latent part of the augmented solve takes exactly the steps of
    // the plain one.
    let solver = SolveOptions::new(Method::Rk4).step_size(0.05);
    let (plain, plain_store) = poisson_model(solver.clone(), None);
    let (with, mut store) = poisson_model(solver, Some(7));
    // lambda = softplus(b) whatever z is: the last layer's weights zero, its bias b.
    let last = store.ids().last().unwrap();
    let weight = store.ids().nth(store.len() - 2).unwrap();
    store.get_mut(weight).unwrap().fill(0.0);
    store.get_mut(last).unwrap().assign(&array![[0.4, 0.4]]);
    let rate = (1.0 + 0.4f64.exp()).ln();
    let batch = IrregularBatch::new(series()).unwrap();
    let recon = |m: &LatentOde, st: &ParamStore| {
        let s = NoGrad::new(st);
        m.elbo(&s, &batch, &mut ChaCha8Rng::seed_from_u64(4)).unwrap().0.recon
    };
    let term = recon(&with, &store) - recon(&plain, &plain_store);
    // A rate that underflows to 0 is floored, not a NaN.
    store.get_mut(last).unwrap().fill(-800.0);
    assert!(recon(&with, &store).iter().all(|v| v.is_finite()));
    store.get_mut(last).unwrap().fill(0.4);
    // sum over observed entries of ln(lambda), minus D lambda (t_end - t_0) per series.
    let observed = [5.0, 4.0, 2.0];
    let t_end = [1.1, 0.7, 0.5];
    for b in 0..3 {
        let want = observed[b] * rate.ln() - 2.0 * rate * t_end[b];
        assert!((term[[b, 0]] - want).abs() < 1e-10, "series {b}: {} vs {want}", term[[b, 0]]);
    }
}

#[test]
fn the_bound_with_the_poisson_term_matches_finite_differences() {
    let batch = IrregularBatch::new(series()).unwrap();
    let (m, store) = poisson_model(SolveOptions::new(Method::Rk4).step_size(0.05), Some(5));
    let cfg = GradCheck { eps: 1e-5, rtol: 1e-5, atol: 1e-7, seed: 0 };
    let rep = gradcheck_params(
        |s| {
            let (bound, _) = m.elbo(s, &batch, &mut ChaCha8Rng::seed_from_u64(9)).map_err(as_autodiff)?;
            bound.loss_per_sequence(1.0).map_err(as_autodiff)?.normalised()
        },
        &store,
        &cfg,
    )
    .unwrap();
    assert_eq!(rep.checked, store.num_scalars());
}

#[test]
fn the_reference_loss_averages_per_dimension_then_over_dimensions() {
    let (m, store) = model(Gradient::default(), SolveOptions::default().tol(1e-10, 1e-12));
    let batch = IrregularBatch::new(series()).unwrap();
    let s = NoGrad::new(&store);
    let (loss, _) = m.reference_loss(&s, &batch, 0.3, &mut ChaCha8Rng::seed_from_u64(7)).unwrap();
    // By hand, from the same draw of z0.
    let q = m.encode(&s, &batch).unwrap();
    let z0 = q.rsample(&mut ChaCha8Rng::seed_from_u64(7)).unwrap();
    let means = m.decode(&s, &z0, batch.times()).unwrap().means;
    let std = m.config().obs_std;
    let log_n = |x: f64, mu: f64| {
        -0.5 * ((x - mu) / std).powi(2) - std.ln() - 0.5 * (2.0 * std::f64::consts::PI).ln()
    };
    let kl = q.kl_to_standard_normal().unwrap();
    let mut total = 0.0;
    for (b, row) in series().into_iter().enumerate() {
        let mut dims = Vec::new();
        for d in 0..2 {
            let terms: Vec<f64> = (0..row.times.len())
                .filter(|&i| row.masks[[i, d]] == 1.0)
                .map(|i| {
                    let j = batch.times().iter().position(|&t| t == row.times[i]).unwrap();
                    log_n(row.values[[i, d]], means[j][[b, d]])
                })
                .collect();
            if !terms.is_empty() {
                dims.push(terms.iter().sum::<f64>() / terms.len() as f64);
            }
        }
        let recon = dims.iter().sum::<f64>() / dims.len() as f64;
        total += recon - 0.3 * kl.row(b).mean().unwrap();
    }
    let want = -total / 3.0;
    let got = loss.value().unwrap();
    assert!((got - want).abs() < 1e-10 * want.abs().max(1.0), "{got} vs {want}");
}

#[test]
fn a_learned_observation_noise_starts_at_the_fixed_one_and_has_its_gradient() {
    let batch = IrregularBatch::new(series()).unwrap();
    let solver = SolveOptions::new(Method::Rk4).step_size(0.05);
    let (fixed, fixed_store) = build(small(solver.clone()));
    let (learned, store) = build(LatentOdeConfig { learn_obs_std: true, ..small(solver) });
    assert_eq!(store.len(), fixed_store.len() + 1);
    let bound = |m: &LatentOde, st: &ParamStore| {
        m.elbo(&NoGrad::new(st), &batch, &mut ChaCha8Rng::seed_from_u64(5)).unwrap().0.elbo().unwrap()
    };
    assert!(all_close(&bound(&learned, &store), &bound(&fixed, &fixed_store), 1e-14, 1e-14));
    let cfg = GradCheck { eps: 1e-5, rtol: 1e-5, atol: 1e-7, seed: 0 };
    let rep = gradcheck_params(
        |s| {
            let (b, _) = learned.elbo(s, &batch, &mut ChaCha8Rng::seed_from_u64(5)).map_err(as_autodiff)?;
            b.loss_per_sequence(1.0).map_err(as_autodiff)?.normalised()
        },
        &store,
        &cfg,
    )
    .unwrap();
    assert_eq!(rep.checked, store.num_scalars());
}

/// A solver fault inside the model's forward pass (here its step budget) reaches the
/// training loop as a typed error naming the optimizer step, with the solver's error
/// (the budget, the time and the step size reached) as its source.
#[test]
fn a_step_budget_hit_while_training_is_a_typed_error_naming_the_step() {
    use trainers::{Adam, Optim, Trainer};
    let mut solver = SolveOptions::new(Method::Dopri5);
    solver.max_steps = 2;
    let (m, store) = model(Gradient::default(), solver);
    let data = seqmodels::IrregularSeries::new(series()).unwrap();
    let mut trainer = Trainer::new(store, Optim::new(Adam::default()).unwrap(), 0)
        .batch_size(3)
        .epochs(1)
        .progress_bar(false);
    let err = trainer
        .fit(&data, |s, batch, ctx| Ok(m.elbo(s, batch, &mut ctx.rng)?.0.loss_per_step(1.0)?))
        .unwrap_err();
    let trainers::Error::Loss { step, source } = &err else { panic!("not the loss's error: {err:?}") };
    assert_eq!(*step, 0);
    let model_error = source.downcast_ref::<seqmodels::Error>().expect("the model's own error type");
    assert!(
        matches!(
            model_error,
            seqmodels::Error::Ode(odesolve::OdeError::MaxStepsExceeded { max_steps: 2, .. })
        ),
        "{model_error:?}"
    );
    let message = err.to_string();
    assert!(
        message.starts_with("step 0: the loss failed") && message.contains("more than 2 steps"),
        "{message}"
    );
}
