//! Sampling from a WaveNet, one step at a time: by re-running the receptive field,
//! or by keeping each layer's recent inputs in a queue.

use super::layers::CausalLayer;
use super::{WaveNet, WaveNetState, stack};
use crate::{Error, Result};
use autodiff::{NoGrad, ParamStore};
use ndarray::{Array2, Axis, s};
use rand::Rng;
use std::collections::VecDeque;

/// How [`WaveNet::generate_with`] computes each new step's distribution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Generation {
    /// Run the whole network over the last `R` inputs (the receptive field) and keep
    /// its last step: `R` rows per layer per new step.
    Naive,
    /// Keep the last `(w - 1) d` inputs of every layer in a queue, and compute only
    /// the new step from them: one row block per layer per new step (Paine et al.
    /// 2016).
    Incremental,
}

/// A layer's last `(w - 1) d` inputs, oldest first, zeros before the start (the
/// causal padding).
struct Queue {
    past: VecDeque<Array2<f64>>,
    width: usize,
    dilation: usize,
}

impl Queue {
    fn new(layer: &CausalLayer, batch: usize) -> Self {
        let len = (layer.width - 1) * layer.dilation;
        let past = (0..len).map(|_| Array2::zeros((batch, layer.input))).collect();
        Queue { past, width: layer.width, dilation: layer.dilation }
    }

    /// The taps `[x_{t - (w-1) d}, ..., x_{t - d}, x_t]` side by side for the input
    /// `now = x_t`, which is then remembered. With `past[j] = x_{t - (w-1) d + j}`, tap
    /// `k` is `past[k d]`.
    fn taps(&mut self, now: &Array2<f64>) -> Array2<f64> {
        let mut views: Vec<_> = (0..self.width - 1).map(|k| self.past[k * self.dilation].view()).collect();
        views.push(now.view());
        let taps = ndarray::concatenate(Axis(1), &views).expect("a layer's inputs share their shape");
        if !self.past.is_empty() {
            self.past.pop_front();
            self.past.push_back(now.clone());
        }
        taps
    }
}

impl WaveNet {
    /// `steps` new steps of each of `state.batch` sequences that continue
    /// `state.history`, sampled step by step (each `B x D`). Both ways of computing
    /// the step (see [`Generation`]) use one draw of `rng` per class or entry in the
    /// same order, so they give the same samples from the same seed.
    pub fn generate_with<R: Rng + ?Sized>(
        &self,
        store: &ParamStore,
        state: &WaveNetState,
        steps: usize,
        how: Generation,
        rng: &mut R,
    ) -> Result<Vec<Array2<f64>>> {
        let (b, d) = (state.batch, self.config.output.x_dim());
        if let Some(t) = state.history.iter().position(|x| x.dim() != (b, d)) {
            return Err(Error::config(
                "WaveNet::generate_with",
                format!("history step {t} is {:?}, expected {:?}", state.history[t].dim(), (b, d)),
            ));
        }
        let s = NoGrad::new(store);
        // The input stream: zeros at the first step, then each observed step encoded.
        let mut inputs = vec![Array2::zeros((b, self.config.output.channels()))];
        for x in &state.history {
            inputs.push(self.config.output.encode(x)?);
        }
        let mut stepper = match how {
            Generation::Naive => Stepper::Naive,
            Generation::Incremental => {
                let layers = std::iter::once(&self.causal).chain(self.blocks.iter().map(|bl| &bl.conv));
                Stepper::Incremental { queues: layers.map(|l| Queue::new(l, b)).collect(), fed: 0 }
            }
        };
        let mut out = Vec::with_capacity(steps);
        for _ in 0..steps {
            let x = self.config.output.sample(&stepper.next_logits(self, &s, &inputs, b)?, rng)?;
            inputs.push(self.config.output.encode(&x)?);
            out.push(x);
        }
        Ok(out)
    }
}

/// What computes the next step's logits from the input stream so far.
enum Stepper {
    /// The network over the last `R` inputs.
    Naive,
    /// The layers' queues, and how many inputs they have seen.
    Incremental { queues: Vec<Queue>, fed: usize },
}

impl Stepper {
    /// The logits (`B x channels`) of the step whose input is the last of `inputs`.
    fn next_logits(
        &mut self,
        net: &WaveNet,
        s: &NoGrad<'_>,
        inputs: &[Array2<f64>],
        batch: usize,
    ) -> Result<Array2<f64>> {
        match self {
            Stepper::Naive => {
                let window = stack(&inputs[inputs.len().saturating_sub(net.receptive_field())..]);
                let logits = net.logits(s, &window, batch)?;
                Ok(logits.slice(s![logits.nrows() - batch.., ..]).to_owned())
            }
            Stepper::Incremental { queues, fed } => {
                // Every input before the newest only fills the queues.
                let mut logits = None;
                for u in &inputs[*fed..] {
                    logits = Some(net.run(s, u, |i, layer, x| layer.step(s, &queues[i].taps(x)))?);
                }
                *fed = inputs.len();
                Ok(logits.expect("every call brings a new input"))
            }
        }
    }
}
