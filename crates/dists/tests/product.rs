//! The Gaussian product (Bayes update): against pointwise multiplication of the
//! densities, at extreme log-variances, with masks, and its gradients.

mod common;

use autodiff::gradcheck::all_close;
use common::{grad_ok, simpson};
use dists::{DiagNormal, Error, bayes_update, gaussian_product};
use ndarray::{Array2, array};

fn normal(m: f64, lv: f64) -> DiagNormal<Array2<f64>> {
    DiagNormal::from_mean_log_var(array![[m]], array![[lv]]).unwrap()
}

#[test]
fn product_of_densities_is_the_normaliser_times_the_posterior() {
    let (p, q) = (normal(1.0, 0.5), normal(-0.5, -0.8));
    let prod = gaussian_product(&p, &q).unwrap();
    let lz = prod.log_normaliser[(0, 0)];
    for x in [-3.0, -0.4, 0.0, 0.7, 2.5] {
        let x = array![[x]];
        let lhs = p.log_prob(&x).unwrap()[(0, 0)] + q.log_prob(&x).unwrap()[(0, 0)];
        let rhs = lz + prod.posterior.log_prob(&x).unwrap()[(0, 0)];
        assert!((lhs - rhs).abs() < 1e-13, "{lhs} vs {rhs}");
    }
    // And Z is the integral of the product.
    let f = |x: f64| {
        let x = array![[x]];
        (p.log_prob(&x).unwrap()[(0, 0)] + q.log_prob(&x).unwrap()[(0, 0)]).exp()
    };
    assert!((simpson(f, -12.0, 12.0, 6000) - lz.exp()).abs() < 1e-12);
    // Textbook form: precisions add, means precision-weighted.
    let (v1, v2) = (0.5f64.exp(), (-0.8f64).exp());
    let var = v1 * v2 / (v1 + v2);
    let mean = (1.0 * v2 - 0.5 * v1) / (v1 + v2);
    assert!((prod.posterior.variance()[(0, 0)] - var).abs() < 1e-15);
    assert!((prod.posterior.mean()[(0, 0)] - mean).abs() < 1e-15);
}

#[test]
fn extreme_log_variances_give_the_limits() {
    // A near-exact observation wins; a useless one leaves the prior.
    let prod = gaussian_product(&normal(3.0, 30.0), &normal(-1.0, -30.0)).unwrap();
    assert!((prod.posterior.mean()[(0, 0)] + 1.0).abs() < 1e-20 + 1e-12);
    assert!((prod.posterior.log_var()[(0, 0)] + 30.0).abs() < 1e-12);
    let prod = gaussian_product(&normal(3.0, -30.0), &normal(1e6, 30.0)).unwrap();
    assert!((prod.posterior.mean()[(0, 0)] - 3.0).abs() < 1e-9);
    assert!(prod.log_normaliser[(0, 0)].is_finite());
}

#[test]
fn masked_update_keeps_the_prior_where_unobserved() {
    let prior = DiagNormal::from_mean_log_var(array![[0.0, 1.0, 2.0]], array![[0.0, 0.5, -0.5]]).unwrap();
    let obs = DiagNormal::from_mean_log_var(array![[1.0, -1.0, 0.0]], array![[-1.0, 0.0, 1.0]]).unwrap();
    let mask = array![[1.0, 0.0, 1.0]];
    let post = bayes_update(&prior, &obs, &mask).unwrap();
    let full = gaussian_product(&prior, &obs).unwrap().posterior;
    for j in [0, 2] {
        assert!((post.mean()[(0, j)] - full.mean()[(0, j)]).abs() < 1e-15);
        assert!((post.log_var()[(0, j)] - full.log_var()[(0, j)]).abs() < 1e-15);
    }
    assert_eq!((post.mean()[(0, 1)], post.log_var()[(0, 1)]), (1.0, 0.5));
    assert!(all_close(post.mean(), &array![[full.mean()[(0, 0)], 1.0, full.mean()[(0, 2)]]], 1e-15, 0.0));
    assert!(matches!(bayes_update(&prior, &obs, &array![[2.0, 0.0, 1.0]]), Err(Error::OutOfRange { .. })));
}

fn prod<'t>(v: &[autodiff::Var<'t>]) -> dists::Result<dists::GaussianProduct<autodiff::Var<'t>>> {
    gaussian_product(&DiagNormal::from_mean_log_var(v[0], v[1])?, &DiagNormal::from_mean_log_var(v[2], v[3])?)
}

#[test]
fn gradients_in_all_four_parameters_pass_gradcheck() {
    let m1 = array![[0.3, -1.2], [2.0, 0.5]];
    let lv1 = array![[-0.4, 0.8], [0.1, -1.5]];
    let m2 = array![[1.0, 0.2], [-0.5, 0.0]];
    let lv2 = array![[0.6, -0.3], [1.2, 0.2]];
    let inputs = [m1, lv1, m2, lv2];
    let mask = array![[1.0, 0.0], [1.0, 1.0]];
    grad_ok(|v| Ok(*prod(v)?.posterior.mean()), &inputs);
    grad_ok(|v| Ok(*prod(v)?.posterior.log_var()), &inputs);
    grad_ok(|v| Ok(prod(v)?.log_normaliser), &inputs);
    grad_ok(
        |v| {
            let post = bayes_update(
                &DiagNormal::from_mean_log_var(v[0], v[1])?,
                &DiagNormal::from_mean_log_var(v[2], v[3])?,
                &mask,
            )?;
            post.kl_to_standard_normal()
        },
        &inputs,
    );
}

#[test]
fn garbage_placeholders_in_unobserved_observations_change_nothing() {
    let (prior_mean, prior_log_var) = (array![[0.0, 1.0, 2.0]], array![[0.0, 0.5, -0.5]]);
    let clean = [array![[1.0, 0.0, 0.0]], array![[-1.0, 0.0, 1.0]]];
    // Finite (a normal's parameters must be) but far beyond what the product survives
    // if they reach it: a mean of 1e300 and a variance of e^800.
    let garbage = [array![[1.0, 1e300, 0.0]], array![[-1.0, 800.0, 1.0]]];
    fn loss<'t>(v: &[autodiff::Var<'t>]) -> dists::Result<autodiff::Var<'t>> {
        let (prior, obs) =
            (DiagNormal::from_mean_log_var(v[0], v[1])?, DiagNormal::from_mean_log_var(v[2], v[3])?);
        let post = bayes_update(&prior, &obs, &array![[1.0, 0.0, 1.0]])?;
        Ok(autodiff::Tensor::sum(&autodiff::Tensor::add(post.mean(), post.log_var())?))
    }
    let [m, lv] = clean;
    let (value, grads) =
        common::value_and_gradients(loss, &[prior_mean.clone(), prior_log_var.clone(), m, lv]);
    assert!(value.is_finite() && grads.iter().flatten().all(|g| g.is_finite()));
    let [m, lv] = garbage;
    assert_eq!(common::value_and_gradients(loss, &[prior_mean, prior_log_var, m, lv]), (value, grads));
}
