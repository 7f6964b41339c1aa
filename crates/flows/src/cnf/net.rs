//! The networks `f(t, z)` of a continuous flow: layers that read the time in one of
//! FFJORD's three ways, stacked with a nonlinearity between them.

use crate::{Error, Result};
use autodiff::{Activation, Linear, ParamId, ParamStore, Session, Tensor};
use rand::Rng;

/// How a layer of the field reads the time `t` (FFJORD's `--layer_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub enum TimeInput {
    /// `(x W + b) * sigmoid(t w_g + b_g) + t w_b`: the time gates and shifts every
    /// output unit (FFJORD's `concatsquash`, its default).
    #[default]
    ConcatSquash,
    /// `[t, x] W + b`: the time as one more input column (FFJORD's `concat`).
    Concat,
    /// `x W + b`: an autonomous field (FFJORD's `ignore`).
    Ignore,
}

/// One layer of the field: `batch x in` to `batch x out`, given `t` (`1 x 1`).
#[derive(Debug, Clone)]
struct TimeLayer {
    /// `x W + b`, or for [`TimeInput::Concat`] `[t, x] W + b`.
    main: Linear,
    /// `t w_g + b_g` and the bias-free `t w_b` of [`TimeInput::ConcatSquash`].
    squash: Option<(Linear, Linear)>,
    input: TimeInput,
}

impl TimeLayer {
    /// Registered as `{name}.main`, `{name}.gate`, `{name}.shift`, with PyTorch's
    /// default initialisation, as FFJORD's layers are.
    fn new(
        store: &mut ParamStore,
        name: &str,
        input: TimeInput,
        widths: (usize, usize),
        rng: &mut impl Rng,
    ) -> Result<Self> {
        let (i, o) = widths;
        let main_in = if input == TimeInput::Concat { i + 1 } else { i };
        let main = Linear::new(store, &format!("{name}.main"), main_in, o, rng)?;
        let squash = match input {
            TimeInput::ConcatSquash => {
                let gate = Linear::new(store, &format!("{name}.gate"), 1, o, rng)?;
                let shift = Linear::with_init(
                    store,
                    &format!("{name}.shift"),
                    1,
                    o,
                    autodiff::Init::TorchDefault,
                    None,
                    rng,
                )?;
                Some((gate, shift))
            }
            TimeInput::Concat | TimeInput::Ignore => None,
        };
        Ok(TimeLayer { main, squash, input })
    }

    fn forward<S: Session>(&self, s: &S, t: &S::T, x: &S::T) -> autodiff::Result<S::T> {
        Ok(match (&self.squash, self.input) {
            (Some((gate, shift)), _) => {
                let g = gate.forward(s, t)?.sigmoid();
                self.main.forward(s, x)?.mul(&g)?.add(&shift.forward(s, t)?)?
            }
            (None, TimeInput::Concat) => {
                let column = t.broadcast_to((x.shape().0, 1))?;
                self.main.forward(s, &S::T::concat_cols(&[&column, x])?)?
            }
            (None, _) => self.main.forward(s, x)?,
        })
    }

    fn params(&self) -> impl Iterator<Item = ParamId> + '_ {
        let linears = std::iter::once(&self.main).chain(self.squash.iter().flat_map(|(g, h)| [g, h]));
        linears.flat_map(Linear::params)
    }
}

/// `f(t, z)`: layers of the given widths (`[2, 64, 64, 64, 2]`: four layers), each
/// reading the time as `input` says, with `activation` between them and none after
/// the last (FFJORD's `ODEnet`).
#[derive(Debug, Clone)]
pub struct FieldNet {
    layers: Vec<TimeLayer>,
    activation: Activation,
}

impl FieldNet {
    /// Registers layers `{name}.0`, `{name}.1`, ...; the first and last widths must
    /// be equal (a field maps the state space to itself).
    pub fn new(
        store: &mut ParamStore,
        name: &str,
        widths: &[usize],
        input: TimeInput,
        activation: Activation,
        rng: &mut impl Rng,
    ) -> Result<Self> {
        match (widths.first(), widths.last()) {
            (Some(&a), Some(&b)) if widths.len() >= 2 && a == b && a > 0 => {}
            _ => {
                return Err(Error::Config {
                    flow: "continuous",
                    reason: format!(
                        "field widths {widths:?}: need at least two, the first equal to the last and positive"
                    ),
                });
            }
        }
        if let Some(w) = widths.iter().position(|&w| w == 0) {
            return Err(Error::Config { flow: "continuous", reason: format!("field width {w} is zero") });
        }
        let layers = widths
            .windows(2)
            .enumerate()
            .map(|(i, w)| TimeLayer::new(store, &format!("{name}.{i}"), input, (w[0], w[1]), rng))
            .collect::<Result<_>>()?;
        Ok(FieldNet { layers, activation })
    }

    /// The width of the state.
    pub fn dim(&self) -> usize {
        let first = &self.layers[0];
        first.main.in_dim() - usize::from(first.input == TimeInput::Concat)
    }

    /// `f(t, z)` for `z` of `batch x dim` and `t` of `1 x 1`.
    pub fn forward<S: Session>(&self, s: &S, t: &S::T, z: &S::T) -> autodiff::Result<S::T> {
        let last = self.layers.len() - 1;
        let mut h = z.clone();
        for (i, layer) in self.layers.iter().enumerate() {
            h = layer.forward(s, t, &h)?;
            if i < last {
                h = self.activation.apply(&h);
            }
        }
        Ok(h)
    }

    /// Every parameter of the network.
    pub fn params(&self) -> Vec<ParamId> {
        self.layers.iter().flat_map(TimeLayer::params).collect()
    }
}
