//! Convergence on problems with known answers.

mod common;

use autodiff::data::Rows;
use autodiff::ndarray::{Array2, array};
use autodiff::{Loss, ParamStore, Session, Tensor};
use common::randn;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use trainers::{Adam, Clip, Optim, Schedule, Sgd, Trainer};

/// Noise-free least squares `y = X beta + c`: every mini-batch has the same exact
/// minimiser, so SGD with Nesterov momentum converges to it linearly.
#[test]
fn least_squares_recovers_its_coefficients() {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let x = randn(200, 3, &mut rng);
    let beta = array![[1.5], [-2.0], [0.5]];
    let y = x.dot(&beta) + 0.3;
    let data = Rows::new(vec![x, y]).unwrap();
    let mut store = ParamStore::new();
    let w = store.add("w", Array2::zeros((3, 1))).unwrap();
    let b = store.add("b", Array2::zeros((1, 1))).unwrap();
    let sgd = Optim::new(Sgd { lr: 0.05, momentum: 0.9, nesterov: true, ..Sgd::default() }).unwrap();
    let mut trainer = Trainer::new(store, sgd, 3).epochs(60).batch_size(25).progress_bar(false);
    let summary = trainer
        .fit(&data, |s, batch, _| {
            let pred = s.constant(batch.arrays[0].clone()).matmul(&s.param(w)?)?.add(&s.param(b)?)?;
            Ok(Loss::mean(&pred.sub(&s.constant(batch.arrays[1].clone()))?.square()))
        })
        .unwrap();
    assert_eq!(summary.steps, 60 * 8);
    let got = trainer.store().get(w).unwrap();
    for k in 0..3 {
        assert!((got[(k, 0)] - beta[(k, 0)]).abs() < 1e-9, "{got}");
    }
    assert!((trainer.store().get(b).unwrap()[(0, 0)] - 0.3).abs() < 1e-9);
    assert!(summary.epoch_losses.last().unwrap() < &1e-18, "{:?}", summary.epoch_losses.last());
}

/// Noisy least squares, full batch, Adam with warm-up and cosine decay: the
/// minimiser is the ordinary least-squares solution, computed here from the normal
/// equations `[X 1]^T [X 1] theta = [X 1]^T y` (2x2, solved by Cramer's rule).
#[test]
fn noisy_least_squares_reaches_the_normal_equations_solution() {
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    let x = randn(100, 1, &mut rng);
    let y = x.mapv(|v| 0.7 * v - 0.2) + randn(100, 1, &mut rng) * 0.3;
    let (n, sx, sy) = (100.0, x.view().sum(), y.view().sum());
    let (sxx, sxy) = ((&x * &x).view().sum(), (&x * &y).view().sum());
    let det = n * sxx - sx * sx;
    let (slope, intercept) = ((n * sxy - sx * sy) / det, (sxx * sy - sx * sxy) / det);

    let data = Rows::new(vec![x, y]).unwrap();
    let mut store = ParamStore::new();
    let w = store.add("w", Array2::zeros((1, 1))).unwrap();
    let b = store.add("b", Array2::zeros((1, 1))).unwrap();
    let adam = Optim::new(Adam { lr: 0.1, ..Adam::default() }).unwrap();
    let schedule = Schedule::cosine(0.1, 1e-4, 1500).with_warmup(20, 0.1);
    let mut trainer = Trainer::new(store, adam, 0)
        .epochs(1520)
        .batch_size(100)
        .shuffle(false)
        .schedule(schedule)
        .clip(Clip::Norm(10.0))
        .progress_bar(false);
    trainer
        .fit(&data, |s, batch, _| {
            let pred = s.constant(batch.arrays[0].clone()).matmul(&s.param(w)?)?.add(&s.param(b)?)?;
            Ok(Loss::mean(&pred.sub(&s.constant(batch.arrays[1].clone()))?.square()))
        })
        .unwrap();
    let (gw, gb) = (trainer.store().get(w).unwrap()[(0, 0)], trainer.store().get(b).unwrap()[(0, 0)]);
    assert!((gw - slope).abs() < 1e-6 && (gb - intercept).abs() < 1e-6, "{gw} {gb} vs {slope} {intercept}");
}

/// Linearly separable labels (with a margin): logistic regression reaches zero
/// training error. Trained data-parallel on 2 shards.
#[test]
fn logistic_regression_separates_separable_data() {
    let mut rng = ChaCha8Rng::seed_from_u64(4);
    let raw = randn(400, 2, &mut rng);
    // True boundary x0 - 2 x1 + 0.5 = 0; keep points at distance > 0.05 from it.
    let keep: Vec<usize> =
        (0..400).filter(|&i| (raw[(i, 0)] - 2.0 * raw[(i, 1)] + 0.5).abs() / 5f64.sqrt() > 0.05).collect();
    let x = raw.select(autodiff::ndarray::Axis(0), &keep);
    let y =
        Array2::from_shape_fn((keep.len(), 1), |(i, _)| f64::from(x[(i, 0)] - 2.0 * x[(i, 1)] + 0.5 > 0.0));
    let data = Rows::new(vec![x.clone(), y.clone()]).unwrap();
    let mut store = ParamStore::new();
    let w = store.add("w", Array2::zeros((2, 1))).unwrap();
    let b = store.add("b", Array2::zeros((1, 1))).unwrap();
    let adam = Optim::new(Adam { lr: 0.1, ..Adam::default() }).unwrap();
    let mut trainer = Trainer::new(store, adam, 5).epochs(100).batch_size(64).shards(2).progress_bar(false);
    trainer
        .fit(&data, |s, batch, ctx| {
            let z = s.constant(batch.arrays[0].clone()).matmul(&s.param(w)?)?.add(&s.param(b)?)?;
            let t = s.constant(batch.arrays[1].clone());
            // Binary cross-entropy with logits: softplus(z) - t z.
            let bce = Loss::mean(&z.softplus().sub(&t.mul(&z)?)?);
            ctx.record("bce", bce.value()?);
            Ok(bce)
        })
        .unwrap();
    let z = x.dot(trainer.store().get(w).unwrap()) + trainer.store().get(b).unwrap();
    let errors = z.iter().zip(y.iter()).filter(|(z, t)| (**z > 0.0) != (**t == 1.0)).count();
    assert_eq!(errors, 0, "training errors out of {}", keep.len());
}
