//! [`Layer`]: every flow of this crate under one type, so mixed stacks are a
//! [`Chain<Layer>`](crate::Chain).

use crate::cnf::ContinuousFlow;
use crate::flow::{Direction, Flow};
use crate::{
    AutoregressiveAffine, Coupling, ElementwiseAffine, InvertibleLinear, Permutation, Planar, Radial,
};
use crate::{Result, Sylvester};
use autodiff::ParamStore;
use ndarray::Array2;
use odesolve::OdeSession;

/// One layer of any kind defined in this crate.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Layer {
    /// NICE additive or RealNVP affine coupling.
    Coupling(Coupling),
    /// NICE scaling or Glow ActNorm.
    Elementwise(ElementwiseAffine),
    /// A fixed column permutation.
    Permutation(Permutation),
    /// Glow's LU-parameterised invertible linear map.
    Linear(InvertibleLinear),
    /// A planar flow.
    Planar(Planar),
    /// A radial flow.
    Radial(Radial),
    /// MAF or IAF.
    Autoregressive(AutoregressiveAffine),
    /// A Sylvester flow.
    Sylvester(Sylvester),
    /// A continuous flow (FFJORD), boxed: its settings are larger than the other layers.
    Continuous(Box<ContinuousFlow>),
}

macro_rules! dispatch {
    ($self:ident, $f:ident => $e:expr) => {
        match $self {
            Layer::Coupling($f) => $e,
            Layer::Elementwise($f) => $e,
            Layer::Permutation($f) => $e,
            Layer::Linear($f) => $e,
            Layer::Planar($f) => $e,
            Layer::Radial($f) => $e,
            Layer::Autoregressive($f) => $e,
            Layer::Sylvester($f) => $e,
            Layer::Continuous($f) => $e,
        }
    };
}

macro_rules! from_flows {
    ($($variant:ident($ty:ty)),*) => {
        $(impl From<$ty> for Layer {
            fn from(f: $ty) -> Self {
                Layer::$variant(f)
            }
        })*
    };
}

from_flows!(
    Coupling(Coupling),
    Elementwise(ElementwiseAffine),
    Permutation(Permutation),
    Linear(InvertibleLinear),
    Planar(Planar),
    Radial(Radial),
    Autoregressive(AutoregressiveAffine),
    Sylvester(Sylvester)
);

impl From<ContinuousFlow> for Layer {
    fn from(f: ContinuousFlow) -> Self {
        Layer::Continuous(Box::new(f))
    }
}

impl Flow for Layer {
    fn name(&self) -> &'static str {
        dispatch!(self, f => f.name())
    }
    fn dim(&self) -> usize {
        dispatch!(self, f => f.dim())
    }
    fn forward<S: OdeSession>(&self, s: &S, x: &S::T) -> Result<(S::T, S::T)> {
        dispatch!(self, f => f.forward(s, x))
    }
    fn inverse<S: OdeSession>(&self, s: &S, z: &S::T) -> Result<(S::T, S::T)> {
        dispatch!(self, f => f.inverse(s, z))
    }
    fn cheap_direction(&self) -> Direction {
        dispatch!(self, f => f.cheap_direction())
    }
    fn data_init(&self, store: &mut ParamStore, x: &Array2<f64>) -> Result<()> {
        dispatch!(self, f => f.data_init(store, x))
    }
}
