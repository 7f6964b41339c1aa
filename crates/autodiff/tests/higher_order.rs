//! Gradients recorded on the tape (create-graph) and differentiated again.
//!
//! A Hessian-vector product `H v` is checked against central differences of
//! gradients, `(grad L(x + h v) - grad L(x - h v)) / 2h`.

use autodiff::testing::matrix;
use autodiff::{Activation, Mlp, ParamStore, Tape, Tensor, Var};
use ndarray::{Array2, Axis};
use proptest::prelude::*;
use rand::SeedableRng;

/// A scalar function of one matrix. (A trait rather than a closure: closures
/// returning a value borrowed from their argument's tape do not infer `for<'t>`.)
trait Objective {
    fn eval<'t>(&self, x: Var<'t>) -> Var<'t>;
}

/// `H v` by the tape: differentiate `<grad L(x), v>` once more.
fn hvp_tape(loss: &impl Objective, x: &Array2<f64>, v: &Array2<f64>) -> Array2<f64> {
    let tape = Tape::new();
    let xv = tape.leaf(x.clone());
    let g = tape.grad(loss.eval(xv), &[xv]).unwrap()[0];
    let gv = g.mul(&tape.constant(v.clone())).unwrap().sum();
    tape.grad(gv, &[xv]).unwrap()[0].value()
}

/// `H v` by central differences of the (first-order) gradient.
fn hvp_fd(loss: &impl Objective, x: &Array2<f64>, v: &Array2<f64>) -> Array2<f64> {
    let grad_at = |x: Array2<f64>| {
        let tape = Tape::new();
        let xv = tape.leaf(x);
        tape.backward(loss.eval(xv)).unwrap().wrt(&xv).unwrap().unwrap().clone()
    };
    let h = 1e-5;
    (grad_at(x + &(v * h)) - grad_at(x - &(v * h))) / (2.0 * h)
}

fn assert_close(a: &Array2<f64>, b: &Array2<f64>, rtol: f64, atol: f64) -> Result<(), TestCaseError> {
    prop_assert!(autodiff::gradcheck::all_close(a, b, rtol, atol), "tape {a:?}\n   fd {b:?}");
    Ok(())
}

/// Mean squared output of a tanh MLP 3-8-8-2. Its weights are tracked too; the
/// Hessian taken is the one with respect to the input.
struct TanhMlp(ParamStore, Mlp);

impl TanhMlp {
    fn new(seed: u64) -> Self {
        let mut store = ParamStore::new();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let mlp = Mlp::new(&mut store, "mlp", &[3, 8, 8, 2], Activation::Tanh, &mut rng).unwrap();
        TanhMlp(store, mlp)
    }
}

impl Objective for TanhMlp {
    fn eval<'t>(&self, x: Var<'t>) -> Var<'t> {
        self.1.forward(&x.tape().session(&self.0), &x).unwrap().square().mean().unwrap()
    }
}

/// `sum_i lse(x_i)^2` over rows.
struct SquaredLse;

impl Objective for SquaredLse {
    fn eval<'t>(&self, x: Var<'t>) -> Var<'t> {
        x.logsumexp(Axis(1)).square().sum()
    }
}

/// A chain through every smooth op (x must be positive).
struct EverySmoothOp;

impl Objective for EverySmoothOp {
    fn eval<'t>(&self, x: Var<'t>) -> Var<'t> {
        let a = x.exp().mul(&x.sin()).unwrap().add(&x.log()).unwrap();
        let b = x.sqrt().div(&x.softplus()).unwrap().sub(&x.sigmoid().powf(1.5)).unwrap();
        let c = x
            .log_sigmoid()
            .mul(&x.cos())
            .unwrap()
            .add(&x.neg().elu())
            .unwrap()
            .matmul_t(&x, false, true)
            .unwrap();
        a.mul(&b).unwrap().sum().add(&c.tanh().sum()).unwrap()
    }
}

/// Stacking, slicing and padding rows and columns between smooth ops.
struct LayoutChain;

impl Objective for LayoutChain {
    fn eval<'t>(&self, x: Var<'t>) -> Var<'t> {
        let y = Var::concat_rows(&[&x, &x.square()]).unwrap();
        let z = y.slice_rows(1..3).unwrap().pad_along(Axis(1), 5, 1).unwrap();
        z.tanh().square().sum().add(&y.slice_cols(0..2).unwrap().exp().sum()).unwrap()
    }
}

/// `sum_masked (x^2 tanh x)`: selection by a mask between smooth ops.
struct MaskedChain;

impl Objective for MaskedChain {
    fn eval<'t>(&self, x: Var<'t>) -> Var<'t> {
        let keep = ndarray::array![[1.0, 0.0, 1.0], [0.0, 1.0, 1.0]];
        x.square().mul(&x.tanh()).unwrap().mask(&keep).unwrap().sum()
    }
}

/// `sum tanh(conv(x, W))^2` with a fixed filter: two interleaved sequences of four
/// steps of two channels (x is `8 x 2`), width 2, dilation 3.
struct ConvChain(Array2<f64>);

impl Objective for ConvChain {
    fn eval<'t>(&self, x: Var<'t>) -> Var<'t> {
        let conv = autodiff::op::CausalConv { width: 2, dilation: 3, batch: 2 };
        x.causal_conv(&x.constant(self.0.clone()), conv).unwrap().tanh().square().sum()
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn hvp_through_layout_ops(x in matrix(2, 3, -1.0, 1.0), v in matrix(2, 3, -1.0, 1.0)) {
        assert_close(&hvp_tape(&LayoutChain, &x, &v), &hvp_fd(&LayoutChain, &x, &v), 1e-6, 1e-8)?;
    }

    #[test]
    fn hvp_through_the_causal_convolution(
        x in matrix(8, 2, -1.0, 1.0), w in matrix(4, 2, -1.0, 1.0), v in matrix(8, 2, -1.0, 1.0),
    ) {
        let loss = ConvChain(w);
        assert_close(&hvp_tape(&loss, &x, &v), &hvp_fd(&loss, &x, &v), 1e-6, 1e-8)?;
    }

    #[test]
    fn hvp_through_a_mask(x in matrix(2, 3, -1.0, 1.0), v in matrix(2, 3, -1.0, 1.0)) {
        assert_close(&hvp_tape(&MaskedChain, &x, &v), &hvp_fd(&MaskedChain, &x, &v), 1e-6, 1e-8)?;
    }

    #[test]
    fn hvp_of_logsumexp(x in matrix(3, 4, -2.0, 2.0), v in matrix(3, 4, -1.0, 1.0)) {
        assert_close(&hvp_tape(&SquaredLse, &x, &v), &hvp_fd(&SquaredLse, &x, &v), 1e-6, 1e-8)?;
    }

    #[test]
    fn hvp_of_tanh_mlp(x in matrix(4, 3, -1.5, 1.5), v in matrix(4, 3, -1.0, 1.0), seed in 0..100u64) {
        let loss = TanhMlp::new(seed);
        assert_close(&hvp_tape(&loss, &x, &v), &hvp_fd(&loss, &x, &v), 1e-6, 1e-8)?;
    }

    #[test]
    fn hvp_through_every_smooth_op(x in matrix(2, 3, 0.3, 1.5), v in matrix(2, 3, -1.0, 1.0)) {
        assert_close(&hvp_tape(&EverySmoothOp, &x, &v), &hvp_fd(&EverySmoothOp, &x, &v), 1e-6, 1e-8)?;
    }
}

#[test]
fn gradient_of_the_gradient_norm() {
    // L = x^3 summed; g = 3x^2; ||g||^2 = 9 sum x^4; d/dx = 36 x^3.
    let tape = Tape::new();
    let x = tape.leaf(ndarray::array![[0.5, -2.0]]);
    let g = tape.grad(x.powf(3.0).sum(), &[x]).unwrap()[0];
    let penalty = g.square().sum();
    let d = tape.backward(penalty).unwrap();
    let expected = ndarray::array![[36.0 * 0.125, 36.0 * -8.0]];
    assert!(autodiff::gradcheck::all_close(d.wrt(&x).unwrap().unwrap(), &expected, 1e-12, 0.0));
}

#[test]
fn grad_records_only_the_paths_to_what_it_differentiates_by() {
    // y = sum tanh(x W): asked for dy/dx alone, `grad` records `g W^T` but not the
    // weight's `x^T g`, and gives the same dy/dx as when asked for both.
    let x0 = ndarray::array![[0.3, -0.7, 1.1], [1.2, 0.4, -0.2]];
    let w0 = ndarray::array![[0.5, -1.0], [0.25, 2.0], [-0.75, 0.1]];
    let recorded = |both: bool| {
        let tape = Tape::new();
        let (x, w) = (tape.leaf(x0.clone()), tape.leaf(w0.clone()));
        let y = x.matmul(&w).unwrap().tanh().sum();
        let before = tape.len();
        let wrt = if both { vec![x, w] } else { vec![x] };
        let dx = tape.grad(y, &wrt).unwrap()[0].value();
        (tape.len() - before, dx)
    };
    let ((alone, dx_alone), (both, dx_both)) = (recorded(false), recorded(true));
    assert_eq!(dx_alone, dx_both);
    assert_eq!(both - alone, 1, "only the weight's product is left out");

    // A first-order `Function` of the weight alone is no obstacle to dy/dx.
    let tape = Tape::new();
    let (x, w) = (tape.leaf(x0.clone()), tape.leaf(w0.clone()));
    let scaled = Var::apply(&Doubled, &[&w]).unwrap();
    let y = x.matmul(&scaled).unwrap().sum();
    let dx = tape.grad(y, &[x]).unwrap()[0].value();
    let want = Array2::from_elem((2, 2), 1.0).dot(&(2.0 * &w0).t());
    assert!(autodiff::gradcheck::all_close(&dx, &want, 1e-15, 0.0), "{dx} vs {want}");
    let err = tape.grad(y, &[w]).unwrap_err().to_string();
    assert!(err.contains("doubled") && err.contains("first-order"), "{err}");
}

/// `2 x`, with a first-order rule only.
struct Doubled;

impl autodiff::Function for Doubled {
    fn name(&self) -> &'static str {
        "doubled"
    }
    fn forward(&self, inputs: &[&Array2<f64>]) -> autodiff::Result<(Array2<f64>, Box<dyn autodiff::Vjp>)> {
        Ok((inputs[0] * 2.0, Box::new(Doubled)))
    }
}

impl autodiff::Vjp for Doubled {
    fn vjp(&self, g: &Array2<f64>, need: &[bool]) -> autodiff::Result<Vec<Option<Array2<f64>>>> {
        Ok(vec![need[0].then(|| g * 2.0)])
    }
}

/// The divergence `sum_i d f_i / d x_i` of a tanh MLP 2-8-2, row by row, written once
/// against `Session`: the pass differentiates itself through `Session::grad`, as a
/// continuous flow's field does for its trace.
fn divergence<S: autodiff::Session>(s: &S, mlp: &Mlp, x: &S::T) -> autodiff::Result<S::T> {
    let x = s.track(x.clone());
    let f = mlp.forward(s, &x)?;
    let mut div = None;
    for i in 0..x.shape().1 {
        // Rows are independent samples, so the gradient of the column sum is each
        // row's own `d f_i / d x`.
        let dfi = s.grad(&f.slice_cols(i..i + 1)?.sum(), std::slice::from_ref(&x))?.remove(0);
        let term = dfi.slice_cols(i..i + 1)?;
        div = Some(match div {
            None => term,
            Some(d) => term.add(&d)?,
        });
    }
    Ok(div.expect("at least one column"))
}

fn divergence_mlp(seed: u64) -> (ParamStore, Mlp) {
    let mut store = ParamStore::new();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mlp = Mlp::new(&mut store, "field", &[2, 8, 2], Activation::Tanh, &mut rng).unwrap();
    (store, mlp)
}

#[test]
fn a_pass_that_differentiates_itself_matches_the_jacobian_trace_and_its_gradient() {
    let (mut store, mlp) = divergence_mlp(3);
    let x = ndarray::array![[0.3, -0.7], [1.2, 0.4], [-0.5, -1.1]];
    // The value: the trace of a central-difference Jacobian, row by row.
    let f = |store: &ParamStore, x: &Array2<f64>| mlp.forward(&autodiff::NoGrad::new(store), x).unwrap();
    let h = 1e-6;
    let mut fd_div = Array2::zeros((3, 1));
    for i in 0..2 {
        let mut e = Array2::zeros((3, 2));
        e.column_mut(i).fill(h);
        let df = (f(&store, &(&x + &e)) - f(&store, &(&x - &e))) / (2.0 * h);
        fd_div.column_mut(0).zip_mut_with(&df.column(i), |d, v| *d += v);
    }
    let tape = Tape::new();
    let s = tape.session(&store);
    let div = divergence(&s, &mlp, &tape.constant(x.clone())).unwrap();
    assert!(
        autodiff::gradcheck::all_close(&div.value(), &fd_div, 1e-7, 1e-9),
        "{:?} vs {fd_div:?}",
        div.value()
    );

    // Its gradient with respect to every weight: the recorded gradients are
    // differentiated again by `backward`, checked against central differences.
    let grads = div.sum().backward().unwrap();
    let total = |store: &ParamStore| {
        let tape = Tape::new();
        divergence(&tape.session(store), &mlp, &tape.constant(x.clone())).unwrap().value().iter().sum::<f64>()
    };
    let ids: Vec<_> = grads.params().map(|(id, _)| id).collect();
    // Every weight but the output bias, which shifts f and leaves its Jacobian alone.
    assert_eq!(ids.len(), mlp.params().len() - 1, "the weights that reach the divergence");
    for id in ids {
        let analytic = grads.param(id).unwrap().clone();
        for k in 0..analytic.len() {
            let mut bump = |d: f64| {
                store.get_mut(id).unwrap().as_slice_mut().unwrap()[k] += d;
                let v = total(&store);
                store.get_mut(id).unwrap().as_slice_mut().unwrap()[k] -= d;
                v
            };
            let fd = (bump(1e-5) - bump(-1e-5)) / 2e-5;
            let a = analytic.as_slice().unwrap()[k];
            assert!((a - fd).abs() <= 1e-6 * (1.0 + fd.abs()), "{id:?}[{k}]: {a} vs {fd}");
        }
    }
}

#[test]
fn a_session_without_a_tape_says_it_cannot_differentiate() {
    let (store, mlp) = divergence_mlp(4);
    let err = divergence(&autodiff::NoGrad::new(&store), &mlp, &Array2::zeros((2, 2))).unwrap_err();
    assert!(matches!(err, autodiff::Error::NoTape { op: "Session::grad" }), "{err}");
}
