//! The exact filter of a linear-Gaussian state-space model observed through masks:
//! the Kalman filter, on small dense matrices (a state of a few dimensions), so plain
//! `ndarray` loops and no LAPACK.
//!
//! The model moves a state `x` (`n`) one step at a time and observes some of its
//! linear functions, each with its own independent noise:
//!
//! $$ x_{k+1} = A x_k + w_k, \quad w_k \sim \mathcal N(0, Q), \qquad
//!    o_d = H_d\, x + v_d, \quad v_d \sim \mathcal N(0, r_d), $$
//!
//! where only the dimensions `d` a mask marks are observed at a given step. Given a
//! Gaussian belief `N(m, P)` about the state, the prediction is `N(A m, A P A^T + Q)`
//! and an observation conditions it exactly. Because the observation noises are
//! independent, conditioning on the observed dimensions one at a time is the same as
//! conditioning on them jointly, and each one-at-a-time step is a scalar update with
//! no matrix inverse (Kalman 1960; Särkkä, *Bayesian Filtering and Smoothing*, 2013,
//! Theorem 4.2, applied to one row of `H` at a time):
//!
//! $$ s = H_d P H_d^\top + r_d, \quad k = P H_d^\top / s, \quad
//!    m \leftarrow m + k\,(o_d - H_d m), \quad P \leftarrow P - k k^\top s. $$
//!
//! Noise-free observations (`r_d = 0`) are allowed: they pin the state's component
//! along `H_d`, and a second look at a value the belief already determines exactly
//! (`s = 0`) teaches nothing and is skipped rather than divided by.

use crate::{Error, Result};
use ndarray::{Array1, Array2, ArrayView1};

/// A Gaussian belief about the state: mean `m` (`n`) and covariance `P` (`n x n`).
#[derive(Debug, Clone, PartialEq)]
pub struct Gaussian {
    /// The mean.
    pub mean: Array1<f64>,
    /// The covariance (symmetric, positive semi-definite).
    pub cov: Array2<f64>,
}

/// A linear-Gaussian state-space model (see the module docs).
#[derive(Debug, Clone, PartialEq)]
pub struct LinearGaussian {
    transition: Array2<f64>,
    noise: Array2<f64>,
    observe: Array2<f64>,
    obs_noise: Array1<f64>,
}

impl LinearGaussian {
    /// The model with transition `A` (`n x n`), step noise covariance `Q` (`n x n`,
    /// symmetric), observation rows `H` (`D x n`) and observation noise variances `r`
    /// (`D`, each `>= 0`). Everything must be finite.
    pub fn new(
        transition: Array2<f64>,
        noise: Array2<f64>,
        observe: Array2<f64>,
        obs_noise: Array1<f64>,
    ) -> Result<Self> {
        let fail = |reason: String| Err(Error::config("LinearGaussian", reason));
        let n = transition.nrows();
        if n == 0 || transition.dim() != (n, n) || noise.dim() != (n, n) {
            return fail(format!(
                "transition {:?} and noise {:?} must both be n x n with n >= 1",
                transition.dim(),
                noise.dim()
            ));
        }
        if observe.ncols() != n || observe.nrows() != obs_noise.len() {
            return fail(format!(
                "observation rows {:?} must be D x {n} with D = {} noise variances",
                observe.dim(),
                obs_noise.len()
            ));
        }
        let all = transition.iter().chain(&noise).chain(&observe).chain(&obs_noise);
        if let Some(v) = all.into_iter().find(|v| !v.is_finite()) {
            return fail(format!("every entry must be finite, found {v}"));
        }
        if noise.indexed_iter().any(|((i, j), v)| *v != noise[(j, i)]) {
            return fail("the step noise covariance is not symmetric".into());
        }
        if let Some((d, v)) = obs_noise.indexed_iter().find(|(_, v)| **v < 0.0) {
            return fail(format!("observation noise variance {d} is negative: {v}"));
        }
        Ok(LinearGaussian { transition, noise, observe, obs_noise })
    }

    /// State dimension `n`.
    pub fn state_dim(&self) -> usize {
        self.transition.nrows()
    }

    /// Number of observable dimensions `D`.
    pub fn obs_dim(&self) -> usize {
        self.observe.nrows()
    }

    /// The belief one step later: `N(A m, A P A^T + Q)`.
    pub fn predict(&self, belief: &Gaussian) -> Gaussian {
        self.expect_state(belief);
        let a = &self.transition;
        Gaussian { mean: a.dot(&belief.mean), cov: a.dot(&belief.cov).dot(&a.t()) + &self.noise }
    }

    /// The belief after `steps` steps with no observation.
    pub fn predict_steps(&self, belief: &Gaussian, steps: usize) -> Gaussian {
        (0..steps).fold(belief.clone(), |b, _| self.predict(&b))
    }

    /// The belief conditioned on `values` (`D`) where `mask` (`D`, 0/1) is 1; the
    /// values where it is 0 are not read. An error if either length is not `D`.
    pub fn update(
        &self,
        belief: &Gaussian,
        values: ArrayView1<'_, f64>,
        mask: ArrayView1<'_, f64>,
    ) -> Result<Gaussian> {
        self.expect_state(belief);
        let d = self.obs_dim();
        if values.len() != d || mask.len() != d {
            return Err(Error::config(
                "LinearGaussian::update",
                format!(
                    "{} values and {} mask entries for {d} observable dimensions",
                    values.len(),
                    mask.len()
                ),
            ));
        }
        let mut b = belief.clone();
        for dim in (0..d).filter(|&k| mask[k] != 0.0) {
            let h = self.observe.row(dim);
            let ph = b.cov.dot(&h);
            let s = h.dot(&ph) + self.obs_noise[dim];
            // s = 0: the belief already fixes this value exactly (y(0) = 0 of the
            // double OU), so there is nothing to learn and no gain to compute.
            if s <= 0.0 {
                continue;
            }
            let gain = &ph / s;
            b.mean = &b.mean + &(&gain * (values[dim] - h.dot(&b.mean)));
            let outer = Array2::from_shape_fn((self.state_dim(), self.state_dim()), |(i, j)| gain[i] * ph[j]);
            b.cov = &b.cov - &outer;
            // Rounding leaves P - k k^T s slightly asymmetric; later steps assume a
            // symmetric P.
            b.cov = (&b.cov + &b.cov.t()) / 2.0;
        }
        Ok(b)
    }

    /// The predictive marginal of each observable dimension under `belief`: means
    /// `H m` and variances `diag(H P H^T) + r` (`D` each).
    pub fn observation(&self, belief: &Gaussian) -> (Array1<f64>, Array1<f64>) {
        self.expect_state(belief);
        let mean = self.observe.dot(&belief.mean);
        let var = Array1::from_shape_fn(self.obs_dim(), |d| {
            let h = self.observe.row(d);
            h.dot(&belief.cov.dot(&h)) + self.obs_noise[d]
        });
        (mean, var)
    }

    /// A belief of another state dimension is a caller's bug, not an input error:
    /// beliefs come from this model's own methods or from its owner's prior.
    fn expect_state(&self, belief: &Gaussian) {
        let n = self.state_dim();
        assert!(
            belief.mean.len() == n && belief.cov.dim() == (n, n),
            "a belief of mean {} and covariance {:?} for a state of {n} dimensions",
            belief.mean.len(),
            belief.cov.dim()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    /// A scalar random walk with drift toward 0: x' = 0.5 x + w, w ~ N(0, 0.25),
    /// observed with noise variance 0.5.
    fn scalar() -> LinearGaussian {
        LinearGaussian::new(array![[0.5]], array![[0.25]], array![[1.0]], array![0.5]).unwrap()
    }

    #[test]
    fn one_step_from_a_known_gaussian_is_the_closed_form() {
        let model = scalar();
        let prior = Gaussian { mean: array![2.0], cov: array![[4.0]] };
        let pred = model.predict(&prior);
        // A m = 1; A^2 P + Q = 0.25 * 4 + 0.25 = 1.25.
        assert_eq!(pred, Gaussian { mean: array![1.0], cov: array![[1.25]] });
        let (mean, var) = model.observation(&pred);
        // The value is the state plus noise: variance 1.25 + 0.5.
        assert_eq!((mean[0], var[0]), (1.0, 1.75));
        // Conditioning on o = 3: gain 1.25 / 1.75, mean 1 + (5/7) 2, variance
        // 1.25 - 1.25^2 / 1.75 = 1.25 * 0.5 / 1.75.
        let post = model.update(&pred, array![3.0].view(), array![1.0].view()).unwrap();
        assert!((post.mean[0] - (1.0 + 2.0 * 5.0 / 7.0)).abs() < 1e-14);
        assert!((post.cov[(0, 0)] - 1.25 * 0.5 / 1.75).abs() < 1e-14);
        let skipped = model.update(&pred, array![f64::NAN].view(), array![0.0].view()).unwrap();
        assert_eq!(skipped, pred, "an unobserved value is not read");
    }

    #[test]
    fn one_at_a_time_equals_the_joint_update() {
        // Two correlated coordinates, both observed with independent noise: the
        // joint update is m + P (P + R)^-1 (o - m), P - P (P + R)^-1 P.
        let p = array![[2.0, 0.8], [0.8, 1.0]];
        let r = array![0.3, 0.7];
        let eye = Array2::eye(2);
        let model = LinearGaussian::new(eye.clone(), Array2::zeros((2, 2)), eye, r.clone()).unwrap();
        let belief = Gaussian { mean: array![0.5, -1.0], cov: p.clone() };
        let o = array![1.5, 0.0];
        let post = model.update(&belief, o.view(), array![1.0, 1.0].view()).unwrap();
        let s = &p + &Array2::from_diag(&r);
        let det = s[(0, 0)] * s[(1, 1)] - s[(0, 1)] * s[(1, 0)];
        let s_inv = array![[s[(1, 1)], -s[(0, 1)]], [-s[(1, 0)], s[(0, 0)]]] / det;
        let k = p.dot(&s_inv);
        let mean = &belief.mean + &k.dot(&(&o - &belief.mean));
        let cov = &p - &k.dot(&p);
        assert!(post.mean.iter().zip(&mean).all(|(a, b)| (a - b).abs() < 1e-14), "{post:?} {mean}");
        assert!(post.cov.iter().zip(&cov).all(|(a, b)| (a - b).abs() < 1e-14), "{post:?} {cov}");
    }

    #[test]
    fn a_noise_free_look_pins_the_value_and_a_second_is_skipped() {
        let eye = Array2::eye(2);
        let model = LinearGaussian::new(eye.clone(), Array2::zeros((2, 2)), eye, array![0.0, 0.0]).unwrap();
        let belief = Gaussian { mean: array![0.0, 0.0], cov: array![[1.0, 0.5], [0.5, 1.0]] };
        let post = model.update(&belief, array![2.0, 0.0].view(), array![1.0, 0.0].view()).unwrap();
        // x1 = 2 exactly; x2 | x1 has mean 0.5 * 2 and variance 1 - 0.25.
        assert_eq!(post.mean, array![2.0, 1.0]);
        assert!(post.cov[(0, 0)].abs() < 1e-15 && (post.cov[(1, 1)] - 0.75).abs() < 1e-15);
        let pinned = Gaussian { mean: array![0.0, 0.0], cov: Array2::zeros((2, 2)) };
        let again = model.update(&pinned, array![0.0, 0.0].view(), array![1.0, 1.0].view()).unwrap();
        assert_eq!(again, pinned, "s = 0 changes nothing");
    }

    #[test]
    fn bad_models_and_observations_are_errors() {
        let eye = || Array2::<f64>::eye(2);
        let bad = [
            LinearGaussian::new(Array2::zeros((2, 3)), eye(), eye(), array![0.0, 0.0]),
            LinearGaussian::new(eye(), eye(), Array2::zeros((2, 3)), array![0.0, 0.0]),
            LinearGaussian::new(eye(), array![[1.0, 0.5], [0.0, 1.0]], eye(), array![0.0, 0.0]),
            LinearGaussian::new(eye(), eye(), eye(), array![0.0, -1.0]),
            LinearGaussian::new(eye() * f64::NAN, eye(), eye(), array![0.0, 0.0]),
        ];
        for err in bad.into_iter().map(|m| m.unwrap_err().to_string()) {
            assert!(err.starts_with("LinearGaussian: "), "{err}");
        }
        let model = scalar();
        let belief = Gaussian { mean: array![0.0], cov: array![[1.0]] };
        let err = model.update(&belief, array![1.0, 2.0].view(), array![1.0].view()).unwrap_err();
        assert!(err.to_string().contains("2 values and 1 mask entries for 1"), "{err}");
    }
}
