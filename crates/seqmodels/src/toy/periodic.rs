//! The one-dimensional periodic toy of the Latent ODE paper (Rubanova, Chen, Duvenaud,
//! *Latent ODEs for Irregularly-Sampled Time Series*, NeurIPS 2019), as its reference
//! code YuliaRubanova/latent_ode generates it: dataset `periodic` of
//! `lib/parse_datasets.py` (`parse_datasets`), which draws the time grid and calls
//! `Periodic_1d(init_freq=None, init_amplitude=1, final_amplitude=1, final_freq=None,
//! z0=1).sample_traj` of `generate_timeseries.py` (`generate_periodic`,
//! `TimeSeries.add_noise`).
//!
//! One time grid serves every series: `t_0 = 0` plus `points - 1` draws from
//! `U[0, max_t)`, sorted (100 points, `max_t = 5`). Series `i` draws a frequency
//! `f_i ~ U[0.4, 0.8)` and an offset `z_i ~ N(1, 0.1^2)`, and its noise-free values are
//!
//! $$ y_i(t) = A \sin(2 \pi f_i t) + z_i, \qquad A = 1 $$
//!
//! (the reference integrates the phase `2 pi f dt` step by step, which is this when the
//! frequency is constant, as it is for this data set). **The noise is uniform, not
//! Gaussian**: `noise_weight * U[0, 1)` with `noise_weight = 0.01`, added to every point
//! but the first (`add_noise` skips `t_0`), so it is never negative, has mean
//! `noise_weight / 2` and variance `noise_weight^2 / 12`.
//!
//! The reference's README command for this data set is `-n 1000 -s 50`: 1,000 series,
//! and for interpolation each series observes 50 of its 100 points, drawn without
//! replacement (`subsample_timepoints` of `lib/utils.py`) and scored on all 100:
//! [`Periodic::interpolation`]. The reference draws that subsample again every time a
//! batch is assembled; call it again for the same effect. Its extrapolation mode
//! (observe the first half) is not provided here.
//!
//! The draws come from one generator in this crate's own order (grid, then per series
//! frequency, offset and noise), so a seed gives the reference's distributions, not its
//! numbers (it draws from separate torch and numpy streams).

use crate::{Error, IrregularSeries, Result, Series};
use ndarray::Array2;
use rand::Rng;
use rand::seq::index::sample;
use rand_distr::{Distribution, Normal};
use std::f64::consts::PI;

/// Settings of [`periodic`]; the default is the reference's `periodic` data set as its
/// README runs it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PeriodicConfig {
    /// Number of series: 1,000 (the README's `-n 1000`; the script's own default is 100).
    pub series: usize,
    /// Points per series, on the shared grid (`--timepoints`, 100).
    pub points: usize,
    /// The grid's draws are uniform on `[0, max_t)` (`--max-t`, 5).
    pub max_t: f64,
    /// Lowest frequency (0.4).
    pub freq_low: f64,
    /// Frequencies are uniform on `[freq_low, freq_high)` (0.8).
    pub freq_high: f64,
    /// Amplitude `A` (1).
    pub amplitude: f64,
    /// Mean of the offset `z` (the reference's `z0`, 1).
    pub offset_mean: f64,
    /// Standard deviation of the offset (0.1).
    pub offset_std: f64,
    /// Weight of the uniform noise, `noise_weight * U[0, 1)` (`--noise-weight`, 0.01).
    pub noise_weight: f64,
}

impl Default for PeriodicConfig {
    fn default() -> Self {
        PeriodicConfig {
            series: 1000,
            points: 100,
            max_t: 5.0,
            freq_low: 0.4,
            freq_high: 0.8,
            amplitude: 1.0,
            offset_mean: 1.0,
            offset_std: 0.1,
            noise_weight: 0.01,
        }
    }
}

impl PeriodicConfig {
    /// Checks the settings, so that generation cannot fail half way.
    fn check(&self) -> Result<()> {
        let fail = |reason: String| Err(Error::config("periodic", reason));
        let finite = [self.max_t, self.freq_low, self.freq_high, self.amplitude, self.offset_mean];
        if self.series == 0 || self.points == 0 {
            return fail(format!("{} series of {} points: both must be positive", self.series, self.points));
        }
        // Finite first, so that the comparisons below are not fooled by NaN.
        if finite.iter().any(|v| !v.is_finite()) || self.max_t <= 0.0 {
            return fail(format!(
                "max_t, frequencies, amplitude and offset must be finite, max_t > 0: {self:?}"
            ));
        }
        if self.freq_low > self.freq_high {
            return fail(format!("frequency range [{}, {}) is empty", self.freq_low, self.freq_high));
        }
        let spread = |v: f64| v.is_finite() && v >= 0.0;
        if !spread(self.offset_std) || !spread(self.noise_weight) {
            return fail(format!(
                "offset_std {} and noise_weight {} must be finite and >= 0",
                self.offset_std, self.noise_weight
            ));
        }
        Ok(())
    }
}

/// One series of the toy: its draws, the noise-free curve and the noisy one.
#[derive(Debug, Clone, PartialEq)]
pub struct PeriodicCurve {
    /// Its frequency `f`.
    pub frequency: f64,
    /// Its offset `z`.
    pub offset: f64,
    /// `A sin(2 pi f t) + z` on the grid (`points x 1`).
    pub truth: Array2<f64>,
    /// The truth plus the uniform noise (`points x 1`).
    pub noisy: Array2<f64>,
}

/// The toy data set: one shared time grid and the curves on it.
#[derive(Debug, Clone, PartialEq)]
pub struct Periodic {
    /// The grid every series shares: 0, then increasing draws below `max_t`.
    pub times: Vec<f64>,
    /// The series.
    pub curves: Vec<PeriodicCurve>,
}

impl Periodic {
    /// The noisy curves, fully observed.
    pub fn series(&self) -> Vec<Series> {
        self.curves.iter().map(|c| Series::observed(self.times.clone(), c.noisy.clone())).collect()
    }

    /// The noisy curves, fully observed, as a data set.
    pub fn to_irregular(&self) -> Result<IrregularSeries> {
        IrregularSeries::new(self.series())
    }

    /// The interpolation protocol: each series keeps `observed` of its points (50 in the
    /// reference), drawn without replacement independently per series and kept in time
    /// order. The targets are all the points ([`Periodic::series`]).
    pub fn interpolation<R: Rng + ?Sized>(&self, observed: usize, rng: &mut R) -> Result<IrregularSeries> {
        let n = self.times.len();
        if observed == 0 || observed > n {
            return Err(Error::config("periodic interpolation", format!("keep {observed} of {n} points")));
        }
        let kept = self
            .series()
            .iter()
            .map(|s| {
                let mut keep = sample(rng, n, observed).into_vec();
                keep.sort_unstable();
                s.subsample(&keep)
            })
            .collect();
        IrregularSeries::new(kept)
    }
}

/// `t_0 = 0` and `points - 1` sorted draws from `U[0, max_t)`.
fn time_grid<R: Rng + ?Sized>(config: &PeriodicConfig, rng: &mut R) -> Result<Vec<f64>> {
    // A tie (a draw equal to another, or to 0) has probability about points^2 2^-54 but
    // would break the strictly increasing times a Series needs: draw again. The bound
    // only matters for a max_t so small that few floats lie below it.
    const ATTEMPTS: usize = 100;
    for _ in 0..ATTEMPTS {
        let mut times: Vec<f64> = std::iter::once(0.0)
            .chain((1..config.points).map(|_| config.max_t * rng.random::<f64>()))
            .collect();
        times.sort_by(f64::total_cmp);
        if times.windows(2).all(|w| w[0] < w[1]) {
            return Ok(times);
        }
    }
    Err(Error::config(
        "periodic",
        format!("no {} distinct times below max_t {} in {ATTEMPTS} attempts", config.points, config.max_t),
    ))
}

/// The toy data set drawn with `rng` (see the module docs).
pub fn periodic<R: Rng + ?Sized>(config: &PeriodicConfig, rng: &mut R) -> Result<Periodic> {
    config.check()?;
    let times = time_grid(config, rng)?;
    let offset = Normal::new(config.offset_mean, config.offset_std)
        .map_err(|e| Error::config("periodic", format!("offset distribution: {e}")))?;
    let curves = (0..config.series)
        .map(|_| {
            // Drawn as low + width * U[0, 1), the reference's form, which also allows a
            // single frequency (low = high).
            let frequency = config.freq_low + (config.freq_high - config.freq_low) * rng.random::<f64>();
            let offset = offset.sample(rng);
            let truth = Array2::from_shape_fn((times.len(), 1), |(k, _)| {
                config.amplitude * (2.0 * PI * frequency * times[k]).sin() + offset
            });
            let mut noisy = truth.clone();
            for v in noisy.iter_mut().skip(1) {
                *v += config.noise_weight * rng.random::<f64>();
            }
            PeriodicCurve { frequency, offset, truth, noisy }
        })
        .collect();
    Ok(Periodic { times, curves })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn mean_var(xs: &[f64]) -> (f64, f64) {
        let n = xs.len() as f64;
        let mean = xs.iter().sum::<f64>() / n;
        (mean, xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n)
    }

    fn default_data(seed: u64) -> Periodic {
        periodic(&PeriodicConfig::default(), &mut ChaCha8Rng::seed_from_u64(seed)).unwrap()
    }

    #[test]
    fn one_grid_from_zero_below_max_t_shared_by_all() {
        let data = default_data(0);
        assert_eq!(data.times.len(), 100);
        assert_eq!(data.times[0], 0.0);
        assert!(data.times.windows(2).all(|w| w[0] < w[1]) && data.times[99] < 5.0);
        assert!(data.series().iter().all(|s| s.times == data.times));
        // The grid's draws are U[0, 5): mean 2.5, variance 25/12 = 2.083. Over 20,000
        // draws their standard errors are 0.010 and 0.013; the bounds are 4 of them.
        let many = PeriodicConfig { series: 1, points: 20_001, ..PeriodicConfig::default() };
        let grid = periodic(&many, &mut ChaCha8Rng::seed_from_u64(1)).unwrap().times;
        let (mean, var) = mean_var(&grid[1..]);
        assert!((mean - 2.5).abs() < 0.04 && (var - 25.0 / 12.0).abs() < 0.05, "{mean} {var}");
    }

    #[test]
    fn frequencies_offsets_and_the_curve_follow_the_reference() {
        let data = default_data(2);
        let freqs: Vec<f64> = data.curves.iter().map(|c| c.frequency).collect();
        assert!(freqs.iter().all(|f| (0.4..0.8).contains(f)));
        // U[0.4, 0.8): mean 0.6, variance 0.4^2 / 12 = 0.01333; over 1,000 series the
        // standard errors are 0.0037 and 0.0004, the bounds 4 of them.
        let (mean, var) = mean_var(&freqs);
        assert!((mean - 0.6).abs() < 0.015 && (var - 0.16 / 12.0).abs() < 0.0016, "{mean} {var}");
        // N(1, 0.1^2): standard errors 0.0032 (mean) and 0.0022 (standard deviation).
        let offsets: Vec<f64> = data.curves.iter().map(|c| c.offset).collect();
        let (mean, var) = mean_var(&offsets);
        assert!((mean - 1.0).abs() < 0.013 && (var.sqrt() - 0.1).abs() < 0.009, "{mean} {var}");
        for c in &data.curves {
            // sin(0) = 0: the first point is the offset.
            assert_eq!(c.truth[[0, 0]], c.offset);
            for (k, &t) in data.times.iter().enumerate() {
                let y = (2.0 * PI * c.frequency * t).sin() + c.offset;
                assert!((c.truth[[k, 0]] - y).abs() < 1e-12);
            }
        }
    }

    #[test]
    fn the_noise_is_a_hundredth_of_a_standard_uniform_except_at_t0() {
        let data = default_data(3);
        let mut residuals = Vec::new();
        for c in &data.curves {
            let r = &c.noisy - &c.truth;
            assert_eq!(r[[0, 0]], 0.0, "no noise at t_0");
            residuals.extend(r.iter().skip(1));
        }
        assert_eq!(residuals.len(), 1000 * 99);
        // Rounding of (y + e) - y is far below the bounds' slack.
        assert!(residuals.iter().all(|&e| (0.0..0.01 + 1e-12).contains(&e)));
        // 0.01 U[0, 1): mean 0.005, variance 1e-4 / 12 = 8.33e-6. Over 99,000 draws the
        // standard errors are 9.2e-6 and 2.4e-8; the bounds are about 4 of them.
        let (mean, var) = mean_var(&residuals);
        assert!((mean - 0.005).abs() < 4e-5 && (var - 1e-4 / 12.0).abs() < 1e-7, "{mean} {var}");
    }

    #[test]
    fn a_seed_gives_one_data_set_and_another_seed_another() {
        assert_eq!(default_data(4), default_data(4));
        let (a, b) = (default_data(4), default_data(5));
        assert_ne!(a.times, b.times);
        assert_ne!(a.curves[0].frequency, b.curves[0].frequency);
        assert_ne!(a.curves[0].noisy, b.curves[0].noisy);
    }

    #[test]
    fn interpolation_keeps_half_the_points_of_each_series_at_random() {
        let data = default_data(6);
        let obs = data.interpolation(50, &mut ChaCha8Rng::seed_from_u64(7)).unwrap();
        assert_eq!((obs.series().len(), obs.dim()), (1000, 1));
        for (s, c) in obs.series().iter().zip(&data.curves) {
            assert_eq!(s.times.len(), 50);
            for (k, t) in s.times.iter().enumerate() {
                // Each kept time is a grid time, with that time's noisy value.
                let j = data.times.iter().position(|u| u == t).unwrap();
                assert_eq!(s.values[[k, 0]], c.noisy[[j, 0]]);
            }
        }
        assert_ne!(obs.series()[0].times, obs.series()[1].times, "drawn per series");
        // Every point, t_0 included, is kept with probability 1/2: over 1,000 series
        // the count is 500 with standard deviation 16.
        let kept_t0 = obs.series().iter().filter(|s| s.times[0] == 0.0).count();
        assert!((430..570).contains(&kept_t0), "{kept_t0}");
        assert_eq!(data.to_irregular().unwrap().series()[0].times.len(), 100);
    }

    #[test]
    fn bad_settings_are_errors() {
        let base = PeriodicConfig::default();
        let bad = [
            PeriodicConfig { series: 0, ..base },
            PeriodicConfig { points: 0, ..base },
            PeriodicConfig { max_t: 0.0, ..base },
            PeriodicConfig { max_t: f64::NAN, ..base },
            PeriodicConfig { freq_low: 0.9, ..base },
            PeriodicConfig { amplitude: f64::INFINITY, ..base },
            PeriodicConfig { offset_std: -0.1, ..base },
            PeriodicConfig { noise_weight: f64::NAN, ..base },
        ];
        for config in bad {
            let err = periodic(&config, &mut ChaCha8Rng::seed_from_u64(0)).unwrap_err();
            assert!(err.to_string().starts_with("periodic: "), "{err}");
        }
        let data = default_data(8);
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        assert!(data.interpolation(0, &mut rng).is_err() && data.interpolation(101, &mut rng).is_err());
    }
}
