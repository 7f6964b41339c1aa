//! Scalar kernels for the transcendental functions on the hot path (`exp`,
//! `expm1`, `tanh`, `sigmoid`, `softplus` and the `ln(1 + u)` inside it), written
//! branch-free so that the compiler can vectorise the element-wise loops that call
//! them, and [`vectorized`], which compiles such a loop for the CPU's widest vectors.
//!
//! The platform's `libm` functions are accurate but opaque calls, one element at a
//! time; in a tanh MLP they were half of the training time. These kernels use the
//! classical recipe:
//!
//! 1. **Range reduction** (Cody and Waite): write $x = k \ln 2 + r$ with integer
//!    $k = \mathrm{round}(x / \ln 2)$ and $|r| \le \ln 2 / 2$, subtracting $k \ln 2$ in two
//!    parts (a high part exact in floating point, and a low correction).
//! 2. **A polynomial** for $e^r - 1$ on that small interval: the Taylor series to
//!    degree 13, whose truncation error $|r|^{14}/14! < 10^{-17}$ is below rounding.
//! 3. **Reconstruction**: $e^x = 2^k (1 + (e^r - 1))$, with $2^k$ built from its bits
//!    (in two factors, so that results down to the subnormal range stay right), and
//!    $e^x - 1 = 2^k (e^r - 1) + (2^k - 1)$, which keeps full relative accuracy near 0.
//!
//! Measured against `std` over $[-745, 709]$, the error stays within a few units in
//! the last place (see this crate's `tests/math.rs`).

/// `ln 2` split as in fdlibm: the high part has trailing zero bits, so `k * LN2_HI`
/// is exact for the `k` that occur.
const LN2_HI: f64 = f64::from_bits(0x3fe6_2e42_fee0_0000);
const LN2_LO: f64 = f64::from_bits(0x3dea_39ef_3579_3c76);
const INV_LN2: f64 = std::f64::consts::LOG2_E;
/// Adding and subtracting 1.5 * 2^52 rounds to the nearest integer without a call.
const ROUND_MAGIC: f64 = 6_755_399_441_055_744.0;
/// Above this, `e^x` overflows to infinity.
const EXP_MAX: f64 = 709.782_712_893_384;
/// Below this, `e^x` underflows to zero (even as a subnormal).
const EXP_MIN: f64 = -745.133_219_101_941_1;

/// `e^r - 1` for `|r| <= ln 2 / 2`: Taylor series to degree 13, in Horner form.
#[inline(always)]
fn expm1_reduced(r: f64) -> f64 {
    const C: [f64; 13] = [
        1.0,
        1.0 / 2.0,
        1.0 / 6.0,
        1.0 / 24.0,
        1.0 / 120.0,
        1.0 / 720.0,
        1.0 / 5_040.0,
        1.0 / 40_320.0,
        1.0 / 362_880.0,
        1.0 / 3_628_800.0,
        1.0 / 39_916_800.0,
        1.0 / 479_001_600.0,
        1.0 / 6_227_020_800.0,
    ];
    let mut p = C[12];
    for &c in C[..12].iter().rev() {
        p = p * r + c;
    }
    p * r
}

/// `2^k` for an integer-valued `k` in `[-1022, 1023]`, from its bit pattern.
///
/// Adding `2^52 + 1023` puts the biased exponent `k + 1023` in the low mantissa
/// bits; shifting it into the exponent field avoids a float-to-integer conversion,
/// which baseline x86-64 cannot vectorise.
#[inline(always)]
fn pow2(k: f64) -> f64 {
    const BIAS: f64 = 4_503_599_627_370_496.0 + 1023.0;
    f64::from_bits((k + BIAS).to_bits() << 52)
}

/// The integer nearest to `x` (ties to even), for `|x| < 2^51`, without a call.
#[inline(always)]
fn round(x: f64) -> f64 {
    (x + ROUND_MAGIC) - ROUND_MAGIC
}

/// Splits `x` (already clamped) into `k` and `r` with `x = k ln 2 + r`.
#[inline(always)]
fn reduce(x: f64) -> (f64, f64) {
    let k = round(x * INV_LN2);
    (k, (x - k * LN2_HI) - k * LN2_LO)
}

/// `e^x`, within a few ulp of the correctly rounded value, vectorisable.
#[inline(always)]
pub fn exp(x: f64) -> f64 {
    let (k, r) = reduce(x.clamp(EXP_MIN, EXP_MAX));
    // 2^k in two factors: k alone can leave the normal range near the ends.
    let half = round(k * 0.5);
    let y = (1.0 + expm1_reduced(r)) * pow2(half) * pow2(k - half);
    if x > EXP_MAX {
        f64::INFINITY
    } else if x < EXP_MIN {
        0.0
    } else if x.is_nan() {
        x
    } else {
        y
    }
}

/// `e^x - 1`, accurate relative to the result also for tiny `|x|`.
#[inline(always)]
pub fn expm1(x: f64) -> f64 {
    // Below -40, e^x - 1 rounds to -1; the clamp also keeps 2^k normal.
    let (k, r) = reduce(x.clamp(-40.0, EXP_MAX));
    let scale = pow2(k.min(1023.0));
    let y = scale * expm1_reduced(r) + (scale - 1.0);
    if x > EXP_MAX {
        f64::INFINITY
    } else if x.is_nan() {
        x
    } else {
        y
    }
}

/// `tanh x = -expm1(-2|x|) / (2 + expm1(-2|x|))` with the sign of `x`.
#[inline(always)]
pub fn tanh(x: f64) -> f64 {
    let e = expm1(-2.0 * x.abs());
    (-e / (2.0 + e)).copysign(x)
}

/// The logistic sigmoid `1 / (1 + e^-x)`; saturates to exactly 0 and 1.
#[inline(always)]
pub fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + exp(-x))
}

/// `ln(1 + e^x) = max(x, 0) + ln(1 + e^-|x|)`, finite for every finite `x`.
#[inline(always)]
pub fn softplus(x: f64) -> f64 {
    x.max(0.0) + ln_1p_unit(exp(-x.abs()))
}

/// `ln(1 + u)` for `u` in `[0, 1]`, vectorisable: with `s = u / (2 + u)` (at most
/// 1/3), `ln(1 + u) = 2 atanh(s) = 2 (s + s^3/3 + s^5/5 + ...)`; seventeen terms put
/// the truncation error (`(1/9)^17 / 35`) below rounding. Relative accuracy holds down
/// to the smallest `u`, where `ln(1 + u) ~ u`.
#[inline(always)]
pub fn ln_1p_unit(u: f64) -> f64 {
    let s = u / (2.0 + u);
    let w = s * s;
    let mut p = 1.0 / 33.0;
    for k in (0..16).rev() {
        p = p * w + 1.0 / (2 * k + 1) as f64;
    }
    2.0 * s * p
}

/// Runs `work`, a loop over `len` elements, compiled for the best instruction set
/// the CPU has (AVX-512 or AVX2 with FMA on x86-64, NEON on aarch64; chosen at run
/// time), as this crate's own element-wise kernels are. A crate fusing its own
/// kernel (a [`Function`](crate::Function)'s forward pass or gradient rule) wraps its
/// loops in it so that they, and the functions of this module they call, use four or
/// eight lanes instead of the target's baseline two; mark the closure
/// `#[inline(always)]`, or it is compiled apart from the faster code it is meant to
/// become. The arithmetic is the same on every path (Rust never fuses a multiply and
/// an add on its own), so results are identical to the bit; loops shorter than a few
/// vectors run as they are.
///
/// ```
/// use autodiff::math::{tanh, vectorized};
/// use ndarray::{Array2, Zip};
///
/// let x = Array2::from_shape_fn((64, 32), |(i, j)| (i as f64 - j as f64) / 10.0);
/// let y = vectorized(x.len(), #[inline(always)] || Zip::from(&x).map_collect(|&v| tanh(v)));
/// assert_eq!(y, x.mapv(tanh));
/// ```
#[inline(always)]
pub fn vectorized<R>(len: usize, work: impl FnOnce() -> R) -> R {
    super::kernels::wide(len, work)
}
