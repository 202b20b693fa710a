//! The numerics of the encoder: SGEMM through strided matrix views, and
//! the element-wise steps (LayerNorm, softmax, GELU, e^x, pooling) written so
//! that their loops vectorize.

pub(super) fn add_assign(x: &mut [f32], y: &[f32]) {
    for (a, b) in x.iter_mut().zip(y) {
        *a += b;
    }
}

/// LayerNorm over each row (as long as `gamma`), with the biased variance.
pub(super) fn layer_norm(x: &mut [f32], gamma: &[f32], beta: &[f32], eps: f32) {
    let n = gamma.len() as f32;
    for row in x.chunks_exact_mut(gamma.len()) {
        let mean = sum_of(row, |v| v) / n;
        let var = sum_of(row, |v| (v - mean) * (v - mean)) / n;
        let inv = 1.0 / (var + eps).sqrt();
        for ((v, g), b) in row.iter_mut().zip(gamma).zip(beta) {
            *v = (*v - mean) * inv * g + b;
        }
    }
}

pub(super) fn softmax(row: &mut [f32]) {
    let max = max_of(row);
    for v in row.iter_mut() {
        *v = exp(*v - max);
    }
    let inv = 1.0 / sum_of(row, |v| v);
    for v in row.iter_mut() {
        *v *= inv;
    }
}

/// Σ f(x) in eight interleaved partial sums: a single running float sum is a
/// dependency chain the compiler may not reorder, so it would not vectorize.
#[inline(always)]
fn sum_of(xs: &[f32], f: impl Fn(f32) -> f32) -> f32 {
    let mut lanes = [0.0f32; 8];
    let mut chunks = xs.chunks_exact(8);
    for chunk in &mut chunks {
        for (lane, &x) in lanes.iter_mut().zip(chunk) {
            *lane += f(x);
        }
    }
    let tail: f32 = chunks.remainder().iter().map(|&x| f(x)).sum();
    lanes.iter().sum::<f32>() + tail
}

fn max_of(xs: &[f32]) -> f32 {
    let mut lanes = [f32::NEG_INFINITY; 8];
    let mut chunks = xs.chunks_exact(8);
    for chunk in &mut chunks {
        for (lane, &x) in lanes.iter_mut().zip(chunk) {
            *lane = lane.max(x);
        }
    }
    let lanes = lanes.into_iter().chain(chunks.remainder().iter().copied());
    lanes.fold(f32::NEG_INFINITY, f32::max)
}

/// e^x, inlined so that the softmax and GELU loops vectorize (`f32::exp` is a
/// libm call per element, a tenth of the encoder's time). Rounds x/ln2 to n,
/// takes a degree-6 Taylor polynomial of the remainder (|r| ≤ ln2/2, relative
/// error ~2e-7) and scales by 2^n through the exponent bits. Clamped to the
/// normal range, so large negative x give ~1e-38 instead of 0.
#[inline(always)]
fn exp(x: f32) -> f32 {
    // Adding 1.5·2^23 leaves n = round(x/ln2) as the integer in the low
    // mantissa bits; reading it from there avoids a float-to-int conversion,
    // which does not vectorize.
    const ROUND: f32 = 12_582_912.0;
    // ln 2 in two parts, the first with few enough bits that n·LN2_HIGH is exact.
    const LN2_HIGH: f32 = 355.0 / 512.0;
    const LN2_LOW: f32 = -2.121_944_4e-4;
    let x = x.clamp(-87.0, 88.0);
    let shifted = x * std::f32::consts::LOG2_E + ROUND;
    let n = shifted - ROUND;
    let r = x - n * LN2_HIGH - n * LN2_LOW;
    // Taylor series of e^r; Horner written out, as an iterator fold costs a
    // call per step in debug builds, where the model tests run.
    let poly = 1.0
        + r * (1.0
            + r * (0.5 + r * (1.0 / 6.0 + r * (1.0 / 24.0 + r * (1.0 / 120.0 + r / 720.0)))));
    let biased = shifted
        .to_bits()
        .wrapping_sub(ROUND.to_bits())
        .wrapping_add(127);
    poly * f32::from_bits(biased << 23)
}

/// GELU with the exact normal CDF, x·Φ(x), as BERT's `gelu` is. Φ comes from
/// erfc(|x|/√2) so that the negative side, where Φ is tiny, loses nothing to
/// cancellation.
#[inline(always)]
pub(super) fn gelu(x: f32) -> f32 {
    let tail = 0.5 * erfc_positive(x.abs() * std::f32::consts::FRAC_1_SQRT_2);
    x * if x < 0.0 { tail } else { 1.0 - tail }
}

/// erfc(z) for z ≥ 0 by Abramowitz & Stegun 7.1.26 (error below 1.5e-7).
#[inline(always)]
fn erfc_positive(z: f32) -> f32 {
    const P: f32 = 0.327_591_1;
    let t = 1.0 / (1.0 + P * z);
    let poly = t
        * (0.254_829_6
            + t * (-0.284_496_74 + t * (1.421_413_8 + t * (-1.453_152_1 + t * 1.061_405_4))));
    poly * exp(-z * z)
}

/// Mean over the token rows, then L2 normalized as sentence-transformers'
/// `Normalize` does (norm clamped at 1e-12).
pub(super) fn mean_normalized(rows: &[f32], hidden: usize) -> Vec<f32> {
    let mut mean = vec![0.0f32; hidden];
    let count = rows.len() / hidden;
    if count == 0 {
        return mean;
    }
    for row in rows.chunks_exact(hidden) {
        add_assign(&mut mean, row);
    }
    let inv_count = 1.0 / count as f32;
    mean.iter_mut().for_each(|v| *v *= inv_count);
    let norm = mean.iter().map(|v| v * v).sum::<f32>().sqrt();
    let scale = 1.0 / norm.max(1e-12);
    mean.iter_mut().for_each(|v| *v *= scale);
    mean
}

/// A strided matrix view; `new` checks that it lies within its slice, which is
/// what makes the SGEMM call below sound.
#[derive(Clone, Copy)]
pub(super) struct Mat<'a> {
    data: &'a [f32],
    rows: usize,
    cols: usize,
    row_stride: usize,
    col_stride: usize,
}

impl<'a> Mat<'a> {
    pub(super) fn new(
        data: &'a [f32],
        rows: usize,
        cols: usize,
        row_stride: usize,
        col_stride: usize,
    ) -> Self {
        assert!(fits(data.len(), rows, cols, row_stride, col_stride));
        Mat {
            data,
            rows,
            cols,
            row_stride,
            col_stride,
        }
    }

    pub(super) fn t(self) -> Self {
        Mat {
            rows: self.cols,
            cols: self.rows,
            row_stride: self.col_stride,
            col_stride: self.row_stride,
            ..self
        }
    }
}

pub(super) struct MatMut<'a> {
    data: &'a mut [f32],
    rows: usize,
    cols: usize,
    row_stride: usize,
    col_stride: usize,
}

impl<'a> MatMut<'a> {
    pub(super) fn new(
        data: &'a mut [f32],
        rows: usize,
        cols: usize,
        row_stride: usize,
        col_stride: usize,
    ) -> Self {
        assert!(fits(data.len(), rows, cols, row_stride, col_stride));
        MatMut {
            data,
            rows,
            cols,
            row_stride,
            col_stride,
        }
    }
}

fn fits(len: usize, rows: usize, cols: usize, row_stride: usize, col_stride: usize) -> bool {
    rows == 0 || cols == 0 || (rows - 1) * row_stride + (cols - 1) * col_stride < len
}

/// C = alpha·A·B + beta·C (C is not read when beta is 0).
pub(super) fn gemm(alpha: f32, a: Mat, b: Mat, beta: f32, c: MatMut) {
    assert!(a.cols == b.rows && a.rows == c.rows && b.cols == c.cols);
    if c.rows == 0 || c.cols == 0 {
        return;
    }
    let stride = |s: usize| s as isize;
    // SAFETY: every view was checked by its constructor to lie inside its
    // slice, the shapes agree, and C is a unique borrow that cannot alias A or B.
    unsafe {
        matrixmultiply::sgemm(
            a.rows,
            a.cols,
            b.cols,
            alpha,
            a.data.as_ptr(),
            stride(a.row_stride),
            stride(a.col_stride),
            b.data.as_ptr(),
            stride(b.row_stride),
            stride(b.col_stride),
            beta,
            c.data.as_mut_ptr(),
            stride(c.row_stride),
            stride(c.col_stride),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_and_gelu_are_accurate() {
        for i in -8000..=8000 {
            let x = i as f32 / 100.0;
            let exact = f64::from(x).exp();
            let rel = ((f64::from(exp(x)) - exact) / exact).abs();
            assert!(rel < 5e-7, "exp({x}) off by {rel}");
        }
        // x·Φ(x) from the normal CDF table.
        for (x, y) in [
            (1.0, 0.841_344_7),
            (-1.0, -0.158_655_3),
            (0.5, 0.345_731_3),
            (-3.0, -0.004_049_7),
            (0.0, 0.0),
        ] {
            assert!((gelu(x) - y).abs() < 1e-6, "gelu({x}) = {}", gelu(x));
        }
    }
}
