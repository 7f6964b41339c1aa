//! A per-thread pool of array buffers, recycled between training steps.
//!
//! A training step allocates the same large arrays every time (activations forward,
//! their gradients backward) and frees them all at the end. Freed blocks of this size
//! go back to the operating system, and the next step pays page faults to get them
//! again: on the MLP benchmark that was 40% of the time. So when a [`Tape`](crate::Tape)
//! is dropped, and when the backward sweep discards a gradient, large buffers are
//! kept here (up to a byte budget per thread) and handed to the next kernel that
//! needs a buffer of the same length. Small arrays are left to the allocator, which
//! serves them well.

use ndarray::Array2;
use std::cell::RefCell;
use std::collections::HashMap;

/// Buffers shorter than this (8 KiB) are not pooled.
pub(crate) const MIN_LEN: usize = 1024;
/// At most this many bytes are kept per thread...
///
/// A recurrent network's tape holds a few buffers of each size per time step: the
/// GRU of `bench_gru.py` (100 steps, batch 64, hidden 128) keeps about 115 MB,
/// hundreds of buffers of one length. With a budget of 64 MB and 32 buffers per
/// length, most of them went back to the system every step, and page faults took a
/// fifth of its time; with these limits its forward and backward pass ran 1.7 to 2.3
/// times faster (seqmodels' `recurrent` bench).
const MAX_BYTES: usize = 256 << 20;
/// ...and at most this many buffers of any one length.
const MAX_PER_LEN: usize = 4096;

#[derive(Default)]
struct Pool {
    free: HashMap<usize, Vec<Vec<f64>>>,
    bytes: usize,
}

thread_local! {
    static POOL: RefCell<Pool> = RefCell::new(Pool::default());
}

/// An array of the given shape whose contents are unspecified (stale values from a
/// recycled buffer, or zeros): the caller overwrites every element.
pub(crate) fn uninit(shape: (usize, usize)) -> Array2<f64> {
    let len = shape.0 * shape.1;
    let reused = if len >= MIN_LEN {
        POOL.with(|p| {
            let mut p = p.borrow_mut();
            let buf = p.free.get_mut(&len).and_then(Vec::pop);
            if buf.is_some() {
                p.bytes -= len * 8;
            }
            buf
        })
    } else {
        None
    };
    let buf = reused.unwrap_or_else(|| vec![0.0; len]);
    Array2::from_shape_vec(shape, buf).expect("buffer length is rows * cols")
}

/// Returns an array's buffer to the pool, if it is large enough and fits the budget.
pub(crate) fn recycle(a: Array2<f64>) {
    if a.len() < MIN_LEN {
        return;
    }
    let (buf, offset) = a.into_raw_vec_and_offset();
    if offset != Some(0) || buf.len() < MIN_LEN {
        return;
    }
    POOL.with(|p| {
        let mut p = p.borrow_mut();
        let bytes = buf.len() * 8;
        if p.bytes + bytes <= MAX_BYTES {
            let same_len = p.free.entry(buf.len()).or_default();
            if same_len.len() < MAX_PER_LEN {
                same_len.push(buf);
                p.bytes += bytes;
            }
        }
    });
}
