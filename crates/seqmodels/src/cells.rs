//! Recurrent cells: the tanh RNN, the GRU in its two conventions, the Latent ODE
//! code's GRU over a mean and a standard deviation, and the masked loop that runs a
//! cell over a time-major sequence.
//!
//! A cell maps an input `x_t` (`B x I`) and the previous state `h_{t-1}` (`B x H`) to
//! `h_t`. Weights are stored transposed with respect to PyTorch (`in x out`, so a
//! product is `x W`), and the three GRU blocks are split into two parameters, the
//! reset and update gates together (`*_rz`, `2H` columns, `r` first) and the
//! candidate (`*_n`): PyTorch's `weight_ih_l0` (`3H x I`, rows `r, z, n`) maps to
//! `w_rz = weight_ih[0..2H]^T` and `w_n = weight_ih[2H..3H]^T`. Splitting saves the
//! column slices (and their zero-padded gradients) a single `3H` block would need.
//! [`GruCell::from_torch`] and [`GruCell::to_torch`] do that mapping for whole state
//! dicts (`tests/torch_interop.rs` at the workspace root reproduces a PyTorch GRU's
//! outputs and gradients to 1e-12 from a file PyTorch wrote).

use crate::gru_gates::GruGates;
use crate::{Error, Result};
use autodiff::state_dict::{self, StateDict};
use autodiff::{Activation, Init, Linear, Mlp, ParamId, ParamStore, Session, Tensor};
use ndarray::{Array2, Axis, s};
use rand::Rng;

/// The `(rz, n)` bias parameters of one side of a GRU.
pub type BiasPair = (ParamId, ParamId);

/// Which GRU equations to use; they differ numerically (see [`GruCell`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum GruConvention {
    /// Cho et al. (2014), Eqs. 5-8: the reset gate multiplies the state before the
    /// recurrent product, `g = tanh(x W_n + (r * h) U_n + b_n)`.
    Textbook,
    /// PyTorch's `nn.GRU`: the reset gate multiplies the recurrent product plus its
    /// bias, `n = tanh(x W_n + b_n + r * (h U_n + b_hn))`.
    PyTorch,
}

/// A recurrent cell `h_t = f(x_t, h_{t-1})`.
pub trait Cell {
    /// Input width `I`.
    fn input_dim(&self) -> usize;
    /// State width `H`.
    fn hidden_dim(&self) -> usize;
    /// One step: `x` is `B x I`, `h` is `B x H`; returns the new `B x H` state.
    fn step<S: Session>(&self, s: &S, x: &S::T, h: &S::T) -> Result<S::T>;
}

/// The Elman RNN: `h_t = tanh(x_t W + b + h_{t-1} U)` (PyTorch's `nn.RNNCell` with
/// one bias; its two biases only ever appear as a sum).
#[derive(Debug, Clone, PartialEq)]
pub struct RnnCell {
    input: Linear,
    recurrent: ParamId,
    hidden: usize,
}

impl RnnCell {
    /// A cell with weights uniform in `+-1/sqrt(H)` (PyTorch's initialisation),
    /// registered as `{name}.w`, `{name}.b`, `{name}.u`.
    pub fn new(
        store: &mut ParamStore,
        name: &str,
        input: usize,
        hidden: usize,
        rng: &mut impl Rng,
    ) -> Result<Self> {
        let init = uniform_init(hidden);
        let lin = Linear::with_init(store, &format!("{name}.in"), input, hidden, init, Some(init), rng)?;
        let u = store.add(format!("{name}.u"), init.sample((hidden, hidden), hidden, hidden, rng)?)?;
        Ok(RnnCell { input: lin, recurrent: u, hidden })
    }
}

impl Cell for RnnCell {
    fn input_dim(&self) -> usize {
        self.input.in_dim()
    }
    fn hidden_dim(&self) -> usize {
        self.hidden
    }
    fn step<S: Session>(&self, s: &S, x: &S::T, h: &S::T) -> Result<S::T> {
        let recurrent = h.matmul(&s.param(self.recurrent)?)?;
        Ok(self.input.forward_then(s, x, Some(&recurrent), Activation::Tanh)?)
    }
}

/// PyTorch's GRU initialisation: every weight and bias uniform in `+-1/sqrt(H)`.
fn uniform_init(hidden: usize) -> Init {
    let k = 1.0 / (hidden.max(1) as f64).sqrt();
    Init::Uniform { lo: -k, hi: k }
}

/// A gated recurrent unit (Cho et al. 2014) in either [`GruConvention`].
///
/// With `[r, z] = sigmoid(x W_rz + h U_rz + b_rz (+ b_hrz))`, both conventions end
/// with `h' = z * h + (1 - z) * n` (Cho et al. Eq. 7; PyTorch writes the same as
/// `(1 - z) * n + z * h`) and differ in the candidate `n`:
///
/// * textbook (Cho et al. Eq. 8): `n = tanh(x W_n + (r * h) U_n + b_n)`, one bias;
/// * PyTorch: `n = tanh(x W_n + b_n + r * (h U_n + b_hn))`, separate input and
///   hidden biases (as `nn.GRU`, whose `bias_hh` is `[b_hrz, b_hn]`).
#[derive(Debug, Clone, PartialEq)]
pub struct GruCell {
    convention: GruConvention,
    w_rz: ParamId,
    w_n: ParamId,
    u_rz: ParamId,
    u_n: ParamId,
    /// `(b_rz, b_n)`: input-side biases.
    bias: Option<BiasPair>,
    /// `(b_hrz, b_hn)`: hidden-side biases (PyTorch convention only).
    hidden_bias: Option<BiasPair>,
    input: usize,
    hidden: usize,
}

/// A GRU cell's weights in this crate's layout (`in x out`; the gate block `rz` has
/// `r`'s columns first), for [`GruCell::from_weights`].
#[derive(Debug, Clone, PartialEq)]
pub struct GruWeights {
    /// `I x 2H`: input to reset and update gates.
    pub w_rz: Array2<f64>,
    /// `I x H`: input to candidate.
    pub w_n: Array2<f64>,
    /// `H x 2H`: state to reset and update gates.
    pub u_rz: Array2<f64>,
    /// `H x H`: state to candidate.
    pub u_n: Array2<f64>,
    /// Input-side biases `(b_rz, b_n)`, `1 x 2H` and `1 x H`, if the cell has biases.
    pub bias: Option<(Array2<f64>, Array2<f64>)>,
    /// Hidden-side biases `(b_hrz, b_hn)`: present exactly when `bias` is and the
    /// convention is PyTorch's.
    pub hidden_bias: Option<(Array2<f64>, Array2<f64>)>,
}

impl GruWeights {
    /// `(I, H)` after checking that every block agrees with them.
    fn dims(&self, convention: GruConvention) -> Result<(usize, usize)> {
        let (input, hidden) = self.w_n.dim();
        let pair = |p: &Option<(Array2<f64>, Array2<f64>)>| p.as_ref().map(|(rz, n)| (rz.dim(), n.dim()));
        let blocks = [
            ("w_rz", Some(self.w_rz.dim()), (input, 2 * hidden)),
            ("u_rz", Some(self.u_rz.dim()), (hidden, 2 * hidden)),
            ("u_n", Some(self.u_n.dim()), (hidden, hidden)),
            ("b_rz", pair(&self.bias).map(|p| p.0), (1, 2 * hidden)),
            ("b_n", pair(&self.bias).map(|p| p.1), (1, hidden)),
            ("bh_rz", pair(&self.hidden_bias).map(|p| p.0), (1, 2 * hidden)),
            ("bh_n", pair(&self.hidden_bias).map(|p| p.1), (1, hidden)),
        ];
        let bad = |reason: String| Error::Config { what: "GruCell::from_weights", reason };
        for (name, got, want) in blocks {
            if got.is_some_and(|g| g != want) {
                return Err(bad(format!(
                    "{name} is {:?}, expected {want:?} for input {input}, hidden {hidden}",
                    got.unwrap()
                )));
            }
        }
        let wants_hidden = self.bias.is_some() && convention == GruConvention::PyTorch;
        if self.hidden_bias.is_some() != wants_hidden {
            return Err(bad(format!(
                "hidden-side biases are {} but the {convention:?} convention with{} biases {} them",
                if self.hidden_bias.is_some() { "given" } else { "missing" },
                if self.bias.is_some() { "" } else { "out" },
                if wants_hidden { "needs" } else { "has no place for" },
            )));
        }
        Ok((input, hidden))
    }
}

/// The PyTorch names of a GRU's four tensors: `nn.GRUCell`'s `weight_ih`, ... with
/// `suffix = ""`, `nn.GRU`'s layer-0 `weight_ih_l0`, ... with `suffix = "_l0"`.
fn torch_keys(prefix: &str, suffix: &str) -> [String; 4] {
    ["weight_ih", "weight_hh", "bias_ih", "bias_hh"].map(|k| format!("{prefix}{k}{suffix}"))
}

impl GruCell {
    /// A cell with PyTorch's initialisation, registered as `{name}.w_rz`, `.w_n`,
    /// `.u_rz`, `.u_n` and, with `bias`, `.b_rz`, `.b_n` (plus `.bh_rz`, `.bh_n` in the
    /// PyTorch convention). `bias = false` is `nn.GRU(..., bias=False)`.
    pub fn new(
        store: &mut ParamStore,
        name: &str,
        input: usize,
        hidden: usize,
        convention: GruConvention,
        bias: bool,
        rng: &mut impl Rng,
    ) -> Result<Self> {
        let init = uniform_init(hidden);
        let mut draw = |shape: (usize, usize)| {
            init.sample(shape, shape.0, shape.1, rng).expect("a finite window -k..k is a valid Init")
        };
        let (h2, h1) = (2 * hidden, hidden);
        let (w_rz, w_n, u_rz, u_n) =
            (draw((input, h2)), draw((input, h1)), draw((hidden, h2)), draw((hidden, h1)));
        let mut pair = || (draw((1, h2)), draw((1, h1)));
        let b = bias.then(&mut pair);
        let bh = (bias && convention == GruConvention::PyTorch).then(pair);
        Self::from_weights(
            store,
            name,
            convention,
            GruWeights { w_rz, w_n, u_rz, u_n, bias: b, hidden_bias: bh },
        )
    }

    /// A cell holding the given weights, registered as [`GruCell::new`] names them:
    /// no random generator involved.
    pub fn from_weights(
        store: &mut ParamStore,
        name: &str,
        convention: GruConvention,
        weights: GruWeights,
    ) -> Result<Self> {
        let (input, hidden) = weights.dims(convention)?;
        let mut add = |part: &str, value: Array2<f64>| -> Result<ParamId> {
            Ok(store.add(format!("{name}.{part}"), value)?)
        };
        let (w_rz, w_n) = (add("w_rz", weights.w_rz)?, add("w_n", weights.w_n)?);
        let (u_rz, u_n) = (add("u_rz", weights.u_rz)?, add("u_n", weights.u_n)?);
        let mut pair = |prefix: &str, (rz, n): (Array2<f64>, Array2<f64>)| -> Result<BiasPair> {
            Ok((add(&format!("{prefix}_rz"), rz)?, add(&format!("{prefix}_n"), n)?))
        };
        let bias = weights.bias.map(|p| pair("b", p)).transpose()?;
        let hidden_bias = weights.hidden_bias.map(|p| pair("bh", p)).transpose()?;
        Ok(GruCell { convention, w_rz, w_n, u_rz, u_n, bias, hidden_bias, input, hidden })
    }

    /// A PyTorch-convention cell from a PyTorch GRU's tensors: `{prefix}weight_ih{suffix}`
    /// (`3H x I`, gate rows `r, z, n`), `weight_hh` (`3H x H`) and, when present,
    /// `bias_ih` and `bias_hh` (length `3H`). `suffix` is `""` for `nn.GRUCell` and
    /// `"_l0"` for the first layer of `nn.GRU`.
    pub fn from_torch(
        store: &mut ParamStore,
        name: &str,
        state: &StateDict,
        prefix: &str,
        suffix: &str,
    ) -> Result<Self> {
        let [w_ih, w_hh, b_ih, b_hh] = torch_keys(prefix, suffix);
        let (h3, input) = state_dict::matrix_dim(state, &w_ih)?;
        let hidden = h3 / 3;
        // Columns `..2H` are `rz`, the rest `n`; a weight's rows become columns when
        // transposed to this crate's layout, a bias is a row already.
        let split = |m: Array2<f64>| {
            let block = |at: usize, to: usize| m.slice(s![.., at..to]).as_standard_layout().into_owned();
            (block(0, 2 * hidden), block(2 * hidden, 3 * hidden))
        };
        let (w_rz, w_n) = split(state_dict::matrix(state, &w_ih, 3 * hidden, input)?.reversed_axes());
        let (u_rz, u_n) = split(state_dict::matrix(state, &w_hh, 3 * hidden, hidden)?.reversed_axes());
        let bias_of = |key: &str| {
            state.contains_key(key).then(|| state_dict::row(state, key, 3 * hidden).map(split)).transpose()
        };
        let (bias, hidden_bias) = (bias_of(&b_ih)?, bias_of(&b_hh)?);
        let weights = GruWeights { w_rz, w_n, u_rz, u_n, bias, hidden_bias };
        Self::from_weights(store, name, GruConvention::PyTorch, weights)
    }

    /// The cell's parameters as PyTorch holds them (see [`from_torch`](Self::from_torch)
    /// for the names). Only the PyTorch convention has a PyTorch layout: the textbook
    /// cell computes a different candidate, so it is refused.
    pub fn to_torch(&self, store: &ParamStore, prefix: &str, suffix: &str) -> Result<StateDict> {
        if self.convention != GruConvention::PyTorch {
            return Err(Error::Config {
                what: "GruCell::to_torch",
                reason: "the textbook convention computes a candidate nn.GRU cannot express".into(),
            });
        }
        let [w_ih, w_hh, b_ih, b_hh] = torch_keys(prefix, suffix);
        // `[rz | n]` side by side is PyTorch's `[r; z; n]` stacked, transposed.
        let joined = |rz: ParamId, n: ParamId| -> Result<Array2<f64>> {
            Ok(ndarray::concatenate(ndarray::Axis(1), &[store.get(rz)?.view(), store.get(n)?.view()])
                .expect("blocks of one height"))
        };
        let weight = |rz, n| -> Result<_> {
            Ok(joined(rz, n)?.reversed_axes().as_standard_layout().into_owned().into_dyn())
        };
        let mut state =
            StateDict::from([(w_ih, weight(self.w_rz, self.w_n)?), (w_hh, weight(self.u_rz, self.u_n)?)]);
        for (key, pair) in [(b_ih, self.bias), (b_hh, self.hidden_bias)] {
            if let Some((rz, n)) = pair {
                state.insert(key, state_dict::vector(&joined(rz, n)?));
            }
        }
        Ok(state)
    }

    /// The convention this cell computes.
    pub fn convention(&self) -> GruConvention {
        self.convention
    }

    /// `(w_rz, w_n, u_rz, u_n)`: the weight parameters, for loading external weights.
    pub fn weights(&self) -> (ParamId, ParamId, ParamId, ParamId) {
        (self.w_rz, self.w_n, self.u_rz, self.u_n)
    }

    /// `((b_rz, b_n), (b_hrz, b_hn))`: the bias parameters, where present.
    pub fn biases(&self) -> (Option<BiasPair>, Option<BiasPair>) {
        (self.bias, self.hidden_bias)
    }
}

/// `x + p` if the parameter is present.
fn add_opt<S: Session>(s: &S, x: S::T, p: Option<ParamId>) -> Result<S::T> {
    match p {
        Some(id) => Ok(x.add(&s.param(id)?)?),
        None => Ok(x),
    }
}

impl Cell for GruCell {
    fn input_dim(&self) -> usize {
        self.input
    }
    fn hidden_dim(&self) -> usize {
        self.hidden
    }
    fn step<S: Session>(&self, s: &S, x: &S::T, h: &S::T) -> Result<S::T> {
        let p = |id: ParamId| s.param(id);
        let (xrz, hrz) = (x.matmul(&p(self.w_rz)?)?, h.matmul(&p(self.u_rz)?)?);
        let xn = x.matmul(&p(self.w_n)?)?;
        match self.convention {
            // The gate arithmetic after the four products is one fused node.
            GruConvention::PyTorch => {
                let hn = h.matmul(&p(self.u_n)?)?;
                let biases: Vec<S::T> = self
                    .bias
                    .iter()
                    .chain(&self.hidden_bias)
                    .flat_map(|&(rz, n)| [p(rz), p(n)])
                    .collect::<autodiff::Result<_>>()?;
                let mut inputs = vec![&xrz, &xn, &hrz, &hn, h];
                // Inputs [b_rz, b_n, b_hrz, b_hn]: the fused rule expects that order.
                if let [b_rz, b_n, bh_rz, bh_n] = biases.as_slice() {
                    inputs.extend([b_rz, b_n, bh_rz, bh_n]);
                }
                Ok(S::T::apply(&GruGates { biases: biases.len() == 4 }, &inputs)?)
            }
            // The candidate needs a second product after the reset gate: composed ops.
            GruConvention::Textbook => {
                let hid = self.hidden;
                let b_n = self.bias.map(|b| b.1);
                let gates = add_opt(s, xrz.add(&hrz)?, self.bias.map(|b| b.0))?.sigmoid();
                let (r, z) = (gates.slice_cols(0..hid)?, gates.slice_cols(hid..2 * hid)?);
                let n = add_opt(s, xn, b_n)?.add(&r.mul(h)?.matmul(&p(self.u_n)?)?)?.tanh();
                // z * h + (1 - z) * n = n + z * (h - n): one product instead of two.
                Ok(n.add(&z.mul(&h.sub(&n)?)?)?)
            }
        }
    }
}

/// The GRU of the Latent ODE code (Rubanova et al. 2019; `GRU_unit` in its
/// `encoder_decoder.py`), over a state `[mean, std]` of `2H` columns, whose gates and
/// candidate are MLPs with one tanh layer of `units`:
///
/// $$ u = \sigma(\mathrm{MLP}_u([m, s, x])),\quad r = \sigma(\mathrm{MLP}_r([m, s, x])),\quad
///    [\tilde m, \tilde s] = \mathrm{MLP}_n([r m, r s, x]), $$
/// $$ m' = (1 - u)\,\tilde m + u\,m,\qquad s' = (1 - u)\,|\tilde s| + u\,s. $$
///
/// Its ODE-RNN evolves only the mean between observations
/// ([`MlpField::holding`](crate::field::MlpField::holding)) and reads out the mean; its
/// Latent ODE encoder maps the whole `[mean, std]` to `q(z_{t_0})`. The reference
/// takes `|s'|` once more at the end, which changes nothing here: `s'` is a convex
/// combination of non-negative numbers when the state starts at 0, as it does.
/// The MLPs start from this crate's [`Mlp`] initialisation, not the reference's
/// `N(0, 0.1^2)` weights and zero biases.
#[derive(Debug, Clone, PartialEq)]
pub struct MeanStdGru {
    update: Mlp,
    reset: Mlp,
    candidate: Mlp,
    input: usize,
    hidden: usize,
}

impl MeanStdGru {
    /// A cell over `input` features and a mean and std of `hidden` each, its MLPs
    /// registered as `{name}.update`, `.reset`, `.candidate`.
    pub fn new(
        store: &mut ParamStore,
        name: &str,
        input: usize,
        hidden: usize,
        units: usize,
        rng: &mut impl Rng,
    ) -> Result<Self> {
        if input == 0 || hidden == 0 || units == 0 {
            return Err(Error::config("MeanStdGru", "widths must be positive"));
        }
        let width = 2 * hidden + input;
        let mut mlp = |part: &str, out: usize| {
            Mlp::new(store, &format!("{name}.{part}"), &[width, units, out], Activation::Tanh, rng)
        };
        let (update, reset, candidate) =
            (mlp("update", hidden)?, mlp("reset", hidden)?, mlp("candidate", 2 * hidden)?);
        Ok(MeanStdGru { update, reset, candidate, input, hidden })
    }

    /// The width `H` of the mean (and of the std): half the state.
    pub fn mean_dim(&self) -> usize {
        self.hidden
    }
}

impl Cell for MeanStdGru {
    fn input_dim(&self) -> usize {
        self.input
    }
    /// The state's width, `2H` (mean, then std).
    fn hidden_dim(&self) -> usize {
        2 * self.hidden
    }
    fn step<S: Session>(&self, s: &S, x: &S::T, h: &S::T) -> Result<S::T> {
        let hid = self.hidden;
        let (mean, std) = (h.slice_cols(0..hid)?, h.slice_cols(hid..2 * hid)?);
        let both = S::T::concat_cols(&[h, x])?;
        let u = self.update.forward(s, &both)?.sigmoid();
        let r = self.reset.forward(s, &both)?.sigmoid();
        let gated = S::T::concat_cols(&[&mean.mul(&r)?, &std.mul(&r)?, x])?;
        let n = self.candidate.forward(s, &gated)?;
        let (n_mean, n_std) = (n.slice_cols(0..hid)?, n.slice_cols(hid..2 * hid)?.abs());
        // (1 - u) * n + u * y = n + u * (y - n): one product instead of two.
        let new_mean = n_mean.add(&u.mul(&mean.sub(&n_mean)?)?)?;
        let new_std = n_std.add(&u.mul(&std.sub(&n_std)?)?)?;
        Ok(S::T::concat_cols(&[&new_mean, &new_std])?)
    }
}

/// Which cell a sequence model uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum CellKind {
    /// [`RnnCell`].
    Rnn,
    /// [`GruCell`] with biases, in the given convention.
    Gru(GruConvention),
    /// [`MeanStdGru`] with MLPs of `units`; its state is twice the hidden width.
    MeanStdGru {
        /// The width of the gates' and candidate's hidden layer.
        units: usize,
    },
}

impl CellKind {
    /// The width of the state of a cell of this kind with `hidden` units: `hidden`,
    /// or twice it for [`CellKind::MeanStdGru`] (mean, then std).
    pub fn state_dim(self, hidden: usize) -> usize {
        match self {
            CellKind::MeanStdGru { .. } => 2 * hidden,
            _ => hidden,
        }
    }
}

/// Any cell, chosen at run time by a [`CellKind`].
#[derive(Debug, Clone, PartialEq)]
pub enum AnyCell {
    /// A tanh RNN cell.
    Rnn(RnnCell),
    /// A GRU cell.
    Gru(GruCell),
    /// The Latent ODE code's GRU over a mean and a std.
    MeanStd(MeanStdGru),
}

impl AnyCell {
    /// A cell of the given kind (GRUs with biases).
    pub fn new(
        store: &mut ParamStore,
        name: &str,
        kind: CellKind,
        input: usize,
        hidden: usize,
        rng: &mut impl Rng,
    ) -> Result<Self> {
        Ok(match kind {
            CellKind::Rnn => AnyCell::Rnn(RnnCell::new(store, name, input, hidden, rng)?),
            CellKind::Gru(c) => AnyCell::Gru(GruCell::new(store, name, input, hidden, c, true, rng)?),
            CellKind::MeanStdGru { units } => {
                AnyCell::MeanStd(MeanStdGru::new(store, name, input, hidden, units, rng)?)
            }
        })
    }

    /// The width of what the state means, which a read-out reads: the mean's for
    /// [`MeanStdGru`] (the state's first half), the whole state otherwise.
    pub fn readout_dim(&self) -> usize {
        match self {
            AnyCell::MeanStd(c) => c.mean_dim(),
            _ => self.hidden_dim(),
        }
    }
}

impl Cell for AnyCell {
    fn input_dim(&self) -> usize {
        match self {
            AnyCell::Rnn(c) => c.input_dim(),
            AnyCell::Gru(c) => c.input_dim(),
            AnyCell::MeanStd(c) => c.input_dim(),
        }
    }
    fn hidden_dim(&self) -> usize {
        match self {
            AnyCell::Rnn(c) => c.hidden_dim(),
            AnyCell::Gru(c) => c.hidden_dim(),
            AnyCell::MeanStd(c) => c.hidden_dim(),
        }
    }
    fn step<S: Session>(&self, s: &S, x: &S::T, h: &S::T) -> Result<S::T> {
        match self {
            AnyCell::Rnn(c) => c.step(s, x, h),
            AnyCell::Gru(c) => c.step(s, x, h),
            AnyCell::MeanStd(c) => c.step(s, x, h),
        }
    }
}

/// Keeps `old` where the `B x 1` step mask is 0 and takes `new` where it is 1, so a
/// state stops changing once its sequence has ended (or, run backwards, stays at
/// its initial value through the padding). An all-ones mask costs nothing.
pub fn masked_update<T: Tensor>(new: T, old: &T, mask: &Array2<f64>) -> Result<T> {
    if mask.iter().all(|&m| m == 1.0) {
        return Ok(new);
    }
    Ok(old.add(&new.sub(old)?.mask(mask)?)?)
}

/// One step of `cell` for the rows whose `B x 1` mask `present` is nonzero, the other
/// rows of `h` carried unchanged: the values of
/// `masked_update(cell.step(s, x, h)?, h, present)`, but the cell runs on the present
/// rows only (gathered, stepped, and their changes scattered back), so a batch whose
/// sequences have ended, or have no observation at this time, does no work for them,
/// as PyTorch's packed sequences do not.
pub fn step_present<S: Session, C: Cell>(
    s: &S,
    cell: &C,
    x: &S::T,
    h: &S::T,
    present: &Array2<f64>,
) -> Result<S::T> {
    let rows = present_rows(present);
    if rows.len() == present.nrows() {
        return masked_update(cell.step(s, x, h)?, h, present);
    }
    if rows.is_empty() {
        return Ok(h.clone());
    }
    let (x, old) = (x.gather_rows(&rows)?, h.gather_rows(&rows)?);
    let new = masked_update(cell.step(s, &x, &old)?, &old, &present.select(Axis(0), &rows))?;
    replace_rows(h, &rows, &old, &new)
}

/// The rows of a step mask with a nonzero entry: the sequences present at the step.
pub(crate) fn present_rows(present: &Array2<f64>) -> Vec<usize> {
    (0..present.nrows()).filter(|&r| present.row(r).iter().any(|&m| m != 0.0)).collect()
}

/// `h` with its rows `rows`, gathered as `old`, moved to `new`: `h` plus the change
/// scattered back to those rows (the others stay as they are, to the bit).
pub(crate) fn replace_rows<T: Tensor>(h: &T, rows: &[usize], old: &T, new: &T) -> Result<T> {
    Ok(h.add(&new.sub(old)?.scatter_add_rows(rows, h.shape().0)?)?)
}

/// Runs `cell` over time-major inputs `xs[t]` (`B x I`) from `h0`, forwards or (with
/// `reverse`) backwards, and returns the states `h_t` in time order. `masks[t]` is a
/// `B x 1` step mask (see [`SeqBatch::step_masks`](crate::SeqBatch::step_masks)): where it is 0 the state is
/// carried unchanged, and not computed ([`step_present`]).
pub fn run_cell<S: Session, C: Cell>(
    s: &S,
    cell: &C,
    xs: &[S::T],
    masks: &[Array2<f64>],
    h0: S::T,
    reverse: bool,
) -> Result<Vec<S::T>> {
    if xs.len() != masks.len() {
        return Err(Error::config("run_cell", format!("{} inputs but {} masks", xs.len(), masks.len())));
    }
    let mut out = vec![h0.clone(); xs.len()];
    let mut h = h0;
    let order: Box<dyn Iterator<Item = usize>> =
        if reverse { Box::new((0..xs.len()).rev()) } else { Box::new(0..xs.len()) };
    for t in order {
        h = step_present(s, cell, &xs[t], &h, &masks[t])?;
        out[t] = h.clone();
    }
    Ok(out)
}
