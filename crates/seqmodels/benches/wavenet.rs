//! One training step of example 11's WaveNet, and the matrix products inside it.
//!
//! * `wavenet_train_step/step`: the reference's unit-test network (filter width 2,
//!   dilations 1..64 twice, 32 residual, dilation and skip channels, 256 mu-law
//!   levels, no biases) on one sequence of 1,255 steps (the example's 1,000 samples
//!   after 255 of silence; here random levels, seed 0): forward, the mean
//!   cross-entropy of the steps from the receptive field (256) on, backward, and an SGD
//!   step with momentum 0.95. Its throughput is counted in the FLOPs of the step's
//!   matrix products (below), so criterion's `elem/s` is product FLOP/s averaged over
//!   the whole step, element-wise work included.
//! * `wavenet_train_step/products_only`: the same products, with the same shapes and
//!   transposes, on plain arrays through the tape's kernel (`Tensor::matmul_t`): the
//!   rate the products themselves reach.
//! * `wavenet_train_step/square_512`: one `512 x 512 x 512` product through the same
//!   kernel: what it reaches on a shape that favours it, a practical ceiling beside
//!   the core's nominal peak.
//!
//! The products of one step, with `n` rows (steps times sequences), `w` taps of `C`
//! input channels read `s` rows back by a convolution to `C'` outputs:
//!
//! * forward: per tap `(n - s) x C x C'` (the causal layer's `C` is the 256 levels);
//!   the gated unit's 1x1s `n x 32 x 32` twice per block; the head `n x 32 x 32` and
//!   `n x 32 x 256`;
//! * backward: every product's two gradients, each with the forward product's FLOPs,
//!   except the input gradient of the first layer (its input is data); a
//!   convolution's input gradient is one `n x C' x w C` product for all its taps.
//!
//! Run: `cargo bench -p latent-seq-seqmodels --bench wavenet`.

use autodiff::{ParamStore, Tape, Tensor};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ndarray::Array2;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use seqmodels::{SeqBatch, WaveNet, WaveNetConfig, WaveNetOutput};
use std::hint::black_box;
use trainers::{Optim, Optimizer, Sgd};

/// One matrix product `op(A) op(B)` of an `m x k` by a `k x p` operand, with the
/// transpose flags the step uses.
#[derive(Clone, Copy)]
struct Product {
    m: usize,
    k: usize,
    p: usize,
    ta: bool,
    tb: bool,
}

impl Product {
    fn flops(&self) -> u64 {
        2 * (self.m * self.k * self.p) as u64
    }
}

/// A forward product `m x k x p` and its gradients: `dA = G B^T` (unless `input_grad`
/// is off) and `dB = A^T G`.
fn with_gradients(m: usize, k: usize, p: usize, input_grad: bool) -> Vec<Product> {
    let mut out =
        vec![Product { m, k, p, ta: false, tb: false }, Product { m: k, k: m, p, ta: true, tb: false }];
    if input_grad {
        out.push(Product { m, k: p, p: k, ta: false, tb: true });
    }
    out
}

/// Every product of one training step on `n` rows of one sequence (see the module docs).
fn step_products(config: &WaveNetConfig, n: usize) -> Vec<Product> {
    let (w, res, gates, skip) =
        (config.filter_width, config.residual_channels, config.dilation_channels, config.skip_channels);
    let levels = config.output.channels();
    let mut out = Vec::new();
    // A convolution: each tap's forward product and weight gradient over the rows it
    // reads; one input gradient for all taps (unless its input is data).
    let mut conv = |dilation: usize, c_in: usize, c_out: usize, input_grad: bool| {
        for k in 0..w {
            let rows = n - (w - 1 - k) * dilation;
            out.extend(with_gradients(rows, c_in, c_out, false));
        }
        if input_grad {
            out.push(Product { m: n, k: c_out, p: w * c_in, ta: false, tb: true });
        }
    };
    conv(1, levels, res, false);
    for &d in &config.dilations {
        conv(d, res, 2 * gates, true);
    }
    for _ in &config.dilations {
        out.extend(with_gradients(n, gates, res, true));
        out.extend(with_gradients(n, gates, skip, true));
    }
    out.extend(with_gradients(n, skip, skip, true));
    out.extend(with_gradients(n, skip, levels, true));
    out
}

fn wavenet(c: &mut Criterion) {
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let config =
        WaveNetConfig::new(WaveNetOutput::Categorical { levels: 256 }, WaveNetConfig::doubling(64, 2), 32);
    let mut store = ParamStore::new();
    let model = WaveNet::new(&mut store, "wavenet", config.clone(), &mut rng).expect("valid sizes");
    let (steps, r) = (1_255, model.receptive_field());
    let levels: Vec<Array2<f64>> =
        (0..steps).map(|_| Array2::from_elem((1, 1), rng.random_range(0..256) as f64)).collect();
    let batch = SeqBatch::fully_observed(levels).expect("equal steps");
    let products = step_products(&config, steps);
    let flops: u64 = products.iter().map(Product::flops).sum();
    println!("{} products, {:.3} GFLOP per training step", products.len(), flops as f64 * 1e-9);

    let mut group = c.benchmark_group("wavenet_train_step");
    group.sample_size(20).throughput(Throughput::Elements(flops));
    let mut sgd = Optim::new(Sgd { lr: 0.02, momentum: 0.95, ..Sgd::default() }).expect("valid settings");
    group.bench_function("step", |b| {
        b.iter(|| {
            let tape = Tape::new();
            let lp = model.step_log_probs(&tape.session(&store), &batch).expect("a pass");
            let loss = lp.slice_rows(r..steps).expect("rows").mean().unwrap().neg();
            let grads = loss.backward().expect("a gradient").into_params();
            sgd.step(&mut store, &grads).expect("matching shapes");
            black_box(&store);
        })
    });
    let operands: Vec<(Array2<f64>, Array2<f64>)> = products
        .iter()
        .map(|p| {
            let shape = |rows, cols, t| if t { (cols, rows) } else { (rows, cols) };
            let a = Array2::from_shape_simple_fn(shape(p.m, p.k, p.ta), || rng.random::<f64>());
            let b = Array2::from_shape_simple_fn(shape(p.k, p.p, p.tb), || rng.random::<f64>());
            (a, b)
        })
        .collect();
    group.bench_function("products_only", |b| {
        b.iter(|| {
            for (p, (x, y)) in products.iter().zip(&operands) {
                black_box(x.matmul_t(y, p.ta, p.tb).expect("matching shapes"));
            }
        })
    });
    let big = Array2::from_shape_simple_fn((512, 512), || rng.random::<f64>());
    group.throughput(Throughput::Elements(2 * 512u64.pow(3)));
    group.bench_function("square_512", |b| b.iter(|| black_box(big.matmul(&big).expect("square"))));
    group.finish();
}

criterion_group!(benches, wavenet);
criterion_main!(benches);
