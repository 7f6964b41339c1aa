//! What every batch does to its values before a model sees them: the observation mask
//! checked, the observed values checked, and 0 written into every unobserved value.

use crate::{Error, Result};
use autodiff::data::require_finite;
use ndarray::Array2;

/// Checks that `mask` holds only 0 and 1 and that every value it observes is finite
/// (the errors name `what`, `label`, the entry and the value), then overwrites each
/// unobserved value with 0, so a placeholder (often NaN, as missing values are)
/// never reaches a model's arithmetic. `mask` has the shape of `values`, or one column
/// (each row's step observed or not as a whole); another shape is an error.
pub(crate) fn keep_observed(
    what: &'static str,
    label: &str,
    values: &mut Array2<f64>,
    mask: &Array2<f64>,
) -> Result<()> {
    if let Some(((r, c), m)) = mask.indexed_iter().find(|(_, m)| **m != 0.0 && **m != 1.0) {
        return Err(Error::config(what, format!("{label}: mask holds {m} at ({r}, {c}); masks are 0/1")));
    }
    if mask.broadcast(values.dim()).is_none() {
        let (m, v) = (mask.dim(), values.dim());
        return Err(Error::config(what, format!("{label}: a mask of {m:?} for values of {v:?}")));
    }
    // Both broadcast a one-column mask over the row, without a copy of it.
    require_finite(|| label.to_owned(), values, Some(mask))?;
    values.zip_mut_with(mask, |x, &m| {
        if m == 0.0 {
            *x = 0.0;
        }
    });
    Ok(())
}
