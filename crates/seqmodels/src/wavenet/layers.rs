//! The layers of a WaveNet: the causal convolution, the gated residual block and the
//! output head. A convolution runs two ways from one set of weights: over whole
//! sequences ([`CausalLayer::forward`], a tape op) and one step at a time from the
//! taps a queue kept ([`CausalLayer::step`], what incremental generation uses).

use crate::Result;
use autodiff::op::CausalConv;
use autodiff::{Init, Linear, ParamId, ParamStore, Session, Tensor};
use rand::Rng;

/// A causal dilated convolution from `input` to `output` channels, with an optional
/// bias. Its filter stacks the `width` taps, `W_k` in rows `k input ..`, the last
/// tap reading the present step (see [`Tensor::causal_conv`]).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct CausalLayer {
    filter: ParamId,
    bias: Option<ParamId>,
    pub(crate) width: usize,
    pub(crate) dilation: usize,
    pub(crate) input: usize,
}

impl CausalLayer {
    /// Registers `{name}.filter` (Glorot-uniform over the `width input` inputs and
    /// `width output` outputs of the filter, as the reference's Xavier initialiser
    /// counts a convolution's fans) and, with `bias`, `{name}.bias` (zeros).
    pub(crate) fn new(
        store: &mut ParamStore,
        name: &str,
        (width, dilation): (usize, usize),
        (input, output): (usize, usize),
        bias: bool,
        rng: &mut impl Rng,
    ) -> Result<Self> {
        let w = Init::GlorotUniform.sample((width * input, output), width * input, width * output, rng)?;
        let filter = store.add(format!("{name}.filter"), w)?;
        let bias = if bias {
            Some(store.add(format!("{name}.bias"), ndarray::Array2::zeros((1, output)))?)
        } else {
            None
        };
        Ok(CausalLayer { filter, bias, width, dilation, input })
    }

    /// The layer over a time-major batch of `batch` sequences (`T B x input`).
    pub(crate) fn forward<S: Session>(&self, s: &S, x: &S::T, batch: usize) -> Result<S::T> {
        let conv = CausalConv { width: self.width, dilation: self.dilation, batch };
        self.add_bias(s, x.causal_conv(&s.param(self.filter)?, conv)?)
    }

    /// The layer at one step, from its taps `[x_{t - (w-1) d}, ..., x_{t - d}, x_t]`
    /// side by side (`B x width input`): the same sum of products, one row block.
    pub(crate) fn step<S: Session>(&self, s: &S, taps: &S::T) -> Result<S::T> {
        self.add_bias(s, taps.matmul(&s.param(self.filter)?)?)
    }

    fn add_bias<S: Session>(&self, s: &S, y: S::T) -> Result<S::T> {
        Ok(match self.bias {
            Some(b) => y.add(&s.param(b)?)?,
            None => y,
        })
    }
}

/// A 1x1 convolution (a dense layer applied at every step), Glorot-initialised with
/// zero bias, as the reference initialises them.
pub(crate) fn one_by_one(
    store: &mut ParamStore,
    name: &str,
    input: usize,
    output: usize,
    bias: bool,
    rng: &mut impl Rng,
) -> Result<Linear> {
    Ok(Linear::with_init(store, name, input, output, Init::GlorotUniform, bias.then_some(Init::Zeros), rng)?)
}

/// One residual block: a dilated convolution to the filter and gate pre-activations
/// side by side, the gated unit, and the residual and skip 1x1 convolutions.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Block {
    /// Residual channels to `2 x` dilation channels: `[W_f * x, W_g * x]`.
    pub(crate) conv: CausalLayer,
    residual: Linear,
    skip: Linear,
}

impl Block {
    pub(crate) fn new(
        store: &mut ParamStore,
        name: &str,
        (width, dilation): (usize, usize),
        (residual, gates, skip): (usize, usize, usize),
        bias: bool,
        rng: &mut impl Rng,
    ) -> Result<Self> {
        let conv = CausalLayer::new(
            store,
            &format!("{name}.conv"),
            (width, dilation),
            (residual, 2 * gates),
            bias,
            rng,
        )?;
        let res = one_by_one(store, &format!("{name}.residual"), gates, residual, bias, rng)?;
        let skip = one_by_one(store, &format!("{name}.skip"), gates, skip, bias, rng)?;
        Ok(Block { conv, residual: res, skip })
    }

    /// Given the block's input `x` and its convolution's output `[f, g]`: the gated
    /// unit `z = tanh(f) . sigmoid(g)` (van den Oord et al. 2016, Eq. 2), and the block's
    /// two outputs, the residual `x + z W_r` (the next block's input) and the skip
    /// `z W_s` (summed over the blocks by the head).
    pub(crate) fn gated<S: Session>(&self, s: &S, x: &S::T, conv: &S::T) -> Result<(S::T, S::T)> {
        let gates = conv.shape().1 / 2;
        let z = conv.slice_cols(0..gates)?.tanh().mul(&conv.slice_cols(gates..2 * gates)?.sigmoid())?;
        Ok((x.add(&self.residual.forward(s, &z)?)?, self.skip.forward(s, &z)?))
    }
}

/// The output head: `relu -> 1x1 -> relu -> 1x1` on the sum of the skips, giving the
/// logits of the output distribution.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Head {
    first: Linear,
    second: Linear,
}

impl Head {
    pub(crate) fn new(
        store: &mut ParamStore,
        name: &str,
        skip: usize,
        out: usize,
        bias: bool,
        rng: &mut impl Rng,
    ) -> Result<Self> {
        let first = one_by_one(store, &format!("{name}.1"), skip, skip, bias, rng)?;
        let second = one_by_one(store, &format!("{name}.2"), skip, out, bias, rng)?;
        Ok(Head { first, second })
    }

    pub(crate) fn forward<S: Session>(&self, s: &S, skips: &S::T) -> Result<S::T> {
        let hidden = self.first.forward(s, &skips.relu())?.relu();
        Ok(self.second.forward(s, &hidden)?)
    }
}
