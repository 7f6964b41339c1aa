//! Seeded generators of the toy data sets the continuous-time papers train on.

mod spirals;

pub use spirals::{Spiral, SpiralConfig, spirals};
