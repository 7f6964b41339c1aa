//! User-defined functions with their own gradient rule: checked against finite
//! differences, equal to the composed ops, once differentiable.

use autodiff::{Error, Function, GradCheck, Tape, Tensor, Var, Vjp, gradcheck};
use ndarray::{Array2, Zip, array};

/// `y = a * sigmoid(b)` in one pass, saving `a` and `sigmoid(b)`.
struct GatedProduct;

struct GatedProductVjp {
    a: Array2<f64>,
    s: Array2<f64>,
}

impl Function for GatedProduct {
    fn name(&self) -> &'static str {
        "gated_product"
    }
    fn forward(&self, inputs: &[&Array2<f64>]) -> autodiff::Result<(Array2<f64>, Box<dyn Vjp>)> {
        let (a, b) = (inputs[0], inputs[1]);
        if a.dim() != b.dim() {
            return Err(Error::Shape { op: "gated_product", lhs: a.dim(), rhs: b.dim() });
        }
        let s = b.mapv(|v| 1.0 / (1.0 + (-v).exp()));
        Ok((a * &s, Box::new(GatedProductVjp { a: a.clone(), s })))
    }
}

impl Vjp for GatedProductVjp {
    fn vjp(&self, g: &Array2<f64>, need: &[bool]) -> autodiff::Result<Vec<Option<Array2<f64>>>> {
        let da = need[0].then(|| g * &self.s);
        let db = need[1]
            .then(|| Zip::from(g).and(&self.a).and(&self.s).map_collect(|&g, &a, &s| g * a * s * (1.0 - s)));
        Ok(vec![da, db])
    }
}

fn inputs() -> [Array2<f64>; 2] {
    [array![[0.3, -1.2, 2.0], [0.7, 0.1, -0.4]], array![[1.5, -0.3, 0.2], [-2.0, 0.9, 0.05]]]
}

#[test]
fn gradient_rule_matches_finite_differences() {
    let report = gradcheck(|x| Var::apply(&GatedProduct, &[&x[0], &x[1]]), &inputs(), &GradCheck::default())
        .expect("the rule is right");
    assert_eq!(report.checked, 12);
}

#[test]
fn value_and_gradients_equal_the_composed_ops() {
    let [a, b] = inputs();
    let tape = Tape::new();
    let (va, vb) = (tape.leaf(a.clone()), tape.leaf(b.clone()));
    let fused = Var::apply(&GatedProduct, &[&va, &vb]).unwrap();
    let composed = va.mul(&vb.sigmoid()).unwrap();
    assert_eq!(fused.to_array(), Array2::apply(&GatedProduct, &[&a, &b]).unwrap());
    let g1 = tape.backward(fused.sum()).unwrap();
    let g2 = tape.backward(composed.sum()).unwrap();
    for leaf in [va, vb] {
        let (x, y) = (g1.wrt(&leaf).unwrap().unwrap(), g2.wrt(&leaf).unwrap().unwrap());
        assert!(x.iter().zip(y).all(|(x, y)| (x - y).abs() < 1e-15), "{x} vs {y}");
    }
}

#[test]
fn only_tracked_inputs_get_gradients_and_create_graph_is_refused() {
    let [a, b] = inputs();
    let tape = Tape::new();
    let (va, vb) = (tape.leaf(a), tape.constant(b));
    let loss = Var::apply(&GatedProduct, &[&va, &vb]).unwrap().sum();
    assert!(tape.backward(loss).unwrap().wrt(&va).unwrap().is_some());
    let err = tape.grad(loss, &[va]).unwrap_err().to_string();
    assert!(err.contains("gated_product") && err.contains("first-order"), "{err}");
    let bad = Var::apply(&GatedProduct, &[&va, &tape.constant(Array2::zeros((1, 1)))]).unwrap_err();
    assert!(bad.to_string().contains("gated_product"), "{bad}");
}

/// The identity, whose gradient rule always fails (as a solver's can).
struct FailingRule;

impl Function for FailingRule {
    fn name(&self) -> &'static str {
        "failing_rule"
    }
    fn forward(&self, inputs: &[&Array2<f64>]) -> autodiff::Result<(Array2<f64>, Box<dyn Vjp>)> {
        Ok((inputs[0].clone(), Box::new(FailingRule)))
    }
}

impl Vjp for FailingRule {
    fn vjp(&self, _g: &Array2<f64>, _need: &[bool]) -> autodiff::Result<Vec<Option<Array2<f64>>>> {
        Err(Error::Invalid { op: "inner solve", reason: "step size underflow at t = 0.5".into() })
    }
}

#[test]
fn a_failing_rule_is_an_error_of_backward_naming_the_function() {
    let tape = Tape::new();
    let x = tape.leaf(array![[1.0, 2.0]]);
    let y = Var::apply(&FailingRule, &[&x]).unwrap().sum();
    let err = tape.backward(y).unwrap_err();
    assert_eq!(
        err.to_string(),
        "backward through `failing_rule`: inner solve: step size underflow at t = 0.5"
    );
}
