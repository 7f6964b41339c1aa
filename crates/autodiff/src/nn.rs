//! Small neural-network layers: [`Linear`] and [`Mlp`].
//!
//! Layers own [`ParamId`]s, not values; their `forward` is generic over
//! [`Session`], so the same layer runs on a tape or on plain arrays. Inputs are
//! `batch x features`; a `Linear` computes `x W + b` with `W` of shape `in x out`
//! (PyTorch stores the transpose and computes `x W^T + b`; the maps are the same).

use crate::op::UnaryOp;
use crate::state_dict::{self, StateDict};
use crate::{Error, Init, ParamId, ParamStore, Result, Session, Tensor};
use ndarray::Array2;
use rand::Rng;

/// An element-wise nonlinearity between layers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Activation {
    /// The identity (no nonlinearity).
    Identity,
    /// `tanh`
    Tanh,
    /// `max(x, 0)`
    Relu,
    /// `ln(1 + e^x)`
    Softplus,
    /// The logistic sigmoid.
    Sigmoid,
    /// `clamp(max(x, x / 3), -3, 3)`: the "clipped very leaky rectifier" of the SRNN
    /// reference code (Fraccaro et al. 2016), a leaky ReLU of slope 1/3 whose output is
    /// bounded, which keeps activations of deep stochastic stacks from growing.
    ClippedLeakyRelu,
    /// `x` for `x > 0`, `e^x - 1` otherwise (Clevert et al. 2016): the field of the
    /// Latent ODE reference code.
    Elu,
}

/// Negative-side slope of [`Activation::ClippedLeakyRelu`].
const LEAKY_SLOPE: f64 = 1.0 / 3.0;
/// Output bound of [`Activation::ClippedLeakyRelu`].
const LEAKY_CLIP: f64 = 3.0;

impl Activation {
    /// Applies the nonlinearity.
    pub fn apply<T: Tensor>(&self, x: &T) -> T {
        match self {
            Activation::Identity => x.clone(),
            Activation::Tanh => x.tanh(),
            Activation::Relu => x.relu(),
            Activation::Softplus => x.softplus(),
            Activation::Sigmoid => x.sigmoid(),
            // max(x, a x) = a x + (1 - a) relu(x) for 0 < a < 1.
            Activation::ClippedLeakyRelu => x
                .scale(LEAKY_SLOPE)
                .add(&x.relu().scale(1.0 - LEAKY_SLOPE))
                .expect("same shapes")
                .clamp(-LEAKY_CLIP, LEAKY_CLIP)
                .expect("a window with lo < hi"),
            Activation::Elu => x.elu(),
        }
    }
}

/// An affine map `x W + b`.
#[derive(Debug, Clone, PartialEq)]
pub struct Linear {
    /// Weight, `in x out`.
    pub weight: ParamId,
    /// Bias, `1 x out`, if the layer has one.
    pub bias: Option<ParamId>,
    in_dim: usize,
    out_dim: usize,
}

impl Linear {
    /// A layer with PyTorch's default initialisation (weight and bias uniform in
    /// `+-1/sqrt(in)`), registered as `{name}.weight` and `{name}.bias`.
    pub fn new(
        store: &mut ParamStore,
        name: &str,
        in_dim: usize,
        out_dim: usize,
        rng: &mut impl Rng,
    ) -> Result<Self> {
        Self::with_init(store, name, in_dim, out_dim, Init::TorchDefault, Some(Init::TorchDefault), rng)
    }

    /// A layer with the given initialisers; `bias: None` makes a layer without bias.
    pub fn with_init(
        store: &mut ParamStore,
        name: &str,
        in_dim: usize,
        out_dim: usize,
        weight: Init,
        bias: Option<Init>,
        rng: &mut impl Rng,
    ) -> Result<Self> {
        let w = weight.sample((in_dim, out_dim), in_dim, out_dim, rng)?;
        let weight = store.add(format!("{name}.weight"), w)?;
        let bias = match bias {
            Some(init) => {
                let b = init.sample((1, out_dim), in_dim, out_dim, rng)?;
                Some(store.add(format!("{name}.bias"), b)?)
            }
            None => None,
        };
        Ok(Linear { weight, bias, in_dim, out_dim })
    }

    /// A layer holding the given weight (`in x out`) and bias (`1 x out`), registered
    /// as `{name}.weight` and `{name}.bias`: no random generator involved.
    pub fn from_weights(
        store: &mut ParamStore,
        name: &str,
        weight: Array2<f64>,
        bias: Option<Array2<f64>>,
    ) -> Result<Self> {
        let (in_dim, out_dim) = weight.dim();
        if let Some(b) = bias.as_ref().filter(|b| b.dim() != (1, out_dim)) {
            return Err(Error::Shape { op: "Linear::from_weights bias", lhs: b.dim(), rhs: (1, out_dim) });
        }
        let weight = store.add(format!("{name}.weight"), weight)?;
        let bias = bias.map(|b| store.add(format!("{name}.bias"), b)).transpose()?;
        Ok(Linear { weight, bias, in_dim, out_dim })
    }

    /// A layer from a PyTorch `nn.Linear`'s `{prefix}weight` (`out x in`) and, when
    /// present, `{prefix}bias` (length `out`), registered as
    /// [`from_weights`](Self::from_weights) does.
    pub fn from_torch(store: &mut ParamStore, name: &str, state: &StateDict, prefix: &str) -> Result<Self> {
        let key = format!("{prefix}weight");
        let (out_dim, in_dim) = state_dict::matrix_dim(state, &key)?;
        let weight = state_dict::matrix(state, &key, out_dim, in_dim)?.reversed_axes();
        let bias_key = format!("{prefix}bias");
        let bias =
            state.contains_key(&bias_key).then(|| state_dict::row(state, &bias_key, out_dim)).transpose()?;
        Self::from_weights(store, name, weight.as_standard_layout().into_owned(), bias)
    }

    /// This layer's parameters as `nn.Linear` holds them: `{prefix}weight` (`out x in`)
    /// and `{prefix}bias` (length `out`).
    pub fn to_torch(&self, store: &ParamStore, prefix: &str) -> Result<StateDict> {
        let mut state = StateDict::new();
        state.insert(
            format!("{prefix}weight"),
            store.get(self.weight)?.t().as_standard_layout().into_owned().into_dyn(),
        );
        if let Some(b) = self.bias {
            state.insert(format!("{prefix}bias"), state_dict::vector(store.get(b)?));
        }
        Ok(state)
    }

    /// Input width.
    pub fn in_dim(&self) -> usize {
        self.in_dim
    }

    /// Output width.
    pub fn out_dim(&self) -> usize {
        self.out_dim
    }

    /// The weight, then the bias if the layer has one.
    pub fn params(&self) -> impl Iterator<Item = ParamId> + use<> {
        std::iter::once(self.weight).chain(self.bias)
    }

    /// `act(x W + b + plus)` for a `batch x in` input and an optional addend of the
    /// output's shape (a recurrent cell's `h U`): one op on a tape
    /// ([`Tensor::dense`]) when the layer has a bias and `act` is the identity, tanh,
    /// sigmoid or ReLU, the layer, the sum and the activation otherwise; the same
    /// values either way.
    pub fn forward_then<S: Session>(
        &self,
        s: &S,
        x: &S::T,
        plus: Option<&S::T>,
        act: Activation,
    ) -> Result<S::T> {
        let fused = match act {
            Activation::Identity => Some(None),
            Activation::Tanh => Some(Some(UnaryOp::Tanh)),
            Activation::Sigmoid => Some(Some(UnaryOp::Sigmoid)),
            Activation::Relu => Some(Some(UnaryOp::Relu)),
            _ => None,
        };
        if let (Some(b), Some(fused)) = (self.bias, fused) {
            return x.dense(&s.param(self.weight)?, &s.param(b)?, plus, fused);
        }
        let y = self.forward(s, x)?;
        Ok(act.apply(&match plus {
            Some(c) => y.add(c)?,
            None => y,
        }))
    }

    /// `x W + b` for a `batch x in` input.
    pub fn forward<S: Session>(&self, s: &S, x: &S::T) -> Result<S::T> {
        let w = s.param(self.weight)?;
        match self.bias {
            Some(b) => x.affine(&w, &s.param(b)?),
            None => x.matmul(&w),
        }
    }
}

/// A multi-layer perceptron: `Linear`, activation, ..., `Linear` (no activation
/// after the last layer unless `output` says so).
#[derive(Debug, Clone, PartialEq)]
pub struct Mlp {
    layers: Vec<Linear>,
    hidden: Activation,
    output: Activation,
}

impl Mlp {
    /// An MLP through the given widths (`[2, 64, 64, 2]` has three layers), with
    /// `hidden` between layers and the identity at the output. Layers are named
    /// `{name}.0`, `{name}.1`, ...
    pub fn new(
        store: &mut ParamStore,
        name: &str,
        widths: &[usize],
        hidden: Activation,
        rng: &mut impl Rng,
    ) -> Result<Self> {
        if widths.len() < 2 {
            return Err(crate::Error::Invalid {
                op: "Mlp::new",
                reason: format!("need at least an input and an output width, got {widths:?}"),
            });
        }
        let layers = widths
            .windows(2)
            .enumerate()
            .map(|(i, w)| Linear::new(store, &format!("{name}.{i}"), w[0], w[1], rng))
            .collect::<Result<_>>()?;
        Self::from_layers(layers, hidden)
    }

    /// An MLP through the given layers (each one's input width must be the previous
    /// one's output width), with `hidden` between them and the identity at the output:
    /// with [`Linear::from_weights`], a network from known weights, no random
    /// generator involved.
    pub fn from_layers(layers: Vec<Linear>, hidden: Activation) -> Result<Self> {
        if layers.is_empty() {
            return Err(Error::Invalid { op: "Mlp::from_layers", reason: "no layers".into() });
        }
        if let Some(i) = layers.windows(2).position(|w| w[0].out_dim != w[1].in_dim) {
            let (a, b) = (&layers[i], &layers[i + 1]);
            return Err(Error::Invalid {
                op: "Mlp::from_layers",
                reason: format!(
                    "layer {i} outputs {} columns, layer {} takes {}",
                    a.out_dim,
                    i + 1,
                    b.in_dim
                ),
            });
        }
        Ok(Mlp { layers, hidden, output: Activation::Identity })
    }

    /// An MLP from a PyTorch `nn.Sequential` of `nn.Linear` layers with activations
    /// between them: the linear layers sit at indices `0, 2, 4, ...` (each activation
    /// takes an index and holds no parameter), read as `{prefix}{index}.weight` and
    /// `.bias` for as long as they are present. Layers are registered as
    /// [`Mlp::new`] names them.
    pub fn from_torch(
        store: &mut ParamStore,
        name: &str,
        state: &StateDict,
        prefix: &str,
        hidden: Activation,
    ) -> Result<Self> {
        let layers = (0..)
            .map_while(|i| {
                let at = format!("{prefix}{}.", 2 * i);
                state
                    .contains_key(&format!("{at}weight"))
                    .then(|| Linear::from_torch(store, &format!("{name}.{i}"), state, &at))
            })
            .collect::<Result<Vec<_>>>()?;
        if layers.is_empty() {
            return Err(Error::Data {
                what: format!("state dict entry `{prefix}0.weight`"),
                reason: "not present: no nn.Linear at index 0".into(),
            });
        }
        Self::from_layers(layers, hidden)
    }

    /// The parameters as the `nn.Sequential` that [`from_torch`](Self::from_torch)
    /// reads: layer `i` at index `2 i`.
    pub fn to_torch(&self, store: &ParamStore, prefix: &str) -> Result<StateDict> {
        let mut state = StateDict::new();
        for (i, l) in self.layers.iter().enumerate() {
            state.extend(l.to_torch(store, &format!("{prefix}{}.", 2 * i))?);
        }
        Ok(state)
    }

    /// Applies `act` to the output as well.
    pub fn with_output_activation(mut self, act: Activation) -> Self {
        self.output = act;
        self
    }

    /// The layers, first to last.
    pub fn layers(&self) -> &[Linear] {
        &self.layers
    }

    /// Every parameter of the network.
    pub fn params(&self) -> Vec<ParamId> {
        self.layers.iter().flat_map(Linear::params).collect()
    }

    /// The network applied to a `batch x in` input.
    pub fn forward<S: Session>(&self, s: &S, x: &S::T) -> Result<S::T> {
        let last = self.layers.len() - 1;
        let mut h = x.clone();
        for (i, layer) in self.layers.iter().enumerate() {
            h = layer.forward_then(s, &h, None, if i == last { self.output } else { self.hidden })?;
        }
        Ok(h)
    }
}
