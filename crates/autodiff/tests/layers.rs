//! Linear and Mlp: gradients against finite differences, and the no-grad path
//! agreeing with the tape.

use autodiff::{
    Activation, GradCheck, Init, Linear, Mlp, NoGrad, ParamStore, Session, Tape, Tensor, gradcheck_params,
};
use ndarray::{Array2, array};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

fn data(rows: usize, cols: usize) -> Array2<f64> {
    Array2::from_shape_fn((rows, cols), |(i, j)| ((i * cols + j) as f64 * 0.37).sin())
}

#[test]
fn mlp_parameter_gradients_match_finite_differences() {
    for act in [
        Activation::Tanh,
        Activation::Softplus,
        Activation::Sigmoid,
        Activation::ClippedLeakyRelu,
        Activation::Elu,
    ] {
        let mut store = ParamStore::new();
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let mlp = Mlp::new(&mut store, "mlp", &[3, 5, 4, 2], act, &mut rng).unwrap();
        let x = data(6, 3);
        let report = gradcheck_params(
            |s| mlp.forward(s, &s.constant(x.clone()))?.square().mean(),
            &store,
            &GradCheck::default(),
        )
        .unwrap();
        assert_eq!(report.checked, store.num_scalars());
    }
}

#[test]
fn no_grad_equals_tape_forward() {
    let mut store = ParamStore::new();
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    let mlp = Mlp::new(&mut store, "net", &[2, 16, 3], Activation::Relu, &mut rng).unwrap();
    let x = data(4, 2);
    let plain = mlp.forward(&NoGrad::new(&store), &x).unwrap();
    let tape = Tape::new();
    let s = tape.session(&store);
    let recorded = mlp.forward(&s, &s.constant(x)).unwrap();
    assert_eq!(plain, recorded.value());
}

#[test]
fn a_parameter_is_bound_once_per_tape() {
    let mut store = ParamStore::new();
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let lin = Linear::new(&mut store, "lin", 2, 2, &mut rng).unwrap();
    let tape = Tape::new();
    let s = tape.session(&store);
    assert_eq!(s.param(lin.weight).unwrap().id(), s.param(lin.weight).unwrap().id());
}

#[test]
fn initialisers_respect_their_bounds() {
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let w = Init::TorchDefault.sample((100, 50), 100, 50, &mut rng).unwrap();
    assert!(w.iter().all(|v| v.abs() <= 0.1));
    let g = Init::GlorotUniform.sample((100, 50), 100, 50, &mut rng).unwrap();
    let a = (6.0f64 / 150.0).sqrt();
    assert!(g.iter().all(|v| v.abs() <= a) && g.iter().any(|v| v.abs() > 0.9 * a));
    let n = Init::Normal { std: 2.0 }.sample((200, 200), 1, 1, &mut rng).unwrap();
    let var = n.mapv(|v| v * v).mean().unwrap().item().unwrap();
    assert!((var - 4.0).abs() < 0.1, "sample variance {var}");
    assert_eq!(Init::Zeros.sample((2, 2), 2, 2, &mut rng).unwrap(), Array2::<f64>::zeros((2, 2)));
}

#[test]
fn linear_without_bias_is_a_plain_product() {
    let mut store = ParamStore::new();
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    let lin = Linear::with_init(&mut store, "l", 2, 1, Init::Constant(0.5), None, &mut rng).unwrap();
    let y = lin.forward(&NoGrad::new(&store), &array![[1.0, 3.0]]).unwrap();
    assert_eq!(y, array![[2.0]]);
    assert_eq!(store.len(), 1);
}

#[test]
fn elu_values_are_finite_at_the_extremes() {
    let x = array![[-800.0, -1.0, 0.0, 2.0, 800.0]];
    let y = Activation::Elu.apply(&x);
    let want = array![[-1.0, (-1.0f64).exp() - 1.0, 0.0, 2.0, 800.0]];
    assert!(y.iter().zip(&want).all(|(a, b)| (a - b).abs() < 1e-15), "{y}");
}

#[test]
fn clipped_leaky_relu_values() {
    let x = array![[-12.0, -3.0, 0.0, 0.5, 5.0]];
    let y = Activation::ClippedLeakyRelu.apply(&x);
    assert_eq!(y, array![[-3.0, -1.0, 0.0, 0.5, 3.0]]);
}

#[test]
fn layers_from_given_weights_need_no_generator_and_compute_x_w_plus_b() {
    let mut store = ParamStore::new();
    let l1 = Linear::from_weights(&mut store, "a", array![[1.0, -1.0], [0.5, 2.0]], Some(array![[0.1, 0.2]]))
        .unwrap();
    let l2 = Linear::from_weights(&mut store, "b", array![[2.0], [1.0]], None).unwrap();
    let mlp = Mlp::from_layers(vec![l1, l2], Activation::Relu).unwrap();
    // x W1 + b1 = [1 + 0.5 + 0.1, -1 + 2 + 0.2] = [1.6, 1.2]; relu; [1.6, 1.2] W2 = 4.4.
    let y = mlp.forward(&NoGrad::new(&store), &array![[1.0, 1.0]]).unwrap();
    assert!((y[(0, 0)] - 4.4).abs() < 1e-15, "{y}");
    assert_eq!(store.id("a.bias").unwrap(), mlp.layers()[0].bias.unwrap());
    // Shapes that do not chain, and a bias of the wrong width, are named.
    let l3 = Linear::from_weights(&mut store, "c", array![[1.0, 2.0, 3.0]], None).unwrap();
    let l4 = Linear::from_weights(&mut store, "d", array![[1.0]], None).unwrap();
    let err = Mlp::from_layers(vec![l3, l4], Activation::Tanh).unwrap_err().to_string();
    assert!(err.contains("layer 0 outputs 3 columns, layer 1 takes 1"), "{err}");
    let err = Linear::from_weights(&mut store, "e", array![[1.0, 2.0]], Some(array![[1.0]])).unwrap_err();
    assert!(err.to_string().contains("Linear::from_weights bias"), "{err}");
}

#[test]
fn torch_state_dicts_round_trip_with_torch_layouts() {
    let mut rng = ChaCha8Rng::seed_from_u64(4);
    let mut store = ParamStore::new();
    let mlp = Mlp::new(&mut store, "net", &[3, 5, 2], Activation::Tanh, &mut rng).unwrap();
    let state = mlp.to_torch(&store, "model.").unwrap();
    // nn.Sequential(Linear(3, 5), Tanh(), Linear(5, 2)): weights out x in, biases vectors.
    let keys: Vec<&str> = state.keys().map(String::as_str).collect();
    assert_eq!(keys, ["model.0.bias", "model.0.weight", "model.2.bias", "model.2.weight"]);
    assert_eq!(state["model.0.weight"].shape(), [5, 3]);
    assert_eq!(state["model.2.bias"].shape(), [2]);
    assert_eq!(state["model.0.weight"][[4, 1]], store.get(mlp.layers()[0].weight).unwrap()[(1, 4)]);
    let mut other = ParamStore::new();
    let back = Mlp::from_torch(&mut other, "net", &state, "model.", Activation::Tanh).unwrap();
    assert_eq!(other.to_named(), store.to_named());
    let x = array![[0.3, -1.0, 2.0]];
    assert_eq!(
        back.forward(&NoGrad::new(&other), &x).unwrap(),
        mlp.forward(&NoGrad::new(&store), &x).unwrap()
    );
    // A missing or misshapen entry is named.
    let mut bad = state.clone();
    bad.insert("model.2.bias".into(), ndarray::ArrayD::zeros(ndarray::IxDyn(&[3])));
    let err = Mlp::from_torch(&mut ParamStore::new(), "n", &bad, "model.", Activation::Tanh).unwrap_err();
    assert!(err.to_string().contains("`model.2.bias`: has shape [3], expected [2]"), "{err}");
    let err = Mlp::from_torch(&mut ParamStore::new(), "n", &state, "encoder.", Activation::Tanh).unwrap_err();
    assert!(err.to_string().contains("`encoder.0.weight`"), "{err}");
}
