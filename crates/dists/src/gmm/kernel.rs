//! The hot loop of mixture scoring and EM on plain arrays: per-point work is a
//! tight loop over components and dimensions on precomputed constants, and points
//! are processed in fixed chunks, in parallel with rayon when asked.
//!
//! Chunk results are always combined in chunk order, so the serial and the rayon
//! paths give bit-identical answers.

use crate::normal::LN_2PI;
use ndarray::{Array2, ArrayView2};
use rayon::prelude::*;

/// Points per chunk: large enough to amortise scheduling, small enough that two
/// cores share out a million points evenly.
const CHUNK: usize = 4096;

/// Whether the plain-array mixture routines use rayon.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Parallelism {
    /// One thread.
    Serial,
    /// Chunks of points on rayon's global pool.
    #[default]
    Rayon,
}

/// A mixture's parameters rearranged for scoring: per component the constant
/// `ln w_k - (d ln 2 pi + sum_j v_kj) / 2`, the means, and the half-precisions
/// `e^{-v_kj} / 2`.
pub(crate) struct Kernel {
    k: usize,
    d: usize,
    consts: Vec<f64>,
    means: Vec<f64>,
    /// `e^{-v/2} / sqrt 2` per entry: `q = sum_j (r_j s_j)^2` scales before squaring,
    /// so `r = 0` stays 0 where `e^{-v}` overflows (`v = -800`).
    root_half_prec: Vec<f64>,
}

impl Kernel {
    pub(crate) fn new(log_weights: &[f64], means: &Array2<f64>, log_vars: &Array2<f64>) -> Self {
        let (k, d) = means.dim();
        let consts =
            (0..k).map(|c| log_weights[c] - 0.5 * (d as f64 * LN_2PI + log_vars.row(c).sum())).collect();
        Kernel {
            k,
            d,
            consts,
            means: means.iter().copied().collect(),
            root_half_prec: log_vars
                .iter()
                .map(|v| (-0.5 * v).exp() * std::f64::consts::FRAC_1_SQRT_2)
                .collect(),
        }
    }

    /// The posterior `out_k = p(k | x)` of one point; returns `ln p(x)`.
    ///
    /// One pass computes `a_k = ln w_k + ln N(x; mu_k, sigma_k^2)` and their
    /// maximum `m`; the second stores `e^{a_k - m}`, whose sum `s` gives
    /// `ln p(x) = m + ln s` and whose ratios are the responsibilities, so each
    /// component costs one `exp` whether or not the caller needs the posterior.
    #[inline]
    pub(crate) fn posterior(&self, x: &[f64], out: &mut [f64]) -> f64 {
        let mut max = f64::NEG_INFINITY;
        for c in 0..self.k {
            let mu = &self.means[c * self.d..(c + 1) * self.d];
            let s = &self.root_half_prec[c * self.d..(c + 1) * self.d];
            let mut q = 0.0;
            for j in 0..self.d {
                let r = (x[j] - mu[j]) * s[j];
                q += r * r;
            }
            let a = self.consts[c] - q;
            out[c] = a;
            max = max.max(a);
        }
        if max == f64::NEG_INFINITY {
            // So far from every component that each density underflows (`q` overflows):
            // ln p(x) is -inf, as the tape's log-sum-exp gives, and no component claims
            // the point (rather than `e^{-inf - (-inf)} = NaN` for all of them).
            out.fill(0.0);
            return max;
        }
        let mut s = 0.0;
        for o in out.iter_mut() {
            *o = (*o - max).exp();
            s += *o;
        }
        let inv = 1.0 / s;
        out.iter_mut().for_each(|o| *o *= inv);
        max + s.ln()
    }

    pub(crate) fn components(&self) -> usize {
        self.k
    }
}

/// Applies `f` to each chunk of rows (as a flat row-major slice plus its first row
/// index) and returns the results in chunk order.
pub(crate) fn map_chunks<R, F>(x: ArrayView2<'_, f64>, par: Parallelism, f: F) -> Vec<R>
where
    R: Send,
    F: Fn(&[f64], usize) -> R + Sync,
{
    let d = x.ncols().max(1);
    let data = x.as_standard_layout();
    let flat = data.as_slice().expect("standard layout is contiguous");
    let step = CHUNK * d;
    match par {
        Parallelism::Serial => flat.chunks(step).enumerate().map(|(i, c)| f(c, i * CHUNK)).collect(),
        Parallelism::Rayon => flat.par_chunks(step).enumerate().map(|(i, c)| f(c, i * CHUNK)).collect(),
    }
}
