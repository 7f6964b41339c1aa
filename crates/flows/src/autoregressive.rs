//! Affine autoregressive flows on MADE: MAF (Papamakarios et al. 2017) and IAF
//! (Kingma et al. 2016).

use crate::Result;
use crate::coupling::ScaleBound;
use crate::flow::{Direction, Flow, check_dim};
use crate::made::{HiddenDegrees, Made, Order};
use autodiff::{Activation, ParamStore, Session, Tensor};
use ndarray::Axis;
use odesolve::OdeSession;
use rand::Rng;

/// Which side of the map the MADE reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Conditioning {
    /// MAF: shift and scale are functions of the data `x` (density estimation: the
    /// data-to-base direction is one pass).
    Data,
    /// IAF: shift and scale are functions of the base variable `z` (sampling and
    /// variational posteriors: the base-to-data direction is one pass).
    Base,
}

/// The affine autoregressive map `x_i = z_i e^{a_i} + mu_i`, where `mu_i` and the
/// bounded log-scale `a_i` depend on the variables before `i` in the MADE's order
/// (of `x` for MAF, of `z` for IAF).
///
/// * MAF (Papamakarios et al. 2017, eqs. 3-5): forward `z = (x - mu(x)) e^{-a(x)}` in
///   one pass, `ln|det dz/dx| = -sum_i a_i(x)` (triangular Jacobian); the inverse
///   needs `d` passes.
/// * IAF (Kingma et al. 2016, eqs. 10-11, in the affine form): inverse
///   `x = z e^{a(z)} + mu(z)` in one pass, `ln|det dx/dz| = sum_i a_i(z)`; the
///   forward direction needs `d` passes.
///
/// The sequential direction solves the fixed point `v = g(v)` by `d` iterations from
/// 0: after `k` iterations the first `k` variables of the order are exact, because
/// variable `i`'s shift and scale only read earlier variables. Invertible for every
/// parameter value: the scale `e^a` is positive.
#[derive(Debug, Clone)]
pub struct AutoregressiveAffine {
    made: Made,
    bound: ScaleBound,
    conditioning: Conditioning,
}

impl AutoregressiveAffine {
    /// A MAF or IAF layer on `dim` columns with a MADE of the given hidden widths.
    pub fn new(
        store: &mut ParamStore,
        name: &str,
        dim: usize,
        hidden: &[usize],
        order: &Order,
        conditioning: Conditioning,
        bound: ScaleBound,
        rng: &mut impl Rng,
    ) -> Result<Self> {
        let made =
            Made::new(store, name, dim, hidden, 2, order, HiddenDegrees::Natural, Activation::Tanh, rng)?;
        Ok(AutoregressiveAffine { made, bound, conditioning })
    }

    /// The underlying MADE (outputs: shift block, then raw log-scale block).
    pub fn made(&self) -> &Made {
        &self.made
    }

    /// `(z - mu(c)) e^{-a(c)}` (normalize) or `z e^{a(c)} + mu(c)`, with the
    /// log-determinant `-sum a` or `+sum a`.
    fn affine<S: Session>(&self, s: &S, c: &S::T, v: &S::T, normalize: bool) -> Result<(S::T, S::T)> {
        let blocks = self.made.forward_blocks(s, c)?;
        let a = self.bound.log_scale(&blocks[1]);
        let ld = a.sum_axis(Axis(1));
        Ok(if normalize {
            (v.sub(&blocks[0])?.mul(&a.neg().exp())?, ld.neg())
        } else {
            (v.mul(&a.exp())?.add(&blocks[0])?, ld)
        })
    }

    /// Solves `w = affine(w, v)` by `d` fixed-point iterations from zero.
    fn sequential<S: Session>(&self, s: &S, v: &S::T, normalize: bool) -> Result<(S::T, S::T)> {
        let mut w = v.constant(ndarray::Array2::zeros(v.shape()));
        for _ in 1..self.made.dim() {
            w = self.affine(s, &w, v, normalize)?.0;
        }
        self.affine(s, &w, v, normalize)
    }
}

impl Flow for AutoregressiveAffine {
    fn name(&self) -> &'static str {
        match self.conditioning {
            Conditioning::Data => "MAF",
            Conditioning::Base => "IAF",
        }
    }
    fn dim(&self) -> usize {
        self.made.dim()
    }
    fn forward<S: OdeSession>(&self, s: &S, x: &S::T) -> Result<(S::T, S::T)> {
        check_dim(self.name(), x, self.dim())?;
        match self.conditioning {
            Conditioning::Data => self.affine(s, x, x, true),
            Conditioning::Base => self.sequential(s, x, true),
        }
    }
    fn inverse<S: OdeSession>(&self, s: &S, z: &S::T) -> Result<(S::T, S::T)> {
        check_dim(self.name(), z, self.dim())?;
        match self.conditioning {
            Conditioning::Data => self.sequential(s, z, false),
            Conditioning::Base => self.affine(s, z, z, false),
        }
    }
    fn cheap_direction(&self) -> Direction {
        match self.conditioning {
            Conditioning::Data => Direction::Forward,
            Conditioning::Base => Direction::Inverse,
        }
    }
}
