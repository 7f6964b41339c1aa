//! Matrix products `C = A B`, by the `gemm` crate.
//!
//! `gemm` picks its micro-kernel at run time (SSE2, AVX2 with FMA, AVX-512 on
//! x86-64; NEON on aarch64) and packs its operands itself, so one call serves every
//! CPU and every layout the tape produces: row-major operands, and the transposed
//! views the backward pass multiplies by (`X^T G`, `G W^T`), without copies. On 19
//! of the 21 products of the models' shapes measured (`benches/matmul.rs`), one
//! thread of it was faster than the hand-written AVX-512 kernel it replaced (up to
//! 2.4x), and 4% and 12% slower on the other two; it beat `matrixmultiply`
//! (ndarray's backend) on all but two (see `docs/architecture.md`).
//!
//! Large products are split over rayon's threads ([`PAR_MIN_WORK`]); inside a rayon
//! worker (a data-parallel shard, a per-sample solve) a product stays on its thread,
//! because the parallelism one level up already has the cores. The split is over
//! blocks of `C`, so every entry is the same sum in the same order either way.

use super::pool;
use ndarray::{Array2, ArrayView2, ArrayViewMut2};

/// Products of at least this many multiply-adds (`m k n`) are split over rayon's
/// threads. Measured on two cores (`benches/matmul.rs`): at the models' sizes (up
/// to `2^21`) two threads were 1.2 to 1.6 times as fast on some shapes (batch 512
/// x 64 x 64) and 0.6 to 0.95 times on others (the GRU's 64 x 128 x 256 and
/// 64 x 88 x 128); at `2^28` (1,000 x 512 x 512) 1.3 to 1.9 times. No size in
/// between was measured: the threshold sits above every product of the models
/// benchmarked.
const PAR_MIN_WORK: usize = 1 << 23;

/// `a b` into a fresh (pooled) array.
pub(crate) fn matmul(a: &ArrayView2<'_, f64>, b: &ArrayView2<'_, f64>) -> Array2<f64> {
    let (m, k, n) = (a.nrows(), a.ncols(), b.ncols());
    let mut out = pool::uninit((m, n));
    let split = m * k * n >= PAR_MIN_WORK && rayon::current_thread_index().is_none();
    product_into(&mut out.view_mut(), a, b, split);
    out
}

/// Overwrites `c` with `a b` (every element written, none read), on this thread or
/// split over rayon's.
pub(crate) fn product_into(
    c: &mut ArrayViewMut2<'_, f64>,
    a: &ArrayView2<'_, f64>,
    b: &ArrayView2<'_, f64>,
    split: bool,
) {
    let (m, k, n) = (a.nrows(), a.ncols(), b.ncols());
    assert_eq!((b.nrows(), c.dim()), (k, (m, n)), "matmul: inner dimensions or output shape disagree");
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        c.fill(0.0);
        return;
    }
    let par = if split { gemm::Parallelism::Rayon(0) } else { gemm::Parallelism::None };
    let (cs, a_s, b_s) = (c.strides().to_owned(), a.strides(), b.strides());
    #[allow(unsafe_code)]
    // SAFETY: `gemm` reads `a[i, l]` at `a_ptr + i * a_s[0] + l * a_s[1]` for `i < m`,
    // `l < k`, likewise `b[l, j]`, and writes `c[i, j]` for `i < m`, `j < n`: with
    // each view's own pointer and strides, and the shapes checked above, these are
    // exactly the elements of the three views, which ndarray guarantees are valid.
    // `c` is borrowed mutably, so it overlaps neither operand. `read_dst` is false,
    // so the stale contents of a pooled `c` are never read (alpha, the factor on
    // them, is 0 and ignored), and the product's factor beta is 1.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            c.as_mut_ptr(),
            cs[1],
            cs[0],
            false,
            a.as_ptr(),
            a_s[1],
            a_s[0],
            b.as_ptr(),
            b_s[1],
            b_s[0],
            0.0,
            1.0,
            false,
            false,
            false,
            par,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::s;
    use proptest::prelude::*;

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

        /// The product equals the textbook sum, for every shape including empty inner
        /// dimensions, and for transposed (strided) operands.
        #[test]
        fn equals_the_naive_product(m in 1..40usize, k in 0..40usize, n in 1..40usize, seed in 0..100u64,
                                    ta: bool, tb: bool) {
            let a = if ta { filled(k, m, seed).reversed_axes() } else { filled(m, k, seed) };
            let b = if tb { filled(n, k, seed + 1).reversed_axes() } else { filled(k, n, seed + 1) };
            let want = naive(&a.view(), &b.view());
            let got = matmul(&a.view(), &b.view());
            for (x, y) in got.iter().zip(&want) {
                prop_assert!((x - y).abs() <= 1e-12 * (1.0 + y.abs()), "{x} vs {y}");
            }
        }
    }

    #[test]
    fn strided_and_reversed_operands() {
        // Every other column of `a`, every other row of `b` (neither axis contiguous),
        // and `b` with its rows in reverse order (a negative stride).
        let (wide, tall) = (filled(37, 2 * 45, 3), filled(2 * 45, 29, 4));
        let (a, b) = (wide.slice(s![.., ..;2]), tall.slice(s![..;2, ..]));
        assert!(crate::gradcheck::all_close(&matmul(&a, &b), &naive(&a, &b), 1e-12, 1e-12));
        let b = tall.slice(s![..;-2, ..]);
        assert!(crate::gradcheck::all_close(&matmul(&a, &b), &naive(&a, &b), 1e-12, 1e-12));
    }

    /// Splitting a product over threads cuts `C` into blocks: each entry is the same
    /// sum in the same order, so the results are identical to the bit, on a product
    /// large enough for `gemm` to use several threads, in every orientation.
    #[test]
    fn split_products_equal_single_threaded_ones_bitwise() {
        let (x, w, g) = (filled(600, 256, 1), filled(256, 300, 2), filled(600, 300, 3));
        for (a, b) in [(x.view(), w.view()), (x.t(), g.view()), (g.view(), w.t())] {
            let mut one = Array2::from_elem((a.nrows(), b.ncols()), f64::NAN);
            let mut two = one.clone();
            product_into(&mut one.view_mut(), &a, &b, false);
            product_into(&mut two.view_mut(), &a, &b, true);
            assert!(one.iter().zip(&two).all(|(p, q)| p.to_bits() == q.to_bits()));
            assert!(crate::gradcheck::all_close(&one, &naive(&a, &b), 1e-11, 1e-11));
        }
    }
}
