//! Ops on values of 1,024 elements and more, checked against the same computation in
//! plain ndarray code.
//!
//! The property tests use shapes up to 5 x 5, so they never reach the two paths that
//! start at 1,024 elements: the buffer pool's reuse of recycled buffers (whose stale
//! contents a kernel must overwrite everywhere) and the wide element-wise kernels.
//! Here every forward value and gradient (the first-order sweep, and the recorded one
//! of `Tape::grad` differentiated again where the second derivative is cheap to
//! write by hand) must equal the ndarray result to 1e-12. Each check runs three
//! times: from the second run on, the kernels write into the buffers that the
//! previous run's tapes and spent gradients gave back to the pool.

use autodiff::gradcheck::all_close;
use autodiff::op::{BinaryOp, UnaryOp};
use autodiff::{Tape, Tensor, Var};
use ndarray::{Array2, Axis, concatenate, s};
use rand::{Rng, SeedableRng};

// `Tensor` is implemented for `Array2`, so its `sum_axis` and `mean` (which keep the
// reduced axis) shadow ndarray's: the plain-array code below calls ndarray's on views.

const RUNS: usize = 3;
/// Rows and columns of the main operand: 3,072 elements.
const R: usize = 64;
const C: usize = 48;

/// Deterministic values uniform in `lo..hi`.
fn filled(shape: (usize, usize), lo: f64, hi: f64, seed: u64) -> Array2<f64> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    Array2::from_shape_simple_fn(shape, || rng.random_range(lo..hi))
}

#[track_caller]
fn assert_close(what: &str, got: &Array2<f64>, want: &Array2<f64>) {
    assert_eq!(got.dim(), want.dim(), "{what}: shapes");
    assert!(all_close(got, want, 1e-12, 1e-12), "{what}: largest difference {}", max_diff(got, want));
}

fn max_diff(a: &Array2<f64>, b: &Array2<f64>) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f64::max)
}

/// `f` on tracked leaves holding `inputs`, contracted with the weights `w` (so the
/// gradient of `L = sum(w * f)` with respect to `f` is `w`). Returns the value of `f`
/// and the gradient with respect to each input.
fn value_and_grads<F>(f: F, inputs: &[Array2<f64>], w: &Array2<f64>) -> (Array2<f64>, Vec<Array2<f64>>)
where
    F: for<'t> Fn(&[Var<'t>]) -> Var<'t>,
{
    let tape = Tape::new();
    let leaves: Vec<_> = inputs.iter().map(|x| tape.leaf(x.clone())).collect();
    let y = f(&leaves);
    let loss = y.mul(&tape.constant(w.clone())).unwrap().sum();
    let grads = loss.backward().unwrap();
    let zeros = |x: &Array2<f64>| Array2::zeros(x.dim());
    let wrt = leaves
        .iter()
        .zip(inputs)
        .map(|(v, x)| grads.wrt(v).unwrap().cloned().unwrap_or_else(|| zeros(x)))
        .collect();
    (y.value(), wrt)
}

/// `H v` of the scalar `f` at `x`: the gradient recorded by `Tape::grad`, contracted
/// with `v` and differentiated again.
fn hvp<F>(f: F, x: &Array2<f64>, v: &Array2<f64>) -> Array2<f64>
where
    F: for<'t> Fn(Var<'t>) -> Var<'t>,
{
    let tape = Tape::new();
    let xv = tape.leaf(x.clone());
    let g = tape.grad(f(xv), &[xv]).unwrap()[0];
    let gv = g.mul(&tape.constant(v.clone())).unwrap().sum();
    tape.grad(gv, &[xv]).unwrap()[0].value()
}

/// Sums `full` over the axes where `shape` has length 1: the gradient of a broadcast.
fn sum_to(full: &Array2<f64>, shape: (usize, usize)) -> Array2<f64> {
    let rows = if shape.0 == 1 { full.view().sum_axis(Axis(0)).insert_axis(Axis(0)) } else { full.clone() };
    if shape.1 == 1 { rows.view().sum_axis(Axis(1)).insert_axis(Axis(1)) } else { rows }
}

/// Values with magnitudes in `0.5..2` and random signs: divisors whose quotients
/// stay moderate, so that sums of them lose no more than rounding.
fn away_from_zero(shape: (usize, usize), seed: u64) -> Array2<f64> {
    let sign = filled(shape, -1.0, 1.0, seed + 1000).mapv(f64::signum);
    filled(shape, 0.5, 2.0, seed) * sign
}

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// An element-wise function, its derivative, and the range it is checked on.
struct Map {
    op: UnaryOp,
    f: fn(f64) -> f64,
    df: fn(f64) -> f64,
    range: (f64, f64),
}

#[test]
fn element_wise_functions() {
    let all = (-2.0, 2.0);
    let positive = (0.1, 3.0);
    let maps = [
        Map { op: UnaryOp::Neg, f: |x| -x, df: |_| -1.0, range: all },
        Map { op: UnaryOp::Exp, f: f64::exp, df: f64::exp, range: all },
        Map { op: UnaryOp::Log, f: f64::ln, df: |x| 1.0 / x, range: positive },
        Map { op: UnaryOp::Sqrt, f: f64::sqrt, df: |x| 0.5 / x.sqrt(), range: positive },
        Map { op: UnaryOp::Powf(1.7), f: |x| x.powf(1.7), df: |x| 1.7 * x.powf(0.7), range: positive },
        Map { op: UnaryOp::Tanh, f: f64::tanh, df: |x| 1.0 - x.tanh().powi(2), range: all },
        Map { op: UnaryOp::Sigmoid, f: sigmoid, df: |x| sigmoid(x) * (1.0 - sigmoid(x)), range: all },
        // The values are continuous and never exactly at a kink.
        Map { op: UnaryOp::Relu, f: |x| x.max(0.0), df: |x| if x > 0.0 { 1.0 } else { 0.0 }, range: all },
        Map { op: UnaryOp::Softplus, f: |x| x.exp().ln_1p(), df: sigmoid, range: all },
        Map {
            op: UnaryOp::Elu,
            f: |x| if x > 0.0 { x } else { x.exp_m1() },
            df: |x| x.min(0.0).exp(),
            range: all,
        },
        // d/dx ln sigmoid(x) = 1 - sigmoid(x) = sigmoid(-x)
        Map { op: UnaryOp::LogSigmoid, f: |x| -(-x).exp().ln_1p(), df: |x| sigmoid(-x), range: all },
        Map { op: UnaryOp::Abs, f: f64::abs, df: f64::signum, range: all },
        Map { op: UnaryOp::Square, f: |x| x * x, df: |x| 2.0 * x, range: all },
        Map { op: UnaryOp::Sin, f: f64::sin, df: f64::cos, range: all },
        Map { op: UnaryOp::Cos, f: f64::cos, df: |x| -x.sin(), range: all },
        Map { op: UnaryOp::Scale(-1.3), f: |x| -1.3 * x, df: |_| -1.3, range: all },
        Map { op: UnaryOp::AddScalar(0.4), f: |x| x + 0.4, df: |_| 1.0, range: all },
        Map {
            op: UnaryOp::Clamp(-0.5, 0.8),
            f: |x| x.clamp(-0.5, 0.8),
            df: |x| if x > -0.5 && x < 0.8 { 1.0 } else { 0.0 },
            range: all,
        },
    ];
    let w = filled((R, C), -1.0, 1.0, 1);
    for run in 0..RUNS {
        for (k, m) in maps.iter().enumerate() {
            let what = format!("{} (run {run})", m.op.name());
            let x = filled((R, C), m.range.0, m.range.1, 10 + k as u64);
            let op = m.op;
            let (y, grads) = value_and_grads(move |v| v[0].unary(op), &[x.clone()], &w);
            assert_close(&what, &y, &x.mapv(m.f));
            assert_close(&what, &x.unary(op), &x.mapv(m.f));
            assert_close(&what, &grads[0], &(&w * &x.mapv(m.df)));
        }
    }
}

/// An element-wise operation of two values and its partial derivatives.
struct Arith {
    op: BinaryOp,
    f: fn(f64, f64) -> f64,
    df: fn(f64, f64) -> (f64, f64),
}

#[test]
fn broadcasting_arithmetic() {
    let ops = [
        Arith { op: BinaryOp::Add, f: |a, b| a + b, df: |_, _| (1.0, 1.0) },
        Arith { op: BinaryOp::Sub, f: |a, b| a - b, df: |_, _| (1.0, -1.0) },
        Arith { op: BinaryOp::Mul, f: |a, b| a * b, df: |a, b| (b, a) },
        Arith { op: BinaryOp::Div, f: |a, b| a / b, df: |a, b| (1.0 / b, -a / (b * b)) },
    ];
    let w = filled((R, C), -1.0, 1.0, 2);
    for run in 0..RUNS {
        for &Arith { op, f, df } in &ops {
            // The second operand full-size, a row, a column or a scalar; then on the left.
            for (k, shape) in [(R, C), (1, C), (R, 1), (1, 1)].into_iter().enumerate() {
                for swap in [false, true] {
                    let what = format!("{} with a {shape:?} operand, swapped {swap} (run {run})", op.name());
                    // Either may be the divisor.
                    let full = away_from_zero((R, C), 20 + k as u64);
                    let part = away_from_zero(shape, 30 + k as u64);
                    let (a, b) = if swap { (part, full) } else { (full, part) };
                    let (y, grads) = value_and_grads(
                        move |v| v[0].binary(op, &v[1]).unwrap(),
                        &[a.clone(), b.clone()],
                        &w,
                    );
                    let (ab, bb) = (a.broadcast((R, C)).unwrap(), b.broadcast((R, C)).unwrap());
                    let want = Array2::from_shape_fn((R, C), |i| f(ab[i], bb[i]));
                    let da = Array2::from_shape_fn((R, C), |i| w[i] * df(ab[i], bb[i]).0);
                    let db = Array2::from_shape_fn((R, C), |i| w[i] * df(ab[i], bb[i]).1);
                    assert_close(&what, &y, &want);
                    assert_close(&what, &a.binary(op, &b).unwrap(), &want);
                    assert_close(&format!("d/da of {what}"), &grads[0], &sum_to(&da, a.dim()));
                    assert_close(&format!("d/db of {what}"), &grads[1], &sum_to(&db, b.dim()));
                }
            }
        }
    }
}

#[test]
fn matrix_products_with_every_transpose() {
    // C = op(A) op(B) is 64 x 33 (2,112 elements), with an inner length of 48.
    let (m, k, n) = (R, C, 33);
    let w = filled((m, n), -1.0, 1.0, 3);
    for run in 0..RUNS {
        for (ta, tb) in [(false, false), (false, true), (true, false), (true, true)] {
            let what = format!("matmul_t(ta = {ta}, tb = {tb}) (run {run})");
            let a = filled(if ta { (k, m) } else { (m, k) }, -1.0, 1.0, 40);
            let b = filled(if tb { (n, k) } else { (k, n) }, -1.0, 1.0, 41);
            let (y, grads) =
                value_and_grads(move |v| v[0].matmul_t(&v[1], ta, tb).unwrap(), &[a.clone(), b.clone()], &w);
            let (oa, ob) = (if ta { a.t() } else { a.view() }, if tb { b.t() } else { b.view() });
            assert_close(&what, &y, &oa.dot(&ob));
            assert_close(&what, &a.matmul_t(&b, ta, tb).unwrap(), &oa.dot(&ob));
            // With C = op(A) op(B) and dL/dC = W: dL/d op(A) = W op(B)^T, dL/d op(B) = op(A)^T W,
            // transposed back where the operand was transposed.
            let (d_oa, d_ob) = (w.dot(&ob.t()), oa.t().dot(&w));
            assert_close(&format!("dA of {what}"), &grads[0], &if ta { d_oa.reversed_axes() } else { d_oa });
            assert_close(&format!("dB of {what}"), &grads[1], &if tb { d_ob.reversed_axes() } else { d_ob });
        }
    }
}

/// `ln sum_j e^{x_j}` along `axis` with the maximum subtracted, and the softmax that
/// is its gradient.
fn logsumexp_and_softmax(x: &Array2<f64>, axis: Axis) -> (Array2<f64>, Array2<f64>) {
    let max = x.map_axis(axis, |lane| lane.fold(f64::NEG_INFINITY, |m, &v| m.max(v))).insert_axis(axis);
    let e = (x - &max).mapv(f64::exp);
    let total = e.view().sum_axis(axis).insert_axis(axis);
    (&max + &total.mapv(f64::ln), &e / &total)
}

#[test]
fn reductions() {
    // 33 x 100: 3,300 elements, and lanes of both lengths along each axis.
    let x = filled((33, 100), -3.0, 3.0, 4);
    for run in 0..RUNS {
        for axis in [Axis(0), Axis(1)] {
            let what = format!("logsumexp along {axis:?} (run {run})");
            let (lse, softmax) = logsumexp_and_softmax(&x, axis);
            let w = filled(lse.dim(), -1.0, 1.0, 5);
            let (y, grads) = value_and_grads(move |v| v[0].logsumexp(axis), &[x.clone()], &w);
            assert_close(&what, &y, &lse);
            assert_close(&what, &x.logsumexp(axis), &lse);
            // dL/dx = w (along the reduced axis) times the softmax.
            assert_close(&what, &grads[0], &(&softmax * &w));

            let what = format!("sum_axis({axis:?}) (run {run})");
            let (y, grads) = value_and_grads(move |v| v[0].sum_axis(axis), &[x.clone()], &w);
            assert_close(&what, &y, &x.view().sum_axis(axis).insert_axis(axis));
            // Summing spreads the weights back along the summed axis.
            assert_close(&what, &grads[0], &w.broadcast(x.dim()).unwrap().to_owned());
        }
        let one = Array2::from_elem((1, 1), 1.0);
        let (y, grads) = value_and_grads(|v| v[0].mean().unwrap(), &[x.clone()], &one);
        assert_close("mean", &y, &Array2::from_elem((1, 1), x.view().mean().unwrap()));
        assert_close("mean", &grads[0], &Array2::from_elem(x.dim(), 1.0 / x.len() as f64));
        let row = x.slice(s![0..1, ..]).to_owned();
        let w = filled((40, 100), -1.0, 1.0, 6);
        let (y, grads) = value_and_grads(|v| v[0].broadcast_to((40, 100)).unwrap(), &[row.clone()], &w);
        assert_close("broadcast_to", &y, &row.broadcast((40, 100)).unwrap().to_owned());
        assert_close("broadcast_to", &grads[0], &w.view().sum_axis(Axis(0)).insert_axis(Axis(0)));
    }
}

#[test]
fn blocks_and_rows() {
    let x = filled((R, C), -2.0, 2.0, 7);
    let z = filled((R, 20), -2.0, 2.0, 8);
    let index: Vec<usize> = (0..100).map(|k| (k * 37) % R).collect();
    for run in 0..RUNS {
        let what = |op: &str| format!("{op} (run {run})");

        let w = filled((R, 2 * C + 20), -1.0, 1.0, 9);
        let (y, grads) = value_and_grads(
            |v| Var::concat_cols(&[&v[0], &v[1], &v[0]]).unwrap(),
            &[x.clone(), z.clone()],
            &w,
        );
        assert_close(&what("concat_cols"), &y, &concatenate![Axis(1), x, z, x]);
        let blocks = |from: usize, to: usize| w.slice(s![.., from..to]).to_owned();
        assert_close(&what("concat_cols"), &grads[0], &(&blocks(0, C) + &blocks(C + 20, 2 * C + 20)));
        assert_close(&what("concat_cols"), &grads[1], &blocks(C, C + 20));

        let w = filled((3 * R, C), -1.0, 1.0, 10);
        let (y, grads) =
            value_and_grads(|v| Var::concat_rows(&[&v[0], &v[0], &v[0]]).unwrap(), &[x.clone()], &w);
        assert_close(&what("concat_rows"), &y, &concatenate![Axis(0), x, x, x]);
        let rows = |k: usize| w.slice(s![k * R..(k + 1) * R, ..]).to_owned();
        assert_close(&what("concat_rows"), &grads[0], &(&(&rows(0) + &rows(1)) + &rows(2)));

        // Every column sliced out on its own and squared, as a sequence is cut into
        // steps: the slices' gradients land in the one input gradient.
        let w = filled((R, C), -1.0, 1.0, 11);
        let (y, grads) = value_and_grads(
            |v| {
                let steps: Vec<_> = (0..C).map(|j| v[0].slice_cols(j..j + 1).unwrap().square()).collect();
                Var::concat_cols(&steps.iter().collect::<Vec<_>>()).unwrap()
            },
            &[x.clone()],
            &w,
        );
        assert_close(&what("slices of every column"), &y, &x.mapv(|v| v * v));
        assert_close(&what("slices of every column"), &grads[0], &(&w * &x * 2.0));

        let w = filled((R - 10, C), -1.0, 1.0, 12);
        let (y, grads) = value_and_grads(|v| v[0].slice_rows(3..R - 7).unwrap(), &[x.clone()], &w);
        assert_close(&what("slice_rows"), &y, &x.slice(s![3..R - 7, ..]).to_owned());
        let mut want = Array2::zeros(x.dim());
        want.slice_mut(s![3..R - 7, ..]).assign(&w);
        assert_close(&what("slice_rows"), &grads[0], &want);

        let w = filled((R, C + 30), -1.0, 1.0, 13);
        let (y, grads) = value_and_grads(|v| v[0].pad_cols(C + 30, 11).unwrap(), &[x.clone()], &w);
        let mut want = Array2::zeros((R, C + 30));
        want.slice_mut(s![.., 11..11 + C]).assign(&x);
        assert_close(&what("pad_cols"), &y, &want);
        assert_close(&what("pad_cols"), &grads[0], &w.slice(s![.., 11..11 + C]).to_owned());

        let w = filled((index.len(), C), -1.0, 1.0, 14);
        let (y, grads) = value_and_grads(|v| v[0].gather_rows(&index).unwrap(), &[x.clone()], &w);
        assert_close(&what("gather_rows"), &y, &x.select(Axis(0), &index));
        // Each gathered row's weight goes back to the row it came from (repeats add up).
        let mut want = Array2::zeros(x.dim());
        for (k, &i) in index.iter().enumerate() {
            let mut row = want.row_mut(i);
            row += &w.row(k);
        }
        assert_close(&what("gather_rows"), &grads[0], &want);

        let src = filled((index.len(), C), -2.0, 2.0, 15);
        let w = filled((R, C), -1.0, 1.0, 16);
        let (y, grads) = value_and_grads(|v| v[0].scatter_add_rows(&index, R).unwrap(), &[src.clone()], &w);
        let mut want = Array2::zeros((R, C));
        for (k, &i) in index.iter().enumerate() {
            let mut row = want.row_mut(i);
            row += &src.row(k);
        }
        assert_close(&what("scatter_add_rows"), &y, &want);
        assert_close(&what("scatter_add_rows"), &grads[0], &w.select(Axis(0), &index));
    }
}

#[test]
fn second_derivatives() {
    let x = filled((R, C), -2.0, 2.0, 17);
    let v = filled((R, C), -1.0, 1.0, 18);
    let weights = filled((C, 33), -0.5, 0.5, 19);
    for run in 0..RUNS {
        let what = |op: &str| format!("H v of {op} (run {run})");
        // A sum of element-wise functions has a diagonal Hessian: H v = f''(x) v.
        let t = x.mapv(f64::tanh);
        let d2 = t.mapv(|t| -2.0 * t * (1.0 - t * t));
        assert_close(&what("sum tanh"), &hvp(|x| x.tanh().sum(), &x, &v), &(&d2 * &v));
        let s = x.mapv(sigmoid);
        let d2 = s.mapv(|s| s * (1.0 - s) * (1.0 - 2.0 * s));
        assert_close(&what("sum sigmoid"), &hvp(|x| x.sigmoid().sum(), &x, &v), &(&d2 * &v));
        // The square of the first half of the columns and the exponential of the
        // second: the slices' and the concatenation's rules, recorded.
        let half = C / 2;
        let mut d2 = Array2::from_elem((R, C), 2.0);
        d2.slice_mut(s![.., half..]).assign(&x.slice(s![.., half..]).mapv(f64::exp));
        fn split<'t>(x: Var<'t>) -> Var<'t> {
            let (a, b) = (x.slice_cols(0..C / 2).unwrap().square(), x.slice_cols(C / 2..C).unwrap().exp());
            Var::concat_cols(&[&a, &b]).unwrap().sum()
        }
        assert_close(&what("slices"), &hvp(split, &x, &v), &(&d2 * &v));
        // L = sum((x W)^2): grad = 2 (x W) W^T, so H v = 2 (v W) W^T.
        let product = hvp(|x| x.matmul(&x.constant(weights.clone())).unwrap().square().sum(), &x, &v);
        assert_close(&what("sum (x W)^2"), &product, &(v.dot(&weights).dot(&weights.t()) * 2.0));
        // L = sum_r lse(x_r): grad = softmax s, so (H v)_r = s_r * v_r - s_r (s_r . v_r).
        let (_, s) = logsumexp_and_softmax(&x, Axis(1));
        let sv = (&s * &v).view().sum_axis(Axis(1)).insert_axis(Axis(1));
        assert_close(
            &what("sum lse"),
            &hvp(|x| x.logsumexp(Axis(1)).sum(), &x, &v),
            &(&(&s * &v) - &(&s * &sv)),
        );
    }
}
