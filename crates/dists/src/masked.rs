//! Log-likelihoods of the observed entries only, shared by the distributions with
//! element-wise densities.

use crate::{Result, validate};
use autodiff::{Mask, Shape, Tensor};
use ndarray::Array2;

/// `log_prob(x)` where the 0/1 `mask` is 1 and 0 where it is 0, for a distribution of
/// parameters of shape `params`. The mask is checked once (its entries, then its shape
/// against the result's, each error naming `dist`), and `x` is selected by it before
/// any arithmetic, so an unobserved placeholder (NaN included) reaches neither the
/// value nor the gradient.
pub(crate) fn observed_log_prob<T: Tensor>(
    dist: &'static str,
    params: Shape,
    x: &T,
    mask: &Array2<f64>,
    log_prob: impl FnOnce(&T) -> Result<T>,
) -> Result<T> {
    validate::mask(dist, mask)?;
    let terms = validate::broadcast(dist, "x", params, x.shape())?;
    validate::broadcast(dist, "mask", terms, mask.dim())?;
    let keep = Mask::new(mask)?;
    Ok(log_prob(&x.keep_where(&keep)?)?.keep_where(&keep)?)
}
