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

use autodiff::math::{sigmoid, tanh};
use autodiff::{Error, Function, Result, Vjp};
use ndarray::{Array2, Axis, Zip, s};

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

/// A zero row vector when a bias is absent, so one loop serves both cases.
fn bias_or_zero(inputs: &[&Array2<f64>], at: usize, width: usize) -> Array2<f64> {
    inputs.get(at).map_or_else(|| Array2::zeros((1, width)), |b| (*b).clone())
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

impl Function for GruGates {
    fn name(&self) -> &'static str {
        "gru_gates"
    }

    fn forward(&self, inputs: &[&Array2<f64>]) -> Result<(Array2<f64>, Box<dyn Vjp>)> {
        let hid = self.check(inputs)?;
        let (xrz, xn, hrz, hn, h) = (inputs[0], inputs[1], inputs[2], inputs[3], inputs[4]);
        let b_rz = bias_or_zero(inputs, 5, 2 * hid) + bias_or_zero(inputs, 7, 2 * hid);
        let (b_n, bh_n) = (bias_or_zero(inputs, 6, hid), bias_or_zero(inputs, 8, hid));
        let pre_rz = xrz + hrz + &b_rz;
        // Zip runs along contiguous rows of the column blocks (`mapv` on a strided view
        // goes element by element).
        let gate = |cols| Zip::from(pre_rz.slice(s![.., cols])).map_collect(|&v| sigmoid(v));
        let (r, z) = (gate(0..hid), gate(hid..2 * hid));
        let m = hn + &bh_n;
        let n = Zip::from(xn)
            .and(&m)
            .and(&r)
            .and_broadcast(&b_n)
            .map_collect(|&xn, &m, &r, &b| tanh(xn + b + r * m));
        let h_minus_n = h - &n;
        let out = Zip::from(&n).and(&z).and(&h_minus_n).map_collect(|&n, &z, &d| n + z * d);
        Ok((out, Box::new(Saved { r, z, n, m, h_minus_n, biases: self.biases })))
    }
}

impl Vjp for Saved {
    fn vjp(&self, g: &Array2<f64>, need: &[bool]) -> autodiff::Result<Vec<Option<Array2<f64>>>> {
        let (b, hid) = g.dim();
        // d(argument of the tanh) and the gate pre-activations, side by side.
        let da =
            Zip::from(g).and(&self.z).and(&self.n).map_collect(|&g, &z, &n| g * (1.0 - z) * (1.0 - n * n));
        let mut d_rz = Array2::zeros((b, 2 * hid));
        Zip::from(d_rz.slice_mut(s![.., ..hid])).and(&da).and(&self.m).and(&self.r).for_each(
            |o, &da, &m, &r| {
                *o = da * m * r * (1.0 - r);
            },
        );
        Zip::from(d_rz.slice_mut(s![.., hid..])).and(g).and(&self.h_minus_n).and(&self.z).for_each(
            |o, &g, &d, &z| {
                *o = g * d * z * (1.0 - z);
            },
        );
        let dm = &da * &self.r;
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
            need[4].then(|| g * &self.z),
        ];
        out.extend(bias_grads);
        Ok(out)
    }
}
