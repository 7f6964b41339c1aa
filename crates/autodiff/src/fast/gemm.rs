//! Matrix products `C = A B` with a packed AVX-512 micro-kernel where the CPU has
//! one, and `matrixmultiply` (through ndarray) elsewhere.
//!
//! `matrixmultiply` tops out at its AVX2 kernel: on a core with full-width 512-bit
//! FMA units (AMD Zen 5, Intel server parts) that is half the arithmetic the core can
//! do per cycle, and products are most of the time of every model here. The kernel
//! below follows the usual recipe (Goto and van de Geijn 2008): copy `A` into panels
//! of [`MR`] rows and `B` into panels of [`NR`] columns, each laid out `k`-major, so
//! the innermost loop reads both sequentially; then every `MR x NR` tile of `C` is
//! `sum_k a_k b_k^T`, kept in 16 vector registers (`MR` rows of two 8-lane vectors).
//! The tile uses `core::arch` intrinsics: written on plain arrays, the compiler kept
//! its accumulators in memory and the product ran five times slower. Its only unsafe
//! operations are unaligned loads and stores, each within a 16-value array, and it
//! runs only after the CPU's AVX-512 support has been detected. Products too small
//! to repay the packing go to `matrixmultiply`.

use super::pool;
use ndarray::linalg::general_mat_mul;
use ndarray::{Array2, ArrayView2, ArrayViewMut2, s};

/// Rows of a micro-tile.
const MR: usize = 8;
/// Columns of a micro-tile (two 8-lane vectors).
const NR: usize = 16;
/// Below this many multiply-adds, packing costs more than it saves.
const MIN_WORK: usize = 1 << 14;

/// `a b` into a fresh (pooled) array.
pub(crate) fn matmul(a: &ArrayView2<'_, f64>, b: &ArrayView2<'_, f64>) -> Array2<f64> {
    let (m, k, n) = (a.nrows(), a.ncols(), b.ncols());
    #[cfg(target_arch = "x86_64")]
    if m * k * n >= MIN_WORK && std::is_x86_feature_detected!("avx512f") {
        #[allow(unsafe_code)]
        // SAFETY: the CPU has the features `packed_avx512` is compiled for (checked just above).
        return unsafe { packed_avx512(a, b) };
    }
    let mut out = pool::uninit((m, n));
    // beta = 0: general_mat_mul overwrites `out` without reading it.
    general_mat_mul(1.0, a, b, 0.0, &mut out);
    out
}

/// `src` (`k x n`) copied into column panels of width `W`: panel `p` holds columns
/// `p W ..`, row by row (`W` values per row, zero past the last column). `B` is
/// packed as it is; `A` as its transpose, so that its panels are `MR` rows of `A`,
/// column by column.
fn pack<const W: usize>(src: &ArrayView2<'_, f64>) -> Vec<f64> {
    let (k, n) = src.dim();
    let mut packed = pool::uninit((1, n.div_ceil(W) * W * k)).into_raw_vec_and_offset().0;
    for (p, panel) in packed.chunks_exact_mut(W * k).enumerate() {
        let cols = (p * W)..(p * W + W).min(n);
        pack_panel::<W>(&src.slice(s![.., cols]), panel);
    }
    packed
}

/// Writes `src` (`k x w`, `w <= W`) into `panel` row by row, each row padded with
/// zeros to `W` values. The two layouts products meet (rows or columns of `src`
/// contiguous) are copied slice by slice; anything else element by element. (`W` is a
/// constant so that a full row is a fixed-size copy, not a call to `memmove`.)
fn pack_panel<const W: usize>(src: &ArrayView2<'_, f64>, panel: &mut [f64]) {
    let w = src.ncols();
    if w < W {
        panel.fill(0.0);
    }
    if src.strides()[1] == 1 || w == 1 {
        for (dst, row) in panel.chunks_exact_mut(W).zip(src.rows()) {
            let dst: &mut [f64; W] = dst.try_into().expect("chunks_exact gives W values");
            match row.as_slice().map(<&[f64; W]>::try_from) {
                Some(Ok(full)) => *dst = *full,
                Some(Err(_)) => dst[..w].copy_from_slice(row.as_slice().expect("checked")),
                None => dst.iter_mut().zip(row).for_each(|(d, &v)| *d = v),
            }
        }
    } else if src.strides()[0] == 1 {
        for (c, col) in src.columns().into_iter().enumerate() {
            let col = col.to_slice().expect("columns are contiguous");
            for (dst, &v) in panel.chunks_exact_mut(W).zip(col) {
                dst[c] = v;
            }
        }
    } else {
        let mut dst = ArrayViewMut2::from_shape((src.nrows(), W), panel).expect("k * W values");
        dst.slice_mut(s![.., ..w]).assign(src);
    }
}

/// A function computing one `MR x NR` tile, `sum_k a_k b_k^T`, from a packed row
/// panel and a packed column panel.
type Tile = fn(&[f64], &[f64]) -> [[f64; NR]; MR];

/// The tile with 512-bit registers: sixteen accumulators (`MR` rows of two 8-lane
/// vectors); per `k`, two loads of `b_k`, `MR` broadcasts of `a_k` and 16 FMAs.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[allow(unsafe_code)]
fn tile_avx512(a: &[f64], b: &[f64]) -> [[f64; NR]; MR] {
    use std::arch::x86_64::{
        _mm512_fmadd_pd, _mm512_loadu_pd, _mm512_set1_pd, _mm512_setzero_pd, _mm512_storeu_pd,
    };
    let mut acc = [[_mm512_setzero_pd(); 2]; MR];
    for (ak, bk) in a.chunks_exact(MR).zip(b.chunks_exact(NR)) {
        let bk: &[f64; NR] = bk.try_into().expect("chunks_exact gives NR values");
        // SAFETY: each load reads 8 values inside the 16 of `bk`.
        let (b0, b1) = unsafe { (_mm512_loadu_pd(bk[..8].as_ptr()), _mm512_loadu_pd(bk[8..].as_ptr())) };
        for (row, &x) in acc.iter_mut().zip(ak) {
            let x = _mm512_set1_pd(x);
            row[0] = _mm512_fmadd_pd(x, b0, row[0]);
            row[1] = _mm512_fmadd_pd(x, b1, row[1]);
        }
    }
    let mut out = [[0.0; NR]; MR];
    for (o, row) in out.iter_mut().zip(&acc) {
        // SAFETY: each store writes 8 values inside the 16 of `o`.
        unsafe {
            _mm512_storeu_pd(o[..8].as_mut_ptr(), row[0]);
            _mm512_storeu_pd(o[8..].as_mut_ptr(), row[1]);
        }
    }
    out
}

/// The packed product with the AVX-512 tile, compiled for AVX-512 so that the tile
/// inlines.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn packed_avx512(a: &ArrayView2<'_, f64>, b: &ArrayView2<'_, f64>) -> Array2<f64> {
    // The closure inherits this function's features, so the tile is safe to call here.
    packed_product(a, b, |a, b| tile_avx512(a, b))
}

/// Packs both operands and fills `C` tile by tile.
#[inline(always)]
fn packed_product(a: &ArrayView2<'_, f64>, b: &ArrayView2<'_, f64>, tile: Tile) -> Array2<f64> {
    let (m, k, n) = (a.nrows(), a.ncols(), b.ncols());
    let mut out = pool::uninit((m, n));
    if k == 0 {
        out.fill(0.0);
        return out;
    }
    let (pa, pb) = (pack::<MR>(&a.t()), pack::<NR>(b));
    // A row panel (MR x k) stays in L1 while the column panels of B stream by.
    for (p, a_panel) in pa.chunks_exact(MR * k).enumerate() {
        let rows = p * MR..(p * MR + MR).min(m);
        for (q, b_panel) in pb.chunks_exact(NR * k).enumerate() {
            let acc = tile(a_panel, b_panel);
            let cols = q * NR..(q * NR + NR).min(n);
            for (i, acc_row) in rows.clone().zip(&acc) {
                let mut out_row = out.row_mut(i);
                let dst =
                    &mut out_row.as_slice_mut().expect("a fresh array is in standard layout")[cols.clone()];
                match <&mut [f64; NR]>::try_from(&mut *dst) {
                    Ok(full) => *full = *acc_row,
                    Err(_) => dst.copy_from_slice(&acc_row[..cols.len()]),
                }
            }
        }
    }
    recycle(pa);
    recycle(pb);
    out
}

/// Returns a packing buffer to the pool.
fn recycle(buf: Vec<f64>) {
    let len = buf.len();
    pool::recycle(Array2::from_shape_vec((1, len), buf).expect("one row of len values"));
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The tile in plain arithmetic: checks the packing independently of the CPU.
    fn portable_tile(a: &[f64], b: &[f64]) -> [[f64; NR]; MR] {
        let mut acc = [[0.0; NR]; MR];
        for (ak, bk) in a.chunks_exact(MR).zip(b.chunks_exact(NR)) {
            for (row, &x) in acc.iter_mut().zip(ak) {
                for (c, &y) in row.iter_mut().zip(bk) {
                    *c += x * y;
                }
            }
        }
        acc
    }

    fn naive(a: &ArrayView2<'_, f64>, b: &ArrayView2<'_, f64>) -> Array2<f64> {
        Array2::from_shape_fn((a.nrows(), b.ncols()), |(i, j)| {
            (0..a.ncols()).map(|l| a[(i, l)] * b[(l, j)]).sum()
        })
    }

    fn filled(rows: usize, cols: usize, seed: u64) -> Array2<f64> {
        Array2::from_shape_fn((rows, cols), |(i, j)| (((i * 31 + j * 17) as u64 + seed) as f64 * 0.37).sin())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// The packed product (whichever path the CPU takes, and the portable packed
        /// path itself) equals the textbook sum, for every shape including partial
        /// tiles, and for transposed (strided) operands.
        #[test]
        fn equals_the_naive_product(m in 1..40usize, k in 0..40usize, n in 1..40usize, seed in 0..100u64,
                                    ta: bool, tb: bool) {
            let a = if ta { filled(k, m, seed).reversed_axes() } else { filled(m, k, seed) };
            let b = if tb { filled(n, k, seed + 1).reversed_axes() } else { filled(k, n, seed + 1) };
            let want = naive(&a.view(), &b.view());
            let mut results = vec![matmul(&a.view(), &b.view()), packed_product(&a.view(), &b.view(), portable_tile)];
            #[cfg(target_arch = "x86_64")]
            if std::is_x86_feature_detected!("avx512f") {
                #[allow(unsafe_code)]
                // SAFETY: the CPU has the features (checked just above).
                results.push(unsafe { packed_avx512(&a.view(), &b.view()) });
            }
            for got in results {
                for (x, y) in got.iter().zip(&want) {
                    prop_assert!((x - y).abs() <= 1e-12 * (1.0 + y.abs()), "{x} vs {y}");
                }
            }
        }
    }

    #[test]
    fn strided_operands_are_packed_too() {
        // Every other column of `a` and every other row of `b`: neither axis contiguous.
        let (wide, tall) = (filled(37, 2 * 45, 3), filled(2 * 45, 29, 4));
        let (a, b) = (wide.slice(s![.., ..;2]), tall.slice(s![..;2, ..]));
        let want = naive(&a, &b);
        for got in [matmul(&a, &b), packed_product(&a, &b, portable_tile)] {
            assert!(crate::gradcheck::all_close(&got, &want, 1e-12, 1e-12));
        }
    }

    #[test]
    fn large_products_agree_with_matrixmultiply() {
        let (a, b) = (filled(130, 300, 1), filled(300, 77, 2));
        let got = matmul(&a.view(), &b.view());
        let mut want = Array2::zeros((130, 77));
        general_mat_mul(1.0, &a.view(), &b.view(), 0.0, &mut want);
        assert!(crate::gradcheck::all_close(&got, &want, 1e-12, 1e-12));
    }
}
