//! The speed layer: buffer recycling, element-wise kernels with run-time SIMD dispatch, the
//! matrix product and vectorisable transcendental functions.
//!
//! The core of the crate (the tape in [`crate::Tape`], the ops in [`crate::op`]
//! and the backward sweeps) says *what* is computed; this layer only says *how
//! fast*. The core can be read without it: every kernel here computes the same
//! values as the plain ndarray expression it stands for (`kernels::map(x, f)` is
//! `x.mapv(f)`, `kernels::map2` is `Zip` over two broadcast views, `gemm::matmul(a, b)`
//! is `a.dot(b)` up to the order of the additions in each dot product), so a
//! gradient rule in `op/` reads like its derivation in `docs/autodiff.md`.
//!
//! * `pool`: a per-thread pool of large array buffers, fed by dropped tapes and by
//!   the backward sweep's spent gradients, so that a training step does not pay page
//!   faults for the arrays the previous step just freed.
//! * `kernels`: the loops behind the element-wise ops, writing into pooled buffers
//!   and compiled again for AVX2 and AVX-512 (or NEON), chosen at run time; the
//!   arithmetic is the same on every path.
//! * `gemm`: `C = A B` by the `gemm` crate (its micro-kernel chosen at run time),
//!   split over rayon's threads when large.
//! * [`math`]: branch-free `exp`, `expm1`, `tanh`, `sigmoid` and `softplus`, within a
//!   few units in the last place of `libm`, which the compiler can vectorise. This
//!   one is public (as `autodiff::math`), for crates that fuse their own kernels.

pub(crate) mod gemm;
pub(crate) mod kernels;
pub mod math;
pub(crate) mod pool;
