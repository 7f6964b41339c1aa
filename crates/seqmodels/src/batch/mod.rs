//! Batches of sequences: the one input type every sequence model of this crate reads.
//!
//! A data set of variable-length sequences is a [`Sequences`]; the training loop
//! draws mini-batches from it through [`autodiff::data::Dataset`], and each batch is
//! a [`SeqBatch`]: **time-major**, `steps()[t]` being the `B x D` matrix of every
//! sequence's value at step `t` (row `b` = the batch's `b`-th sequence), zero-padded
//! after a sequence ends, with a `B x 1` or `B x D` 0/1 observation mask per step.
//! That is the shape a recurrent cell consumes: one `B x D` input per step.
//!
//! A step of a row is *present* when any entry of its mask is 1. The batch derives
//! its `B x 1` step masks and the number of present steps of each row once, when it
//! is built, so a model's pass reads them instead of recomputing them.
//!
//! Irregularly sampled series ([`IrregularSeries`] of [`Series`], each with its own
//! times) are batched as an [`IrregularBatch`]: a `SeqBatch` on the sorted union of the
//! rows' times, with those times. They are read from the `ID,Time,Value_k..,Mask_k..`
//! CSV layout of the GRU-ODE-Bayes data sets as a [`CsvSeries`] (the series and their
//! IDs; errors name line and column). Both data sets convert to and from padded
//! arrays by name ([`Sequences::to_arrays`], [`IrregularSeries::from_arrays`], ...),
//! the layout a `.npz` file holds.

mod arrays;
mod csv;
mod irregular;
mod observed;
mod padded;
mod sequences;

pub use arrays::Arrays;
pub use csv::CsvSeries;
pub use irregular::{IrregularBatch, IrregularSeries, Series};

pub(crate) use padded::any_observed;
pub use padded::{SeqBatch, SeqStep, repeat_rows};
pub use sequences::Sequences;
