//! Truncated backpropagation through time: long streams cut into chunks, each chunk
//! starting from the recurrent state the previous one ended in.
//!
//! A model trained on whole sequences starts every sequence from zeros. Some data
//! come as a few long streams instead (a text corpus, the concatenated chorales the
//! SRNN authors train on), too long to backpropagate through at once. The usual
//! remedy (Williams and Peng 1990; PyTorch's word-language-model example; Keras'
//! `stateful=True`) lays `B` streams side by side, cuts them into chunks of `L`
//! steps, and trains on chunk 0, 1, 2, ... in order, each row starting from the
//! state its stream reached at the end of the previous chunk. The state enters as
//! a constant: gradients stop at the chunk boundary, so memory and time per step are
//! those of an `L`-step sequence, while the forward pass sees the whole history.
//!
//! [`Streams`] is that data set (chunk `k` is its `k`-th example, a [`StreamChunk`]
//! of all `B` streams; streams of different lengths are padded and masked past their
//! ends, so a set of long sequences of any lengths trains in the memory of `L` steps);
//! [`Tbptt`] keeps the carried states between training steps,
//! row by row, so data-parallel shards of a chunk each continue their own rows. A
//! model that can continue from a state is [`Stateful`].
//!
//! ```
//! use seqmodels::stream::{Streams, Tbptt};
//! use seqmodels::{CellKind, GruConvention, ObsKind, RnnConfig, RnnModel};
//! use autodiff::{ParamStore, Tape};
//! use autodiff::data::Dataset;
//! use ndarray::Array2;
//! use rand::SeedableRng;
//!
//! let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
//! let mut store = ParamStore::new();
//! let cell = CellKind::Gru(GruConvention::PyTorch);
//! let config = RnnConfig { x_dim: 3, hidden: 8, cell, obs: ObsKind::Bernoulli };
//! let model = RnnModel::new(&mut store, "rnn", config, &mut rng)?;
//! // Two streams of 10 steps in chunks of 4: chunks of 4, 4 and 2 steps.
//! let streams = Streams::new(vec![Array2::zeros((10, 3)), Array2::ones((10, 3))], 4)?;
//! assert_eq!(streams.len(), 3);
//! let tbptt = Tbptt::new(&model, &streams);
//! for k in 0..streams.len() {
//!     let tape = Tape::new();
//!     let s = tape.session(&store);
//!     let elbo = tbptt.elbo(&s, &streams.batch(&[k]), &mut rng)?;
//!     assert_eq!(elbo.steps(), if k < 2 { 8 } else { 4 });
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use crate::batch::SeqBatch;
use crate::bound::Elbo;
use crate::{Error, Result, SrnnState, Stateful};
use autodiff::Session;
use autodiff::data::{Dataset, Shard};
use ndarray::{Array2, Axis};
use rand::Rng;
use std::sync::Mutex;

/// A recurrent state with one row per sequence, whose rows can be read and written
/// by sequence: what [`Tbptt`] keeps between chunks.
pub trait RowState: Clone + Send {
    /// The rows at `rows`, in that order.
    fn select_rows(&self, rows: &[usize]) -> Self;
    /// Overwrites the rows at `rows` with the rows of `from`, in order.
    fn assign_rows(&mut self, rows: &[usize], from: &Self);
}

impl RowState for Array2<f64> {
    fn select_rows(&self, rows: &[usize]) -> Self {
        self.select(Axis(0), rows)
    }

    fn assign_rows(&mut self, rows: &[usize], from: &Self) {
        for (src, &dst) in rows.iter().enumerate() {
            self.row_mut(dst).assign(&from.row(src));
        }
    }
}

impl RowState for SrnnState<Array2<f64>> {
    fn select_rows(&self, rows: &[usize]) -> Self {
        SrnnState { d: self.d.select_rows(rows), z: self.z.select_rows(rows), u: self.u.select_rows(rows) }
    }

    fn assign_rows(&mut self, rows: &[usize], from: &Self) {
        self.d.assign_rows(rows, &from.d);
        self.z.assign_rows(rows, &from.z);
        self.u.assign_rows(rows, &from.u);
    }
}

/// `B` streams side by side, cut into chunks of `L` steps: example `k` of this data
/// set is chunk `k` of every stream. Streams may differ in length: a chunk is as long
/// as the longest stream's part (the last may be shorter), and a shorter stream's rows
/// are absent past its end (masked out, their state carried unchanged), as in a
/// padded batch. Train with batches of one chunk, in order (`batch_size(1)`,
/// `shuffle(false)`), through a [`Tbptt`].
#[derive(Debug, Clone, PartialEq)]
pub struct Streams {
    streams: Vec<Array2<f64>>,
    chunk: usize,
}

impl Streams {
    /// Streams (`T_b x D` each, at least one step, all of one width, finite) cut into
    /// chunks of `chunk` steps.
    pub fn new(streams: Vec<Array2<f64>>, chunk: usize) -> Result<Self> {
        let what = "Streams::new";
        let Some(first) = streams.first() else {
            return Err(Error::config(what, "no streams"));
        };
        if chunk == 0 {
            return Err(Error::config(what, "chunks of 0 steps"));
        }
        for (i, x) in streams.iter().enumerate() {
            if x.nrows() == 0 {
                return Err(Error::config(what, format!("stream {i} has no steps")));
            }
            if x.ncols() != first.ncols() {
                return Err(Error::config(
                    what,
                    format!(
                        "stream {i} has {} features, stream 0 {}: streams are of one width",
                        x.ncols(),
                        first.ncols()
                    ),
                ));
            }
            if let Some(((t, j), v)) = autodiff::finite::first_non_finite(x) {
                return Err(Error::config(what, format!("stream {i} holds {v} at step {t}, feature {j}")));
            }
        }
        Ok(Streams { streams, chunk })
    }

    /// Number of streams `B`.
    pub fn streams(&self) -> usize {
        self.streams.len()
    }

    /// Steps of the longest stream.
    pub fn steps(&self) -> usize {
        self.streams.iter().map(Array2::nrows).max().expect("checked: at least one stream")
    }

    /// Steps of each stream.
    pub fn lengths(&self) -> Vec<usize> {
        self.streams.iter().map(Array2::nrows).collect()
    }
}

impl Dataset for Streams {
    type Batch = StreamChunk;

    /// Number of chunks.
    fn len(&self) -> usize {
        self.steps().div_ceil(self.chunk)
    }

    /// One: a batch is one chunk of every stream.
    fn max_batch_size(&self) -> Option<usize> {
        Some(1)
    }

    /// The one chunk at `indices` (a batch of one example: several would not continue
    /// each other). Panics on another count: [`Dataset::max_batch_size`] tells a
    /// training loop so before it starts.
    fn batch(&self, indices: &[usize]) -> StreamChunk {
        let &[k] = indices else {
            panic!("Streams: a batch is one chunk, got {} chunks (train with batch_size(1))", indices.len());
        };
        assert!(k < self.len(), "Streams: chunk {k} of {} chunks", self.len());
        let (from, to) = (k * self.chunk, ((k + 1) * self.chunk).min(self.steps()));
        let (b, d) = (self.streams.len(), self.streams[0].ncols());
        // Past a stream's end its row is absent: zeros under a mask of 0.
        let value = |t: usize, row: usize, j: usize| self.streams[row].get((t, j)).copied().unwrap_or(0.0);
        let steps: Vec<Array2<f64>> =
            (from..to).map(|t| Array2::from_shape_fn((b, d), |(row, j)| value(t, row, j))).collect();
        let masks = (from..to)
            .map(|t| {
                Array2::from_shape_fn(
                    (b, 1),
                    |(row, _)| if t < self.streams[row].nrows() { 1.0 } else { 0.0 },
                )
            })
            .collect();
        let batch = SeqBatch::new(steps, masks).expect("chunks of checked streams are valid batches");
        StreamChunk { index: k, batch }
    }
}

/// Chunk `index` of some streams: a batch whose [`SeqBatch::indices`] name the streams
/// its rows belong to (all of them, or a shard's consecutive part).
#[derive(Debug, Clone, PartialEq)]
pub struct StreamChunk {
    /// Which chunk of the streams (0 for the first steps).
    pub index: usize,
    /// The chunk's steps, one row per stream.
    pub batch: SeqBatch,
}

impl Shard for StreamChunk {
    fn rows(&self) -> usize {
        self.batch.batch_size()
    }

    fn split(&self, parts: usize) -> Vec<Self> {
        self.batch.split(parts).into_iter().map(|batch| StreamChunk { index: self.index, batch }).collect()
    }
}

/// The states a model carries from one chunk of its streams to the next, row by row.
///
/// [`Tbptt::elbo`] starts a chunk's rows from the states their streams reached
/// after the previous chunk (chunk 0 from zeros), and stores the states they reach.
/// A chunk out of order is an error naming the chunk and stream: the states are only
/// valid for the next chunk. Thread-safe, so data-parallel shards of a chunk can each
/// continue their rows. The states are not part of a training checkpoint: resume from
/// one written at the end of an epoch (a run resumed mid-epoch stops at its first
/// chunk with that error).
#[derive(Debug)]
pub struct Tbptt<'m, M: Stateful> {
    model: &'m M,
    carried: Mutex<Carried<M::State>>,
}

/// The stored states and, per stream, the chunk they follow.
#[derive(Debug)]
struct Carried<St> {
    states: St,
    after: Vec<Option<usize>>,
}

impl<'m, M: Stateful> Tbptt<'m, M> {
    /// Zero states for the streams of `data`, none of them carried yet.
    pub fn new(model: &'m M, data: &Streams) -> Self {
        let carried =
            Carried { states: model.initial_state(data.streams()), after: vec![None; data.streams()] };
        Tbptt { model, carried: Mutex::new(carried) }
    }

    /// The bound of `chunk` on the session's tape, each row continuing from its
    /// stream's state after chunk `chunk.index - 1`; stores the states the rows
    /// reach for the next chunk.
    pub fn elbo<S: Session, R: Rng + ?Sized>(
        &self,
        s: &S,
        chunk: &StreamChunk,
        rng: &mut R,
    ) -> Result<Elbo<S::T>> {
        let rows = chunk.batch.indices();
        let start = self.start_of(chunk)?;
        let (elbo, end) = self.model.elbo_from(s, &start, &chunk.batch, rng)?;
        let mut carried = self.carried.lock().expect("a Tbptt lock is only held to copy states");
        carried.states.assign_rows(rows, &end);
        for &row in rows {
            carried.after[row] = Some(chunk.index);
        }
        Ok(elbo)
    }

    /// The start states of `chunk`'s rows: zeros for chunk 0, else the states their
    /// streams reached after the chunk before, which must be the last they ran.
    fn start_of(&self, chunk: &StreamChunk) -> Result<M::State> {
        let rows = chunk.batch.indices();
        let carried = self.carried.lock().expect("a Tbptt lock is only held to copy states");
        if let Some(&row) = rows.iter().find(|&&r| r >= carried.after.len()) {
            return Err(Error::config(
                "Tbptt::elbo",
                format!("stream {row} of a chunk, but only {} streams", carried.after.len()),
            ));
        }
        let Some(previous) = chunk.index.checked_sub(1) else {
            return Ok(self.model.initial_state(rows.len()));
        };
        if let Some(&row) = rows.iter().find(|&&r| carried.after[r] != Some(previous)) {
            let had = carried.after[row].map_or("no chunk".to_owned(), |k| format!("chunk {k}"));
            return Err(Error::config(
                "Tbptt::elbo",
                format!(
                    "chunk {} of stream {row} follows {had}, not chunk {previous}: train on the chunks in order \
                     (batch_size(1), shuffle(false)) from chunk 0",
                    chunk.index
                ),
            ));
        }
        Ok(carried.states.select_rows(rows))
    }
}

/// Each row's start state for a pass: `start` when given (checked to be `B x width`),
/// else zeros.
pub(crate) fn start_or_zeros(
    start: Option<&Array2<f64>>,
    shape: (usize, usize),
    what: &'static str,
) -> Result<Array2<f64>> {
    match start {
        None => Ok(Array2::zeros(shape)),
        Some(h) if h.dim() == shape => Ok(h.clone()),
        Some(h) => {
            Err(Error::config(what, format!("a start state of {:?} for a batch needing {shape:?}", h.dim())))
        }
    }
}
