//! MADE: the masked autoencoder for distribution estimation (Germain et al. 2015).

use crate::{Error, Result};
use autodiff::{Activation, Init, ParamId, ParamStore, Session, Tensor};
use ndarray::Array2;
use rand::Rng;
use rand::seq::SliceRandom;

/// The autoregressive order of the inputs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Order {
    /// Column `j` is the `j`-th variable.
    Natural,
    /// Column `d - 1 - j` is the `j`-th variable.
    Reversed,
    /// A uniformly random order, drawn at construction.
    Random,
    /// `order[k]` is the column that comes `k`-th.
    Given(Vec<usize>),
}

/// How hidden units get their degrees (the largest input degree they may see).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HiddenDegrees {
    /// Cycling `1, 2, ..., d - 1, 1, 2, ...`: every degree equally represented.
    Natural,
    /// Uniform on `{min of the previous layer's degrees, ..., d - 1}` (Germain et
    /// al. 2015, Sec. 4.3), drawn at construction.
    Random,
}

/// A fully connected network whose output `p d + i` (block `p`, column `i`) depends
/// only on the inputs that come before column `i` in the order.
///
/// Inputs get degrees `1..=d` from the order; hidden unit `k` of layer `l` gets a
/// degree `m^l(k)` in `1..=d-1`. The weight from a unit of degree `a` into a hidden
/// unit of degree `b` is kept iff `b >= a`, into an output of degree `b` iff `b > a`
/// (Germain et al. 2015, eqs. 12-13), by multiplying the weights with constant
/// masks. Any path from input `j` to output `i` then passes through degrees that
/// rise strictly from `deg(j)` to below `deg(i)`, so the Jacobian of each output
/// block is strictly triangular in the order: the autoregressive property, which
/// the tests check on finite-difference Jacobians.
#[derive(Debug, Clone)]
pub struct Made {
    layers: Vec<MaskedLinear>,
    activation: Activation,
    input_degrees: Vec<usize>,
    blocks: usize,
}

#[derive(Debug, Clone)]
struct MaskedLinear {
    weight: ParamId,
    bias: ParamId,
    mask: Array2<f64>,
}

impl MaskedLinear {
    fn forward<S: Session>(&self, s: &S, x: &S::T) -> Result<S::T> {
        let w = s.param(self.weight)?.mask(&self.mask)?;
        Ok(x.matmul(&w)?.add(&s.param(self.bias)?)?)
    }
}

/// Degrees `1..=d` of the columns under `order`.
fn input_degrees(dim: usize, order: &Order, rng: &mut impl Rng) -> Result<Vec<usize>> {
    let perm: Vec<usize> = match order {
        Order::Natural => (0..dim).collect(),
        Order::Reversed => (0..dim).rev().collect(),
        Order::Random => {
            let mut p: Vec<usize> = (0..dim).collect();
            p.shuffle(rng);
            p
        }
        Order::Given(p) => {
            if p.len() != dim {
                return Err(Error::Config {
                    flow: "MADE",
                    reason: format!("order {p:?} is not of length {dim}"),
                });
            }
            crate::linalg::check_permutation("MADE", p)?;
            p.clone()
        }
    };
    let mut deg = vec![0; dim];
    for (k, &col) in perm.iter().enumerate() {
        deg[col] = k + 1;
    }
    Ok(deg)
}

impl Made {
    /// A MADE on `dim` inputs with the given hidden widths and `blocks` output
    /// blocks of `dim` columns each (2 for an affine autoregressive flow: shift and
    /// log-scale). Weights use PyTorch's default initialisation; layers are
    /// registered as `{name}.{l}.weight` and `{name}.{l}.bias`.
    pub fn new(
        store: &mut ParamStore,
        name: &str,
        dim: usize,
        hidden: &[usize],
        blocks: usize,
        order: &Order,
        hidden_degrees: HiddenDegrees,
        activation: Activation,
        rng: &mut impl Rng,
    ) -> Result<Self> {
        if dim == 0 || blocks == 0 || hidden.contains(&0) {
            return Err(Error::Config {
                flow: "MADE",
                reason: format!(
                    "need dim >= 1, blocks >= 1 and non-empty hidden layers, got {dim}, {blocks}, {hidden:?}"
                ),
            });
        }
        // A layer narrower than the d - 1 hidden degrees lacks some degree k, and then
        // no path leads from the input of degree k to any output: it is disconnected.
        if let Some((l, &width)) = hidden.iter().enumerate().find(|(_, w)| **w < dim - 1) {
            return Err(Error::Config {
                flow: "MADE",
                reason: format!(
                    "hidden layer {l} has {width} units, fewer than the {} hidden degrees of {dim} inputs: \
                     some inputs would reach no output",
                    dim - 1
                ),
            });
        }
        let input_degrees = input_degrees(dim, order, rng)?;
        let max_hidden = (dim - 1).max(1);
        let mut prev = input_degrees.clone();
        let mut layers = Vec::with_capacity(hidden.len() + 1);
        for (l, &width) in hidden.iter().enumerate() {
            let low = prev.iter().copied().min().unwrap_or(1).min(max_hidden);
            let deg: Vec<usize> = match hidden_degrees {
                HiddenDegrees::Natural => (0..width).map(|k| k % max_hidden + 1).collect(),
                HiddenDegrees::Random => (0..width).map(|_| rng.random_range(low..=max_hidden)).collect(),
            };
            let mask =
                Array2::from_shape_fn((prev.len(), width), |(i, k)| f64::from(u8::from(deg[k] >= prev[i])));
            layers.push(masked_linear(store, &format!("{name}.{l}"), mask, rng)?);
            prev = deg;
        }
        let out: Vec<usize> = (0..blocks).flat_map(|_| input_degrees.iter().copied()).collect();
        let mask =
            Array2::from_shape_fn((prev.len(), out.len()), |(i, k)| f64::from(u8::from(out[k] > prev[i])));
        layers.push(masked_linear(store, &format!("{name}.{}", hidden.len()), mask, rng)?);
        Ok(Made { layers, activation, input_degrees, blocks })
    }

    /// The degree (position in the order, from 1) of each input column.
    pub fn input_degrees(&self) -> &[usize] {
        &self.input_degrees
    }

    /// Number of inputs.
    pub fn dim(&self) -> usize {
        self.input_degrees.len()
    }

    /// The outputs, `batch x (blocks dim)`.
    pub fn forward<S: Session>(&self, s: &S, x: &S::T) -> Result<S::T> {
        crate::flow::check_dim("MADE", x, self.dim())?;
        let last = self.layers.len() - 1;
        let mut h = x.clone();
        for (l, layer) in self.layers.iter().enumerate() {
            h = layer.forward(s, &h)?;
            if l < last {
                h = self.activation.apply(&h);
            }
        }
        Ok(h)
    }

    /// The output blocks, each `batch x dim`.
    pub fn forward_blocks<S: Session>(&self, s: &S, x: &S::T) -> Result<Vec<S::T>> {
        let widths = vec![self.dim(); self.blocks];
        Ok(self.forward(s, x)?.split_cols(&widths)?)
    }
}

fn masked_linear(
    store: &mut ParamStore,
    name: &str,
    mask: Array2<f64>,
    rng: &mut impl Rng,
) -> Result<MaskedLinear> {
    let (fan_in, fan_out) = mask.dim();
    let weight =
        store.add(format!("{name}.weight"), Init::TorchDefault.sample(mask.dim(), fan_in, fan_out, rng)?)?;
    let bias =
        store.add(format!("{name}.bias"), Init::TorchDefault.sample((1, fan_out), fan_in, fan_out, rng)?)?;
    Ok(MaskedLinear { weight, bias, mask })
}
