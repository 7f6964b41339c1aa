//! WaveNet: an autoregressive model of sequences built from causal dilated
//! convolutions (van den Oord et al. 2016), the convolutional member of this crate's
//! sequence models.
//!
//! # Equations
//!
//! The joint distribution is a product of conditionals, each given a fixed window of
//! the past (van den Oord et al. 2016, Eq. 1):
//!
//! $$ p(x_{1:T}) = \prod_{t=1}^T p(x_t \mid x_{t-R}, \dots, x_{t-1}), $$
//!
//! where `R` is the receptive field. The network reads the sequence shifted by one
//! step (its input at step `t` is `x_{t-1}`, and zeros at the first step), so every
//! output sees only the past. A causal convolution of width `w` (dilation 1) maps the
//! input to `C_r` residual channels; then each block `i`, with dilation `d_i`, computes
//! from its input `h`
//!
//! $$ z = \tanh(W_{f} * h) \odot \sigma(W_{g} * h) \quad \text{(Eq. 2)}, \qquad
//!    h' = h + z W_r, \qquad s_i = z W_s, $$
//!
//! with `*` the causal dilated convolution ([`autodiff::Tensor::causal_conv`]) and
//! `W_r`, `W_s` 1x1 convolutions (Sec. 2.4, Fig. 4); the head turns the sum of the
//! skips into logits, `relu -> 1x1 -> relu -> 1x1`. The output is a softmax over
//! mu-law levels ([`WaveNetOutput::Categorical`], Sec. 2.2) or independent Bernoulli
//! entries ([`WaveNetOutput::Bernoulli`], for piano rolls). Each block widens the view
//! by `(w - 1) d_i` steps, so with the first layer's `w - 1`
//!
//! $$ R = (w - 1) \sum_i d_i + 1 + (w - 1), $$
//!
//! the formula of the reference implementation (ibab/tensorflow-wavenet,
//! `calculate_receptive_field`). Dilations doubling to 512 and repeated reach
//! thousands of steps with a few dozen layers (Sec. 2.1).
//!
//! # Layout and training
//!
//! A [`SeqBatch`] (time-major, zero-padded after each sequence's end) is stacked into
//! one `T B x D` matrix, row `t B + b` being sequence `b` at step `t`, and every layer
//! runs over all steps of all sequences at once: a convolution shifts by whole steps
//! (`B` rows), so nothing crosses from one sequence into another, and the padding
//! after a sequence ends cannot reach its earlier steps. The log-likelihood is exact
//! (no latent variable): [`WaveNet::step_log_probs`] gives every step's term, and
//! the [`SequenceModel`] bound sums them per sequence with a zero KL.
//!
//! # Generation
//!
//! [`Generation::Naive`] re-runs the network over the last `R` inputs for every new
//! step; [`Generation::Incremental`] keeps, for each layer, a queue of its last
//! `(w - 1) d` inputs, so a step costs one row block per layer instead of `R` (the
//! fast generation of Paine et al. 2016 that the reference implements). Both draw one
//! uniform per row (or entry) per step in the same order, so from the same seed they
//! give the same samples.
//!
//! # Example
//!
//! A small WaveNet over 8 mu-law levels: the exact log-likelihood of a batch of two
//! quantised signals, and 20 samples generated both ways from the same seed.
//!
//! ```
//! use autodiff::ParamStore;
//! use dists::MuLaw;
//! use ndarray::Array2;
//! use rand::SeedableRng;
//! use rand_chacha::ChaCha8Rng;
//! use seqmodels::{Generation, SeqBatch, SequenceModel, WaveNet, WaveNetConfig, WaveNetOutput};
//!
//! let mu = MuLaw::new(8)?;
//! let output = WaveNetOutput::Categorical { levels: 8 };
//! let config = WaveNetConfig::new(output, WaveNetConfig::doubling(4, 2), 6);
//! assert_eq!(config.receptive_field(), 16); // (2 - 1)(1 + 2 + 4) 2 + 1 + 1
//! let mut store = ParamStore::new();
//! let model = WaveNet::new(&mut store, "wavenet", config, &mut ChaCha8Rng::seed_from_u64(0))?;
//!
//! // Two sequences of 12 steps, one column holding each step's level.
//! let steps: Vec<Array2<f64>> = (0..12)
//!     .map(|t| {
//!         let level = |a: f64| mu.quantise(a).map(|k| k as f64);
//!         Ok(ndarray::array![[level((0.5 * t as f64).sin())?], [level(-0.3)?]])
//!     })
//!     .collect::<Result<_, dists::Error>>()?;
//! let batch = SeqBatch::fully_observed(steps)?;
//! let ll = model.log_likelihood(&store, &batch, 1, &mut ChaCha8Rng::seed_from_u64(1))?;
//! // One exact log-probability per sequence, negative as any of discrete data.
//! assert_eq!(ll.dim(), (2, 1));
//! assert!(ll.iter().all(|&l| l < 0.0));
//!
//! let state = model.initial_state(2);
//! let naive = model.generate_with(&store, &state, 20, Generation::Naive, &mut ChaCha8Rng::seed_from_u64(2))?;
//! let fast = model.generate_with(&store, &state, 20, Generation::Incremental, &mut ChaCha8Rng::seed_from_u64(2))?;
//! assert_eq!(naive, fast);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # References
//!
//! - A. van den Oord et al., *WaveNet: A Generative Model for Raw Audio*, arXiv:1609.03499, 2016.
//! - T. Le Paine et al., *Fast Wavenet Generation Algorithm*, arXiv:1611.09482, 2016.

mod generate;
mod layers;
mod output;

pub use generate::Generation;
pub use output::WaveNetOutput;

use crate::batch::SeqBatch;
use crate::bound::{Elbo, ParticleBudget};
use crate::{Error, Result, SequenceModel};
use autodiff::{NoGrad, ParamStore, Session, Tensor};
use layers::{Block, CausalLayer, Head};
use ndarray::{Array2, Axis, s};
use rand::Rng;

/// Sizes, dilation schedule and output of a [`WaveNet`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct WaveNetConfig {
    /// The distribution of each step.
    pub output: WaveNetOutput,
    /// Filter width `w` of every convolution (2 in the paper and the reference).
    pub filter_width: usize,
    /// The dilation of each residual block, in order: the schedule as data.
    pub dilations: Vec<usize>,
    /// Residual channels `C_r`: the width of the stream the blocks add into.
    pub residual_channels: usize,
    /// Channels of the gated unit (the filter and the gate each have this many).
    pub dilation_channels: usize,
    /// Skip channels: the width of each skip output and of the head.
    pub skip_channels: usize,
    /// Biases on every convolution (the reference's default is none).
    pub biases: bool,
}

impl WaveNetConfig {
    /// Width 2, every channel count `channels`, no biases: the reference's defaults.
    pub fn new(output: WaveNetOutput, dilations: Vec<usize>, channels: usize) -> Self {
        WaveNetConfig {
            output,
            filter_width: 2,
            dilations,
            residual_channels: channels,
            dilation_channels: channels,
            skip_channels: channels,
            biases: false,
        }
    }

    /// The doubling schedule `1, 2, 4, ..., max` repeated `cycles` times (`max` is
    /// rounded down to a power of two).
    pub fn doubling(max: usize, cycles: usize) -> Vec<usize> {
        let one: Vec<usize> =
            std::iter::successors(Some(1usize), |d| Some(d * 2)).take_while(|&d| d <= max).collect();
        one.repeat(cycles)
    }

    /// The receptive field `R = (w - 1) sum_i d_i + 1 + (w - 1)`: each output is a
    /// function of the last `R` observed steps.
    pub fn receptive_field(&self) -> usize {
        (self.filter_width - 1) * self.dilations.iter().sum::<usize>() + 1 + (self.filter_width - 1)
    }

    fn check(&self) -> Result<()> {
        let bad = |reason: String| Err(Error::config("WaveNet", reason));
        self.output.check()?;
        if self.filter_width == 0 {
            return bad("the filter width must be at least 1".into());
        }
        if self.dilations.is_empty() {
            return bad("the dilation schedule has no blocks".into());
        }
        if let Some(i) = self.dilations.iter().position(|&d| d == 0) {
            return bad(format!("dilation {i} is 0"));
        }
        let widths = [self.residual_channels, self.dilation_channels, self.skip_channels];
        if widths.contains(&0) {
            return bad(format!("channels (residual, dilation, skip) must be positive, got {widths:?}"));
        }
        Ok(())
    }
}

/// A WaveNet (see the [module docs](self)).
#[derive(Debug, Clone, PartialEq)]
pub struct WaveNet {
    config: WaveNetConfig,
    causal: CausalLayer,
    blocks: Vec<Block>,
    head: Head,
}

/// What generation continues from: the observed steps so far (each `B x D`) of
/// `batch` sequences.
#[derive(Debug, Clone, PartialEq)]
pub struct WaveNetState {
    /// Number of sequences `B`.
    pub batch: usize,
    /// The steps observed so far, oldest first (may be empty).
    pub history: Vec<Array2<f64>>,
}

impl WaveNet {
    /// Registers the parameters under `{name}.causal`, `{name}.block{i}.conv`,
    /// `.residual`, `.skip`, and `{name}.head.1`, `.2`.
    pub fn new(
        store: &mut ParamStore,
        name: &str,
        config: WaveNetConfig,
        rng: &mut impl Rng,
    ) -> Result<Self> {
        config.check()?;
        let (w, res, bias) = (config.filter_width, config.residual_channels, config.biases);
        let input = config.output.channels();
        let causal = CausalLayer::new(store, &format!("{name}.causal"), (w, 1), (input, res), bias, rng)?;
        let channels = (res, config.dilation_channels, config.skip_channels);
        let blocks = config
            .dilations
            .iter()
            .enumerate()
            .map(|(i, &d)| Block::new(store, &format!("{name}.block{i}"), (w, d), channels, bias, rng))
            .collect::<Result<_>>()?;
        let head = Head::new(store, &format!("{name}.head"), config.skip_channels, input, bias, rng)?;
        Ok(WaveNet { config, causal, blocks, head })
    }

    /// The settings.
    pub fn config(&self) -> &WaveNetConfig {
        &self.config
    }

    /// The receptive field `R` (see [`WaveNetConfig::receptive_field`]).
    pub fn receptive_field(&self) -> usize {
        self.config.receptive_field()
    }

    /// The network's input for observed steps stacked time-major (`T B x D`): the
    /// encoded steps shifted one step later, zeros at the first (`T B x channels`).
    /// Rows that are not whole steps of `batch >= 1` sequences are an error.
    pub fn inputs(&self, x: &Array2<f64>, batch: usize) -> Result<Array2<f64>> {
        // Shifting by `batch` rows is one step only when the rows are whole steps.
        if batch == 0 || !x.nrows().is_multiple_of(batch) {
            return Err(Error::config(
                "WaveNet::inputs",
                format!("{} rows are not whole steps of a batch of {batch} sequences", x.nrows()),
            ));
        }
        let encoded = self.config.output.encode(x)?;
        let mut u = Array2::zeros(encoded.dim());
        let n = encoded.nrows();
        if n > batch {
            u.slice_mut(s![batch.., ..]).assign(&encoded.slice(s![..n - batch, ..]));
        }
        Ok(u)
    }

    /// The logits of every step (`T B x channels`) from the network's input (`T B x
    /// channels`, see [`inputs`](Self::inputs)) of `batch` sequences.
    pub fn logits<S: Session>(&self, s: &S, input: &S::T, batch: usize) -> Result<S::T> {
        self.run(s, input, |_, layer, x| layer.forward(s, x, batch))
    }

    /// The network once, with `conv(i, layer, x)` computing layer `i`'s convolution
    /// of `x` (the first layer is 0, block `j` is `j + 1`): over whole sequences, or
    /// one step from queued taps.
    fn run<S: Session>(
        &self,
        s: &S,
        input: &S::T,
        mut conv: impl FnMut(usize, &CausalLayer, &S::T) -> Result<S::T>,
    ) -> Result<S::T> {
        let mut h = conv(0, &self.causal, input)?;
        let mut skips: Option<S::T> = None;
        for (i, block) in self.blocks.iter().enumerate() {
            let (next, skip) = block.gated(s, &h, &conv(i + 1, &block.conv, &h)?)?;
            skips = Some(match skips {
                None => skip,
                Some(sum) => sum.add(&skip)?,
            });
            h = next;
        }
        self.head.forward(s, &skips.expect("the configuration has at least one block"))
    }

    /// `ln p(x_t | x_{<t})` of every step of every sequence (`T B x 1`, time-major,
    /// row `t B + b`), 0 where the step is padded or unobserved.
    pub fn step_log_probs<S: Session>(&self, s: &S, batch: &SeqBatch) -> Result<S::T> {
        batch.expect_dim("WaveNet", self.config.output.x_dim())?;
        let (b, d) = (batch.batch_size(), batch.dim());
        let x = stack(batch.steps());
        let masks: Vec<Array2<f64>> = batch
            .masks()
            .iter()
            .map(|m| m.broadcast((b, d)).expect("a mask is B x 1 or B x D").to_owned())
            .collect();
        let logits = self.logits(s, &s.constant(self.inputs(&x, b)?), b)?;
        self.config.output.log_prob(&logits, &x, &stack(&masks))
    }

    /// `ln p(x_{1:T})` of every sequence (`B x 1`) on the session's tape.
    fn log_likelihood_of<S: Session>(&self, s: &S, batch: &SeqBatch) -> Result<S::T> {
        let lp = self.step_log_probs(s, batch)?;
        let b = batch.batch_size();
        // Row b of `select` picks rows t B + b: one product sums each sequence's steps.
        let select = Array2::from_shape_fn((b, lp.shape().0), |(r, c)| if c % b == r { 1.0 } else { 0.0 });
        Ok(lp.constant(select).matmul(&lp)?)
    }
}

/// Steps (`B x D` each) stacked time-major into one `T B x D` matrix.
fn stack(steps: &[Array2<f64>]) -> Array2<f64> {
    let views: Vec<_> = steps.iter().map(|x| x.view()).collect();
    ndarray::concatenate(Axis(0), &views).expect("the steps of a batch share their width")
}

impl SequenceModel for WaveNet {
    type State = WaveNetState;

    fn x_dim(&self) -> usize {
        self.config.output.x_dim()
    }

    /// The exact log-likelihood as the reconstruction term, and a zero KL.
    fn elbo<S: Session, R: Rng + ?Sized>(&self, s: &S, batch: &SeqBatch, _rng: &mut R) -> Result<Elbo<S::T>> {
        let recon = self.log_likelihood_of(s, batch)?;
        let kl = recon.constant(Array2::zeros((batch.batch_size(), 1)));
        Ok(Elbo { recon, kl, lengths: batch.lengths().to_vec() })
    }

    /// The exact log-likelihood (no sampling: `particles` is ignored, and the budget
    /// only checked: the pass holds no particles).
    fn log_likelihood_within<R: Rng + ?Sized>(
        &self,
        store: &ParamStore,
        batch: &SeqBatch,
        _particles: usize,
        budget: ParticleBudget,
        _rng: &mut R,
    ) -> Result<Array2<f64>> {
        budget.validate()?;
        self.log_likelihood_of(&NoGrad::new(store), batch)
    }

    fn initial_state(&self, batch: usize) -> Self::State {
        WaveNetState { batch, history: Vec::new() }
    }

    /// The prefix itself; its sequences must all have the prefix's full length (a
    /// shorter one would need its history shifted against the others').
    fn filter_state<R: Rng + ?Sized>(
        &self,
        _store: &ParamStore,
        prefix: &SeqBatch,
        _rng: &mut R,
    ) -> Result<Self::State> {
        prefix.expect_dim("WaveNet", self.config.output.x_dim())?;
        if let Some(b) = prefix.lengths().iter().position(|&l| l != prefix.len()) {
            return Err(Error::config(
                "WaveNet::filter_state",
                format!(
                    "sequence {b} has {} steps, the prefix {}: prefixes must be of one length",
                    prefix.lengths()[b],
                    prefix.len()
                ),
            ));
        }
        Ok(WaveNetState { batch: prefix.batch_size(), history: prefix.steps().to_vec() })
    }

    /// Incremental generation (see [`Generation`]).
    fn sample_from<R: Rng + ?Sized>(
        &self,
        store: &ParamStore,
        state: Self::State,
        steps: usize,
        rng: &mut R,
    ) -> Result<Vec<Array2<f64>>> {
        self.generate_with(store, &state, steps, Generation::Incremental, rng)
    }
}
