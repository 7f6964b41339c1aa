//! The tape, its tensor operations, layers, initialisers, data sets and checks.

use crate::harness::{Case, error, fails, gives, panics, value, values};
use latent_seq::autodiff::data::{Dataset, Rows, batch_order, bucketed_batch_order, padding_ratio, split};
use latent_seq::autodiff::ndarray::{Array2, Axis, array};
use latent_seq::autodiff::op::{CausalConv, UnaryOp};
use latent_seq::autodiff::state_dict::{self, StateDict};
use latent_seq::autodiff::{
    Activation, GradCheck, Init, Linear, Loss, Mlp, ParamStore, Tape, Tensor, gradcheck, math,
};
use latent_seq::rand::SeedableRng;
use latent_seq::{ChaCha8Rng, autodiff::gradcheck::jacobian_fd};
use std::collections::BTreeMap;

fn rng() -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(0)
}

fn a23() -> Array2<f64> {
    array![[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]
}

/// The tape's `backward` of a loss built by `f` from one leaf holding `x`.
fn backward_of(
    x: Array2<f64>,
    f: fn(latent_seq::autodiff::Var<'_>) -> latent_seq::autodiff::Var<'_>,
) -> Outcome {
    let tape = Tape::new();
    let leaf = tape.leaf(x);
    error(tape.backward(f(leaf)).map(|_| ()))
}

use crate::harness::Outcome;

pub const CASES: &[Case] = &[
    fails(
        "x.add(&y)",
        "shapes 2x3 and 3x2 (not broadcastable)",
        "Shape",
        &["add", "(2, 3)", "(3, 2)"],
        || error(a23().add(&a23().t().to_owned())),
    ),
    fails("x.matmul(&y)", "inner dimensions 3 and 2", "Shape", &["matmul", "(2, 3)"], || {
        error(a23().matmul(&a23()))
    }),
    fails("x.affine(&w, &b)", "inner dimensions 3 and 2", "Shape", &["affine", "(2, 3)"], || {
        error(a23().affine(&a23(), &array![[0.0, 0.0, 0.0]]))
    }),
    fails("x.affine(&w, &b)", "bias 1x2 for 3 outputs", "Shape", &["affine bias", "(1, 2)"], || {
        let w = array![[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]];
        error(a23().affine(&w, &array![[0.0, 0.0]]))
    }),
    fails("x.dense(&w, &b, plus, act)", "act = elu, not fused", "Invalid", &["dense", "elu"], || {
        error(a23().dense(&a23().t().to_owned(), &array![[0.0, 0.0]], None, Some(UnaryOp::Elu)))
    }),
    fails(
        "x.dense(&w, &b, plus, act)",
        "addend 2x3 for a 2x2 output",
        "Shape",
        &["affine addend", "(2, 3)"],
        || error(a23().dense(&a23().t().to_owned(), &array![[0.0, 0.0]], Some(&a23()), None)),
    ),
    fails("x.clamp(lo, hi)", "lo = 1 > hi = 0", "Invalid", &["clamp", "1", "0"], || {
        error(a23().clamp(1.0, 0.0))
    }),
    fails("x.clamp(lo, hi)", "lo = NaN", "Invalid", &["clamp", "NaN"], || error(a23().clamp(f64::NAN, 1.0))),
    fails(
        "x.split_cols(widths)",
        "widths [1, 1] for 3 columns",
        "Invalid",
        &["split_cols", "3 columns"],
        || error(a23().split_cols(&[1, 1])),
    ),
    fails("x.slice_rows(range)", "rows 1..5 of 2", "Invalid", &["slice", "1..5"], || {
        error(a23().slice_rows(1..5))
    }),
    fails("x.slice_cols(range)", "reversed range 2..1", "Invalid", &["slice", "2..1"], || {
        #[allow(clippy::reversed_empty_ranges)]
        let range = 2..1;
        error(a23().slice_cols(range))
    }),
    fails(
        "x.pad_cols(width, offset)",
        "3 columns at offset 2 in width 4",
        "Invalid",
        &["pad", "offset 2"],
        || error(a23().pad_cols(4, 2)),
    ),
    fails("Tensor::concat_rows(parts)", "no parts", "Invalid", &["concat", "no parts"], || {
        error(Array2::<f64>::concat_rows(&[]))
    }),
    fails("Tensor::concat_rows(parts)", "parts of 3 and 2 columns", "Shape", &["concat"], || {
        let b = array![[1.0, 2.0]];
        error(Array2::concat_rows(&[&a23(), &b]))
    }),
    fails("x.gather_rows(index)", "row 2 of 2", "Index", &["gather_rows", "index 2", "length 2"], || {
        error(a23().gather_rows(&[0, 2]))
    }),
    fails(
        "x.scatter_add_rows(index, n)",
        "3 indices for 2 rows",
        "Invalid",
        &["scatter_add_rows", "3 indices"],
        || error(a23().scatter_add_rows(&[0, 1, 1], 4)),
    ),
    fails(
        "x.scatter_add_rows(index, n)",
        "target row 4 of 3",
        "Index",
        &["scatter_add_rows", "index 4"],
        || error(a23().scatter_add_rows(&[0, 4], 3)),
    ),
    fails("x.broadcast_to(shape)", "2x3 to 4x3", "Shape", &["(2, 3)", "(4, 3)"], || {
        error(a23().broadcast_to((4, 3)))
    }),
    fails("x.item()", "a 2x3 value", "NotScalar", &["(2, 3)"], || error(a23().item())),
    fails("x.causal_conv(filter, conv)", "dilation 0", "Invalid", &["causal_conv", "dilation 0"], || {
        let conv = CausalConv { width: 2, dilation: 0, batch: 1 };
        error(a23().causal_conv(&Array2::zeros((6, 1)), conv))
    }),
    fails(
        "x.causal_conv(filter, conv)",
        "5 rows in steps of batch 2",
        "Invalid",
        &["causal_conv", "5 input rows", "2 sequences"],
        || {
            let conv = CausalConv { width: 1, dilation: 1, batch: 2 };
            error(Array2::<f64>::zeros((5, 1)).causal_conv(&Array2::zeros((1, 1)), conv))
        },
    ),
    fails("x.masked_sum(mask)", "mask 3x3 on a 2x3 value", "Shape", &["(2, 3)", "(3, 3)"], || {
        error(a23().masked_sum(&Array2::ones((3, 3))))
    }),
    gives("x.log_softmax(Axis(1))", "logits [1000, 0] (exp overflows)", &[0.0, -1000.0], 1e-12, || {
        Outcome::Values(array![[1000.0, 0.0]].log_softmax(Axis(1)).iter().copied().collect())
    }),
    gives(
        "x.logsumexp(Axis(1))",
        "[-1000, -1000] (exp underflows)",
        &[-1000.0 + std::f64::consts::LN_2],
        1e-9,
        || Outcome::Values(array![[-1000.0, -1000.0]].logsumexp(Axis(1)).iter().copied().collect()),
    ),
    gives("x.softplus()", "x = 800 and -800", &[800.0, 0.0], 1e-12, || {
        Outcome::Values(array![[800.0, -800.0]].softplus().iter().copied().collect())
    }),
    gives("x.log_sigmoid()", "x = -800 (sigmoid underflows to 0)", &[-800.0], 1e-9, || {
        Outcome::Values(array![[-800.0]].log_sigmoid().iter().copied().collect())
    }),
    gives("math::tanh(x), math::sigmoid(x)", "x = 1e308", &[1.0, 1.0], 0.0, || {
        Outcome::Values(vec![math::tanh(1e308), math::sigmoid(1e308)])
    }),
    fails("tape.backward(loss)", "a 2x3 loss", "NotScalar", &["1x1", "(2, 3)"], || backward_of(a23(), |x| x)),
    fails("tape.backward(loss)", "a loss of constants only", "NotTracked", &["no tracked value"], || {
        let tape = Tape::new();
        error(tape.backward(tape.constant(array![[1.0]])).map(|_| ()))
    }),
    fails("Session::grad on NoGrad", "a NoGrad session", "NoTape", &["NoGrad", "TapeSession"], || {
        use latent_seq::autodiff::{NoGrad, Session};
        let store = ParamStore::new();
        let s = NoGrad::new(&store);
        let y = s.constant(array![[1.0]]);
        error(s.grad(&y, std::slice::from_ref(&y)))
    }),
    fails("Loss::new(sum, weight)", "weight = NaN", "Invalid", &["Loss::new", "NaN"], || {
        error(Loss::new(array![[1.0]], f64::NAN))
    }),
    fails("Loss::new(sum, weight)", "a 2x3 sum", "NotScalar", &["(2, 3)"], || error(Loss::new(a23(), 1.0))),
    fails("Loss::mean(terms).value()", "terms with zero rows", "Invalid", &["weight 0"], || {
        error(Loss::mean(&Array2::<f64>::zeros((0, 3))).value())
    }),
    fails("Init::Uniform.sample", "lo = 1 > hi = -1", "Invalid", &["Uniform", "lo = 1", "hi = -1"], || {
        error(Init::Uniform { lo: 1.0, hi: -1.0 }.sample((2, 2), 2, 2, &mut rng()))
    }),
    fails("Init::Normal.sample", "std = -1", "Invalid", &["Normal.std", "-1"], || {
        error(Init::Normal { std: -1.0 }.sample((2, 2), 2, 2, &mut rng()))
    }),
    fails("Init::Constant.validate", "an infinite constant", "Invalid", &["Constant", "inf"], || {
        error(Init::Constant(f64::INFINITY).validate())
    }),
    fails("ParamStore::add(name, value)", "a name given twice", "DuplicateParam", &["`w`"], || {
        let mut store = ParamStore::new();
        error(store.add("w", a23()).and_then(|_| store.add("w", a23())))
    }),
    fails("ParamStore::id(name)", "a name the store does not hold", "UnknownParam", &["`nope`"], || {
        error(ParamStore::new().id("nope"))
    }),
    fails("ParamStore::load_named(map)", "a map lacking a parameter", "Data", &["`b`", "absent"], || {
        let mut store = ParamStore::new();
        let _ = store.add("a", a23());
        let _ = store.add("b", a23());
        error(store.load_named(&BTreeMap::from([("a".to_string(), a23())])))
    }),
    fails(
        "ParamStore::load_named(map)",
        "a value of another shape",
        "Data",
        &["`a`", "(2, 3)", "(1, 1)"],
        || {
            let mut store = ParamStore::new();
            let _ = store.add("a", a23());
            error(store.load_named(&BTreeMap::from([("a".to_string(), array![[1.0]])])))
        },
    ),
    fails("Linear::from_weights", "bias 1x2 for 3 outputs", "Shape", &["Linear::from_weights bias"], || {
        error(Linear::from_weights(&mut ParamStore::new(), "l", a23(), Some(array![[0.0, 0.0]])))
    }),
    fails("Linear::forward", "input of 2 columns for a layer of 3 inputs", "Shape", &["matmul"], || {
        use latent_seq::autodiff::NoGrad;
        let mut store = ParamStore::new();
        let layer = Linear::from_weights(&mut store, "l", a23().t().to_owned(), None).expect("a valid layer");
        error(layer.forward(&NoGrad::new(&store), &array![[1.0, 2.0]]))
    }),
    fails("Mlp::new(widths)", "one width only", "Invalid", &["Mlp::new", "[3]"], || {
        error(Mlp::new(&mut ParamStore::new(), "m", &[3], Activation::Tanh, &mut rng()))
    }),
    fails(
        "Mlp::from_layers",
        "layer widths 3->2 then 3->1",
        "Invalid",
        &["layer 0 outputs 2", "layer 1 takes 3"],
        || {
            let mut store = ParamStore::new();
            let a =
                Linear::from_weights(&mut store, "a", Array2::zeros((3, 2)), None).expect("a valid layer");
            let b =
                Linear::from_weights(&mut store, "b", Array2::zeros((3, 1)), None).expect("a valid layer");
            error(Mlp::from_layers(vec![a, b], Activation::Tanh))
        },
    ),
    fails("state_dict::matrix(state, key)", "a key not present", "Data", &["`w`", "not present"], || {
        error(state_dict::matrix(&StateDict::new(), "w", 2, 2))
    }),
    fails(
        "state_dict::row(state, key, len)",
        "a vector of 3 where 2 are due",
        "Data",
        &["`b`", "[3]", "[2]"],
        || {
            let state = StateDict::from([(
                "b".to_string(),
                Array2::<f64>::zeros((1, 3)).into_shape_with_order(3).expect("3").into_dyn(),
            )]);
            error(state_dict::row(&state, "b", 2))
        },
    ),
    fails("batch_order(n, size)", "batch size 0", "Data", &["batch size must be positive"], || {
        error(batch_order(5, 0, false, &mut rng()))
    }),
    fails("batch_order(n, size)", "an empty data set", "Data", &["empty"], || {
        error(batch_order(0, 2, false, &mut rng()))
    }),
    fails("bucketed_batch_order(lengths, size)", "no lengths", "Data", &["empty"], || {
        error(bucketed_batch_order(&[], 2, &mut rng()))
    }),
    fails(
        "split(n, val, test)",
        "fractions 0.5 + 0.5 leave no training example",
        "Data",
        &["split", "none for training"],
        || error(split(4, 0.5, 0.5, &mut rng())),
    ),
    fails("split(n, val, test)", "val fraction NaN", "Data", &["split", "NaN"], || {
        error(split(4, f64::NAN, 0.0, &mut rng()))
    }),
    fails("Rows::new(arrays)", "no arrays", "Data", &["Rows::new", "no arrays"], || error(Rows::new(vec![]))),
    fails("Rows::new(arrays)", "arrays of 2 and 3 rows", "Data", &["Rows::new", "array 1 has 3"], || {
        error(Rows::new(vec![a23(), Array2::zeros((3, 1))]))
    }),
    fails(
        "Rows::new(arrays)",
        "NaN in the data",
        "NonFiniteData",
        &["Rows::new array 0", "NaN", "row 1", "column 2"],
        || error(Rows::new(vec![array![[1.0, 2.0, 3.0], [4.0, 5.0, f64::NAN]]])),
    ),
    fails("Rows::subset(indices)", "index 2 of 2 examples", "Index", &["Rows::subset", "index 2"], || {
        error(Rows::new(vec![a23()]).and_then(|r| r.subset(&[0, 2])))
    }),
    gives("Rows::batches(size)", "a batch size larger than the data set", &[1.0, 2.0], 0.0, || {
        values(Rows::new(vec![a23()]).and_then(|r| {
            let batches: Vec<_> = r.batches(10, false, &mut rng())?.collect();
            Ok(vec![batches.len() as f64, batches[0].indices.len() as f64])
        }))
    }),
    fails(
        "gradcheck(f, inputs, cfg)",
        "a wrong gradient (a custom op off by a factor)",
        "GradCheck",
        &["analytic", "numeric"],
        || {
            // d/dx (x * stop_grad(x)) is x, not 2x: the check must catch it.
            let cfg = GradCheck::default();
            error(gradcheck(|v| Ok(v[0].mul(&v[0].detach())?.sum()), &[array![[0.7]]], &cfg))
        },
    ),
    fails("gradcheck(f, inputs, cfg)", "step eps = 0", "Invalid", &["gradcheck", "eps"], || {
        let cfg = GradCheck { eps: 0.0, ..GradCheck::default() };
        error(gradcheck(|v| Ok(v[0].square().sum()), &[array![[0.7]]], &cfg))
    }),
    fails("jacobian_fd(f, x, eps)", "step eps = 0", "Invalid", &["jacobian_fd", "eps"], || {
        error(jacobian_fd(|x| x.clone(), &array![[0.7]], 0.0))
    }),
    gives("Tensor::mean()", "a 1x1 value (nothing to average but itself)", &[3.0], 0.0, || {
        value(array![[3.0]].mean().and_then(|m| m.item()))
    }),
    fails(
        "padding_ratio(lengths, batches)",
        "example 3 of 2 lengths",
        "Index",
        &["padding_ratio", "index 3"],
        || error(padding_ratio(&[1, 2], &[vec![0, 3]])),
    ),
    panics(
        "Dataset::batch(indices)",
        "example 4 of a data set of 2",
        &["Index 4", "axis length 2"],
        "autodiff::data::Dataset::batch",
        || error(Rows::new(vec![a23()]).map(|r| r.batch(&[4]).indices)),
    ),
    fails("Tensor::mean()", "a value with zero rows", "Invalid", &["mean", "0 x 3", "no entries"], || {
        error(Array2::<f64>::zeros((0, 3)).mean())
    }),
    fails(
        "Tensor::mean_axis(Axis(1))",
        "a 2 x 0 value",
        "Invalid",
        &["mean_axis", "axis 1", "empty"],
        || error(Array2::<f64>::zeros((2, 0)).mean_axis(Axis(1))),
    ),
];
