//! Selection by a 0/1 mask: the entries where the mask is 1, and zeros elsewhere.
//!
//! This is what "masked out" means for an unobserved entry of irregular data. Multiplying
//! by the mask would not do: `0 * NaN` is NaN, so a NaN placeholder in an unobserved
//! entry (or an infinity that the entry's arithmetic produced) would poison every sum
//! it enters, and its gradient too. Selecting never reads the dropped entries, so
//! whatever they hold, the value is 0 there and so is the gradient.

use super::{Grad, GradTensor, OneInput, SHAPES};
use crate::fast::kernels;
use crate::shape::broadcast_shape;
use crate::{Error, Result};
use ndarray::Array2;
use std::rc::Rc;

/// A validated 0/1 mask for [`Tensor::keep_where`](crate::Tensor::keep_where), broadcasting like any operand.
///
/// Build it once and select with it many times: the check that every entry is 0 or 1
/// runs here only. [`Tensor::mask`](crate::Tensor::mask) builds one from an array on the way.
#[derive(Debug, Clone, PartialEq)]
pub struct Mask(Rc<Array2<f64>>);

impl Mask {
    /// The mask `keep`, or an error naming the first entry that is neither 0 nor 1.
    pub fn new(keep: &Array2<f64>) -> Result<Self> {
        match keep.indexed_iter().find(|(_, m)| **m != 0.0 && **m != 1.0) {
            Some(((row, col), m)) => Err(Error::Invalid {
                op: "mask",
                reason: format!("mask entry ({row}, {col}) is {m}, not 0 or 1"),
            }),
            None => Ok(Mask(Rc::new(keep.clone()))),
        }
    }

    /// The 0/1 entries.
    pub fn as_array(&self) -> &Array2<f64> {
        &self.0
    }
}

/// `y = x` where the mask is 1 and `0` where it is 0: `dL/dx` is `g` selected by the
/// same mask (summed back over the axes where `x` was broadcast).
#[derive(Debug, Clone)]
pub(crate) struct Select(pub(crate) Mask);

impl OneInput for Select {
    fn value(&self, x: &Array2<f64>) -> Result<Array2<f64>> {
        let keep = self.0.as_array();
        let shape = broadcast_shape("mask", x.dim(), keep.dim())?;
        let x = x.broadcast(shape).expect("checked by broadcast_shape");
        let keep = keep.broadcast(shape).expect("checked by broadcast_shape");
        Ok(kernels::map2(
            &x,
            &keep,
            #[inline(always)]
            |x, m| if m == 1.0 { x } else { 0.0 },
        ))
    }
    fn grad<T: GradTensor>(&self, g: &T, _: &T, _: &T) -> Grad<T> {
        Grad::New(g.keep_where(&self.0).expect(SHAPES))
    }
}
