//! Two-dimensional toy data sets, as in FFJORD's `toy_data.py` (Grathwohl et al.
//! 2019), each drawn from a caller-supplied (seeded) generator.

use ndarray::Array2;
use rand::Rng;
use rand::seq::SliceRandom;
use rand_distr::StandardNormal;
use std::f64::consts::{FRAC_1_SQRT_2, PI, SQRT_2};

/// A 2-D toy distribution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Toy {
    /// Two interleaved half circles (scikit-learn's `make_moons`, noise 0.1),
    /// scaled by 2 and shifted by `(-1, -0.2)`.
    TwoMoons,
    /// A mixture of 8 Gaussians (std 0.5) on a circle of radius 4, all divided by `sqrt 2`.
    EightGaussians,
    /// Five arms of a pinwheel (radial std 0.3, tangential std 0.1, rate 0.25), times 2.
    /// FFJORD's `toy_data.py` draws the mirror image: its points are these reflected
    /// in the x-axis, `(x, y) -> (x, -y)` (it rotates by minus the angle used here, and
    /// the tangential noise is symmetric), so the same entropy and test NLL.
    Pinwheel,
    /// Uniform on the dark squares of a 4 x 4 checkerboard on `[-4, 4]^2`.
    Checkerboard,
    /// Two interleaved spirals with noise 0.1.
    TwoSpirals,
    /// Four concentric rings (radii 3, 2.25, 1.5, 0.75) with noise 0.08.
    Rings,
    /// The swiss roll (noise 1), its `(x, z)` plane divided by 5.
    SwissRoll,
    /// Two concentric circles of radii 1 and 0.5 (half the points each) with Gaussian
    /// noise 0.08, all times 3 (FFJORD's `circles`: scikit-learn's `make_circles`
    /// with factor 0.5, whose angles are evenly spaced; here they are uniform draws,
    /// the same distribution).
    Circles,
}

impl Toy {
    /// Every toy set, in a fixed order.
    pub const ALL: [Toy; 8] = [
        Toy::TwoMoons,
        Toy::EightGaussians,
        Toy::Pinwheel,
        Toy::Checkerboard,
        Toy::TwoSpirals,
        Toy::Rings,
        Toy::SwissRoll,
        Toy::Circles,
    ];

    /// The entropy in nats where it is known (REFERENCE.md; the floor of any model's
    /// test NLL on the set): 8 Gaussians 2.829, checkerboard `ln 32` (uniform on half
    /// of `[-4, 4]^2`), rings 2.63 (+- 0.02, a numerical estimate); `None` for the
    /// others.
    pub fn entropy(&self) -> Option<f64> {
        match self {
            Toy::EightGaussians => Some(2.829),
            Toy::Checkerboard => Some(32f64.ln()),
            Toy::Rings => Some(2.63),
            _ => None,
        }
    }

    /// A short file-friendly name (`"two_moons"`).
    pub fn name(&self) -> &'static str {
        match self {
            Toy::TwoMoons => "two_moons",
            Toy::EightGaussians => "8gaussians",
            Toy::Pinwheel => "pinwheel",
            Toy::Checkerboard => "checkerboard",
            Toy::TwoSpirals => "2spirals",
            Toy::Rings => "rings",
            Toy::SwissRoll => "swissroll",
            Toy::Circles => "circles",
        }
    }

    /// `n` points as an `n x 2` array.
    pub fn sample(&self, n: usize, rng: &mut impl Rng) -> Array2<f64> {
        let mut out = Array2::zeros((n, 2));
        let normal = |rng: &mut dyn rand::RngCore| rng.sample::<f64, _>(StandardNormal);
        for i in 0..n {
            let (x, y) = match self {
                Toy::TwoMoons => {
                    let t = rng.random_range(0.0..PI);
                    let (x, y) = if i % 2 == 0 { (t.cos(), t.sin()) } else { (1.0 - t.cos(), 0.5 - t.sin()) };
                    let (x, y) = (x + 0.1 * normal(rng), y + 0.1 * normal(rng));
                    (2.0 * x - 1.0, 2.0 * y - 0.2)
                }
                Toy::EightGaussians => {
                    let k = rng.random_range(0..8);
                    let (cx, cy) = EIGHT_CENTRES[k];
                    ((4.0 * cx + 0.5 * normal(rng)) / SQRT_2, (4.0 * cy + 0.5 * normal(rng)) / SQRT_2)
                }
                Toy::Pinwheel => {
                    let arm = (i % 5) as f64;
                    let r = 1.0 + 0.3 * normal(rng);
                    let t = 0.1 * normal(rng);
                    let angle = arm * 2.0 * PI / 5.0 + 0.25 * r.exp();
                    let (c, s) = (angle.cos(), angle.sin());
                    (2.0 * (r * c - t * s), 2.0 * (r * s + t * c))
                }
                Toy::Checkerboard => {
                    let x1: f64 = rng.random_range(-2.0..2.0);
                    let x2 = rng.random_range(0.0..1.0) - 2.0 * f64::from(rng.random_range(0..2u8))
                        + x1.floor().rem_euclid(2.0);
                    (2.0 * x1, 2.0 * x2)
                }
                Toy::TwoSpirals => {
                    let t = rng.random_range(0.0f64..1.0).sqrt() * 540.0 * (2.0 * PI) / 360.0;
                    let dx = -t.cos() * t + rng.random_range(0.0..0.5);
                    let dy = t.sin() * t + rng.random_range(0.0..0.5);
                    let sign = if i % 2 == 0 { 1.0 } else { -1.0 };
                    (sign * dx / 3.0 + 0.1 * normal(rng), sign * dy / 3.0 + 0.1 * normal(rng))
                }
                Toy::Rings => {
                    let radius = 3.0 * [1.0, 0.75, 0.5, 0.25][i % 4];
                    let t = rng.random_range(0.0..2.0 * PI);
                    (radius * t.cos() + 0.08 * normal(rng), radius * t.sin() + 0.08 * normal(rng))
                }
                Toy::SwissRoll => {
                    let t = 1.5 * PI * (1.0 + 2.0 * rng.random_range(0.0..1.0));
                    ((t * t.cos() + normal(rng)) / 5.0, (t * t.sin() + normal(rng)) / 5.0)
                }
                Toy::Circles => {
                    let radius = if i % 2 == 0 { 1.0 } else { 0.5 };
                    let t = rng.random_range(0.0..2.0 * PI);
                    (
                        3.0 * (radius * t.cos() + 0.08 * normal(rng)),
                        3.0 * (radius * t.sin() + 0.08 * normal(rng)),
                    )
                }
            };
            out[(i, 0)] = x;
            out[(i, 1)] = y;
        }
        // The generators above alternate components by index; shuffle the rows so
        // that any prefix is an i.i.d. sample.
        let mut idx: Vec<usize> = (0..n).collect();
        idx.shuffle(rng);
        out.select(ndarray::Axis(0), &idx)
    }
}

const EIGHT_CENTRES: [(f64, f64); 8] = [
    (1.0, 0.0),
    (-1.0, 0.0),
    (0.0, 1.0),
    (0.0, -1.0),
    (FRAC_1_SQRT_2, FRAC_1_SQRT_2),
    (FRAC_1_SQRT_2, -FRAC_1_SQRT_2),
    (-FRAC_1_SQRT_2, FRAC_1_SQRT_2),
    (-FRAC_1_SQRT_2, -FRAC_1_SQRT_2),
];
