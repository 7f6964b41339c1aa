//! A square grid on the plane: where 2-D densities are evaluated, integrated
//! (midpoint rule) and drawn.

use crate::{Error, Result};
use ndarray::Array2;

/// `n x n` cells of side `h = 2 l / n` covering `[-l, l]^2`, evaluated at the cell
/// midpoints. Points are listed row-major from the *top* row (largest `y`) so that
/// [`Grid::image`] puts `y` upwards, as a plot would.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Grid {
    half_width: f64,
    n: usize,
}

impl Grid {
    /// The grid over `[-half_width, half_width]^2` with `n` cells per side.
    pub fn new(half_width: f64, n: usize) -> Result<Self> {
        if !(half_width > 0.0 && half_width.is_finite()) || n == 0 {
            return Err(Error::Config {
                flow: "Grid",
                reason: format!("need a positive half-width and n >= 1, got {half_width} and {n}"),
            });
        }
        Ok(Grid { half_width, n })
    }

    /// Cells per side.
    pub fn n(&self) -> usize {
        self.n
    }

    /// The half-width `L` of the square `[-L, L]^2`.
    pub fn half_width(&self) -> f64 {
        self.half_width
    }

    /// The side `h` of a cell.
    pub fn cell(&self) -> f64 {
        2.0 * self.half_width / self.n as f64
    }

    /// The `n^2` midpoints as an `n^2 x 2` array (`x` then `y`).
    pub fn points(&self) -> Array2<f64> {
        let (n, h, l) = (self.n, self.cell(), self.half_width);
        Array2::from_shape_fn((n * n, 2), |(k, c)| {
            if c == 0 { -l + h * ((k % n) as f64 + 0.5) } else { l - h * ((k / n) as f64 + 0.5) }
        })
    }

    /// Values listed like [`points`](Grid::points) (an `n^2 x 1` column), as an
    /// `n x n` image with `y` upwards. Another width is [`Error::Dim`], another
    /// count [`Error::Config`].
    pub fn image(&self, values: &Array2<f64>) -> Result<Array2<f64>> {
        if values.ncols() != 1 {
            return Err(Error::Dim { flow: "Grid::image", got: values.ncols(), expected: 1 });
        }
        self.check(values)?;
        Ok(Array2::from_shape_fn((self.n, self.n), |(r, c)| values[(r * self.n + c, 0)]))
    }

    /// The midpoint-rule integral `h^2 sum_k f_k` of values listed like the points.
    pub fn integrate(&self, values: &Array2<f64>) -> Result<f64> {
        self.check(values)?;
        Ok(values.iter().sum::<f64>() * self.cell() * self.cell())
    }

    /// A normalised histogram of 2-D samples on the cells (each cell's fraction of
    /// *all* samples divided by its area: an estimate of the density), as an image.
    /// Samples that are not `m x 2` are [`Error::Dim`], a NaN sample [`Error::Config`].
    pub fn histogram(&self, samples: &Array2<f64>) -> Result<Array2<f64>> {
        if samples.ncols() != 2 {
            return Err(Error::Dim { flow: "Grid::histogram", got: samples.ncols(), expected: 2 });
        }
        // An infinite sample is outside the square like any far one; a NaN is nowhere.
        if let Some(i) = samples.rows().into_iter().position(|p| p.iter().any(|v| v.is_nan())) {
            return Err(Error::Config { flow: "Grid::histogram", reason: format!("sample {i} holds NaN") });
        }
        let (n, h, l) = (self.n, self.cell(), self.half_width);
        let mut counts = Array2::zeros((n, n));
        for p in samples.rows() {
            let c = ((p[0] + l) / h).floor();
            let r = ((l - p[1]) / h).floor();
            if (0.0..n as f64).contains(&c) && (0.0..n as f64).contains(&r) {
                counts[(r as usize, c as usize)] += 1.0;
            }
        }
        Ok(counts / (samples.nrows().max(1) as f64 * h * h))
    }

    fn check(&self, values: &Array2<f64>) -> Result<()> {
        if values.len() != self.n * self.n {
            return Err(Error::Config {
                flow: "Grid",
                reason: format!("{} values for {} grid points", values.len(), self.n * self.n),
            });
        }
        Ok(())
    }
}
