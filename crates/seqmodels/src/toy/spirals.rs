//! The two-dimensional spirals of torchdiffeq's Latent ODE demo
//! (`examples/latent_ode.py`, `generate_spiral2d`; Chen et al. 2018, Sec. 5.1).
//!
//! On a grid of `total` times `t` evenly spaced on `[0, stop]` (1,000 on `[0, 6 pi]`),
//! two reference trajectories:
//!
//! * counter-clockwise, `r = a + b t` at angle `t`, centred at `(+5, 0)`;
//! * clockwise, `r = a + 50 b / z` at angle `z = stop + 1 - t`, centred at `(-5, 0)`
//!
//! (torchdiffeq calls the second `cc` and the first `cw`; with `a = 0`, `b = 0.3`
//! the radii are `0.3 t` and `15 / (6 pi + 1 - t)`). Each spiral picks a direction
//! with probability 1/2 and a window of `points` consecutive grid times starting at
//! a uniform index in `[points, total - points)`; its times are the first `points`
//! grid times (every spiral starts at `t = 0`, valid because the dynamics are
//! autonomous) and its observations the window plus Gaussian noise of standard
//! deviation `noise_std`. [`Spiral::observe`] draws an irregular subsample.

use crate::Series;
use ndarray::Array2;
use rand::Rng;
use rand::seq::index::sample;
use rand_distr::{Distribution, Normal};
use std::f64::consts::PI;

/// Settings of [`spirals`]; the default is torchdiffeq's demo with windows of 100.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SpiralConfig {
    /// Number of spirals.
    pub spirals: usize,
    /// Grid points of the reference trajectories.
    pub total: usize,
    /// End of the grid (its start is 0).
    pub stop: f64,
    /// Points per spiral (its window).
    pub points: usize,
    /// Radius offset `a`.
    pub a: f64,
    /// Radius slope `b`.
    pub b: f64,
    /// Standard deviation of the Gaussian observation noise.
    pub noise_std: f64,
}

impl Default for SpiralConfig {
    fn default() -> Self {
        SpiralConfig {
            spirals: 1000,
            total: 1000,
            stop: 6.0 * PI,
            points: 100,
            a: 0.0,
            b: 0.3,
            noise_std: 0.3,
        }
    }
}

/// One spiral: its times, the noise-free trajectory and the noisy observations.
#[derive(Debug, Clone, PartialEq)]
pub struct Spiral {
    /// The first `points` grid times.
    pub times: Vec<f64>,
    /// The noise-free positions (`points x 2`).
    pub truth: Array2<f64>,
    /// The observations: truth plus noise (`points x 2`).
    pub noisy: Array2<f64>,
    /// Whether it turns clockwise.
    pub clockwise: bool,
}

impl Spiral {
    /// `n` of the first `of_first` noisy observations, drawn without replacement and
    /// kept in time order: the irregular subsample of the Neural ODE paper's Table 2.
    ///
    /// # Panics
    /// If `n > of_first` or `of_first > points` (a caller's contract).
    pub fn observe<R: Rng + ?Sized>(&self, n: usize, of_first: usize, rng: &mut R) -> Series {
        self.observe_then(n, of_first, false, rng)
    }

    /// [`observe`](Spiral::observe), followed by every point after the first
    /// `of_first`: a training series for predicting the rest from the `n` points
    /// (the `n` come first in time, so `before(times[of_first])` gives them back).
    ///
    /// # Panics
    /// As [`observe`](Spiral::observe).
    pub fn observe_then_rest<R: Rng + ?Sized>(&self, n: usize, of_first: usize, rng: &mut R) -> Series {
        self.observe_then(n, of_first, true, rng)
    }

    fn observe_then<R: Rng + ?Sized>(&self, n: usize, of_first: usize, rest: bool, rng: &mut R) -> Series {
        assert!(n <= of_first && of_first <= self.times.len(), "observe {n} of the first {of_first} points");
        let mut keep = sample(rng, of_first, n).into_vec();
        keep.sort_unstable();
        if rest {
            keep.extend(of_first..self.times.len());
        }
        Series::observed(self.times.clone(), self.noisy.clone()).subsample(&keep)
    }
}

/// Position on the reference trajectory at grid time `t`.
fn position(config: &SpiralConfig, t: f64, clockwise: bool) -> [f64; 2] {
    if clockwise {
        let z = config.stop + 1.0 - t;
        let r = config.a + config.b * 50.0 / z;
        [r * z.cos() - 5.0, r * z.sin()]
    } else {
        let r = config.a + config.b * t;
        [r * t.cos() + 5.0, r * t.sin()]
    }
}

/// `config.spirals` spirals drawn with `rng` (see the module docs).
///
/// # Panics
/// If `config.total < 2 config.points + 1` (no room for a window) or `noise_std` is
/// negative.
pub fn spirals<R: Rng + ?Sized>(config: &SpiralConfig, rng: &mut R) -> Vec<Spiral> {
    let (n, total) = (config.points, config.total);
    assert!(total > 2 * n, "spirals: {total} grid points leave no window of {n}");
    let grid: Vec<f64> = (0..total).map(|i| config.stop * i as f64 / (total - 1) as f64).collect();
    let noise = Normal::new(0.0, config.noise_std).expect("spirals: a noise standard deviation >= 0");
    (0..config.spirals)
        .map(|_| {
            let clockwise = rng.random::<f64>() > 0.5;
            let start = rng.random_range(n..total - n);
            let truth =
                Array2::from_shape_fn((n, 2), |(k, c)| position(config, grid[start + k], clockwise)[c]);
            let noisy = truth.mapv(|v| v + noise.sample(rng));
            Spiral { times: grid[..n].to_vec(), truth, noisy, clockwise }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn the_reference_formulas_and_the_noise_level() {
        let config = SpiralConfig { spirals: 400, ..SpiralConfig::default() };
        let data = spirals(&config, &mut ChaCha8Rng::seed_from_u64(0));
        let cw = data.iter().filter(|s| s.clockwise).count();
        assert!((150..250).contains(&cw), "{cw} of 400 clockwise");
        // The radius about the centre is the formula's, at the window's grid time.
        let s = &data[0];
        let grid_dt = config.stop / 999.0;
        let centre = if s.clockwise { -5.0 } else { 5.0 };
        let r0 = ((s.truth[[0, 0]] - centre).powi(2) + s.truth[[0, 1]].powi(2)).sqrt();
        let start =
            if s.clockwise { ((config.stop + 1.0) - 15.0 / r0) / grid_dt } else { r0 / 0.3 / grid_dt };
        assert!((start - start.round()).abs() < 1e-6 && (100.0..900.0).contains(&start.round()), "{start}");
        assert_eq!(s.times[1], grid_dt);
        // The noise: mean 0, standard deviation 0.3 over 80,000 draws.
        let diffs: Vec<f64> = data.iter().flat_map(|s| (&s.noisy - &s.truth).into_iter()).collect();
        let mean = diffs.iter().sum::<f64>() / diffs.len() as f64;
        let std = (diffs.iter().map(|d| (d - mean).powi(2)).sum::<f64>() / diffs.len() as f64).sqrt();
        assert!(mean.abs() < 0.01 && (std - 0.3).abs() < 0.005, "{mean} {std}");
        let obs = s.observe(30, 50, &mut ChaCha8Rng::seed_from_u64(1));
        assert_eq!(obs.times.len(), 30);
        assert!(obs.times.windows(2).all(|w| w[0] < w[1]) && obs.times[29] < s.times[50]);
        let with_rest = s.observe_then_rest(30, 50, &mut ChaCha8Rng::seed_from_u64(1));
        assert_eq!(with_rest.times[..30], obs.times[..], "the same draw, then the rest");
        assert_eq!(with_rest.times[30..], s.times[50..]);
        assert_eq!(with_rest.values.row(30), s.noisy.row(50));
    }
}
