//! Every op's gradient against central finite differences, over random shapes
//! (1..=5 per axis) and values.

use autodiff::op::UnaryOp;
use autodiff::testing::{any_matrix, matrix, matrix_pair};
use autodiff::{GradCheck, Tensor, gradcheck};
use ndarray::{Array2, Axis};
use proptest::prelude::*;

fn check<F>(f: F, inputs: &[Array2<f64>]) -> Result<(), TestCaseError>
where
    F: for<'t> Fn(&[autodiff::Var<'t>]) -> autodiff::Result<autodiff::Var<'t>>,
{
    gradcheck(f, inputs, &GradCheck::default()).map(|_| ()).map_err(|e| TestCaseError::fail(e.to_string()))
}

/// Values at least `gap` away from every point in `kinks` (where an op is not smooth).
fn away_from(x: Array2<f64>, kinks: &[f64], gap: f64) -> Array2<f64> {
    x.mapv(|v| if kinks.iter().any(|k| (v - k).abs() < gap) { v + 2.0 * gap } else { v })
}

/// The four broadcast partners of an `r x c` shape.
fn partner_shape(r: usize, c: usize, kind: usize) -> (usize, usize) {
    [(r, c), (r, 1), (1, c), (1, 1)][kind]
}

fn binary_operands() -> impl Strategy<Value = (Array2<f64>, Array2<f64>, bool)> {
    (1..=5usize, 1..=5usize, 0..4usize, any::<bool>()).prop_flat_map(|(r, c, kind, swap)| {
        let (pr, pc) = partner_shape(r, c, kind);
        (matrix(r, c, -2.0, 2.0), matrix(pr, pc, -2.0, 2.0), Just(swap))
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn smooth_unary_ops(x in any_matrix(5, -2.0, 2.0)) {
        check(|v| Ok(v[0].neg()), &[x.clone()])?;
        check(|v| Ok(v[0].exp()), &[x.clone()])?;
        check(|v| Ok(v[0].tanh()), &[x.clone()])?;
        check(|v| Ok(v[0].sigmoid()), &[x.clone()])?;
        check(|v| Ok(v[0].softplus()), &[x.clone()])?;
        check(|v| Ok(v[0].log_sigmoid()), &[x.clone()])?;
        check(|v| Ok(v[0].square()), &[x.clone()])?;
        check(|v| Ok(v[0].sin()), &[x.clone()])?;
        check(|v| Ok(v[0].cos()), &[x.clone()])?;
        check(|v| Ok(v[0].scale(-1.7)), &[x.clone()])?;
        check(|v| Ok(v[0].add_scalar(0.3)), &[x])?;
    }

    #[test]
    fn positive_domain_ops(x in any_matrix(5, 0.2, 4.0), p in -2.0..3.0f64) {
        check(|v| Ok(v[0].log()), &[x.clone()])?;
        check(|v| Ok(v[0].sqrt()), &[x.clone()])?;
        check(move |v| Ok(v[0].powf(p)), &[x])?;
    }

    #[test]
    fn piecewise_ops_away_from_kinks(x in any_matrix(5, -2.0, 2.0)) {
        let x = away_from(x, &[0.0, -0.5, 0.8], 1e-3);
        check(|v| Ok(v[0].relu()), &[x.clone()])?;
        check(|v| Ok(v[0].abs()), &[x.clone()])?;
        // Once differentiable at 0: the second derivative jumps there.
        check(|v| Ok(v[0].elu()), &[x.clone()])?;
        check(|v| v[0].clamp(-0.5, 0.8), &[x])?;
    }

    #[test]
    fn broadcasting_arithmetic((a, b, swap) in binary_operands()) {
        let (a, b) = if swap { (b, a) } else { (a, b) };
        let b_away = away_from(b.clone(), &[0.0], 0.3);
        check(|v| v[0].add(&v[1]), &[a.clone(), b.clone()])?;
        check(|v| v[0].sub(&v[1]), &[a.clone(), b.clone()])?;
        check(|v| v[0].mul(&v[1]), &[a.clone(), b])?;
        check(|v| v[0].div(&v[1]), &[a, b_away])?;
    }

    #[test]
    fn matmul_with_every_transpose(m in 1..=5usize, k in 1..=5usize, n in 1..=5usize, ta: bool, tb: bool, seed in 0..1000u64) {
        let a_shape = if ta { (k, m) } else { (m, k) };
        let b_shape = if tb { (n, k) } else { (k, n) };
        let a = pseudo_random(a_shape, seed);
        let b = pseudo_random(b_shape, seed + 1);
        check(move |v| v[0].matmul_t(&v[1], ta, tb), &[a, b])?;
    }

    #[test]
    fn dense_with_and_without_an_addend_and_a_smooth_activation(m in 1..=5usize, k in 1..=5usize, n in 1..=5usize, seed in 0..1000u64) {
        let (x, w, b) = (pseudo_random((m, k), seed), pseudo_random((k, n), seed + 1), pseudo_random((1, n), seed + 2));
        let c = pseudo_random((m, n), seed + 3);
        check(|v| v[0].affine(&v[1], &v[2]), &[x.clone(), w.clone(), b.clone()])?;
        for act in [None, Some(UnaryOp::Tanh), Some(UnaryOp::Sigmoid)] {
            check(|v| v[0].dense(&v[1], &v[2], Some(&v[3]), act), &[x.clone(), w.clone(), b.clone(), c.clone()])?;
        }
    }

    #[test]
    fn reductions(x in any_matrix(5, -3.0, 3.0)) {
        let (r, c) = x.dim();
        check(|v| Ok(v[0].sum()), &[x.clone()])?;
        check(|v| Ok(v[0].sum_axis(Axis(0))), &[x.clone()])?;
        check(|v| Ok(v[0].sum_axis(Axis(1))), &[x.clone()])?;
        check(|v| v[0].mean(), &[x.clone()])?;
        check(|v| v[0].mean_axis(Axis(0)), &[x.clone()])?;
        check(|v| Ok(v[0].logsumexp(Axis(0))), &[x.clone()])?;
        check(|v| Ok(v[0].logsumexp(Axis(1))), &[x.clone()])?;
        check(|v| Ok(v[0].log_softmax(Axis(1))), &[x.clone()])?;
        check(|v| Ok(v[0].softmax(Axis(0))), &[x.clone()])?;
        check(|v| Ok(v[0].transpose()), &[x.clone()])?;
        let row = x.slice(ndarray::s![0..1, ..]).to_owned();
        check(move |v| v[0].broadcast_to((r + 1, c)), &[row])?;
    }

    #[test]
    fn layout_ops((a, b) in matrix_pair(5, -2.0, 2.0), picks in proptest::collection::vec(0..5usize, 1..8)) {
        let (r, c) = a.dim();
        let rows: Vec<usize> = picks.iter().map(|p| p % r).collect();
        check(|v| Tensor::concat_cols(&[&v[0], &v[1], &v[0]]), &[a.clone(), b.clone()])?;
        check(move |v| v[0].slice_cols(c / 2..c), &[a.clone()])?;
        check(move |v| v[0].pad_cols(c + 3, 2), &[a.clone()])?;
        check(|v| Tensor::concat_rows(&[&v[0], &v[0], &v[0]]), &[a.clone()])?;
        check(move |v| v[0].slice_rows(r / 2..r), &[a.clone()])?;
        check(move |v| v[0].pad_along(Axis(0), r + 2, 1), &[a.clone()])?;
        // Two slices of one value: both land in its gradient (the in-place path).
        check(move |v| v[0].slice_rows(0..r)?.add(&v[0].slice_rows(0..r)?.square()), &[a.clone()])?;
        let split = vec![c / 2, c - c / 2];
        check(move |v| Ok(v[0].split_cols(&split)?[1]), &[a.clone()])?;
        let g = rows.clone();
        check(move |v| v[0].gather_rows(&g), &[a.clone()])?;
        let src = pseudo_random((rows.len(), c), 7);
        check(move |v| v[0].scatter_add_rows(&rows, r + 1), &[src])?;
    }

    #[test]
    fn causal_convolution(
        width in 1..=3usize, dilation in 1..=3usize, batch in 1..=2usize, steps in 1..=5usize,
        c_in in 1..=3usize, c_out in 1..=2usize, seed in 0..1000u64,
    ) {
        let x = pseudo_random((steps * batch, c_in), seed);
        let w = pseudo_random((width * c_in, c_out), seed + 1);
        let conv = autodiff::op::CausalConv { width, dilation, batch };
        // A nonlinearity after the convolution, so the rule is also checked composed
        // with others; both inputs are used twice.
        check(move |v| v[0].causal_conv(&v[1], conv)?.tanh().add(&v[0].causal_conv(&v[1].scale(0.5), conv)?), &[x, w])?;
    }

    #[test]
    fn masking(x in any_matrix(5, -2.0, 2.0), seed in 0..1000u64) {
        let mask = pseudo_random(x.dim(), seed).mapv(|v| if v > 0.0 { 1.0 } else { 0.0 });
        let m2 = mask.clone();
        check(move |v| v[0].mask(&mask), &[x.clone()])?;
        check(move |v| v[0].masked_sum(&m2), &[x])?;
    }

    #[test]
    fn value_used_twice_and_in_a_chain(x in any_matrix(5, -1.5, 1.5), y in matrix(1, 1, 0.5, 2.0)) {
        // x is used by three ops and y by two: the gradient must add all paths.
        check(|v| {
            let s = v[0].mul(&v[0])?.add(&v[0].tanh())?;
            s.mul(&v[1])?.div(&v[1].exp().add_scalar(1.0))?.logsumexp(Axis(1)).sum_axis(Axis(0)).mul(&v[0].mean()?)
        }, &[x, y])?;
    }
}

/// Deterministic values in [-1, 1) for operands whose shape a strategy picked.
fn pseudo_random(shape: (usize, usize), seed: u64) -> Array2<f64> {
    use rand::{Rng, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    Array2::from_shape_simple_fn(shape, || rng.random_range(-1.0..1.0))
}

/// The fused `act(x W + b + c)` equals `matmul`, the two `add`s and the activation
/// to the bit, value and gradients, with and without the addend, on shapes that
/// reach the wide loops and a product's inner blocking (`k = 300`).
#[test]
fn dense_equals_the_product_the_sums_and_the_activation_to_the_bit() {
    let acts = [None, Some(UnaryOp::Tanh), Some(UnaryOp::Sigmoid), Some(UnaryOp::Relu)];
    let shapes = [(3, 2, 5), (1000, 20, 20), (64, 300, 100), (128, 200, 100)];
    for ((m, k, n), act, with_plus) in shapes
        .into_iter()
        .flat_map(|shape| acts.into_iter().flat_map(move |act| [(shape, act, false), (shape, act, true)]))
    {
        let (x, w, b) = (pseudo_random((m, k), 1), pseudo_random((k, n), 2), pseudo_random((1, n), 3));
        let (c, g) = (pseudo_random((m, n), 5), pseudo_random((m, n), 4));
        let run = |fused: bool| {
            let tape = autodiff::Tape::new();
            let (xv, wv, bv, cv) =
                (tape.leaf(x.clone()), tape.leaf(w.clone()), tape.leaf(b.clone()), tape.leaf(c.clone()));
            let plus = with_plus.then_some(&cv);
            let y = if fused {
                xv.dense(&wv, &bv, plus, act).unwrap()
            } else {
                let pre = xv.matmul(&wv).and_then(|p| p.add(&bv)).unwrap();
                let pre = plus.map_or(pre, |c| pre.add(c).unwrap());
                act.map_or(pre, |op| pre.unary(op))
            };
            let grads = y.mul(&tape.constant(g.clone())).unwrap().sum().backward().unwrap();
            let d: Vec<Option<Array2<f64>>> =
                [xv, wv, bv, cv].iter().map(|v| grads.wrt(v).unwrap().cloned()).collect();
            (y.value(), d)
        };
        assert_eq!(run(true), run(false), "{m} x {k} x {n}, {act:?}, addend {with_plus}");
        assert_eq!(x.dense(&w, &b, with_plus.then_some(&c), act).unwrap(), run(false).0);
    }
    let (x, w) = (Array2::zeros((2, 3)), Array2::zeros((3, 4)));
    let err = x.affine(&w, &Array2::zeros((2, 4))).unwrap_err().to_string();
    assert!(err.contains("affine bias"), "{err}");
    let err =
        x.dense(&w, &Array2::zeros((1, 4)), Some(&Array2::zeros((2, 3))), None).unwrap_err().to_string();
    assert!(err.contains("affine addend") && err.contains("(2, 3)") && err.contains("(2, 4)"), "{err}");
    assert!(
        x.affine(&Array2::zeros((2, 4)), &Array2::zeros((1, 4))).unwrap_err().to_string().contains("affine")
    );
}

#[test]
fn detach_stops_the_gradient() {
    // L = sum(x * stop(x)): dL/dx = stop(x) = x, not 2x.
    let tape = autodiff::Tape::new();
    let x = tape.leaf(ndarray::array![[1.5, -2.0]]);
    let loss = x.mul(&x.detach()).unwrap().sum();
    let g = loss.backward().unwrap();
    assert_eq!(g.wrt(&x).unwrap().unwrap(), &ndarray::array![[1.5, -2.0]]);
}

#[test]
fn gradcheck_catches_a_wrong_gradient() {
    // x * stop(x) has tape gradient x but numerical derivative 2x: the check must fail.
    let err = gradcheck(|v| v[0].mul(&v[0].detach()), &[ndarray::array![[0.7, -1.3]]], &GradCheck::default());
    assert!(matches!(err, Err(autodiff::Error::GradCheck { input: 0, row: 0, col: 0, .. })), "{err:?}");
}

#[test]
fn masking_sums_the_gradient_back_over_broadcast_axes() {
    // A row stretched under a wider mask, and a matrix under a column mask.
    let (row, matrix) = (ndarray::array![[0.3, -1.2, 0.7]], pseudo_random((2, 3), 4));
    let wide = ndarray::array![[1.0, 0.0, 1.0], [1.0, 1.0, 0.0]];
    check(move |v| Ok(v[0].mask(&wide)?.tanh()), &[row]).unwrap();
    let column = ndarray::array![[0.0], [1.0]];
    check(move |v| Ok(v[0].mask(&column)?.square()), &[matrix]).unwrap();
}
