//! Matrix products on the shapes the models use, one candidate kernel against
//! another (issue 20), in GFLOP/s (criterion's "elem/s" here counts floating-point
//! operations, `2 m k n` per product).
//!
//! Each forward product `X W` (`X` batch x in, `W` in x out) comes with the two its
//! gradient needs, and all three are measured:
//!
//! * `nn`: `X W`, both operands row-major (the forward pass);
//! * `tn`: `X^T G` (in x batch times batch x out), the weight's gradient: the left
//!   operand is a transposed view, its inner dimension the batch;
//! * `nt`: `G W^T` (batch x out times out x in), the input's gradient: the right
//!   operand is a transposed view.
//!
//! Candidates:
//!
//! * `autodiff`: the library's own product (`Tensor::matmul_t` on plain arrays),
//!   output allocated by it, as every op does;
//! * `gemm_1t`, `gemm_2t`: the `gemm` crate (runtime dispatch over SSE, AVX2+FMA,
//!   AVX-512), on one thread and split over rayon's (two on the development
//!   machine), into a preallocated array (`autodiff::testing::matmul_into`, the
//!   library's own call; until the library used `gemm`, the bench called it directly);
//! * `matrixmultiply`: ndarray's own backend (`general_mat_mul`), AVX2+FMA at most.
//!
//! The shapes: the GRU of `bench_gru.py` (batch 64, input 88, hidden 128: `h U_rz`
//! is 64 x 128 x 256, `x W_n` 64 x 88 x 128), the VRNN of `bench_vrnn.py` (batch 128,
//! width 100), the MLP of `bench_mlp.py` and RealNVP's nets (batch 512, width 64), a
//! narrow one (batch 1,000, width 16), a wide one (batch 1,000, width 512) and a small
//! one (16 x 16 x 16, where a call's overhead shows).
//!
//! Run: `cargo bench -p latent-seq-autodiff --bench matmul -- --warm-up-time 0.5
//! --measurement-time 1`.

#![allow(missing_docs)] // criterion_group! generates undocumented items

use autodiff::Tensor;
use autodiff::testing::matmul_into;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use ndarray::Array2;
use ndarray::linalg::general_mat_mul;
use std::hint::black_box;

/// `(name, batch, in, out)` of each forward product.
const SHAPES: [(&str, usize, usize, usize); 7] = [
    ("small", 16, 16, 16),
    ("gru_h_urz", 64, 128, 256),
    ("gru_x_wn", 64, 88, 128),
    ("vrnn", 128, 100, 100),
    ("mlp", 512, 64, 64),
    ("narrow", 1000, 16, 16),
    ("wide", 1000, 512, 512),
];

fn filled(rows: usize, cols: usize, seed: usize) -> Array2<f64> {
    Array2::from_shape_fn((rows, cols), |(i, j)| ((i * 31 + j * 17 + seed) as f64 * 0.37).sin())
}

fn products(c: &mut Criterion) {
    for (name, batch, inp, out) in SHAPES {
        let (x, w) = (filled(batch, inp, 1), filled(inp, out, 2));
        let g = filled(batch, out, 3);
        // (orientation, left operand, right operand, transpose flags of the stored arrays)
        let cases = [("nn", &x, &w, false, false), ("tn", &x, &g, true, false), ("nt", &g, &w, false, true)];
        let mut group = c.benchmark_group(format!("matmul/{name}_b{batch}_{inp}x{out}"));
        for (orient, a, b, ta, tb) in cases {
            let av = if ta { a.t() } else { a.view() };
            let bv = if tb { b.t() } else { b.view() };
            let (m, k, n) = (av.nrows(), av.ncols(), bv.ncols());
            group.throughput(Throughput::Elements((2 * m * k * n) as u64));
            let mut dst = Array2::zeros((m, n));
            group.bench_function(BenchmarkId::new("autodiff", orient), |bench| {
                bench.iter(|| black_box(a.matmul_t(b, ta, tb).expect("shapes")))
            });
            for threads in [1, 2] {
                group.bench_function(BenchmarkId::new(format!("gemm_{threads}t"), orient), |bench| {
                    bench.iter(|| matmul_into(&mut dst.view_mut(), &av, &bv, threads > 1))
                });
            }
            group.bench_function(BenchmarkId::new("matrixmultiply", orient), |bench| {
                bench.iter(|| general_mat_mul(1.0, &av, &bv, 0.0, &mut dst))
            });
        }
        group.finish();
    }
}

criterion_group!(benches, products);
criterion_main!(benches);
