//! Extreme inputs stay finite; misuse gives errors that name the op and shapes.

use autodiff::{Error, NoGrad, ParamStore, Session, Tape, Tensor};
use ndarray::{Axis, array};

fn finite(a: &ndarray::Array2<f64>) -> bool {
    a.iter().all(|v| v.is_finite())
}

#[test]
fn logsumexp_of_huge_values_is_finite_with_finite_gradient() {
    let tape = Tape::new();
    let x = tape.leaf(array![[1e3, 1e3, -1e3], [-1e3, -1e3, 1e3]]);
    let y = x.logsumexp(Axis(1));
    // ln(e^1000 + e^1000 + e^-1000) = 1000 + ln 2
    let v = y.value();
    assert!((v[(0, 0)] - (1e3 + 2f64.ln())).abs() < 1e-9);
    assert!((v[(1, 0)] - 1e3).abs() < 1e-9);
    let g = y.sum().backward().unwrap();
    let g = g.wrt(&x).unwrap().unwrap();
    assert!(finite(g));
    // softmax: the two equal maxima share the mass, the far value gets none.
    assert!((g[(0, 0)] - 0.5).abs() < 1e-12 && g[(0, 2)] == 0.0);
}

#[test]
fn softplus_and_log_sigmoid_at_800() {
    let tape = Tape::new();
    let x = tape.leaf(array![[800.0, -800.0]]);
    let sp = x.softplus();
    let ls = x.log_sigmoid();
    assert_eq!(sp.value(), array![[800.0, 0.0]]);
    assert_eq!(ls.value(), array![[0.0, -800.0]]);
    let g = sp.add(&ls).unwrap().sum().backward().unwrap();
    // d softplus = sigmoid(x) = [1, 0]; d log_sigmoid = sigmoid(-x) = [0, 1].
    assert_eq!(g.wrt(&x).unwrap().unwrap(), &array![[1.0, 1.0]]);
}

#[test]
fn sigmoid_saturates_without_nan() {
    let x = array![[-800.0, 800.0, 0.0]];
    assert_eq!(x.sigmoid(), array![[0.0, 1.0, 0.5]]);
}

#[test]
fn shape_mismatch_names_op_and_shapes() {
    let tape = Tape::new();
    let a = tape.leaf(array![[1.0, 2.0, 3.0]]);
    let b = tape.leaf(array![[1.0, 2.0]]);
    let err = a.add(&b).unwrap_err();
    assert_eq!(err, Error::Shape { op: "add", lhs: (1, 3), rhs: (1, 2) });
    assert_eq!(err.to_string(), "add: incompatible shapes (1, 3) and (1, 2)");
    let err = a.matmul(&b).unwrap_err();
    assert_eq!(err.to_string(), "matmul: incompatible shapes (1, 3) and (1, 2)");
}

#[test]
fn backward_from_non_scalar_or_constant_is_an_error() {
    let tape = Tape::new();
    let a = tape.leaf(array![[1.0, 2.0]]);
    assert_eq!(a.tanh().backward().unwrap_err(), Error::NotScalar((1, 2)));
    let c = tape.constant(array![[1.0]]);
    assert_eq!(c.exp().backward().unwrap_err(), Error::NotTracked);
}

#[test]
fn index_and_range_errors() {
    let x = array![[1.0, 2.0], [3.0, 4.0]];
    assert_eq!(x.gather_rows(&[0, 2]).unwrap_err(), Error::Index { op: "gather_rows", index: 2, len: 2 });
    let err = x.slice_cols(1..3).unwrap_err().to_string();
    assert!(err.contains("slice") && err.contains("1..3") && err.contains("2 columns"), "{err}");
    let err = x.slice_rows(1..4).unwrap_err().to_string();
    assert!(err.contains("1..4") && err.contains("2 rows"), "{err}");
    assert!(<ndarray::Array2<f64> as Tensor>::concat_rows(&[&x, &array![[1.0]]]).is_err());
    assert!(x.split_cols(&[1, 2]).is_err());
    assert!(<ndarray::Array2<f64> as Tensor>::concat_cols(&[]).is_err());
}

/// Asserts `Error::ForeignHandle` from `op` whose message contains every one of `parts`.
fn assert_foreign<T: std::fmt::Debug>(result: Result<T, Error>, op: &str, parts: &[&str]) {
    let err = result.expect_err(op);
    assert!(matches!(&err, Error::ForeignHandle { op: o, .. } if *o == op), "{err:?}");
    let message = err.to_string();
    assert!(parts.iter().all(|p| message.contains(p)), "{message}");
}

#[test]
fn values_of_another_tape_are_errors_never_another_values_result() {
    let (t1, t2) = (Tape::new(), Tape::new());
    let a = t1.leaf(array![[1.0]]);
    let b = t2.leaf(array![[2.0]]);
    assert_foreign(a.mul(&b), "mul", &["the right operand", "another tape"]);
    assert_foreign(autodiff::Var::concat_rows(&[&a, &b]), "concat", &["part 1"]);
    // Two tapes of the same length: node ids alone would match.
    let (mine, theirs) = (a.square().sum(), b.square().sum());
    assert_eq!(t1.len(), t2.len());
    assert_foreign(t1.backward(theirs), "Tape::backward", &["the loss", "another tape"]);
    assert_foreign(t1.grad(theirs, &[a]), "Tape::grad", &["the loss"]);
    assert_foreign(t1.grad(mine, &[a, b]), "Tape::grad", &["`wrt[1]`"]);
    let g = t1.backward(mine).unwrap();
    assert_eq!(g.wrt(&a).unwrap(), Some(&array![[2.0]]));
    assert_foreign(g.wrt(&b), "Gradients::wrt", &["leaf #0", "another tape than the loss"]);
}

#[test]
fn parameter_ids_of_another_store_are_errors_never_another_parameter() {
    let (mut mine, mut other) = (ParamStore::new(), ParamStore::new());
    let (w, v) = (mine.add("w", array![[1.0]]).unwrap(), mine.add("v", array![[2.0, 3.0]]).unwrap());
    let theirs = other.add("w", array![[5.0]]).unwrap();
    assert_eq!(w.index(), theirs.index(), "the same position in both stores");
    let named = ["parameter id #0", "another parameter store (this one holds 1 parameters)"];
    assert_foreign(other.get(w), "ParamStore::get", &named);
    assert_foreign(other.get(v), "ParamStore::get", &["parameter id #1"]);
    assert_foreign(other.get_mut(w), "ParamStore::get_mut", &named);
    assert_foreign(other.name(w), "ParamStore::name", &named);
    assert_foreign(other.shape(v), "ParamStore::shape", &["parameter id #1"]);
    assert_foreign(other.snapshot(&[w]), "ParamStore::snapshot", &named);
    let tape = Tape::new();
    assert_foreign(tape.session(&other).param(w).map(|p| p.value()), "ParamStore::get", &named);
    assert_foreign(NoGrad::new(&other).param(w), "ParamStore::get", &named);
    // A clone is the same parameters: the ids of either read both.
    let copy = mine.clone();
    assert_eq!(copy.get(v).unwrap(), array![[2.0, 3.0]]);
    assert_eq!(copy, mine);
    // Gradients of a loss over one store hold nothing for the other's ids.
    let loss = tape.session(&mine).param(w).unwrap().square().sum();
    let g = loss.backward().unwrap();
    assert_eq!(g.param(w), Some(&array![[2.0]]));
    assert_eq!(g.param(theirs), None);
}

#[test]
fn ids_registered_after_a_clone_and_left_out_of_a_snapshot_are_errors() {
    let mut original = ParamStore::new();
    let w = original.add("w", array![[1.0]]).unwrap();
    let mut copy = original.clone();
    // Both register a parameter at position 1 after the cloning: each id is its own.
    let (x, y) = (original.add("x", array![[2.0]]).unwrap(), copy.add("y", array![[3.0]]).unwrap());
    assert_eq!((x.index(), y.index()), (1, 1));
    let after = ["parameter id #1", "a clone of this store that registered it after the cloning"];
    assert_foreign(copy.get(x), "ParamStore::get", &after);
    assert_foreign(original.get(y), "ParamStore::get", &after);
    assert_eq!(copy.get(w).unwrap(), array![[1.0]]);
    let snapshot = original.snapshot(&[x]).unwrap();
    assert_eq!(snapshot.get(x).unwrap(), array![[2.0]]);
    assert_foreign(snapshot.get(w), "ParamStore::get", &["parameter id #0", "left it out"]);
    // Gradients of the two clones' parameters at one position do not mix.
    let mut grads = autodiff::ParamGrads::default();
    grads.set(x, array![[1.0]]).unwrap();
    assert_eq!(grads.get(y), None);
    assert_foreign(grads.set(y, array![[1.0]]), "ParamGrads::set", &["a clone of the store"]);
}

#[test]
fn a_parameter_bound_twice_on_one_tape_gets_both_gradients() {
    let mut store = ParamStore::new();
    let w = store.add("w", array![[3.0]]).unwrap();
    let tape = Tape::new();
    let (a, b) = (tape.session(&store).param(w).unwrap(), tape.session(&store).param(w).unwrap());
    assert_ne!(a.id(), b.id(), "two sessions bind two leaves");
    // d/dw (w * 2 + w^2) = 2 + 2 w = 8.
    let g = a.scale(2.0).add(&b.square()).unwrap().sum().backward().unwrap();
    assert_eq!(g.param(w), Some(&array![[8.0]]));
}

#[test]
fn a_weighted_sum_that_fails_changes_nothing() {
    let mut store = ParamStore::new();
    let (a, b) = (store.add("a", array![[0.0]]).unwrap(), store.add("b", array![[0.0]]).unwrap());
    let mut acc = autodiff::ParamGrads::default();
    acc.set(b, array![[1.0, 1.0]]).unwrap();
    let mut other = autodiff::ParamGrads::default();
    other.set(a, array![[5.0]]).unwrap();
    other.set(b, array![[1.0]]).unwrap();
    let before = acc.clone();
    assert_invalid(
        acc.add_scaled(&other, 1.0),
        "ParamGrads::add_scaled",
        &["parameter 1", "(1, 2) and (1, 1)"],
    );
    assert_eq!(acc, before, "a's gradient was not added before b's clash was found");
}

#[test]
fn a_loss_over_parameters_of_two_stores_is_an_error() {
    let (mut first, mut second) = (ParamStore::new(), ParamStore::new());
    let (a, b) = (first.add("a", array![[1.0]]).unwrap(), second.add("b", array![[1.0]]).unwrap());
    let tape = Tape::new();
    let (pa, pb) = (tape.session(&first).param(a).unwrap(), tape.session(&second).param(b).unwrap());
    let err = pa.mul(&pb).unwrap().sum().backward().unwrap_err();
    assert!(matches!(err, Error::ForeignHandle { op: "ParamGrads::accumulate", .. }), "{err}");
}

#[test]
fn constants_record_nothing_for_backward() {
    // An op on constants only yields a constant: no graph is kept behind it.
    let tape = Tape::new();
    let c = tape.constant(array![[1.0, 2.0]]);
    assert!(!c.exp().tanh().is_tracked());
}

#[test]
fn param_store_rejects_duplicates_and_mismatched_loads() {
    let mut store = ParamStore::new();
    store.add("w", array![[1.0, 2.0]]).unwrap();
    assert_eq!(store.add("w", array![[0.0]]).unwrap_err(), Error::DuplicateParam("w".into()));
    let mut named = store.to_named();
    named.insert("w".into(), array![[1.0]]);
    let err = store.load_named(&named).unwrap_err();
    assert!(err.to_string().contains("parameter `w`: is (1, 2) here but (1, 1)"), "{err}");
    let err = store.load_named(&Default::default()).unwrap_err();
    assert!(err.to_string().contains("parameter `w`: absent from the values to load"), "{err}");
    named.insert("extra".into(), array![[1.0]]);
    assert_eq!(store.load_named(&named).unwrap_err(), Error::UnknownParam("extra".into()));
    assert_eq!(store.get(store.id("w").unwrap()).unwrap(), array![[1.0, 2.0]], "nothing loaded");
    let _ = NoGrad::new(&store);
}

/// Asserts `Error::Invalid` from `op` whose message contains every one of `parts`.
fn assert_invalid<T: std::fmt::Debug>(result: Result<T, Error>, op: &str, parts: &[&str]) {
    let err = result.expect_err(op);
    assert!(matches!(&err, Error::Invalid { op: o, .. } if *o == op), "{err:?}");
    let message = err.to_string();
    assert!(parts.iter().all(|p| message.contains(p)), "{message}");
}

#[test]
fn clamp_with_an_empty_window_is_an_error_not_a_panic() {
    let x = array![[-1.0, 0.5, 2.0]];
    assert_invalid(x.clamp(1.0, 0.0), "clamp", &["lo = 1", "hi = 0"]);
    assert_invalid(x.clamp(f64::NAN, 0.0), "clamp", &["lo = NaN"]);
    let tape = Tape::new();
    assert_invalid(tape.leaf(x.clone()).clamp(0.0, -1.0), "clamp", &["lo = 0", "hi = -1"]);
    assert_eq!(x.clamp(0.0, 1.0).unwrap(), array![[0.0, 0.5, 1.0]]);
    // Built directly, the op cannot panic either: below lo gives lo, the rest hi.
    assert_eq!(x.unary(autodiff::op::UnaryOp::Clamp(1.0, 0.0)), array![[1.0, 1.0, 0.0]]);
}

#[test]
fn initialisers_with_bad_parameters_are_errors_not_panics() {
    use autodiff::Init;
    use rand::SeedableRng;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
    let uniform = Init::Uniform { lo: 1.0, hi: -1.0 };
    assert_invalid(uniform.sample((2, 2), 2, 2, &mut rng), "Init", &["Uniform", "lo = 1", "hi = -1"]);
    let normal = Init::Normal { std: -0.5 };
    assert_invalid(normal.sample((2, 2), 2, 2, &mut rng), "Init", &["Normal.std", "-0.5"]);
    assert_invalid(Init::Constant(f64::NAN).validate(), "Init", &["Constant(NaN)"]);
    let mut store = ParamStore::new();
    let lin = autodiff::nn::Linear::with_init(&mut store, "l", 2, 1, uniform, None, &mut rng);
    assert_invalid(lin, "Init", &["Uniform"]);
}

#[test]
fn a_masked_out_nan_or_infinity_gives_zero_value_and_zero_gradient() {
    let keep = array![[1.0, 0.0, 1.0], [0.0, 0.0, 1.0]];
    let x = array![[2.0, f64::NAN, -1.0], [f64::INFINITY, f64::NEG_INFINITY, 0.5]];
    assert_eq!(x.mask(&keep).unwrap(), array![[2.0, 0.0, -1.0], [0.0, 0.0, 0.5]]);
    let tape = Tape::new();
    let leaf = tape.leaf(x);
    // Selected before the arithmetic, as masked densities do: the dropped entries
    // never reach the square, so neither its value nor its gradient sees them.
    let loss = leaf.mask(&keep).unwrap().square().sum();
    assert_eq!(loss.item().unwrap(), 4.0 + 1.0 + 0.25);
    let g = loss.backward().unwrap();
    assert_eq!(g.wrt(&leaf).unwrap().unwrap(), &array![[4.0, 0.0, -2.0], [0.0, 0.0, 1.0]]);
    // Recorded backward (gradients of gradients) selects the same way.
    let dx = tape.grad(loss, &[leaf]).unwrap()[0].value();
    assert_eq!(dx, array![[4.0, 0.0, -2.0], [0.0, 0.0, 1.0]]);
}

#[test]
fn a_mask_broadcasts_both_ways_and_refuses_entries_other_than_zero_or_one() {
    let x = array![[1.0, 2.0], [3.0, 4.0]];
    assert_eq!(x.mask(&array![[0.0], [1.0]]).unwrap(), array![[0.0, 0.0], [3.0, 4.0]]);
    assert_eq!(
        array![[5.0], [f64::NAN]].mask(&array![[1.0, 1.0], [0.0, 0.0]]).unwrap(),
        array![[5.0, 5.0], [0.0, 0.0]]
    );
    assert_invalid(x.mask(&array![[1.0, 0.5]]), "mask", &["(0, 1)", "0.5", "not 0 or 1"]);
    assert_invalid(x.mask(&array![[f64::NAN, 1.0]]), "mask", &["(0, 0)", "NaN"]);
    assert!(matches!(x.mask(&array![[1.0, 0.0, 1.0]]), Err(Error::Shape { op: "mask", .. })));
    let keep = autodiff::Mask::new(&array![[1.0, 0.0]]).unwrap();
    assert_eq!(x.keep_where(&keep).unwrap(), array![[1.0, 0.0], [3.0, 0.0]]);
}
