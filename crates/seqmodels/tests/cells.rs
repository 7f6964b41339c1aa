//! The recurrent cells against values worked out by hand.

use autodiff::{NoGrad, ParamStore, Session, Tensor};
use ndarray::{Array2, array};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use seqmodels::cells::{masked_update, run_cell};
use seqmodels::{Cell, GruCell, GruConvention, RnnCell};

fn close(a: &Array2<f64>, b: &Array2<f64>) {
    assert!(autodiff::gradcheck::all_close(a, b, 1e-14, 1e-15), "{a} vs {b}");
}

/// A 1-input, 2-unit GRU whose gates are constants set by biases:
/// `w_rz = u_rz = 0` and `b_rz = [ln 3, -ln 3, 0, 0]`, so `r = [sigma(ln 3), sigma(-ln 3)]
/// = [3/4, 1/4]` and `z = [1/2, 1/2]`; `w_n = 0`, `u_n = [[1, 2], [3, 4]]` (in x out).
fn gru(convention: GruConvention, bh_n: [f64; 2]) -> (ParamStore, GruCell) {
    let mut store = ParamStore::new();
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let cell = GruCell::new(&mut store, "gru", 1, 2, convention, true, &mut rng).unwrap();
    let (w_rz, w_n, u_rz, u_n) = cell.weights();
    let ((b_rz, b_n), hidden) = match cell.biases() {
        (Some(b), h) => (b, h),
        _ => unreachable!("built with biases"),
    };
    let ln3 = 3f64.ln();
    store.get_mut(w_rz).unwrap().fill(0.0);
    store.get_mut(w_n).unwrap().fill(0.0);
    store.get_mut(u_rz).unwrap().fill(0.0);
    store.get_mut(u_n).unwrap().assign(&array![[1.0, 2.0], [3.0, 4.0]]);
    store.get_mut(b_rz).unwrap().assign(&array![[ln3, -ln3, 0.0, 0.0]]);
    store.get_mut(b_n).unwrap().fill(0.0);
    if let Some((bh_rz, bh_n_id)) = hidden {
        store.get_mut(bh_rz).unwrap().fill(0.0);
        store.get_mut(bh_n_id).unwrap().assign(&array![[bh_n[0], bh_n[1]]]);
    }
    (store, cell)
}

#[test]
fn gru_textbook_matches_hand_values() {
    let (store, cell) = gru(GruConvention::Textbook, [0.0; 2]);
    let h = array![[1.0, 1.0]];
    let out = cell.step(&NoGrad::new(&store), &array![[0.7]], &h).unwrap();
    // r * h = [3/4, 1/4]; (r * h) U_n = [3/4 * 1 + 1/4 * 3, 3/4 * 2 + 1/4 * 4] = [1.5, 2.5];
    // g = tanh([1.5, 2.5]); h' = z h + (1 - z) g = 0.5 + 0.5 tanh([1.5, 2.5]).
    let want = array![[0.5 + 0.5 * 1.5f64.tanh(), 0.5 + 0.5 * 2.5f64.tanh()]];
    close(&out, &want);
}

#[test]
fn gru_pytorch_matches_hand_values() {
    let (store, cell) = gru(GruConvention::PyTorch, [0.0; 2]);
    let h = array![[1.0, 1.0]];
    let out = cell.step(&NoGrad::new(&store), &array![[0.7]], &h).unwrap();
    // h U_n = [1 + 3, 2 + 4] = [4, 6]; r * (h U_n) = [3/4 * 4, 1/4 * 6] = [3, 1.5];
    // n = tanh([3, 1.5]); h' = (1 - z) n + z h = 0.5 tanh([3, 1.5]) + 0.5.
    let want = array![[0.5 * 3f64.tanh() + 0.5, 0.5 * 1.5f64.tanh() + 0.5]];
    close(&out, &want);

    // The hidden bias sits inside the reset product: b_hn = [1, -1] gives
    // r * (h U_n + b_hn) = [3/4 * 5, 1/4 * 5] = [3.75, 1.25].
    let (store, cell) = gru(GruConvention::PyTorch, [1.0, -1.0]);
    let out = cell.step(&NoGrad::new(&store), &array![[0.7]], &h).unwrap();
    let want = array![[0.5 * 3.75f64.tanh() + 0.5, 0.5 * 1.25f64.tanh() + 0.5]];
    close(&out, &want);
}

#[test]
fn rnn_cell_matches_hand_values() {
    let mut store = ParamStore::new();
    let cell = RnnCell::new(&mut store, "rnn", 1, 2, &mut ChaCha8Rng::seed_from_u64(0)).unwrap();
    store.get_mut(store.id("rnn.in.weight").unwrap()).unwrap().assign(&array![[0.5, -1.0]]);
    store.get_mut(store.id("rnn.in.bias").unwrap()).unwrap().assign(&array![[0.1, 0.2]]);
    store.get_mut(store.id("rnn.u").unwrap()).unwrap().assign(&array![[1.0, 0.0], [2.0, -1.0]]);
    let out = cell.step(&NoGrad::new(&store), &array![[2.0]], &array![[0.5, 0.25]]).unwrap();
    // x W + b = [1.1, -1.8]; h U = [0.5 + 0.5, -0.25] = [1.0, -0.25]; h' = tanh([2.1, -2.05]).
    close(&out, &array![[2.1f64.tanh(), (-2.05f64).tanh()]]);
}

#[test]
fn gru_matches_a_torch_style_reference_loop() {
    // The same cell written out with plain ndarray operations, in PyTorch's formulas,
    // with random weights: both conventions agree with their own formula everywhere.
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    for convention in [GruConvention::Textbook, GruConvention::PyTorch] {
        let mut store = ParamStore::new();
        let cell = GruCell::new(&mut store, "g", 3, 4, convention, true, &mut rng).unwrap();
        let (w_rz, w_n, u_rz, u_n) = cell.weights();
        let (Some((b_rz, b_n)), hb) = cell.biases() else { unreachable!() };
        let x = array![[0.3, -1.0, 0.5], [1.5, 0.2, -0.7]];
        let h = array![[0.1, -0.2, 0.3, 0.9], [-0.5, 0.4, 0.0, 0.2]];
        let p = |id| store.get(id).unwrap().clone();
        let sig = |a: Array2<f64>| a.mapv(|v| 1.0 / (1.0 + (-v).exp()));
        let mut pre = x.dot(&p(w_rz)) + h.dot(&p(u_rz)) + p(b_rz);
        if let Some((bh_rz, _)) = hb {
            pre = pre + p(bh_rz);
        }
        let g = sig(pre);
        let (r, z) = (g.slice(ndarray::s![.., 0..4]).to_owned(), g.slice(ndarray::s![.., 4..8]).to_owned());
        let n = match convention {
            GruConvention::Textbook => (x.dot(&p(w_n)) + (&r * &h).dot(&p(u_n)) + p(b_n)).mapv(f64::tanh),
            GruConvention::PyTorch => {
                let bh_n = p(hb.unwrap().1);
                (x.dot(&p(w_n)) + p(b_n) + &r * &(h.dot(&p(u_n)) + bh_n)).mapv(f64::tanh)
            }
        };
        let want = &z * &h + (1.0 - &z) * &n;
        let got = cell.step(&NoGrad::new(&store), &x, &h).unwrap();
        assert!(autodiff::gradcheck::all_close(&got, &want, 1e-13, 1e-14), "{convention:?}: {got} vs {want}");
    }
}

#[test]
fn masked_update_keeps_finished_rows() {
    let new = array![[1.0, 2.0], [3.0, 4.0]];
    let old = array![[-1.0, -2.0], [-3.0, -4.0]];
    let out = masked_update(new.clone(), &old, &array![[1.0], [0.0]]).unwrap();
    assert_eq!(out, array![[1.0, 2.0], [-3.0, -4.0]]);
    assert_eq!(masked_update(new.clone(), &old, &Array2::ones((2, 1))).unwrap(), new);
}

#[test]
fn run_cell_backwards_stays_at_the_initial_state_through_padding() {
    let mut store = ParamStore::new();
    let cell = RnnCell::new(&mut store, "rnn", 1, 3, &mut ChaCha8Rng::seed_from_u64(1)).unwrap();
    let s = NoGrad::new(&store);
    // Row 0 has 3 steps, row 1 only the first: run backwards, row 1's state is the
    // initial zero state at steps 2 and 1, and at step 0 equals one step from zero.
    let xs: Vec<Array2<f64>> = (0..3).map(|t| array![[t as f64], [5.0 + t as f64]]).collect();
    let masks = vec![array![[1.0], [1.0]], array![[1.0], [0.0]], array![[1.0], [0.0]]];
    let hs = run_cell(&s, &cell, &xs, &masks, Array2::zeros((2, 3)), true).unwrap();
    assert_eq!(hs[2].row(1).to_owned(), ndarray::Array1::<f64>::zeros(3));
    assert_eq!(hs[1].row(1).to_owned(), ndarray::Array1::<f64>::zeros(3));
    let alone = cell.step(&s, &array![[5.0]], &Array2::zeros((1, 3))).unwrap();
    assert_eq!(hs[0].row(1), alone.row(0));
}

/// The fused gate block of the PyTorch convention (and the composed textbook cell):
/// gradients with respect to inputs, initial state and every parameter, with and
/// without biases, against central differences.
#[test]
fn gru_gradients_match_finite_differences() {
    use autodiff::{GradCheck, gradcheck, gradcheck_params};
    for convention in [GruConvention::PyTorch, GruConvention::Textbook] {
        for bias in [true, false] {
            let mut store = ParamStore::new();
            let mut rng = ChaCha8Rng::seed_from_u64(11);
            let cell = GruCell::new(&mut store, "g", 3, 4, convention, bias, &mut rng).unwrap();
            let xs: Vec<Array2<f64>> = (0..3)
                .map(|t| Array2::from_shape_fn((2, 3), |(i, j)| ((t * 7 + i * 3 + j) as f64 * 0.9).sin()))
                .collect();
            let h0 = Array2::from_shape_fn((2, 4), |(i, j)| ((i * 4 + j) as f64 * 0.6).cos() * 0.5);
            let masks = vec![Array2::ones((2, 1)); 3];
            let cfg = GradCheck::default();
            let mut inputs = xs.clone();
            inputs.push(h0.clone());
            let report = gradcheck(
                |v| {
                    let s = v[0].tape().session(&store);
                    let hs = run_cell(&s, &cell, &v[..3], &masks, v[3], false).map_err(as_autodiff)?;
                    hs[2].square().sum().add(&hs[0].sum())
                },
                &inputs,
                &cfg,
            )
            .unwrap_or_else(|e| panic!("{convention:?}, bias {bias}: {e}"));
            assert_eq!(report.checked, 3 * 6 + 8);
            gradcheck_params(
                |s| {
                    let x: Vec<_> = xs.iter().map(|x| s.constant(x.clone())).collect();
                    let hs =
                        run_cell(s, &cell, &x, &masks, s.constant(h0.clone()), false).map_err(as_autodiff)?;
                    hs[2].square().sum().add(&hs[1].sum())
                },
                &store,
                &cfg,
            )
            .unwrap_or_else(|e| panic!("{convention:?}, bias {bias}: {e}"));
        }
    }
}

fn as_autodiff(e: seqmodels::Error) -> autodiff::Error {
    autodiff::Error::Invalid { op: "run_cell", reason: e.to_string() }
}

#[test]
fn gru_from_weights_checks_every_block_and_torch_export_needs_the_torch_convention() {
    use seqmodels::GruWeights;
    let weights = |hidden_bias| GruWeights {
        w_rz: Array2::zeros((3, 4)),
        w_n: Array2::zeros((3, 2)),
        u_rz: Array2::zeros((2, 4)),
        u_n: Array2::eye(2),
        bias: Some((Array2::zeros((1, 4)), Array2::ones((1, 2)))),
        hidden_bias,
    };
    let mut store = ParamStore::new();
    let cell = GruCell::from_weights(&mut store, "t", GruConvention::Textbook, weights(None)).unwrap();
    // z = 1/2, n = tanh(1): h' = (h + tanh 1) / 2 with zero state.
    let out = cell.step(&NoGrad::new(&store), &array![[1.0, 2.0, 3.0]], &array![[0.0, 0.0]]).unwrap();
    close(&out, &array![[0.5 * 1f64.tanh(), 0.5 * 1f64.tanh()]]);
    let err = cell.to_torch(&store, "", "").unwrap_err().to_string();
    assert!(err.contains("textbook"), "{err}");
    let err = GruCell::from_weights(&mut ParamStore::new(), "p", GruConvention::PyTorch, weights(None))
        .unwrap_err();
    assert!(err.to_string().contains("hidden-side biases are missing"), "{err}");
    let bad = GruWeights { u_rz: Array2::zeros((2, 3)), ..weights(None) };
    let err = GruCell::from_weights(&mut ParamStore::new(), "b", GruConvention::Textbook, bad).unwrap_err();
    assert!(err.to_string().contains("u_rz is (2, 3), expected (2, 4)"), "{err}");
}

/// Stepping only the present rows (`step_present`) gives what stepping every row and
/// keeping the absent ones (`masked_update`) gives, values and gradients (of the input,
/// the state and every parameter), for every cell kind and for masks with some, no and
/// all rows present: to the bit where the products have the same rows (all present),
/// and to rounding otherwise (a product of fewer rows runs other micro-kernels).
#[test]
fn stepping_present_rows_only_equals_masking_a_full_step() {
    use autodiff::Tape;
    use seqmodels::cells::step_present;
    use seqmodels::{AnyCell, CellKind};
    let kinds = [
        CellKind::Rnn,
        CellKind::Gru(GruConvention::PyTorch),
        CellKind::Gru(GruConvention::Textbook),
        CellKind::MeanStdGru { units: 6 },
    ];
    let masks = [array![[1.0], [0.0], [1.0], [0.0], [1.0]], Array2::zeros((5, 1)), Array2::ones((5, 1))];
    let bits = |a: &Array2<f64>| a.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
    for kind in kinds {
        let mut store = ParamStore::new();
        let cell = AnyCell::new(&mut store, "c", kind, 3, 4, &mut ChaCha8Rng::seed_from_u64(2)).unwrap();
        let width = cell.hidden_dim();
        let x = Array2::from_shape_fn((5, 3), |(i, j)| (i as f64 * 0.7 - j as f64 * 0.4).sin());
        let h = Array2::from_shape_fn((5, width), |(i, j)| (i as f64 * 0.3 + j as f64 * 0.9).cos() * 0.5);
        let weights = Array2::from_shape_fn((5, width), |(i, j)| 1.0 + (i * width + j) as f64 * 0.01);
        for mask in &masks {
            let run = |present_only: bool| {
                let tape = Tape::new();
                let s = tape.session(&store);
                let (xv, hv) = (tape.leaf(x.clone()), tape.leaf(h.clone()));
                let out = if present_only {
                    step_present(&s, &cell, &xv, &hv, mask).unwrap()
                } else {
                    masked_update(cell.step(&s, &xv, &hv).unwrap(), &hv, mask).unwrap()
                };
                let loss = out.mul(&xv.constant(weights.clone())).unwrap().sum();
                let grads = tape.backward(loss).unwrap();
                let inputs = [&xv, &hv].map(|v| grads.wrt(v).unwrap().cloned());
                let params: Vec<_> = store.ids().map(|id| grads.param(id).cloned()).collect();
                (out.value(), inputs, params)
            };
            let ((v1, i1, p1), (v2, i2, p2)) = (run(true), run(false));
            let all = mask.iter().all(|&m| m == 1.0);
            let same = |a: &Array2<f64>, b: &Array2<f64>| {
                if all { bits(a) == bits(b) } else { autodiff::gradcheck::all_close(a, b, 1e-13, 1e-15) }
            };
            assert!(same(&v1, &v2), "{kind:?}, mask {mask}: {v1} vs {v2}");
            for (a, b) in i1.iter().chain(&p1).zip(i2.iter().chain(&p2)) {
                match (a, b) {
                    (Some(a), Some(b)) => assert!(same(a, b), "{kind:?}, mask {mask}: {a} vs {b}"),
                    // A parameter no present row reaches has no gradient on one side
                    // and a zero one on the other.
                    (a, b) => assert!(a.iter().chain(b).all(|g| g.iter().all(|&v| v == 0.0)), "{kind:?}"),
                }
            }
        }
    }
}
