//! Full-covariance normal and the linear algebra under it: Cholesky, triangular
//! solves, densities on a grid, KL, sampling, gradients, and (with the `lapack`
//! feature) a cross-check against LAPACK.

mod common;

use autodiff::Tensor;
use autodiff::gradcheck::all_close;
use autodiff::testing::{matrix, seed};
use common::{grad_ok, grid_2d, rng};
use dists::linalg::{Triangle, cholesky, log_det_from_cholesky, solve_lower_rows, solve_right_triangular};
use dists::{DiagNormal, Error, MultivariateNormal, Sample, kl_divergence, monte_carlo_kl};
use ndarray::{Array2, Axis, array};
use proptest::prelude::*;

/// A symmetric positive definite matrix `B B^T + d I` from any square `B`.
fn spd(b: &Array2<f64>) -> Array2<f64> {
    b.dot(&b.t()) + Array2::<f64>::eye(b.nrows()) * b.nrows() as f64
}

/// Ones on and below the diagonal: keeps a gradient-check input lower-triangular.
fn tril(d: usize) -> Array2<f64> {
    Array2::from_shape_fn((d, d), |(i, j)| if j <= i { 1.0 } else { 0.0 })
}

fn example() -> MultivariateNormal<Array2<f64>> {
    let cov = array![[2.0, 0.6], [0.6, 0.5]];
    MultivariateNormal::from_covariance(array![[0.5, -1.0]], &cov).unwrap()
}

#[test]
fn cholesky_of_a_known_matrix_and_its_failures() {
    // [[4, 2], [2, 3]] = L L^T with L = [[2, 0], [1, sqrt 2]].
    let l = cholesky(&array![[4.0, 2.0], [2.0, 3.0]]).unwrap();
    assert!(all_close(&l, &array![[2.0, 0.0], [1.0, 2f64.sqrt()]], 1e-15, 0.0));
    assert!((log_det_from_cholesky(&l) - 8f64.ln()).abs() < 1e-15);
    // Eigenvalues 3 and -1: the second pivot is 1 - 4 = -3.
    assert_eq!(
        cholesky(&array![[1.0, 2.0], [2.0, 1.0]]),
        Err(Error::NotPositiveDefinite { pivot: 1, value: -3.0 })
    );
    assert!(matches!(
        cholesky(&array![[1.0, 0.5], [0.4, 1.0]]),
        Err(Error::NotSymmetric { row: 1, col: 0, .. })
    ));
    assert!(matches!(cholesky(&Array2::zeros((2, 3))), Err(Error::Shape { .. })));
    let msg = cholesky(&array![[0.0]]).unwrap_err().to_string();
    assert!(msg.contains("not positive definite") && msg.contains("pivot 0"), "{msg}");
}

#[test]
fn density_integrates_to_one_on_a_grid_and_matches_the_diagonal_case() {
    let p = example();
    let (pts, area) = grid_2d(-9.0, 9.0, 600);
    let mass: f64 = p.log_prob(&pts).unwrap().iter().map(|l| l.exp()).sum::<f64>() * area;
    // The midpoint rule is spectrally accurate for a Gaussian well inside the box.
    assert!((mass - 1.0).abs() < 1e-9, "mass {mass}");
    // A diagonal scale is a product of independent normals.
    let l = array![[0.5, 0.0], [0.0, 2.0]];
    let mvn = MultivariateNormal::new(array![[1.0, -1.0]], l).unwrap();
    let diag = DiagNormal::from_mean_std(array![[1.0, -1.0]], array![[0.5, 2.0]]).unwrap();
    let x = array![[0.3, 0.4], [2.0, -5.0]];
    assert!(all_close(&mvn.log_prob(&x).unwrap(), &diag.log_prob_rows(&x).unwrap(), 1e-14, 1e-14));
    let h: f64 = diag.entropy().view().sum();
    assert!((mvn.entropy().unwrap()[(0, 0)] - h).abs() < 1e-14);
    assert!(all_close(&kl_divergence(&mvn, &mvn).unwrap(), &array![[0.0]], 0.0, 1e-15));
}

#[test]
fn one_dimensional_density_integrates_to_one() {
    let p = MultivariateNormal::new(array![[0.7]], array![[1.3]]).unwrap();
    let f = |x: f64| p.log_prob(&array![[x]]).unwrap()[(0, 0)].exp();
    assert!((common::simpson(f, -15.0, 16.0, 6000) - 1.0).abs() < 1e-10);
    // Far from the mean (1e6 scales away) the log-density is finite and exact.
    let far = p.log_prob(&array![[0.7 + 1.3e6]]).unwrap()[(0, 0)];
    let want = -0.5 * ((2.0 * std::f64::consts::PI).ln() + 1e12) - 1.3f64.ln();
    assert!((far - want).abs() < 1e-12 * want.abs(), "{far} vs {want}");
}

#[test]
fn samples_have_the_right_mean_and_covariance() {
    let p = example();
    let x = p.sample_n(40000, &mut rng(11)).unwrap();
    assert_eq!(x, p.sample(40000, &mut rng(11)).unwrap(), "same seed, same draws");
    let mean = x.view().mean_axis(Axis(0)).unwrap();
    let c = &x - &mean;
    let cov = c.t().dot(&c) / (x.nrows() as f64 - 1.0);
    // Standard errors ~ sqrt(2 / 40000) * 2 = 0.014 for the largest entry.
    assert!(all_close(&mean.clone().insert_axis(Axis(0)), p.loc(), 0.0, 0.03), "{mean}");
    assert!(all_close(&cov, &p.covariance().unwrap(), 0.0, 0.06), "{cov}");
}

#[test]
fn constructors_reject_bad_scales_and_shapes() {
    let loc = array![[0.0, 0.0]];
    let upper = array![[1.0, 0.1], [0.0, 1.0]];
    assert!(matches!(
        MultivariateNormal::new(loc.clone(), upper),
        Err(Error::NotLowerTriangular { row: 0, col: 1, .. })
    ));
    let neg = array![[1.0, 0.0], [0.3, -1.0]];
    assert!(matches!(MultivariateNormal::new(loc.clone(), neg), Err(Error::NonPositive { row: 1, .. })));
    assert!(matches!(MultivariateNormal::new(loc.clone(), Array2::eye(3)), Err(Error::Shape { .. })));
    assert!(matches!(
        MultivariateNormal::new(array![[f64::NAN]], Array2::eye(1)),
        Err(Error::NonFinite { .. })
    ));
    let p = MultivariateNormal::new(loc, Array2::eye(2)).unwrap();
    assert!(matches!(p.log_prob(&array![[1.0, 2.0, 3.0]]), Err(Error::Shape { what: "x", .. })));
}

/// An MVN whose scale is the lower triangle of `s`: the gradient check perturbs the
/// zeros above the diagonal too, and must see no effect there.
fn mvn<'t>(
    m: autodiff::Var<'t>,
    s: autodiff::Var<'t>,
) -> dists::Result<MultivariateNormal<autodiff::Var<'t>>> {
    MultivariateNormal::new(m, s.mask(&tril(s.shape().0))?)
}

#[test]
fn gradients_in_mean_scale_and_data_pass_gradcheck() {
    let loc = array![[0.2, -0.5, 1.0]];
    let l = array![[1.2, 0.0, 0.0], [0.3, 0.8, 0.0], [-0.4, 0.5, 1.5]];
    let loc2 = array![[-0.3, 0.1, 0.4]];
    let l2 = array![[0.9, 0.0, 0.0], [-0.2, 1.1, 0.0], [0.6, 0.1, 0.7]];
    let x = array![[0.5, 0.1, -0.2], [1.5, -1.0, 2.0]];
    let eps = array![[0.3, -1.1, 0.8], [0.0, 0.5, -0.4]];
    grad_ok(|v| mvn(v[0], v[1])?.log_prob(&v[2]), &[loc.clone(), l.clone(), x]);
    grad_ok(|v| mvn(v[0], v[1])?.entropy(), &[loc.clone(), l.clone()]);
    grad_ok(|v| mvn(v[0], v[1])?.rsample_with(&eps), &[loc.clone(), l.clone()]);
    grad_ok(|v| mvn(v[0], v[1])?.kl_divergence(&mvn(v[2], v[3])?), &[loc, l, loc2, l2]);
    let mask = tril(3);
    // The tape solve itself, in M and the right-hand side, for both triangles.
    let b = array![[1.0, 2.0, -1.0], [0.3, 0.0, 0.7]];
    let m = tril(3) + Array2::<f64>::eye(3);
    grad_ok(|v| solve_right_triangular(&v[1], &v[0].mask(&mask)?, Triangle::Lower), &[m.clone(), b.clone()]);
    let upper = mask.t().to_owned();
    grad_ok(|v| solve_right_triangular(&v[1], &v[0].mask(&upper)?, Triangle::Upper), &[m.t().to_owned(), b]);
}

/// `X M = Y` solved back for `Y = X M`, with `M` upper and lower triangular.
#[test]
fn triangular_solves_invert_products() {
    let u = array![[2.0, -1.0, 0.5], [0.0, 1.5, 0.3], [0.0, 0.0, -0.7]];
    let x = array![[0.3, -1.0, 2.0], [1.0, 0.0, -0.5]];
    let back = solve_right_triangular(&x.dot(&u), &u, Triangle::Upper).unwrap();
    assert!(all_close(&back, &x, 1e-12, 1e-12));
    let l = u.t().to_owned();
    let back = solve_right_triangular(&x.dot(&l), &l, Triangle::Lower).unwrap();
    assert!(all_close(&back, &x, 1e-12, 1e-12));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn cholesky_reconstructs_and_solves_agree(b in matrix(4, 4, -2.0, 2.0), r in matrix(3, 4, -3.0, 3.0)) {
        let a = spd(&b);
        let l = cholesky(&a).unwrap();
        prop_assert!(all_close(&l.dot(&l.t()), &a, 1e-12, 1e-12));
        prop_assert!(l.iter().enumerate().all(|(k, v)| k % 4 <= k / 4 || *v == 0.0));
        let z = solve_lower_rows(&l, &r).unwrap();
        prop_assert!(all_close(&z.dot(&l.t()), &r, 1e-10, 1e-10));
        // The tape solve: L z_r = r_r for every row is Z L^T = R.
        let tape_solve = solve_right_triangular(&r, &l.t().to_owned(), Triangle::Upper).unwrap();
        prop_assert!(all_close(&tape_solve, &z, 1e-12, 1e-12));
    }

    #[test]
    fn kl_is_nonnegative_zero_on_the_diagonal_and_matches_monte_carlo(
        b1 in matrix(3, 3, -1.0, 1.0), b2 in matrix(3, 3, -1.0, 1.0),
        m1 in matrix(1, 3, -1.0, 1.0), m2 in matrix(1, 3, -1.0, 1.0), s in seed(),
    ) {
        let p = MultivariateNormal::from_covariance(m1, &(spd(&b1) / 3.0)).unwrap();
        let q = MultivariateNormal::from_covariance(m2, &(spd(&b2) / 3.0)).unwrap();
        let kl = p.kl_divergence(&q).unwrap()[(0, 0)];
        prop_assert!(kl >= -1e-12);
        prop_assert!(p.kl_divergence(&p).unwrap()[(0, 0)].abs() < 1e-12);
        let mc = monte_carlo_kl(&p, &q, 4000, &mut rng(s)).unwrap();
        prop_assert!((mc.value - kl).abs() <= 4.0 * mc.std_err, "{mc:?} vs {kl}");
    }
}

#[cfg(feature = "lapack")]
mod lapack {
    use super::*;
    use ndarray_linalg::solve::Determinant;
    use ndarray_linalg::{Cholesky, Diag, SolveTriangular, UPLO};

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(32))]

        #[test]
        fn pure_rust_linear_algebra_matches_lapack(b in matrix(5, 5, -2.0, 2.0), r in matrix(5, 3, -3.0, 3.0)) {
            let a = spd(&b);
            let ours = cholesky(&a).unwrap();
            let theirs = a.cholesky(UPLO::Lower).unwrap();
            prop_assert!(all_close(&ours, &theirs, 1e-13, 1e-13));
            let (sign, ln_det) = a.sln_det().unwrap();
            prop_assert!(sign > 0.0 && (log_det_from_cholesky(&ours) - ln_det).abs() < 1e-12 * (1.0 + ln_det.abs()));
            // Ours solves rows: L Z^T = R^T; LAPACK solves columns.
            let z = solve_lower_rows(&ours, &r.t().to_owned()).unwrap();
            let zl = theirs.solve_triangular(UPLO::Lower, Diag::NonUnit, &r).unwrap();
            prop_assert!(all_close(&z.t().to_owned(), &zl, 1e-12, 1e-12));
        }
    }
}
