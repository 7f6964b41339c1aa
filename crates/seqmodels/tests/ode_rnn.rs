//! The ODE-RNN: with a zero field it is the plain GRU; its loss matches central
//! differences with each gradient method of the solve; a batch equals its rows one at
//! a time; unobserved entries change nothing; predictions at observed times are the
//! one-step predictions; bad input is a typed error.

mod common;

use autodiff::{GradCheck, NoGrad, ParamStore, Tape, Tensor, gradcheck::all_close, gradcheck_params};
use common::{as_autodiff, gradient_methods, series};
use ndarray::{Array2, array};
use odesolve::{Gradient, Method, SolveOptions};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use seqmodels::cells::masked_update;
use seqmodels::ode_rnn::Between;
use seqmodels::{Cell, CellKind, IrregularBatch, OdeRnn, OdeRnnConfig, Series};

fn model(gradient: Gradient, solver: SolveOptions) -> (OdeRnn, ParamStore) {
    let mut store = ParamStore::new();
    let config =
        OdeRnnConfig { hidden: 4, field_hidden: 5, out_hidden: 3, solver, gradient, ..OdeRnnConfig::new(2) };
    let m = OdeRnn::new(&mut store, "odernn", config, &mut ChaCha8Rng::seed_from_u64(5)).unwrap();
    (m, store)
}

/// The tests' small sizes with what happens `between` observations, on `solver`,
/// initialised from `seed`.
fn model_between(between: Between, solver: &SolveOptions, seed: u64) -> (OdeRnn, ParamStore) {
    let mut store = ParamStore::new();
    let config = OdeRnnConfig {
        hidden: 4,
        field_hidden: 5,
        out_hidden: 3,
        solver: solver.clone(),
        between,
        ..OdeRnnConfig::new(2)
    };
    let m = OdeRnn::new(&mut store, "odernn", config, &mut ChaCha8Rng::seed_from_u64(seed)).unwrap();
    (m, store)
}

#[test]
fn with_a_zero_field_it_is_the_plain_gru() {
    let (m, mut store) = model(Gradient::default(), SolveOptions::new(Method::Dopri5));
    let last = m.core().field().unwrap().net().layers().last().unwrap().clone();
    store.get_mut(last.weight).unwrap().fill(0.0);
    store.get_mut(last.bias.unwrap()).unwrap().fill(0.0);
    let batch = IrregularBatch::new(series()).unwrap();
    let s = NoGrad::new(&store);
    // The GRU over [x, mask], rows updated where observed, forwards and backwards.
    let gru = |order: Vec<usize>| {
        let mut h = Array2::zeros((3, 4));
        for j in order {
            let new = m.core().cell().step(&s, &batch.observation(j), &h).unwrap();
            h = masked_update(new, &h, &batch.grid().step_masks()[j]).unwrap();
        }
        h
    };
    let n = batch.times().len();
    let forward = m.run(&s, &batch).unwrap().last;
    assert!(all_close(&forward, &gru((0..n).collect()), 1e-12, 1e-12), "{forward}");
    let (backward, _) = m.core().encode_backwards(&s, &batch).unwrap();
    assert!(all_close(&backward, &gru((0..n).rev().collect()), 1e-12, 1e-12), "{backward}");
}

#[test]
fn the_loss_matches_finite_differences_with_every_gradient_method() {
    let batch = IrregularBatch::new(series()).unwrap();
    // Fixed steps keep the loss a smooth function of the parameters.
    let solver = SolveOptions::new(Method::Rk4).step_size(0.05);
    for gradient in gradient_methods() {
        let (m, store) = model(gradient.clone(), solver.clone());
        let cfg = GradCheck { eps: 1e-5, rtol: 1e-5, atol: 1e-7, seed: 0 };
        let rep = gradcheck_params(|s| m.loss(s, &batch).map_err(as_autodiff)?.0.normalised(), &store, &cfg)
            .unwrap();
        assert_eq!(rep.checked, store.num_scalars(), "{gradient:?}");
        // The encoder's final state, contracted with fixed weights.
        let rep = gradcheck_params(
            |s| {
                let (h, _) = m.core().encode_backwards(s, &batch).map_err(as_autodiff)?;
                let w = s.tape().constant(Array2::from_shape_fn((3, 4), |(i, j)| ((i + 2 * j) as f64).cos()));
                Ok(h.mul(&w)?.sum())
            },
            &store,
            &cfg,
        )
        .unwrap();
        // Every scalar, the output network's zero gradients (it is not part of the
        // encoder) included.
        assert_eq!(rep.checked, store.num_scalars(), "{gradient:?}");
    }
}

#[test]
fn a_batch_equals_its_rows_one_at_a_time() {
    let (m, store) = model(Gradient::default(), SolveOptions::default().tol(1e-12, 1e-12));
    let batch = IrregularBatch::new(series()).unwrap();
    let tape = Tape::new();
    let s = tape.session(&store);
    let (ll, _) = m.log_likelihood(&s, &batch).unwrap();
    let grads = tape.backward(ll.sum()).unwrap();
    let mut summed: Vec<Array2<f64>> =
        grads.params().map(|(id, _)| Array2::zeros(store.shape(id).unwrap())).collect();
    let ids: Vec<_> = grads.params().map(|(id, _)| id).collect();
    for (b, row) in series().into_iter().enumerate() {
        let alone = IrregularBatch::new(vec![row]).unwrap();
        let tape = Tape::new();
        let s = tape.session(&store);
        let (llb, _) = m.log_likelihood(&s, &alone).unwrap();
        let (x, y) = (llb.value()[[0, 0]], ll.value()[[b, 0]]);
        assert!((x - y).abs() < 1e-8 * (1.0 + y.abs()), "row {b}: {x} vs {y}");
        let g = tape.backward(llb.sum()).unwrap();
        for (acc, id) in summed.iter_mut().zip(&ids) {
            if let Some(d) = g.param(*id) {
                *acc += d;
            }
        }
    }
    for (acc, id) in summed.iter().zip(&ids) {
        assert!(all_close(acc, grads.param(*id).unwrap(), 1e-7, 1e-9), "{id:?}");
    }
}

#[test]
fn unobserved_entries_change_nothing() {
    let (m, store) = model(Gradient::default(), SolveOptions::default());
    let s = NoGrad::new(&store);
    let loss = |fill: f64| {
        let mut rows = series();
        rows[0].values[[1, 1]] = fill;
        let (ll, _) = m.log_likelihood(&s, &IrregularBatch::new(rows).unwrap()).unwrap();
        ll
    };
    assert_eq!(loss(f64::NAN), loss(1e6));
}

#[test]
fn predictions_at_observed_times_are_the_one_step_predictions() {
    let (m, store) = model(Gradient::default(), SolveOptions::default().tol(1e-10, 1e-12));
    let batch = IrregularBatch::new(series()).unwrap();
    let run = m.run(&NoGrad::new(&store), &batch).unwrap();
    let predicted = m.predict(&store, &batch, batch.times()).unwrap();
    for (j, (a, b)) in predicted.iter().zip(&run.means).enumerate() {
        assert!(all_close(a, b, 1e-12, 1e-12), "time {j}: {a} vs {b}");
    }
    // Beyond the data: one prediction per query, each finite.
    let later = m.predict(&store, &batch, &[1.5, 2.0, 3.0]).unwrap();
    assert_eq!(later.len(), 3);
    assert!(later.iter().all(|p| p.dim() == (3, 2) && p.iter().all(|v| v.is_finite())));
}

#[test]
fn a_forecast_reads_its_own_predictions_back_as_observations() {
    let tight = SolveOptions::default().tol(1e-10, 1e-12);
    for between in [Between::Ode, Between::TimeGap, Between::Decay] {
        let (m, store) = model_between(between, &tight, 5);
        let batch = IrregularBatch::new(series()).unwrap();
        // Up to each row's last observation there is nothing to read back.
        let early = [0.1, 0.4];
        assert_eq!(m.forecast(&store, &batch, &early).unwrap(), m.predict(&store, &batch, &early).unwrap());
        // Beyond it, each prediction is what the model would predict had that
        // prediction been observed: append it by hand and predict once more.
        let (first, second) = (1.5, 2.0);
        let forecast = m.forecast(&store, &batch, &[first, second]).unwrap();
        let at_first = m.predict(&store, &batch, &[first]).unwrap().remove(0);
        assert_eq!(forecast[0], at_first, "{between:?}");
        let extended: Vec<Series> = series()
            .into_iter()
            .enumerate()
            .map(|(b, mut row)| {
                row.times.push(first);
                row.values.push_row(at_first.row(b)).unwrap();
                row.masks.push_row(ndarray::aview1(&[1.0, 1.0])).unwrap();
                row
            })
            .collect();
        let by_hand =
            m.predict(&store, &IrregularBatch::new(extended).unwrap(), &[second]).unwrap().remove(0);
        assert!(all_close(&forecast[1], &by_hand, 1e-9, 1e-9), "{between:?}: {} vs {by_hand}", forecast[1]);
        assert_ne!(forecast[1], m.predict(&store, &batch, &[first, second]).unwrap()[1], "{between:?}");
    }
}

#[test]
fn the_reference_cell_moves_only_the_mean_and_keeps_the_std_non_negative() {
    let solver = SolveOptions::new(Method::Rk4).step_size(0.05);
    let mut store = ParamStore::new();
    let config = OdeRnnConfig {
        hidden: 3,
        field_hidden: 5,
        out_hidden: 3,
        solver,
        cell: CellKind::MeanStdGru { units: 4 },
        ..OdeRnnConfig::new(2)
    };
    let m = OdeRnn::new(&mut store, "odernn", config, &mut ChaCha8Rng::seed_from_u64(5)).unwrap();
    assert_eq!(m.core().state_dim(), 6, "mean and std");
    let s = NoGrad::new(&store);
    let h = Array2::from_shape_fn((2, 6), |(r, c)| 0.3 * (r + c) as f64 - 0.5);
    let field = m.core().field().unwrap();
    let f = odesolve::NeuralOdeFunc::eval(field, &s, &array![[0.0]], &h).unwrap();
    let moved = field.net().forward(&s, &h.slice(ndarray::s![.., 0..3]).to_owned()).unwrap();
    assert_eq!(f.slice(ndarray::s![.., 0..3]), moved);
    assert!(f.slice(ndarray::s![.., 3..]).iter().all(|&v| v == 0.0), "the std is held: {f}");
    let batch = IrregularBatch::new(series()).unwrap();
    let run = m.run(&s, &batch).unwrap();
    assert!(run.last.slice(ndarray::s![.., 3..]).iter().all(|&v| v >= 0.0), "{}", run.last);
    assert!(run.last.slice(ndarray::s![.., 3..]).iter().any(|&v| v > 0.0), "{}", run.last);
    let cfg = GradCheck { eps: 1e-5, rtol: 1e-5, atol: 1e-7, seed: 0 };
    let rep =
        gradcheck_params(|s| m.loss(s, &batch).map_err(as_autodiff)?.0.normalised(), &store, &cfg).unwrap();
    assert_eq!(rep.checked, store.num_scalars());
}

#[test]
fn bad_input_is_a_typed_error() {
    let (m, store) = model(Gradient::default(), SolveOptions::default());
    let batch = IrregularBatch::new(series()).unwrap();
    for bad in [vec![0.5, 0.4], vec![-1.0], vec![f64::NAN]] {
        let err = m.predict(&store, &batch, &bad).unwrap_err();
        assert!(err.to_string().contains("query times"), "{err}");
    }
    let wide = IrregularBatch::new(vec![Series::observed(vec![0.1], array![[1.0, 2.0, 3.0]])]).unwrap();
    let err = m.run(&NoGrad::new(&store), &wide).unwrap_err();
    assert!(err.to_string().contains("expects 2 features"), "{err}");
    let early = IrregularBatch::new(vec![Series::observed(vec![-0.5], array![[1.0, 2.0]])]).unwrap();
    let err = m.run(&NoGrad::new(&store), &early).unwrap_err();
    assert!(err.to_string().contains("before t0"), "{err}");
}

#[test]
fn the_rnn_baselines_hold_or_decay_the_state_between_observations() {
    let batch = IrregularBatch::new(series()).unwrap();
    for between in [Between::TimeGap, Between::Decay] {
        let mut store = ParamStore::new();
        let config = OdeRnnConfig { hidden: 4, out_hidden: 3, between, ..OdeRnnConfig::new(2) };
        let m = OdeRnn::new(&mut store, "rnn", config, &mut ChaCha8Rng::seed_from_u64(6)).unwrap();
        assert!(m.core().field().is_none());
        let later = m.predict(&store, &batch, &[2.0, 5.0, 50.0]).unwrap();
        match between {
            // Held: the same state, so the same predictions, at any later time.
            Between::TimeGap => assert!(all_close(&later[0], &later[2], 1e-15, 1e-15)),
            _ => {
                assert!(!all_close(&later[0], &later[2], 1e-6, 1e-6), "the state decays with the gap");
                // With rates softplus(50) = 50, 0.9 time units after the last
                // observation the state is e^-45 of what it was: the prediction is the
                // one from the zero state, which every row has at t0.
                let decay = store.ids().find(|&id| store.name(id).unwrap() == "rnn.decay").unwrap();
                store.get_mut(decay).unwrap().fill(50.0);
                let from_zero = m.predict(&store, &batch, &[0.0]).unwrap();
                let gone = m.predict(&store, &batch, &[2.0]).unwrap();
                assert!(all_close(&gone[0], &from_zero[0], 1e-12, 1e-12), "{} vs {}", gone[0], from_zero[0]);
                store.get_mut(decay).unwrap().fill(0.5);
            }
        }
        let cfg = GradCheck { eps: 1e-5, rtol: 1e-5, atol: 1e-7, seed: 0 };
        let rep = gradcheck_params(|s| m.loss(s, &batch).map_err(as_autodiff)?.0.normalised(), &store, &cfg)
            .unwrap();
        assert_eq!(rep.checked, store.num_scalars(), "{between:?}");
    }
}

#[test]
fn the_backward_scan_reads_each_row_as_alone_with_every_kind_of_step() {
    let tight = SolveOptions::default().tol(1e-12, 1e-12);
    for (between, tol) in [(Between::Ode, 1e-8), (Between::TimeGap, 1e-13), (Between::Decay, 1e-13)] {
        let (m, store) = model_between(between, &tight, 8);
        let s = NoGrad::new(&store);
        let (all, _) = m.core().encode_backwards(&s, &IrregularBatch::new(series()).unwrap()).unwrap();
        for (b, row) in series().into_iter().enumerate() {
            let (alone, _) = m.core().encode_backwards(&s, &IrregularBatch::new(vec![row]).unwrap()).unwrap();
            let got = all.row(b).to_owned().insert_axis(ndarray::Axis(0));
            assert!(all_close(&got, &alone, tol, tol), "{between:?}, row {b}: {got} vs {alone}");
        }
    }
}

#[test]
fn the_time_gap_rnn_is_a_gru_over_values_masks_and_gaps() {
    let mut store = ParamStore::new();
    let config = OdeRnnConfig { hidden: 4, out_hidden: 3, between: Between::TimeGap, ..OdeRnnConfig::new(2) };
    let m = OdeRnn::new(&mut store, "m", config, &mut ChaCha8Rng::seed_from_u64(9)).unwrap();
    let s = NoGrad::new(&store);
    let batch = IrregularBatch::new(series()).unwrap();
    // By hand: each row's gap since its previous observation (or t0 = 0).
    let mut h = Array2::zeros((3, 4));
    let mut previous = [0.0; 3];
    for (j, &t) in batch.times().iter().enumerate() {
        let present = &batch.grid().step_masks()[j];
        let gaps = Array2::from_shape_fn((3, 1), |(r, _)| t - previous[r]);
        let input =
            ndarray::concatenate(ndarray::Axis(1), &[batch.observation(j).view(), gaps.view()]).unwrap();
        h = masked_update(m.core().cell().step(&s, &input, &h).unwrap(), &h, present).unwrap();
        for (r, p) in previous.iter_mut().enumerate() {
            if present[(r, 0)] != 0.0 {
                *p = t;
            }
        }
    }
    let run = m.run(&s, &batch).unwrap();
    assert!(all_close(&run.last, &h, 1e-13, 1e-13), "{} vs {h}", run.last);
}
