//! The element-wise half of a PyTorch-convention GRU step as one
//! [`Function`]: from the four matrix products to the new state in one pass over
//! memory, and back in one more (PyTorch fuses the same block, `_thnn_fused_gru_cell`).
//!
//! With the products `x W_rz` (`B x 2H`), `x W_n`, `h U_rz` (`B x 2H`), `h U_n`, the
//! state `h` and optional biases:
//!
//! $$ [r, z] = \sigma(x W_{rz} + h U_{rz} + b_{rz} + b_{hrz}), \quad
//!    m = h U_n + b_{hn}, \quad n = \tanh(x W_n + b_n + r \odot m), \quad
//!    h' = n + z \odot (h - n). $$
//!
//! Backward, with $g = \partial L / \partial h'$ and $a$ the argument of the tanh:
//! $\partial a = g (1 - z)(1 - n^2)$ goes to $x W_n$ and $b_n$; $\partial m = \partial a\, r$
//! to $h U_n$ and $b_{hn}$; the gate pre-activations get
//! $[\partial a\, m\, r(1-r),\; g (h - n)\, z (1 - z)]$, shared by $x W_{rz}$, $h U_{rz}$
//! and both gate biases; and $h$ itself gets $g z$. Bias gradients are column sums.

use autodiff::math::{sigmoid, tanh, vectorized};
use autodiff::{Error, Function, Result, Vjp};
use ndarray::{Array2, ArrayBase, Axis, Data, Ix2};

/// The fused gate block; inputs `[x W_rz, x W_n, h U_rz, h U_n, h]`, then, with
/// `biases`, `[b_rz, b_n, b_hrz, b_hn]` (row vectors).
pub(crate) struct GruGates {
    pub(crate) biases: bool,
}

/// What the backward pass needs, each `B x H`.
struct Saved {
    r: Array2<f64>,
    z: Array2<f64>,
    n: Array2<f64>,
    /// `h U_n + b_hn`.
    m: Array2<f64>,
    /// `h - n`.
    h_minus_n: Array2<f64>,
    biases: bool,
}

/// A bias row's entries, zeros when the bias is absent, so one loop serves both cases.
fn bias_or_zero(inputs: &[&Array2<f64>], at: usize, width: usize) -> Vec<f64> {
    inputs.get(at).map_or_else(|| vec![0.0; width], |b| b.iter().copied().collect())
}

impl GruGates {
    fn check(&self, inputs: &[&Array2<f64>]) -> Result<usize> {
        let want = if self.biases { 9 } else { 5 };
        let bad = |reason: String| Err(Error::Invalid { op: "gru_gates", reason });
        if inputs.len() != want {
            return bad(format!("expected {want} inputs, got {}", inputs.len()));
        }
        let (b, h) = inputs[4].dim();
        let shapes = [(b, 2 * h), (b, h), (b, 2 * h), (b, h)];
        for (k, (x, want)) in inputs.iter().zip(shapes).enumerate() {
            if x.dim() != want {
                return bad(format!("input {k} is {:?}, expected {want:?} for state {:?}", x.dim(), (b, h)));
            }
        }
        for (k, x) in inputs.iter().enumerate().skip(5) {
            let width = if k % 2 == 1 { 2 * h } else { h };
            if x.dim() != (1, width) {
                return bad(format!("bias input {k} is {:?}, expected {:?}", x.dim(), (1, width)));
            }
        }
        Ok(h)
    }
}

/// The rows of a standard-layout array, `width` elements each (none if it is empty).
fn rows<S: Data<Elem = f64>>(a: &ArrayBase<S, Ix2>, width: usize) -> std::slice::ChunksExact<'_, f64> {
    a.as_slice().expect("standard layout").chunks_exact(width.max(1))
}

/// The rows of a fresh array, to be written.
fn rows_mut(a: &mut Array2<f64>, width: usize) -> std::slice::ChunksExactMut<'_, f64> {
    a.as_slice_mut().expect("a fresh array is in standard layout").chunks_exact_mut(width.max(1))
}

impl Function for GruGates {
    fn name(&self) -> &'static str {
        "gru_gates"
    }

    fn forward(&self, inputs: &[&Array2<f64>]) -> Result<(Array2<f64>, Box<dyn Vjp>)> {
        let hid = self.check(inputs)?;
        let ins: Vec<_> = inputs[..5].iter().map(|x| x.as_standard_layout()).collect();
        // Both sides' gate biases summed first, as the composed ops did.
        let b_rz: Vec<f64> = bias_or_zero(inputs, 5, 2 * hid)
            .iter()
            .zip(bias_or_zero(inputs, 7, 2 * hid))
            .map(|(a, b)| a + b)
            .collect();
        let (b_n, bh_n) = (bias_or_zero(inputs, 6, hid), bias_or_zero(inputs, 8, hid));
        let shape = inputs[4].dim();
        let fresh = || Array2::zeros(shape);
        let (mut r, mut z, mut n, mut m, mut h_minus_n, mut out) =
            (fresh(), fresh(), fresh(), fresh(), fresh(), fresh());
        vectorized(
            out.len(),
            #[inline(always)]
            || {
                let ins = rows(&ins[0], 2 * hid)
                    .zip(rows(&ins[1], hid))
                    .zip(rows(&ins[2], 2 * hid))
                    .zip(rows(&ins[3], hid))
                    .zip(rows(&ins[4], hid));
                let outs = rows_mut(&mut r, hid)
                    .zip(rows_mut(&mut z, hid))
                    .zip(rows_mut(&mut n, hid))
                    .zip(rows_mut(&mut m, hid))
                    .zip(rows_mut(&mut h_minus_n, hid))
                    .zip(rows_mut(&mut out, hid));
                // In the order of the equations above, and so with the composed ops'
                // roundings.
                for (((((xrz, xn), hrz), hn), h), (((((r, z), n), m), d), o)) in ins.zip(outs) {
                    let ((xr, xz), (hr, hz), (br, bz)) =
                        (xrz.split_at(hid), hrz.split_at(hid), b_rz.split_at(hid));
                    let (xn, hn, h, b_n, bh_n) =
                        (&xn[..hid], &hn[..hid], &h[..hid], &b_n[..hid], &bh_n[..hid]);
                    let (r, z, n, m, d, o) = (
                        &mut r[..hid],
                        &mut z[..hid],
                        &mut n[..hid],
                        &mut m[..hid],
                        &mut d[..hid],
                        &mut o[..hid],
                    );
                    for j in 0..hid {
                        r[j] = sigmoid(xr[j] + hr[j] + br[j]);
                        z[j] = sigmoid(xz[j] + hz[j] + bz[j]);
                        m[j] = hn[j] + bh_n[j];
                        n[j] = tanh(xn[j] + b_n[j] + r[j] * m[j]);
                        d[j] = h[j] - n[j];
                        o[j] = n[j] + z[j] * d[j];
                    }
                }
            },
        );
        Ok((out, Box::new(Saved { r, z, n, m, h_minus_n, biases: self.biases })))
    }
}

impl Vjp for Saved {
    fn vjp(&self, g: &Array2<f64>, need: &[bool]) -> autodiff::Result<Vec<Option<Array2<f64>>>> {
        let (b, hid) = g.dim();
        let g = g.as_standard_layout();
        // d(argument of the tanh) and the gate pre-activations side by side, the
        // gradient of h and that of m = h U_n + b_hn, row by row.
        let (mut da, mut d_rz, mut dm, mut dh) = (
            Array2::zeros((b, hid)),
            Array2::zeros((b, 2 * hid)),
            Array2::zeros((b, hid)),
            Array2::zeros((b, hid)),
        );
        vectorized(
            g.len(),
            #[inline(always)]
            || {
                let saved = rows(&g, hid)
                    .zip(rows(&self.r, hid))
                    .zip(rows(&self.z, hid))
                    .zip(rows(&self.n, hid))
                    .zip(rows(&self.m, hid))
                    .zip(rows(&self.h_minus_n, hid));
                let outs = rows_mut(&mut da, hid)
                    .zip(rows_mut(&mut d_rz, 2 * hid))
                    .zip(rows_mut(&mut dm, hid))
                    .zip(rows_mut(&mut dh, hid));
                for ((((((g, r), z), n), m), d), (((da, d_rz), dm), dh)) in saved.zip(outs) {
                    let (d_r, d_z) = d_rz.split_at_mut(hid);
                    let (g, r, z, n, m, d) =
                        (&g[..hid], &r[..hid], &z[..hid], &n[..hid], &m[..hid], &d[..hid]);
                    let (da, d_r, d_z, dm, dh) =
                        (&mut da[..hid], &mut d_r[..hid], &mut d_z[..hid], &mut dm[..hid], &mut dh[..hid]);
                    for j in 0..hid {
                        da[j] = g[j] * (1.0 - z[j]) * (1.0 - n[j] * n[j]);
                        d_r[j] = da[j] * m[j] * r[j] * (1.0 - r[j]);
                        d_z[j] = g[j] * d[j] * z[j] * (1.0 - z[j]);
                        dm[j] = da[j] * r[j];
                        dh[j] = g[j] * z[j];
                    }
                }
            },
        );
        let col_sum = |a: &Array2<f64>| a.sum_axis(Axis(0)).insert_axis(Axis(0));
        let bias_grads = match self.biases {
            true => vec![
                need[5].then(|| col_sum(&d_rz)),
                need[6].then(|| col_sum(&da)),
                need[7].then(|| col_sum(&d_rz)),
                need[8].then(|| col_sum(&dm)),
            ],
            false => Vec::new(),
        };
        let mut out = vec![
            need[0].then(|| d_rz.clone()),
            need[1].then_some(da),
            need[2].then_some(d_rz),
            need[3].then_some(dm),
            need[4].then_some(dh),
        ];
        out.extend(bias_grads);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    //! The row loops against the same equations written as whole-array ndarray
    //! expressions (this file's first version), to the bit, forward and backward, on a
    //! shape whose rows are long enough for the vector path and odd enough to leave
    //! remainders. (`cargo test --release -p latent-seq-seqmodels gru_gates` runs
    //! the vector bodies; the test profile compiles at a level that does not
    //! vectorise.) The gradient itself is checked against finite differences in
    //! `tests/cells.rs`.

    use super::*;
    use ndarray::{Zip, s};

    fn filled(rows: usize, cols: usize, seed: f64) -> Array2<f64> {
        Array2::from_shape_fn((rows, cols), |(i, j)| ((i * cols + j) as f64 * 0.37 + seed).sin() * 3.0)
    }

    fn same_bits(a: &Array2<f64>, b: &Array2<f64>) -> bool {
        a.dim() == b.dim() && a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits())
    }

    #[test]
    fn row_loops_equal_whole_array_expressions_bitwise() {
        let (b, h) = (37, 19);
        let (xrz, xn, hrz, hn, state) = (
            filled(b, 2 * h, 0.1),
            filled(b, h, 0.2),
            filled(b, 2 * h, 0.3),
            filled(b, h, 0.4),
            filled(b, h, 0.5),
        );
        let (b_rz, b_n, bh_rz, bh_n) =
            (filled(1, 2 * h, 0.6), filled(1, h, 0.7), filled(1, 2 * h, 0.8), filled(1, h, 0.9));
        let inputs = [&xrz, &xn, &hrz, &hn, &state, &b_rz, &b_n, &bh_rz, &bh_n];
        let (out, rule) = GruGates { biases: true }.forward(&inputs).unwrap();

        let pre_rz = &xrz + &hrz + &(&b_rz + &bh_rz);
        let gate = |cols| pre_rz.slice(s![.., cols]).mapv(sigmoid);
        let (r, z) = (gate(0..h), gate(h..2 * h));
        let m = &hn + &bh_n;
        let n = Zip::from(&xn)
            .and(&m)
            .and(&r)
            .and_broadcast(&b_n)
            .map_collect(|&xn, &m, &r, &b| tanh(xn + b + r * m));
        let d = &state - &n;
        let want = Zip::from(&n).and(&z).and(&d).map_collect(|&n, &z, &d| n + z * d);
        assert!(same_bits(&out, &want));

        let g = filled(b, h, 1.0);
        let grads = rule.vjp(&g, &[true; 9]).unwrap();
        let da = Zip::from(&g).and(&z).and(&n).map_collect(|&g, &z, &n| g * (1.0 - z) * (1.0 - n * n));
        let mut d_rz = Array2::zeros((b, 2 * h));
        Zip::from(d_rz.slice_mut(s![.., ..h])).and(&da).and(&m).and(&r).for_each(|o, &da, &m, &r| {
            *o = da * m * r * (1.0 - r);
        });
        Zip::from(d_rz.slice_mut(s![.., h..])).and(&g).and(&d).and(&z).for_each(|o, &g, &d, &z| {
            *o = g * d * z * (1.0 - z);
        });
        let dm = &da * &r;
        let col_sum = |a: &Array2<f64>| a.sum_axis(Axis(0)).insert_axis(Axis(0));
        let wants = [
            &d_rz,
            &da,
            &d_rz,
            &dm,
            &(&g * &z),
            &col_sum(&d_rz),
            &col_sum(&da),
            &col_sum(&d_rz),
            &col_sum(&dm),
        ];
        for (k, (got, want)) in grads.iter().zip(wants).enumerate() {
            assert!(same_bits(got.as_ref().unwrap(), want), "gradient of input {k}");
        }
    }
}
