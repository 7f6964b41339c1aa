//! Per-sample time grids on the tape: the union grid, independent solves and one
//! unbatched solve per row give the same values and gradients, with every gradient
//! method; rows may start at their own times; bad grids name the row and index.

mod common;

use autodiff::{ParamStore, Tape, Tensor, gradcheck::all_close};
use common::MlpField;
use ndarray::{Array2, array};
use odesolve::{
    AdjointOptions, Gradient, GridStrategy, Method, NeuralOdeFunc, SolveOptions, Starts, odeint_tape,
    odeint_tape_per_sample,
};

fn y0() -> Array2<f64> {
    array![[0.5, -1.0], [1.2, 0.3], [-0.7, 0.8]]
}

/// Different counts per row; row 1 asks for its initial state too.
fn times() -> Vec<Vec<f64>> {
    vec![vec![0.2, 0.9, 1.4], vec![0.0, 0.5], vec![0.35, 0.6, 0.8, 1.9]]
}

fn opts() -> SolveOptions {
    SolveOptions::new(Method::Dopri5).tol(1e-13, 1e-13)
}

/// Values (each row's outputs, stacked) and gradients (y0, then every parameter) of
/// `L = sum_i sum_k (k + 1) sum(y_i(t_k) * w)` for some fixed `w`.
fn run(
    f: &MlpField,
    store: &ParamStore,
    how: Option<GridStrategy>,
    starts: &[f64],
    gradient: &Gradient,
) -> Vec<Array2<f64>> {
    let tape = Tape::new();
    let s = tape.session(store);
    let y = tape.leaf(y0());
    let ys = match how {
        Some(strategy) => {
            let start = if starts.iter().all(|&t| t == starts[0]) {
                Starts::Shared(starts[0])
            } else {
                Starts::PerRow(starts)
            };
            odeint_tape_per_sample(f, &s, &y, start, &times(), &opts(), gradient, strategy).unwrap().ys
        }
        // One unbatched solve per row, each on its own grid from its own start.
        None => times()
            .iter()
            .enumerate()
            .map(|(i, ts)| {
                let row = y.gather_rows(&[i]).unwrap();
                let mut grid = vec![starts[i]];
                grid.extend(ts.iter().copied().filter(|&t| t != starts[i]));
                let sol = odeint_tape(f, &s, &row, &grid, &opts(), gradient).unwrap();
                let skip = usize::from(ts[0] != starts[i]);
                let parts: Vec<_> = sol.ys[skip..].iter().collect();
                autodiff::Var::concat_along(&parts, ndarray::Axis(0)).unwrap()
            })
            .collect(),
    };
    let w = tape.constant(array![[0.7, -1.3]]);
    let mut loss = tape.constant(Array2::zeros((1, 1)));
    for yi in &ys {
        let n = yi.shape().0;
        let ramp = tape.constant(Array2::from_shape_fn((n, 1), |(k, _)| (k + 1) as f64));
        loss = loss.add(&yi.mul(&w).unwrap().mul(&ramp).unwrap().sum()).unwrap();
    }
    let g = tape.backward(loss).unwrap();
    let mut out: Vec<Array2<f64>> = ys.iter().map(|v| v.value()).collect();
    out.push(g.wrt(&y).unwrap().unwrap().clone());
    out.extend(f.params().iter().map(|id| g.param(*id).unwrap().clone()));
    out
}

fn assert_close(a: &[Array2<f64>], b: &[Array2<f64>], tol: f64, what: &str) {
    assert_eq!(a.len(), b.len());
    for (k, (x, y)) in a.iter().zip(b).enumerate() {
        assert!(all_close(x, y, tol, tol), "{what}: item {k}: {x} vs {y}");
    }
}

#[test]
fn union_independent_and_one_solve_per_row_agree_for_every_gradient_method() {
    let mut store = ParamStore::new();
    let f = MlpField::new(&mut store, 7);
    let starts = [0.0; 3];
    for gradient in [
        Gradient::Backprop,
        Gradient::Checkpointed { checkpoints: Some(2) },
        Gradient::Backsolve(AdjointOptions::new(opts())),
    ] {
        let alone = run(&f, &store, None, &starts, &gradient);
        let independent = run(&f, &store, Some(GridStrategy::Independent), &starts, &gradient);
        let union = run(&f, &store, Some(GridStrategy::Union), &starts, &gradient);
        assert_close(&independent, &alone, 1e-14, &format!("{gradient:?}: independent vs alone"));
        assert_close(&union, &alone, 1e-10, &format!("{gradient:?}: union vs alone"));
    }
}

#[test]
fn rows_may_start_at_their_own_times() {
    let mut store = ParamStore::new();
    let f = MlpField::new(&mut store, 8);
    let starts = [0.1, 0.0, -0.4];
    let gradient = Gradient::default();
    let alone = run(&f, &store, None, &starts, &gradient);
    let independent = run(&f, &store, Some(GridStrategy::Independent), &starts, &gradient);
    assert_close(&independent, &alone, 1e-14, "per-row starts");
    let tape = Tape::new();
    let s = tape.session(&store);
    let y = tape.leaf(y0());
    let err = odeint_tape_per_sample(
        &f,
        &s,
        &y,
        Starts::PerRow(&starts),
        &times(),
        &opts(),
        &gradient,
        GridStrategy::Union,
    )
    .unwrap_err();
    assert!(err.to_string().contains("GridStrategy::Independent"), "{err}");
}

#[test]
fn bad_grids_name_the_row_and_the_index() {
    let mut store = ParamStore::new();
    let f = MlpField::new(&mut store, 9);
    let tape = Tape::new();
    let s = tape.session(&store);
    let y = tape.leaf(y0());
    let g = Gradient::default();
    let mut bad = times();
    bad[2][2] = 0.6;
    let err = odeint_tape_per_sample(&f, &s, &y, Starts::Shared(0.0), &bad, &opts(), &g, GridStrategy::Union)
        .unwrap_err();
    assert!(err.to_string().contains("sample 2: t[2] = 0.6"), "{err}");
    let err = odeint_tape_per_sample(
        &f,
        &s,
        &y,
        Starts::Shared(0.0),
        &times()[..2],
        &opts(),
        &g,
        GridStrategy::Union,
    )
    .unwrap_err();
    assert!(err.to_string().contains("one list per row"), "{err}");
    let early = vec![vec![0.5], vec![-0.1], vec![1.0]];
    let err = odeint_tape_per_sample(
        &f,
        &s,
        &y,
        Starts::Shared(0.0),
        &early,
        &opts(),
        &g,
        GridStrategy::Independent,
    )
    .unwrap_err();
    assert!(err.to_string().contains("sample 1: t[0] = -0.1"), "{err}");
}

#[test]
fn rows_solved_in_parallel_report_the_work_of_every_row() {
    let mut store = ParamStore::new();
    let f = MlpField::new(&mut store, 10);
    for gradient in
        [Gradient::Checkpointed { checkpoints: Some(2) }, Gradient::Backsolve(AdjointOptions::new(opts()))]
    {
        let tape = Tape::new();
        let s = tape.session(&store);
        let y = tape.leaf(y0());
        let sol = odeint_tape_per_sample(
            &f,
            &s,
            &y,
            Starts::Shared(0.0),
            &times(),
            &opts(),
            &gradient,
            GridStrategy::Independent,
        )
        .unwrap();
        // The forward work is the sum of the rows' own solves.
        let alone: usize = times()
            .iter()
            .enumerate()
            .map(|(i, ts)| {
                let mut grid = vec![0.0];
                grid.extend(ts.iter().copied().filter(|&t| t != 0.0));
                odeint_tape(&f, &s, &y.gather_rows(&[i]).unwrap(), &grid, &opts(), &gradient)
                    .unwrap()
                    .stats()
                    .forward
                    .nfev
            })
            .sum();
        assert_eq!(sol.stats().forward.nfev, alone, "{gradient:?}");
        assert_eq!(sol.stats().backward.nfev, 0, "{gradient:?}: no backward pass yet");
        let loss =
            sol.ys.iter().fold(tape.constant(Array2::zeros((1, 1))), |acc, yi| acc.add(&yi.sum()).unwrap());
        tape.backward(loss).unwrap();
        assert!(sol.stats().backward.nfev > 0, "{gradient:?}: every row's backward work is counted");
    }
}

#[test]
fn a_batch_of_no_rows_solves_to_nothing() {
    let mut store = ParamStore::new();
    let f = MlpField::new(&mut store, 11);
    let tape = Tape::new();
    let s = tape.session(&store);
    let y = tape.leaf(Array2::zeros((0, 2)));
    for gradient in [Gradient::Backprop, Gradient::default()] {
        let sol = odeint_tape_per_sample(
            &f,
            &s,
            &y,
            Starts::Shared(0.0),
            &[],
            &opts(),
            &gradient,
            GridStrategy::Independent,
        )
        .unwrap();
        assert!(sol.ys.is_empty(), "{gradient:?}");
    }
}
