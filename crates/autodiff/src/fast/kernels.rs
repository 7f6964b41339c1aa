//! The loops behind the element-wise ops and matrix products, writing into buffers
//! recycled by [`pool`](super::pool).
//!
//! They run on one core. Splitting these kernels with rayon was measured on the MLP
//! benchmark (`benches/tape.rs`, 2-64-64-2, batch 512, two cores): the forward pass
//! got faster (0.59 -> 0.41 ms) but the full step slower (0.84 -> 1.06 ms with split
//! products, 1.59 ms with split element-wise maps), because the fork-join and the
//! wake-ups of idle workers cost more than the work at these sizes. Parallelism pays
//! at a coarser grain (data-parallel shards, per-sample solves, mixture E-steps),
//! which the crates above use.

use super::pool;
use ndarray::{Array2, ArrayView2, Zip};

/// Runs `work` compiled for AVX-512 when the CPU has it, else as it is.
///
/// The kernels are built for baseline x86-64 (two `f64` lanes); `work` is inlined
/// into a function compiled with the AVX-512 features, so its loops (and the
/// `autodiff::math` functions they call) use eight lanes. The arithmetic is the same
/// in both (no fused multiply-adds are introduced), so results do not depend on the
/// path taken.
#[inline(always)]
pub(crate) fn wide<R>(work: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx512f") && std::is_x86_feature_detected!("avx512dq") {
        #[allow(unsafe_code)]
        // SAFETY: the CPU has the features `avx512` is compiled for (checked just above).
        return unsafe { avx512(work) };
    }
    work()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512dq,avx512vl,avx512bw")]
fn avx512<R>(work: impl FnOnce() -> R) -> R {
    work()
}

/// Arrays shorter than this are mapped by a plain loop: below eight AVX-512 vectors
/// the dispatch costs more than it saves (the 1 x 1 chain of `benches/tape.rs` ran
/// 15-30% slower through the wide path).
const WIDE_MIN_LEN: usize = 64;

/// `f` applied to every element.
///
/// Arrays below the pool's size take the wide path too: `tanh` of a `20 x 50`
/// activation evaluated for baseline x86-64 was 46% of the ode_demo RK4 iteration
/// (`odesolve`'s benchmark).
#[inline(always)]
pub(crate) fn map(x: &Array2<f64>, f: impl Fn(f64) -> f64) -> Array2<f64> {
    if x.len() < WIDE_MIN_LEN {
        return x.mapv(f);
    }
    let mut out = pool::uninit(x.dim());
    match (x.as_slice(), out.as_slice_mut()) {
        (Some(src), Some(dst)) => wide(
            #[inline(always)]
            || dst.iter_mut().zip(src).for_each(|(o, &v)| *o = f(v)),
        ),
        _ => Zip::from(&mut out).and(x).for_each(|o, &v| *o = f(v)),
    }
    out
}

/// `f` applied to pairs of elements of two views of the same shape (either may be
/// a broadcast row, column or scalar).
#[inline(always)]
pub(crate) fn map2(
    a: &ArrayView2<'_, f64>,
    b: &ArrayView2<'_, f64>,
    f: impl Fn(f64, f64) -> f64,
) -> Array2<f64> {
    let mut out = pool::uninit(a.dim());
    // Row by row: each row of `out` is contiguous, and so is each row of an operand
    // (a broadcast row included) unless it is a broadcast column or scalar, whose rows
    // have stride 0: those take the general loop.
    let row_of = |v: &ArrayView2<'_, f64>| v.strides()[1] == 1 || v.ncols() == 1;
    if row_of(a) && row_of(b) {
        wide(
            #[inline(always)]
            || {
                for ((mut o, x), y) in out.rows_mut().into_iter().zip(a.rows()).zip(b.rows()) {
                    let o = o.as_slice_mut().expect("a fresh array is in standard layout");
                    match (x.as_slice(), y.as_slice()) {
                        (Some(x), Some(y)) => {
                            o.iter_mut().zip(x).zip(y).for_each(|((o, &x), &y)| *o = f(x, y))
                        }
                        _ => o.iter_mut().zip(x).zip(y).for_each(|((o, &x), &y)| *o = f(x, y)),
                    }
                }
            },
        );
    } else {
        Zip::from(&mut out).and(a).and(b).for_each(|o, &x, &y| *o = f(x, y));
    }
    out
}

/// `a *= b`, element by element, for two arrays of one shape.
#[inline(always)]
pub(crate) fn mul_assign(a: &mut Array2<f64>, b: &Array2<f64>) {
    match (a.as_slice_mut(), b.as_slice()) {
        (Some(a), Some(b)) => wide(
            #[inline(always)]
            || a.iter_mut().zip(b).for_each(|(x, &y)| *x *= y),
        ),
        _ => a.zip_mut_with(b, |x, &y| *x *= y),
    }
}

/// An owned copy of a view (a column block, a transpose, a broadcast), in
/// standard layout.
pub(crate) fn copy(x: &ArrayView2<'_, f64>) -> Array2<f64> {
    let mut out = pool::uninit(x.dim());
    out.assign(x);
    out
}

/// A matrix of zeros.
pub(crate) fn zeros(shape: (usize, usize)) -> Array2<f64> {
    let mut out = pool::uninit(shape);
    out.fill(0.0);
    out
}

/// `a b` for views whose inner dimensions agree (see [`gemm`](super::gemm)).
pub(crate) fn matmul(a: &ArrayView2<'_, f64>, b: &ArrayView2<'_, f64>) -> Array2<f64> {
    super::gemm::matmul(a, b)
}
