//! Element-wise affine layers: NICE's diagonal scaling and Glow's ActNorm.

use crate::flow::{Direction, Flow, broadcast_logdet, check_dim};
use crate::{Error, Result};
use autodiff::{ParamId, ParamStore, Tensor};
use ndarray::{Array2, Axis};
use odesolve::OdeSession;

/// Added to the batch standard deviation in ActNorm's initialisation (Glow's value),
/// so a constant column does not divide by zero.
const ACTNORM_EPS: f64 = 1e-6;

/// `z = x e^{l} + b` column by column, with a learned log-scale row `l` and, for
/// ActNorm, a learned shift row `b`.
///
/// `ln|det dz/dx| = sum_j l_j` for every row (a diagonal Jacobian). Invertible for
/// every finite `l` (the scale `e^l` is positive by construction). Both directions
/// are one pass.
///
/// * [`ElementwiseAffine::nice_scaling`]: the diagonal scaling layer that ends a
///   NICE model (Dinh et al. 2015, Sec. 3.3), no shift, initialised to the identity.
/// * [`ElementwiseAffine::actnorm`]: Glow's activation normalisation (Kingma and
///   Dhariwal 2018, Sec. 3.1, Table 1), whose [`data_init`](Flow::data_init) sets
///   `l = -ln(std + 1e-6)` and `b = -mean e^l` from a batch, so that the batch
///   leaves the layer with zero mean and unit variance per column.
#[derive(Debug, Clone)]
pub struct ElementwiseAffine {
    log_scale: ParamId,
    shift: Option<ParamId>,
    dim: usize,
}

impl ElementwiseAffine {
    /// NICE's scaling layer `z = x e^{l}` on `dim` columns, `l = 0` initially.
    pub fn nice_scaling(store: &mut ParamStore, name: &str, dim: usize) -> Result<Self> {
        check_nonzero("NICE scaling", dim)?;
        let log_scale = store.add(format!("{name}.log_scale"), Array2::zeros((1, dim)))?;
        Ok(ElementwiseAffine { log_scale, shift: None, dim })
    }

    /// Glow's ActNorm `z = x e^{l} + b` on `dim` columns, the identity until
    /// [`data_init`](Flow::data_init) is called.
    pub fn actnorm(store: &mut ParamStore, name: &str, dim: usize) -> Result<Self> {
        check_nonzero("actnorm", dim)?;
        let log_scale = store.add(format!("{name}.log_scale"), Array2::zeros((1, dim)))?;
        let shift = store.add(format!("{name}.shift"), Array2::zeros((1, dim)))?;
        Ok(ElementwiseAffine { log_scale, shift: Some(shift), dim })
    }

    /// The log-scale parameter.
    pub fn log_scale(&self) -> ParamId {
        self.log_scale
    }

    /// The shift parameter (ActNorm only).
    pub fn shift(&self) -> Option<ParamId> {
        self.shift
    }
}

fn check_nonzero(flow: &'static str, dim: usize) -> Result<()> {
    if dim == 0 { Err(Error::Config { flow, reason: "dimension must be at least 1".into() }) } else { Ok(()) }
}

impl Flow for ElementwiseAffine {
    fn name(&self) -> &'static str {
        if self.shift.is_some() { "actnorm" } else { "NICE scaling" }
    }
    fn dim(&self) -> usize {
        self.dim
    }
    fn forward<S: OdeSession>(&self, s: &S, x: &S::T) -> Result<(S::T, S::T)> {
        check_dim(self.name(), x, self.dim)?;
        let l = s.param(self.log_scale)?;
        let mut z = x.mul(&l.exp())?;
        if let Some(b) = self.shift {
            z = z.add(&s.param(b)?)?;
        }
        Ok((z, broadcast_logdet(&l.sum_axis(Axis(1)), x.shape().0)?))
    }
    fn inverse<S: OdeSession>(&self, s: &S, z: &S::T) -> Result<(S::T, S::T)> {
        check_dim(self.name(), z, self.dim)?;
        let l = s.param(self.log_scale)?;
        let centred = match self.shift {
            Some(b) => z.sub(&s.param(b)?)?,
            None => z.clone(),
        };
        let x = centred.mul(&l.neg().exp())?;
        Ok((x, broadcast_logdet(&l.sum_axis(Axis(1)).neg(), z.shape().0)?))
    }
    fn cheap_direction(&self) -> Direction {
        Direction::Forward
    }
    fn data_init(&self, store: &mut ParamStore, x: &Array2<f64>) -> Result<()> {
        let Some(shift) = self.shift else {
            return Ok(());
        };
        check_dim(self.name(), x, self.dim)?;
        if x.nrows() < 2 {
            return Err(Error::Config {
                flow: "actnorm",
                reason: format!("data-dependent initialisation needs at least 2 rows, got {}", x.nrows()),
            });
        }
        if let Some(((row, col), value)) = autodiff::finite::first_non_finite(x) {
            return Err(Error::Config {
                flow: "actnorm",
                reason: format!("data-dependent initialisation met {value} at row {row}, column {col}"),
            });
        }
        let mean = x.view().mean_axis(Axis(0)).expect("at least 2 rows");
        let std = x.view().std_axis(Axis(0), 0.0);
        let l = std.mapv(|s| -(s + ACTNORM_EPS).ln());
        let b = -&mean * &l.mapv(f64::exp);
        store.get_mut(self.log_scale)?.row_mut(0).assign(&l);
        store.get_mut(shift)?.row_mut(0).assign(&b);
        Ok(())
    }
}
