//! The loops behind the element-wise ops and matrix products, writing into buffers
//! recycled by [`pool`](super::pool).
//!
//! They run on one core (products of at least `2^23` multiply-adds excepted, see
//! [`gemm`](super::gemm)). Splitting these kernels with rayon was measured on the MLP
//! benchmark (`benches/tape.rs`, 2-64-64-2, batch 512, two cores): the forward pass
//! got faster (0.59 -> 0.41 ms) but the full step slower (0.84 -> 1.06 ms with split
//! products, 1.59 ms with split element-wise maps), because the fork-join and the
//! wake-ups of idle workers cost more than the work at these sizes. Parallelism pays
//! at a coarser grain (data-parallel shards, per-sample solves, mixture E-steps),
//! which the crates above use.

use super::pool;
use ndarray::{Array2, ArrayView2, ArrayViewMut2, Zip};

/// An instruction set the element-wise kernels are compiled for.
///
/// The kernels are built for the baseline of the target (two `f64` lanes on x86-64);
/// [`wide`] inlines them into a function compiled with more features (pulp's
/// `vectorize`), so their loops and the `autodiff::math` functions they call use four
/// lanes with AVX2 and eight with AVX-512. The arithmetic is the same on every path:
/// Rust never contracts a multiply and an add into a fused multiply-add, and the
/// kernels use no other operation whose rounding depends on the instruction set, so
/// results are identical to the bit (tested below, on every path the CPU has).
#[derive(Clone, Copy, Debug)]
pub(crate) enum Isa {
    /// x86-64-v4: AVX-512 (F, BW, CD, DQ, VL) on top of AVX2.
    #[cfg(target_arch = "x86_64")]
    Avx512(pulp::x86::V4),
    /// x86-64-v3: AVX2 with FMA.
    #[cfg(target_arch = "x86_64")]
    Avx2(pulp::x86::V3),
    /// NEON (part of the aarch64 baseline, so the same code as [`Isa::Baseline`] there).
    #[cfg(target_arch = "aarch64")]
    Neon(pulp::aarch64::Neon),
    /// The target's baseline, no run-time features.
    Baseline,
}

impl Isa {
    /// Every instruction set this CPU has, best first (the baseline last).
    #[cfg(test)]
    fn available() -> Vec<Isa> {
        let mut all = Vec::new();
        #[cfg(target_arch = "x86_64")]
        {
            all.extend(pulp::x86::V4::try_new().map(Isa::Avx512));
            all.extend(pulp::x86::V3::try_new().map(Isa::Avx2));
        }
        #[cfg(target_arch = "aarch64")]
        all.extend(pulp::aarch64::Neon::try_new().map(Isa::Neon));
        all.push(Isa::Baseline);
        all
    }

    /// The best instruction set this CPU has (detected once; later calls read a flag).
    #[inline(always)]
    fn best() -> Isa {
        #[cfg(target_arch = "x86_64")]
        {
            if let Some(simd) = pulp::x86::V4::try_new() {
                return Isa::Avx512(simd);
            }
            if let Some(simd) = pulp::x86::V3::try_new() {
                return Isa::Avx2(simd);
            }
        }
        #[cfg(target_arch = "aarch64")]
        if let Some(simd) = pulp::aarch64::Neon::try_new() {
            return Isa::Neon(simd);
        }
        Isa::Baseline
    }

    /// Runs `work` compiled for this instruction set (`work` must be inlined for that
    /// to reach its loops: mark the closure `#[inline(always)]`).
    #[inline(always)]
    fn run<R>(self, work: impl FnOnce() -> R) -> R {
        match self {
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512(simd) => simd.vectorize(work),
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2(simd) => simd.vectorize(work),
            #[cfg(target_arch = "aarch64")]
            Isa::Neon(simd) => simd.vectorize(work),
            Isa::Baseline => work(),
        }
    }
}

/// Runs `work`, a loop over `len` elements, compiled for the best instruction set
/// the CPU has (see [`Isa`]); short loops run as they are.
#[inline(always)]
pub(crate) fn wide<R>(len: usize, work: impl FnOnce() -> R) -> R {
    if len < WIDE_MIN_LEN {
        return work();
    }
    #[cfg(test)]
    if let Some(isa) = tests::FORCED.get() {
        return isa.run(work);
    }
    Isa::best().run(work)
}

/// Arrays shorter than this are mapped by a plain loop: below eight AVX-512 vectors
/// the dispatch costs more than it saves (the 1 x 1 chain of `benches/tape.rs` ran
/// 15-30% slower through the wide path).
const WIDE_MIN_LEN: usize = 64;

/// `f` applied to every element.
///
/// Arrays below the pool's size take the wide path too: `tanh` of a `20 x 50`
/// activation evaluated for baseline x86-64 was 46% of the ode_demo RK4 iteration
/// (`odesolve`'s benchmark). The dispatched loops in this file are `for` loops, not
/// `for_each`: around a large body (the softplus) the compiler left `for_each`'s
/// `fold` out of line, where it ran at the baseline's two lanes (3% of the VRNN
/// step in `perf`).
#[inline(always)]
pub(crate) fn map(x: &Array2<f64>, f: impl Fn(f64) -> f64) -> Array2<f64> {
    if x.len() < WIDE_MIN_LEN {
        return x.mapv(f);
    }
    let mut out = pool::uninit(x.dim());
    match (x.as_slice(), out.as_slice_mut()) {
        (Some(src), Some(dst)) => wide(
            src.len(),
            #[inline(always)]
            || {
                for (o, &v) in dst.iter_mut().zip(src) {
                    *o = f(v);
                }
            },
        ),
        _ => Zip::from(&mut out).and(x).for_each(|o, &v| *o = f(v)),
    }
    out
}

/// `f` applied to every element in place: the same loop as [`map`], so the same
/// values.
#[inline(always)]
pub(crate) fn map_in_place(x: &mut Array2<f64>, f: impl Fn(f64) -> f64) {
    match x.as_slice_mut() {
        Some(v) => wide(
            v.len(),
            #[inline(always)]
            || {
                for o in v.iter_mut() {
                    *o = f(*o);
                }
            },
        ),
        None => x.mapv_inplace(f),
    }
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
            a.len(),
            #[inline(always)]
            || {
                for ((mut o, x), y) in out.rows_mut().into_iter().zip(a.rows()).zip(b.rows()) {
                    let o = o.as_slice_mut().expect("a fresh array is in standard layout");
                    match (x.as_slice(), y.as_slice()) {
                        (Some(x), Some(y)) => {
                            for ((o, &x), &y) in o.iter_mut().zip(x).zip(y) {
                                *o = f(x, y);
                            }
                        }
                        _ => {
                            for ((o, &x), &y) in o.iter_mut().zip(x).zip(y) {
                                *o = f(x, y);
                            }
                        }
                    }
                }
            },
        );
    } else {
        Zip::from(&mut out).and(a).and(b).for_each(|o, &x, &y| *o = f(x, y));
    }
    out
}

/// `a = f(a, b)`, element by element, for two arrays of one shape.
#[inline(always)]
fn zip_assign(a: &mut Array2<f64>, b: &Array2<f64>, f: impl Fn(f64, f64) -> f64) {
    match (a.as_slice_mut(), b.as_slice()) {
        (Some(a), Some(b)) => wide(
            a.len(),
            #[inline(always)]
            || {
                for (x, &y) in a.iter_mut().zip(b) {
                    *x = f(*x, y);
                }
            },
        ),
        _ => a.zip_mut_with(b, |x, &y| *x = f(*x, y)),
    }
}

/// `a += b`, element by element, for two arrays of one shape.
#[inline(always)]
pub(crate) fn add_assign(a: &mut Array2<f64>, b: &Array2<f64>) {
    zip_assign(
        a,
        b,
        #[inline(always)]
        |x, y| x + y,
    );
}

/// `a *= b`, element by element, for two arrays of one shape.
#[inline(always)]
pub(crate) fn mul_assign(a: &mut Array2<f64>, b: &Array2<f64>) {
    zip_assign(
        a,
        b,
        #[inline(always)]
        |x, y| x * y,
    );
}

/// `a += row` for every row of `a` (`row` is `1 x a.ncols()`): a bias added in place.
#[inline(always)]
pub(crate) fn add_row_assign(a: &mut Array2<f64>, row: &Array2<f64>) {
    let row = row.row(0);
    match row.as_slice() {
        Some(r) if a.is_standard_layout() => wide(
            a.len(),
            #[inline(always)]
            || {
                for mut o in a.rows_mut() {
                    let o = o.as_slice_mut().expect("a row of a standard-layout array is contiguous");
                    for (x, &y) in o.iter_mut().zip(r) {
                        *x += y;
                    }
                }
            },
        ),
        _ => *a += &row,
    }
}

/// `dst = src` for views of one shape: row by row with `copy_from_slice` where
/// both rows are contiguous (ndarray's `assign` walks them element by element, two
/// lanes at a time: 2% of the VRNN step in the concatenations of its layers).
pub(crate) fn assign(dst: &mut ArrayViewMut2<'_, f64>, src: &ArrayView2<'_, f64>) {
    assert_eq!(dst.dim(), src.dim(), "assign: a block and its value have one shape");
    for (mut d, s) in dst.rows_mut().into_iter().zip(src.rows()) {
        match (d.as_slice_mut(), s.as_slice()) {
            (Some(d), Some(s)) => d.copy_from_slice(s),
            _ => d.assign(&s),
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::math;
    use std::cell::Cell;

    thread_local! {
        /// The instruction set [`wide`] uses on this thread, when a test forces one.
        pub(super) static FORCED: Cell<Option<Isa>> = const { Cell::new(None) };
    }

    /// `work` with every kernel on this thread forced onto `isa`.
    fn on<R>(isa: Isa, work: impl FnOnce() -> R) -> R {
        FORCED.set(Some(isa));
        let out = work();
        FORCED.set(None);
        out
    }

    fn same_bits(a: &Array2<f64>, b: &Array2<f64>) -> bool {
        a.dim() == b.dim() && a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits())
    }

    /// Every kernel gives the same bits on every instruction set the CPU has, as
    /// with no dispatch at all (`mapv` and `Zip`, compiled for the baseline). The
    /// length, 67 x 37 = 2,479, is odd, so vector bodies and scalar remainders both
    /// run; the values cover `exp`'s and `tanh`'s whole range, saturation included.
    /// (The test profile compiles this crate at opt-level 1, where loops are not
    /// vectorised; `cargo test --release -p latent-seq-autodiff kernels` runs the
    /// vector bodies.)
    #[test]
    fn every_instruction_set_gives_identical_bits() {
        let x = Array2::from_shape_fn((67, 37), |(i, j)| ((i * 37 + j) as f64 * 0.731).sin() * 30.0 - 2.0);
        let y = Array2::from_shape_fn((67, 37), |(i, j)| ((i + 3 * j) as f64 * 0.377).cos() * 4.0 + 0.5);
        let row = y.slice(ndarray::s![..1, ..]).to_owned();
        let fs: [fn(f64) -> f64; 6] =
            [math::exp, math::expm1, math::tanh, math::sigmoid, math::softplus, f64::sqrt];
        let want_maps: Vec<_> = fs.iter().map(|&f| x.mapv(f)).collect();
        let mut want_prod = x.clone();
        want_prod.zip_mut_with(&y, |a, &b| *a *= b);
        let want_quot = Zip::from(&x).and_broadcast(&row).map_collect(|&a, &b| a / b + math::tanh(a * b));
        let isas = Isa::available();
        assert!(matches!(isas.last(), Some(Isa::Baseline)));
        for isa in isas {
            on(isa, || {
                for (&f, want) in fs.iter().zip(&want_maps) {
                    assert!(same_bits(&map(&x, f), want), "{isa:?}");
                }
                let mut prod = x.clone();
                mul_assign(&mut prod, &y);
                assert!(same_bits(&prod, &want_prod), "{isa:?}");
                let quot = map2(&x.view(), &row.broadcast(x.dim()).expect("a row"), |a, b| {
                    a / b + math::tanh(a * b)
                });
                assert!(same_bits(&quot, &want_quot), "{isa:?}");
            });
        }
    }
}
