//! The variance schedule `beta_1, ..., beta_T` as data, its products
//! `alpha_bar_t = prod_{s <= t} (1 - beta_s)`, and the continuous-time reading of
//! the same numbers that the probability-flow ODE needs.

use crate::{Error, Result};

/// The noise variances of the forward chain, `beta_t` for `t = 1..=T`, with the
/// products `alpha_bar_t` computed once.
///
/// Steps are counted from 1 as in Ho et al. (2020): `beta(1)` is the first step's
/// variance, and `alpha_bar(0) = 1` is the data itself.
#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    betas: Vec<f64>,
    /// `alpha_bars[t] = prod_{s=1}^t (1 - beta_s)`, with `alpha_bars[0] = 1`.
    alpha_bars: Vec<f64>,
}

impl Schedule {
    /// A schedule from its variances: at least one, each in `(0, 1)`.
    pub fn from_betas(betas: Vec<f64>) -> Result<Self> {
        if betas.is_empty() {
            return Err(Error::config("Schedule", "needs at least one step"));
        }
        if let Some((i, b)) = betas.iter().enumerate().find(|(_, b)| !(**b > 0.0 && **b < 1.0)) {
            return Err(Error::config("Schedule", format!("beta_{} = {b} is not in (0, 1)", i + 1)));
        }
        let alpha_bars = std::iter::once(1.0)
            .chain(betas.iter().scan(1.0, |prod, b| {
                *prod *= 1.0 - b;
                Some(*prod)
            }))
            .collect();
        Ok(Schedule { betas, alpha_bars })
    }

    /// Ho et al.'s schedule (2020, Sec. 4): `beta_t` linear from `first` at `t = 1`
    /// to `last` at `t = T` (they use `T = 1000`, `1e-4` and `0.02`).
    pub fn linear(steps: usize, first: f64, last: f64) -> Result<Self> {
        let betas = match steps {
            0 => Vec::new(),
            1 => vec![first],
            _ => (0..steps).map(|i| first + (last - first) * i as f64 / (steps - 1) as f64).collect(),
        };
        Self::from_betas(betas)
    }

    /// Nichol & Dhariwal's cosine schedule (2021, eq. 17): `alpha_bar_t = f(t) / f(0)`
    /// with `f(t) = cos^2(((t / T + s) / (1 + s)) pi / 2)`, so
    /// `beta_t = 1 - alpha_bar_t / alpha_bar_{t-1}`, clipped at 0.999 as they do
    /// (the last steps would otherwise approach 1). They use the offset `s = 0.008`.
    pub fn cosine(steps: usize, offset: f64) -> Result<Self> {
        if !(offset >= 0.0 && offset.is_finite()) {
            return Err(Error::config(
                "Schedule::cosine",
                format!("offset {offset} must be finite and >= 0"),
            ));
        }
        let f = |t: usize| {
            let angle = (t as f64 / steps as f64 + offset) / (1.0 + offset) * std::f64::consts::FRAC_PI_2;
            angle.cos().powi(2)
        };
        Self::from_betas((1..=steps).map(|t| (1.0 - f(t) / f(t - 1)).min(0.999)).collect())
    }

    /// `T`, the number of steps.
    pub fn steps(&self) -> usize {
        self.betas.len()
    }

    /// `beta_1, ..., beta_T`.
    pub fn betas(&self) -> &[f64] {
        &self.betas
    }

    /// `beta_t`, for `t` in `1..=T`.
    pub fn beta(&self, t: usize) -> Result<f64> {
        self.check_step(t, 1)?;
        Ok(self.betas[t - 1])
    }

    /// `alpha_bar_t = prod_{s <= t} (1 - beta_s)`, for `t` in `0..=T`.
    pub fn alpha_bar(&self, t: usize) -> Result<f64> {
        self.check_step(t, 0)?;
        Ok(self.alpha_bars[t])
    }

    /// The variance of the posterior `q(z_{t-1} | z_t, x)` (Ho et al. 2020, eq. 7),
    /// `beta_tilde_t = (1 - alpha_bar_{t-1}) / (1 - alpha_bar_t) beta_t`, for `t` in
    /// `1..=T` (zero at `t = 1`, where the posterior is the data itself).
    pub fn posterior_variance(&self, t: usize) -> Result<f64> {
        self.check_step(t, 1)?;
        Ok((1.0 - self.alpha_bars[t - 1]) / (1.0 - self.alpha_bars[t]) * self.betas[t - 1])
    }

    /// `alpha_bar(u)` on continuous time `u in [0, 1]` (step `t = u T`): the log of
    /// `alpha_bar` interpolated linearly between the steps, so equal to
    /// [`alpha_bar`](Self::alpha_bar)`(t)` at every step, and
    /// `alpha_bar(u) = exp(-int_0^u beta(s) ds)` for the rate `beta(s)` constant at
    /// `-T ln(1 - beta_i)` on `((i - 1) / T, i / T]` (Song et al. 2021, App. B, take
    /// `beta(i / T) / T ~ beta_i`, which agrees to first order in `beta_i`).
    pub fn alpha_bar_at(&self, u: f64) -> Result<f64> {
        let i = self.interval(u)?;
        let within = u * self.steps() as f64 - i as f64;
        Ok(self.alpha_bars[i] * (1.0 - self.betas[i]).powf(within))
    }

    /// The inverse of [`alpha_bar_at`](Self::alpha_bar_at) in steps: the fractional
    /// step `t = u T` at which `-ln alpha_bar(u) = noise`, for `noise` in
    /// `[0, -ln alpha_bar_T]` (a rounding error of `1e-12` relative beyond the end,
    /// as a solver's last stage may make, is read as the end).
    pub fn step_at_noise(&self, noise: f64) -> Result<f64> {
        let last = -self.alpha_bars[self.steps()].ln();
        let noise = if noise > last && noise <= last * (1.0 + 1e-12) { last } else { noise };
        if !(0.0..=last).contains(&noise) {
            return Err(Error::config("Schedule", format!("noise level {noise} is not in [0, {last}]")));
        }
        // alpha_bars decreases: the first step whose -ln alpha_bar reaches `noise`.
        let i = self.alpha_bars.partition_point(|a| -a.ln() < noise).clamp(1, self.steps());
        let below = -self.alpha_bars[i - 1].ln();
        Ok((i - 1) as f64 + (noise - below) / -(-self.betas[i - 1]).ln_1p())
    }

    /// The index `i` (from 0) of the step interval `(i / T, (i + 1) / T]` holding `u`
    /// (the first for `u = 0`).
    fn interval(&self, u: f64) -> Result<usize> {
        if !(0.0..=1.0).contains(&u) {
            return Err(Error::config("Schedule", format!("continuous time {u} is not in [0, 1]")));
        }
        let steps = self.steps();
        Ok(((u * steps as f64).ceil() as usize).clamp(1, steps) - 1)
    }

    fn check_step(&self, t: usize, first: usize) -> Result<()> {
        if t < first || t > self.steps() {
            return Err(Error::config(
                "Schedule",
                format!("step {t} is not in {first}..={} (a chain of {} steps)", self.steps(), self.steps()),
            ));
        }
        Ok(())
    }
}
