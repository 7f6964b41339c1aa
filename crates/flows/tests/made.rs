//! MADE's autoregressive property, read off finite-difference Jacobians.

mod common;

use autodiff::gradcheck::jacobian_fd;
use autodiff::{Activation, NoGrad, ParamStore};
use common::{normal, randomize, rng};
use flows::{HiddenDegrees, Made, Order};

/// Output `p d + i` may depend on input `j` only if `deg(j) < deg(i)`; returns the
/// number of allowed pairs that are actually connected.
fn check_autoregressive(order: Order, degrees: HiddenDegrees, seed: u64) -> (usize, usize) {
    let d = 5;
    let (mut store, mut r) = (ParamStore::new(), rng(seed));
    let made = Made::new(&mut store, "made", d, &[16, 16, 16], 2, &order, degrees, Activation::Tanh, &mut r)
        .unwrap();
    randomize(&mut store, 0.3, &mut r);
    let deg = made.input_degrees().to_vec();
    let mut sorted = deg.clone();
    sorted.sort();
    assert_eq!(sorted, (1..=d).collect::<Vec<_>>(), "degrees are a permutation of 1..=d");
    let x = normal((1, d), 1.0, &mut r);
    let jac = jacobian_fd(|v| made.forward(&NoGrad::new(&store), v).unwrap(), &x, 1e-6).unwrap();
    assert_eq!(jac.dim(), (2 * d, d));
    let (mut allowed, mut connected) = (0, 0);
    for ((k, j), &v) in jac.indexed_iter() {
        let i = k % d;
        if deg[j] >= deg[i] {
            // No path at all: the two evaluations are bit-identical.
            assert_eq!(v, 0.0, "output {k} (degree {}) depends on input {j} (degree {})", deg[i], deg[j]);
        } else {
            allowed += 1;
            connected += usize::from(v != 0.0);
        }
    }
    (allowed, connected)
}

#[test]
fn natural_order_and_degrees_connect_every_allowed_pair() {
    let (allowed, connected) = check_autoregressive(Order::Natural, HiddenDegrees::Natural, 1);
    // d (d - 1) / 2 allowed pairs per block, two blocks.
    assert_eq!(allowed, 2 * 10);
    assert_eq!(connected, allowed);
}

#[test]
fn random_orders_and_degrees_stay_autoregressive() {
    for seed in 0..8 {
        let (allowed, connected) = check_autoregressive(Order::Random, HiddenDegrees::Random, 100 + seed);
        assert_eq!(allowed, 20);
        assert!(connected > 0);
    }
    let (_, connected) = check_autoregressive(Order::Given(vec![3, 1, 4, 0, 2]), HiddenDegrees::Natural, 9);
    assert_eq!(connected, 20);
    let (_, connected) = check_autoregressive(Order::Reversed, HiddenDegrees::Natural, 10);
    assert_eq!(connected, 20);
}

#[test]
fn bad_configurations_are_rejected() {
    let mut store = ParamStore::new();
    let mut r = rng(0);
    let mut made = |order: Order, hidden: &[usize]| {
        Made::new(&mut store, "m", 3, hidden, 2, &order, HiddenDegrees::Natural, Activation::Tanh, &mut r)
    };
    assert!(made(Order::Given(vec![0, 0, 1]), &[4]).is_err());
    assert!(made(Order::Given(vec![0, 1]), &[4]).is_err());
    assert!(made(Order::Natural, &[0]).is_err());
}
