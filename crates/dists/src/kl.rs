//! `kl_divergence(p, q)` for every pair with a closed form, under one name (as
//! `torch.distributions.kl_divergence`). Pairs without one (mixtures) go through
//! [`monte_carlo_kl`](crate::monte_carlo_kl).

use crate::{Bernoulli, Categorical, DiagNormal, MultivariateNormal, Result};
use autodiff::Tensor;

/// A closed-form `KL(self || q)`.
pub trait KlDivergence<Q = Self> {
    /// The divergence's type (element-wise for factorised families, `1 x 1` otherwise).
    type Output;
    /// `KL(self || q)`.
    fn kl_divergence(&self, q: &Q) -> Result<Self::Output>;
}

/// `KL(p || q)` in closed form.
pub fn kl_divergence<P: KlDivergence<Q>, Q>(p: &P, q: &Q) -> Result<P::Output> {
    p.kl_divergence(q)
}

/// Implements the trait by the inherent method of the same name.
macro_rules! closed_form {
    ($($ty:ident),*) => {$(
        impl<T: Tensor> KlDivergence for $ty<T> {
            type Output = T;
            fn kl_divergence(&self, q: &Self) -> Result<T> {
                $ty::kl_divergence(self, q)
            }
        }
    )*};
}

closed_form!(DiagNormal, MultivariateNormal, Bernoulli, Categorical);
