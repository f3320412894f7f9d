//! Summary statistics the fitted plugins learn: streaming mean and
//! standard deviation, numpy's percentile and median. One definition, so
//! every plugin that scales, clips or imputes agrees with numpy the same way.

/// Running mean and sum of squared deviations (Welford): one pass, stable,
/// and the same result however the rows are split into chunks.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Moments {
    pub count: u64,
    pub mean: f64,
    /// sum of squared deviations from the mean
    pub m2: f64,
}

impl Moments {
    pub fn push(&mut self, x: f64) {
        self.count += 1;
        let delta = x - self.mean;
        self.mean += delta / self.count as f64;
        self.m2 += delta * (x - self.mean);
    }

    /// Population standard deviation (ddof = 0, numpy's `std` default); 0
    /// with no values.
    pub fn sd(&self) -> f64 {
        if self.count == 0 {
            0.0
        } else {
            (self.m2 / self.count as f64).sqrt()
        }
    }
}

/// `numpy.percentile(sorted, 100 * q)` with the default "linear" method:
/// virtual index `q * (n - 1)`, then numpy's `_lerp`, which interpolates
/// from the upper neighbour when the fraction is >= 0.5 (so results match
/// numpy bit for bit). `sorted` must be ascending and non-empty.
pub fn percentile(sorted: &[f64], q: f64) -> f64 {
    let n = sorted.len();
    let h = q * (n - 1) as f64;
    let lower = h.floor();
    let t = h - lower;
    let i = (lower as usize).min(n - 1);
    let (a, b) = (sorted[i], sorted[(i + 1).min(n - 1)]);
    let diff = b - a;
    if t >= 0.5 {
        b - diff * (1.0 - t)
    } else {
        a + diff * t
    }
}

/// Exact median (numpy: mean of the two middle values for an even count),
/// in O(n) with selection. Reorders `values`.
pub fn median(values: &mut [f64]) -> Option<f64> {
    let n = values.len();
    if n == 0 {
        return None;
    }
    let (_, &mut upper, _) = values.select_nth_unstable_by(n / 2, f64::total_cmp);
    if n % 2 == 1 {
        return Some(upper);
    }
    // After selection every value left of n/2 is <= upper: the lower middle
    // value is their maximum.
    let lower = values[..n / 2]
        .iter()
        .copied()
        .max_by(f64::total_cmp)
        .expect("n >= 2");
    Some(lower.midpoint(upper))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentile_matches_numpy_linear() {
        // np.percentile(..., [25, 75]) reference values
        assert_eq!(
            (
                percentile(&[1.0, 2.0, 3.0, 4.0], 0.25),
                percentile(&[1.0, 2.0, 3.0, 4.0], 0.75)
            ),
            (1.75, 3.25)
        );
        let ten: Vec<f64> = (1..=10).map(f64::from).collect();
        assert_eq!(
            (percentile(&ten, 0.25), percentile(&ten, 0.75)),
            (3.25, 7.75)
        );
        // fraction 0.5 interpolates from the upper neighbour, as numpy does
        assert_eq!(percentile(&[0.1, 0.3, 0.7], 0.25), 0.2);
        // np.percentile([0.1, 0.2, 0.3, 0.7, 1.1, 1.3], [25, 75]) = [0.225, 1.0]
        let six = [0.1, 0.2, 0.3, 0.7, 1.1, 1.3];
        assert_eq!(
            (percentile(&six, 0.25), percentile(&six, 0.75)),
            (0.225, 1.0)
        );
        assert_eq!(percentile(&[42.0], 0.25), 42.0);
    }

    /// Values drawn with numpy (`default_rng(7)`); expected results printed by
    /// numpy 2.4 with `repr`.
    const X: [f64; 23] = [
        0.012, 2.987, -2.741, -8.906, -4.547, -9.916, 0.601, 13.402, -4.922, -6.205, 4.898, 3.569,
        1.054, -9.305, -0.293, 6.953, -13.442, -4.576, -19.012, -12.895, -18.417, -2.351, -12.674,
    ];
    const Y: [f64; 14] = [
        2.71, 1.57, -1.87, -25.17, -5.39, -0.49, 1.13, -15.3, -4.78, -9.79, -8.09, 10.61, -8.08,
        -0.33,
    ];

    #[test]
    fn percentile_matches_numpy_bit_for_bit_on_random_data() {
        let sorted = |v: &[f64]| {
            let mut v = v.to_vec();
            v.sort_by(f64::total_cmp);
            v
        };
        let (x, y) = (sorted(&X), sorted(&Y));
        assert_eq!(
            (percentile(&x, 0.25), percentile(&x, 0.75)),
            (-9.6105, 0.8275)
        );
        // 0.7649999999999999, not 0.765: numpy's upper-neighbour interpolation
        assert_eq!(
            (percentile(&y, 0.25), percentile(&y, 0.75)),
            (-8.0875, 0.7649999999999999)
        );
    }

    #[test]
    fn moments_match_numpy_mean_and_std() {
        // np.mean(X) = -4.205478260869565, np.std(X) = 7.962515873273729
        let mut m = Moments::default();
        X.iter().for_each(|&x| m.push(x));
        assert!((m.mean - -4.205478260869565).abs() < 1e-13, "{}", m.mean);
        assert!((m.sd() - 7.962515873273729).abs() < 1e-13, "{}", m.sd());
        assert_eq!(Moments::default().sd(), 0.0);
    }

    #[test]
    fn moments_do_not_depend_on_chunking() {
        let mut whole = Moments::default();
        X.iter().for_each(|&x| whole.push(x));
        let mut split = Moments::default();
        X[..5].iter().for_each(|&x| split.push(x));
        X[5..].iter().for_each(|&x| split.push(x));
        assert_eq!(whole, split);
    }

    #[test]
    fn median_matches_sorting() {
        let mut values: Vec<f64> = (0..101).map(|i| ((i * 37) % 101) as f64 * 0.5).collect();
        let mut sorted = values.clone();
        sorted.sort_by(f64::total_cmp);
        assert_eq!(median(&mut values.clone()), Some(sorted[50]));
        values.pop();
        sorted = values.clone();
        sorted.sort_by(f64::total_cmp);
        assert_eq!(median(&mut values), Some((sorted[49] + sorted[50]) / 2.0));
        assert_eq!(median(&mut []), None);
        // midpoint does not overflow where (a + b) / 2 would
        assert_eq!(median(&mut [f64::MAX, f64::MAX]), Some(f64::MAX));
    }
}
