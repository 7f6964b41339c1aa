//! A fixed permutation of the columns (RealNVP and Glow between couplings, MAF and
//! IAF between autoregressive layers).

use crate::flow::{Direction, Flow, check_dim, zero_logdet};
use crate::linalg::{check_permutation, permutation_matrix};
use crate::{Error, Result};
use autodiff::Tensor;
use ndarray::Array2;
use odesolve::OdeSession;
use rand::Rng;
use rand::seq::SliceRandom;

/// `z[:, j] = x[:, perm[j]]`: volume-preserving, `ln|det| = 0`, no parameters; both
/// directions are one product with a constant permutation matrix.
#[derive(Debug, Clone)]
pub struct Permutation {
    perm: Vec<usize>,
    forward: Array2<f64>,
    inverse: Array2<f64>,
}

impl Permutation {
    /// The permutation `perm` of `0..perm.len()`.
    pub fn new(perm: Vec<usize>) -> Result<Self> {
        if perm.is_empty() {
            return Err(Error::Config { flow: "permutation", reason: "empty permutation".into() });
        }
        check_permutation("permutation", &perm)?;
        let forward = permutation_matrix(&perm);
        let inverse = forward.t().to_owned();
        Ok(Permutation { perm, forward, inverse })
    }

    /// The reversal of `dim` columns (the order reversal between MAF layers).
    pub fn reverse(dim: usize) -> Result<Self> {
        Self::new((0..dim).rev().collect())
    }

    /// A uniformly random permutation of `dim` columns.
    pub fn random(dim: usize, rng: &mut impl Rng) -> Result<Self> {
        let mut perm: Vec<usize> = (0..dim).collect();
        perm.shuffle(rng);
        Self::new(perm)
    }

    /// The permutation.
    pub fn perm(&self) -> &[usize] {
        &self.perm
    }
}

impl Flow for Permutation {
    fn name(&self) -> &'static str {
        "permutation"
    }
    fn dim(&self) -> usize {
        self.perm.len()
    }
    fn forward<S: OdeSession>(&self, s: &S, x: &S::T) -> Result<(S::T, S::T)> {
        check_dim("permutation", x, self.dim())?;
        Ok((x.matmul(&s.constant(self.forward.clone()))?, zero_logdet(x)))
    }
    fn inverse<S: OdeSession>(&self, s: &S, z: &S::T) -> Result<(S::T, S::T)> {
        check_dim("permutation", z, self.dim())?;
        Ok((z.matmul(&s.constant(self.inverse.clone()))?, zero_logdet(z)))
    }
    fn cheap_direction(&self) -> Direction {
        Direction::Forward
    }
}
