//! Optimizers over a [`ParamStore`], with PyTorch's update rules.
//!
//! Each optimizer is an [`UpdateRule`] (its hyper-parameters and the scalar update of
//! one parameter entry, written exactly as the pseudo-code of the `torch.optim`
//! documentation) run by the generic [`Optim`], which owns the per-parameter state:
//! the number of updates the parameter has received (PyTorch's `state["step"]`) and
//! the rule's buffers (`exp_avg`, `momentum_buffer`, ...), created as zeros on a
//! parameter's first update. A parameter without a gradient is skipped, its state
//! untouched, as PyTorch skips parameters whose `.grad` is `None`.
//!
//! The rules, with $g$ the gradient, $\theta$ the parameter, $\gamma$ the learning
//! rate, $\lambda$ the weight decay and $t$ the parameter's update count from 1:
//!
//! | rule | update |
//! |---|---|
//! | [`Sgd`] | $g \mathrel{+}= \lambda\theta$; $b = g$ at $t=1$, else $b = \mu b + (1-\tau) g$; $g = g + \mu b$ (Nesterov) or $g = b$; $\theta \mathrel{-}= \gamma g$ |
//! | [`Adam`] | $g \mathrel{+}= \lambda\theta$; $m = \beta_1 m + (1-\beta_1) g$; $v = \beta_2 v + (1-\beta_2) g^2$; $\theta \mathrel{-}= \gamma \hat m / (\sqrt{\hat v} + \epsilon)$, $\hat m = m/(1-\beta_1^t)$, $\hat v = v/(1-\beta_2^t)$ |
//! | [`AdamW`] | $\theta \mathrel{-}= \gamma\lambda\theta$, then Adam without weight decay |
//! | [`Adamax`] | $g \mathrel{+}= \lambda\theta$; $m = \beta_1 m + (1-\beta_1) g$; $u = \max(\beta_2 u, \lvert g\rvert + \epsilon)$; $\theta \mathrel{-}= \gamma m / ((1-\beta_1^t) u)$ |
//! | [`RmsProp`] | $g \mathrel{+}= \lambda\theta$; $v = \alpha v + (1-\alpha) g^2$; $\tilde v = v - \bar g^2$ with $\bar g = \alpha \bar g + (1-\alpha) g$ if centred, else $\tilde v = v$; $b = \mu b + g/(\sqrt{\tilde v}+\epsilon)$, $\theta \mathrel{-}= \gamma b$ if $\mu > 0$, else $\theta \mathrel{-}= \gamma g/(\sqrt{\tilde v}+\epsilon)$ (the average starts at 0, or at 1 and with $\sqrt{\tilde v + \epsilon}$ in [`RmsProp::tensorflow`]) |

mod adam;
mod rmsprop;
mod sgd;

pub use adam::{Adam, AdamCorrections, AdamW, Adamax};
pub use rmsprop::RmsProp;
pub use sgd::Sgd;

use crate::{Error, Result};
use autodiff::ParamGrads;
use autodiff::ParamStore;
use autodiff::ndarray::Array2;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// The most buffers any rule keeps per parameter entry (RMSprop, centred, with momentum).
const MAX_BUFFERS: usize = 3;

/// What the training loop needs from an optimizer.
pub trait Optimizer: Send {
    /// A short name of the rule (`"adam"`), stored in checkpoints.
    fn kind(&self) -> &'static str;
    /// Updates every parameter that has a gradient. Gradient shapes are checked
    /// against the store first: on error nothing has changed.
    fn step(&mut self, store: &mut ParamStore, grads: &ParamGrads) -> Result<()>;
    /// The current learning rate.
    fn lr(&self) -> f64;
    /// Sets the learning rate (schedules call this before each step); a rate the
    /// rule's validation refuses (NaN, infinite, negative) is an [`Error::Config`]
    /// naming it, and the rate is left unchanged.
    fn set_lr(&mut self, lr: f64) -> Result<()>;
    /// A copy of the hyper-parameters and per-parameter state.
    fn state(&self) -> OptimizerState;
    /// Restores a state from [`state`](Optimizer::state) (hyper-parameters included).
    fn load_state(&mut self, state: OptimizerState) -> Result<()>;
}

/// A boxed optimizer is one too, so the rule can be chosen at run time.
impl<O: Optimizer + ?Sized> Optimizer for Box<O> {
    fn kind(&self) -> &'static str {
        (**self).kind()
    }
    fn step(&mut self, store: &mut ParamStore, grads: &ParamGrads) -> Result<()> {
        (**self).step(store, grads)
    }
    fn lr(&self) -> f64 {
        (**self).lr()
    }
    fn set_lr(&mut self, lr: f64) -> Result<()> {
        (**self).set_lr(lr)
    }
    fn state(&self) -> OptimizerState {
        (**self).state()
    }
    fn load_state(&mut self, state: OptimizerState) -> Result<()> {
        (**self).load_state(state)
    }
}

/// An optimizer's full state, indexed by [`ParamId::index`](autodiff::ParamId::index).
#[derive(Debug, Clone, PartialEq)]
pub struct OptimizerState {
    /// The rule's [`Optimizer::kind`].
    pub kind: String,
    /// The hyper-parameters, as the rule's serde form.
    pub config: serde_json::Value,
    /// Names of the per-parameter buffers, in the order of each `buffers` entry.
    pub buffer_names: Vec<String>,
    /// Updates received by each parameter.
    pub steps: Vec<u64>,
    /// Each parameter's buffers (`None` before its first update).
    pub buffers: Vec<Option<Vec<Array2<f64>>>>,
}

/// The hyper-parameters of an optimizer and its update of one scalar entry.
pub trait UpdateRule: Clone + std::fmt::Debug + Serialize + DeserializeOwned + Send {
    /// A short name (`"adam"`).
    const KIND: &'static str;
    /// The names of the per-entry buffers this configuration keeps (at most 3).
    fn buffer_names(&self) -> &'static [&'static str];
    /// The learning rate.
    fn lr(&self) -> f64;
    /// Sets the learning rate.
    fn set_lr(&mut self, lr: f64);
    /// Checks the hyper-parameters (ranges as in PyTorch's constructors).
    fn validate(&self) -> Result<()>;
    /// What an update at count `t` (from 1) needs that depends on `t` alone: the
    /// count itself, or Adam's bias corrections `1 - beta^t`, computed once per
    /// parameter instead of once per entry (two `powf`s per entry were 4% of the
    /// VRNN's training step).
    type Step: Copy;
    /// The [`Step`](UpdateRule::Step) of update count `t`.
    fn at_step(&self, t: u64) -> Self::Step;
    /// Updates one entry `p` with gradient `g` at `step` (from
    /// [`at_step`](UpdateRule::at_step)); `buf` holds this entry's buffers in
    /// [`buffer_names`](UpdateRule::buffer_names) order. Mark it
    /// `#[inline(always)]`: it runs once per entry.
    fn update(&self, step: Self::Step, p: &mut f64, g: f64, buf: &mut [f64]);
}

/// A stateful optimizer running the rule `R`; see the module docs.
#[derive(Debug, Clone)]
pub struct Optim<R> {
    rule: R,
    steps: Vec<u64>,
    buffers: Vec<Option<Vec<Array2<f64>>>>,
}

impl<R: UpdateRule> Optim<R> {
    /// An optimizer with no state yet; fails on out-of-range hyper-parameters.
    pub fn new(rule: R) -> Result<Self> {
        rule.validate()?;
        Ok(Optim { rule, steps: Vec::new(), buffers: Vec::new() })
    }

    /// The hyper-parameters.
    pub fn rule(&self) -> &R {
        &self.rule
    }

    fn check(&self, store: &ParamStore, grads: &ParamGrads) -> Result<()> {
        for (id, g) in grads.iter() {
            let in_store = |source| Error::Autodiff { context: "optimizer step".into(), source };
            let want = store.shape(id).map_err(in_store)?;
            let bufs = self.buffers.get(id.index()).and_then(Option::as_ref);
            if g.dim() != want || bufs.is_some_and(|b| b.iter().any(|b| b.dim() != want)) {
                return Err(Error::State(format!(
                    "parameter `{}` has shape {want:?} but its gradient is {:?}{}",
                    store.name(id).map_err(in_store)?,
                    g.dim(),
                    if bufs.is_some() { " (or its optimizer buffers differ)" } else { "" }
                )));
            }
        }
        Ok(())
    }
}

impl<R: UpdateRule> Optimizer for Optim<R> {
    fn kind(&self) -> &'static str {
        R::KIND
    }

    fn step(&mut self, store: &mut ParamStore, grads: &ParamGrads) -> Result<()> {
        self.check(store, grads)?;
        self.steps.resize(store.len().max(self.steps.len()), 0);
        self.buffers.resize(store.len().max(self.buffers.len()), None);
        let names = self.rule.buffer_names();
        for (id, g) in grads.iter() {
            let i = id.index();
            self.steps[i] += 1;
            let step = self.rule.at_step(self.steps[i]);
            let p = store.get_mut(id).expect("checked above: every gradient's parameter is in the store");
            if !p.is_standard_layout() {
                *p = p.as_standard_layout().into_owned();
            }
            let bufs =
                self.buffers[i].get_or_insert_with(|| names.iter().map(|_| Array2::zeros(p.dim())).collect());
            let g = g.as_standard_layout();
            let (p, g) = (p.as_slice_mut().expect("standard layout"), g.as_slice().expect("standard layout"));
            let mut bufs: Vec<&mut [f64]> =
                bufs.iter_mut().map(|b| b.as_slice_mut().expect("buffers are created standard")).collect();
            let mut scratch = [0.0; MAX_BUFFERS];
            let scratch = &mut scratch[..bufs.len()];
            for e in 0..p.len() {
                for (s, b) in scratch.iter_mut().zip(bufs.iter()) {
                    *s = b[e];
                }
                self.rule.update(step, &mut p[e], g[e], scratch);
                for (s, b) in scratch.iter().zip(bufs.iter_mut()) {
                    b[e] = *s;
                }
            }
        }
        Ok(())
    }

    fn lr(&self) -> f64 {
        self.rule.lr()
    }

    fn set_lr(&mut self, lr: f64) -> Result<()> {
        let mut rule = self.rule.clone();
        rule.set_lr(lr);
        rule.validate()?;
        self.rule = rule;
        Ok(())
    }

    fn state(&self) -> OptimizerState {
        OptimizerState {
            kind: R::KIND.to_owned(),
            config: serde_json::to_value(&self.rule).expect("hyper-parameters serialize"),
            buffer_names: self.rule.buffer_names().iter().map(|s| (*s).to_owned()).collect(),
            steps: self.steps.clone(),
            buffers: self.buffers.clone(),
        }
    }

    fn load_state(&mut self, state: OptimizerState) -> Result<()> {
        if state.kind != R::KIND {
            return Err(Error::State(format!("saved by `{}`, loading into `{}`", state.kind, R::KIND)));
        }
        let rule: R = serde_json::from_value(state.config)
            .map_err(|e| Error::State(format!("hyper-parameters of `{}`: {e}", R::KIND)))?;
        rule.validate()?;
        if state.buffer_names != rule.buffer_names() {
            return Err(Error::State(format!(
                "buffers {:?}, expected {:?}",
                state.buffer_names,
                rule.buffer_names()
            )));
        }
        if state.steps.len() != state.buffers.len() {
            return Err(Error::State(format!(
                "{} step counts for {} buffer sets",
                state.steps.len(),
                state.buffers.len()
            )));
        }
        if let Some(i) = state
            .buffers
            .iter()
            .position(|b| b.as_ref().is_some_and(|b| b.len() != rule.buffer_names().len()))
        {
            return Err(Error::State(format!("parameter {i} has the wrong number of buffers")));
        }
        *self = Optim { rule, steps: state.steps, buffers: state.buffers };
        Ok(())
    }
}

/// Fails unless `value` is finite and positive, naming the setting.
pub(crate) fn check_positive(what: &str, value: f64) -> Result<()> {
    if value.is_finite() && value > 0.0 {
        Ok(())
    } else {
        Err(Error::config(what, format!("must be finite and positive, got {value}")))
    }
}

/// Fails unless the count `value` is positive, naming the setting.
pub(crate) fn check_count(what: &str, value: u64) -> Result<()> {
    if value > 0 { Ok(()) } else { Err(Error::config(what, "must be positive, got 0")) }
}

/// Fails unless `value` is finite and in `[lo, hi]`, naming the setting.
pub(crate) fn check_range(what: &str, value: f64, lo: f64, hi: f64) -> Result<()> {
    if value.is_finite() && (lo..=hi).contains(&value) {
        return Ok(());
    }
    // `f64::MAX` as an upper bound means "no bound": its 309 digits would hide the rule.
    let range = if hi == f64::MAX { format!("finite and >= {lo}") } else { format!("in [{lo}, {hi}]") };
    Err(Error::config(what, format!("must be {range}, got {value}")))
}

#[cfg(test)]
pub(crate) mod test_support {
    use super::*;
    use crate::{Adam, Sgd};
    use autodiff::ParamStore;
    use autodiff::ndarray::array;

    /// One `1 x 2` parameter `w` with the given value.
    pub fn store(w: [f64; 2]) -> ParamStore {
        let mut s = ParamStore::new();
        s.add("w", array![[w[0], w[1]]]).expect("fresh name");
        s
    }

    /// Runs `opt` over the fixed gradients and returns `w` after each update.
    pub fn trajectory(opt: &mut dyn Optimizer, w0: [f64; 2], grads: &[[f64; 2]]) -> Vec<[f64; 2]> {
        let mut s = store(w0);
        let id = s.id("w").expect("the one parameter");
        grads
            .iter()
            .map(|g| {
                let mut gr = ParamGrads::default();
                gr.set(id, array![[g[0], g[1]]]).expect("one store");
                opt.step(&mut s, &gr).expect("shapes match");
                let w = s.get(id).expect("the store's own id");
                [w[(0, 0)], w[(0, 1)]]
            })
            .collect()
    }

    #[test]
    fn state_round_trips_and_refuses_another_kind() {
        let mut adam = Optim::new(Adam { lr: 0.1, ..Adam::default() }).unwrap();
        trajectory(&mut adam, [1.0, 2.0], &[[0.5, -0.5], [0.25, 1.0]]);
        let state = adam.state();
        assert_eq!(state.steps, [2]);
        assert_eq!(state.buffer_names, ["exp_avg", "exp_avg_sq"]);
        let mut fresh = Optim::new(Adam::default()).unwrap();
        fresh.load_state(state.clone()).unwrap();
        assert_eq!(fresh.lr(), 0.1, "hyper-parameters come with the state");
        assert_eq!(fresh.state(), state);
        let mut sgd = Optim::new(Sgd::default()).unwrap();
        let err = sgd.load_state(state.clone()).unwrap_err();
        assert_eq!(err.to_string(), "optimizer state: saved by `adam`, loading into `sgd`");
        let mut bad = state;
        bad.buffers[0].as_mut().unwrap().pop();
        assert!(fresh.load_state(bad).is_err());
    }

    #[test]
    fn gradients_of_another_store_are_an_error_and_change_nothing() {
        let (mut mine, other) = (store([1.0, 2.0]), store([1.0, 2.0]));
        let mut grads = ParamGrads::default();
        grads.set(other.id("w").unwrap(), array![[1.0, 1.0]]).unwrap();
        let mut sgd = Optim::new(Sgd { lr: 0.1, ..Sgd::default() }).unwrap();
        let err = sgd.step(&mut mine, &grads).unwrap_err();
        let message = err.to_string();
        assert!(message.contains("parameter id #0 belongs to another parameter store"), "{message}");
        assert_eq!(mine.get(mine.id("w").unwrap()).unwrap(), array![[1.0, 2.0]]);
        assert_eq!(sgd.state().steps, [0; 0], "no step counted");
    }

    /// Asserts that `result` is an [`Error::Config`] naming the setting `what` and whose
    /// message shows the offending `value`.
    pub fn assert_config_error<T: std::fmt::Debug>(result: Result<T>, what: &str, value: &str) {
        let err = result.expect_err(what);
        assert!(matches!(&err, Error::Config { what: w, .. } if w == what), "{err:?}");
        let message = err.to_string();
        assert!(message.starts_with(&format!("{what}: ")) && message.contains(value), "{message}");
    }

    #[test]
    fn set_lr_refuses_nan_and_negative_rates_and_keeps_the_old_one() {
        let mut adam = Optim::new(Adam { lr: 0.1, ..Adam::default() }).unwrap();
        assert_config_error(adam.set_lr(f64::NAN), "Adam.lr", "NaN");
        assert_config_error(adam.set_lr(-1.0), "Adam.lr", "-1");
        assert_config_error(adam.set_lr(f64::INFINITY), "Adam.lr", "inf");
        assert_eq!(adam.lr(), 0.1);
        adam.set_lr(0.0).unwrap();
        assert_eq!(adam.lr(), 0.0, "a schedule may reach zero");
        let mut sgd: Box<dyn Optimizer> = Box::new(Optim::new(Sgd::default()).unwrap());
        assert_config_error(sgd.set_lr(-0.5), "Sgd.lr", "-0.5");
    }

    #[test]
    fn out_of_range_hyper_parameters_are_named() {
        use crate::{AdamW, Adamax, RmsProp};
        assert_config_error(Optim::new(Adam { eps: 0.0, ..Adam::default() }), "Adam.eps", "got 0");
        assert_config_error(Optim::new(Adam { lr: f64::NAN, ..Adam::default() }), "Adam.lr", "NaN");
        assert_config_error(
            Optim::new(Adam { betas: (0.9, 1.0), ..Adam::default() }),
            "Adam.betas.1",
            "got 1",
        );
        let adamw = AdamW { adam: Adam { eps: -1e-8, ..Adam::default() } };
        assert_config_error(Optim::new(adamw), "AdamW.eps", "-0.00000001");
        let adamax = Adamax { adam: Adam { weight_decay: -1.0, ..Adam::default() } };
        assert_config_error(Optim::new(adamax), "Adamax.weight_decay", "-1");
        assert_config_error(Optim::new(RmsProp { eps: 0.0, ..RmsProp::default() }), "RmsProp.eps", "got 0");
        assert_config_error(Optim::new(RmsProp { alpha: 1.5, ..RmsProp::default() }), "RmsProp.alpha", "1.5");
        assert_config_error(Optim::new(Sgd { momentum: -0.9, ..Sgd::default() }), "Sgd.momentum", "-0.9");
    }

    /// Asserts agreement to 4 ulps-ish (1e-15 relative): the update is the same formula,
    /// only the order of rounding may differ from the hand computation.
    pub fn assert_close(got: &[[f64; 2]], want: &[[f64; 2]]) {
        for (t, (g, w)) in got.iter().zip(want).enumerate() {
            for k in 0..2 {
                let tol = 1e-15 * w[k].abs().max(1e-300);
                assert!(
                    (g[k] - w[k]).abs() <= tol,
                    "update {}: entry {k}: got {:e}, want {:e}",
                    t + 1,
                    g[k],
                    w[k]
                );
            }
        }
    }
}
