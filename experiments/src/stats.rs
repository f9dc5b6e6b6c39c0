//! Statistics for reporting over seeds, after rliable (Agarwal et al., 2021): the interquartile
//! mean and percentile confidence intervals from a stratified bootstrap.
//!
//! With one condition the strata are trivial (the seeds of that condition are resampled with
//! replacement); differences between two conditions resample each condition's seeds
//! independently. Resamples draw from a ChaCha stream of a fixed seed, so intervals are
//! reproducible.

use rand_core::Rng;
use sim_core::rng::StreamKey;

/// The interquartile mean: the mean of the values left after removing `floor(n / 4)` from each
/// end of the sorted sample (`scipy.stats.trim_mean(x, 0.25)`, as rliable computes it).
/// NaN values are ignored; `None` for an empty sample.
pub fn iqm(values: &[f64]) -> Option<f64> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| !x.is_nan()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let cut = v.len() / 4;
    let kept = &v[cut..v.len() - cut];
    Some(kept.iter().sum::<f64>() / kept.len() as f64)
}

/// The arithmetic mean, ignoring NaN; `None` for an empty sample.
pub fn mean(values: &[f64]) -> Option<f64> {
    let v: Vec<f64> = values.iter().copied().filter(|x| !x.is_nan()).collect();
    (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
}

/// A point estimate with a confidence interval.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Estimate {
    /// The statistic on the sample.
    pub point: f64,
    /// Lower bound of the interval.
    pub low: f64,
    /// Upper bound of the interval.
    pub high: f64,
}

impl Estimate {
    /// Whether the interval lies strictly above `x`.
    pub fn above(&self, x: f64) -> bool {
        self.low > x
    }

    /// Whether the interval lies strictly below `x`.
    pub fn below(&self, x: f64) -> bool {
        self.high < x
    }

    /// Whether the interval excludes zero.
    pub fn excludes_zero(&self) -> bool {
        self.above(0.0) || self.below(0.0)
    }

    /// `point [low, high]` with `digits` decimals.
    pub fn show(&self, digits: usize) -> String {
        format!("{:.d$} [{:.d$}, {:.d$}]", self.point, self.low, self.high, d = digits)
    }
}

/// How intervals are computed.
#[derive(Clone, Copy, Debug)]
pub struct Bootstrap {
    /// Bootstrap resamples.
    pub resamples: usize,
    /// Confidence level, e.g. 0.95.
    pub confidence: f64,
    /// Seed of the resampling stream.
    pub seed: u64,
}

impl Default for Bootstrap {
    fn default() -> Self {
        Bootstrap { resamples: 2000, confidence: 0.95, seed: 0 }
    }
}

impl Bootstrap {
    /// `statistic` of the strata (each stratum resampled with replacement, independently),
    /// with a percentile interval. `None` when a stratum is empty.
    pub fn stratified(&self, strata: &[&[f64]], statistic: impl Fn(&[f64]) -> Option<f64>) -> Option<Estimate> {
        let clean: Vec<Vec<f64>> = strata.iter().map(|s| s.iter().copied().filter(|x| !x.is_nan()).collect()).collect();
        if clean.iter().any(Vec::is_empty) {
            return None;
        }
        let pooled: Vec<f64> = clean.iter().flatten().copied().collect();
        let point = statistic(&pooled)?;
        let mut rng = StreamKey::derive(self.seed, 0x5747, strata.len() as u64).chacha();
        let mut stats = Vec::with_capacity(self.resamples);
        let mut sample = Vec::with_capacity(pooled.len());
        for _ in 0..self.resamples {
            sample.clear();
            for s in &clean {
                for _ in 0..s.len() {
                    sample.push(s[below(&mut rng, s.len())]);
                }
            }
            if let Some(v) = statistic(&sample) {
                stats.push(v);
            }
        }
        let (low, high) = percentiles(&mut stats, self.confidence);
        Some(Estimate { point, low, high })
    }

    /// The IQM of one condition's per-seed values, with its interval.
    pub fn iqm(&self, values: &[f64]) -> Option<Estimate> {
        self.stratified(&[values], iqm)
    }

    /// `statistic(a) - statistic(b)` with an interval from resampling each sample
    /// independently.
    pub fn difference(&self, a: &[f64], b: &[f64], statistic: impl Fn(&[f64]) -> Option<f64>) -> Option<Estimate> {
        let a: Vec<f64> = a.iter().copied().filter(|x| !x.is_nan()).collect();
        let b: Vec<f64> = b.iter().copied().filter(|x| !x.is_nan()).collect();
        if a.is_empty() || b.is_empty() {
            return None;
        }
        let point = statistic(&a)? - statistic(&b)?;
        let mut rng = StreamKey::derive(self.seed, 0xd1ff, (a.len() * 1000 + b.len()) as u64).chacha();
        let mut stats = Vec::with_capacity(self.resamples);
        let (mut ra, mut rb) = (Vec::with_capacity(a.len()), Vec::with_capacity(b.len()));
        for _ in 0..self.resamples {
            ra.clear();
            rb.clear();
            ra.extend((0..a.len()).map(|_| a[below(&mut rng, a.len())]));
            rb.extend((0..b.len()).map(|_| b[below(&mut rng, b.len())]));
            if let (Some(x), Some(y)) = (statistic(&ra), statistic(&rb)) {
                stats.push(x - y);
            }
        }
        let (low, high) = percentiles(&mut stats, self.confidence);
        Some(Estimate { point, low, high })
    }
}

fn below(rng: &mut impl Rng, n: usize) -> usize {
    (((rng.next_u64() >> 11) as u128 * n as u128) >> 53) as usize
}

/// The `(1 - c) / 2` and `(1 + c) / 2` quantiles (linear interpolation, as numpy's default).
fn percentiles(values: &mut [f64], confidence: f64) -> (f64, f64) {
    if values.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    values.sort_by(f64::total_cmp);
    let q = |p: f64| {
        let pos = p * (values.len() - 1) as f64;
        let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
        values[lo] + (values[hi] - values[lo]) * (pos - lo as f64)
    };
    (q((1.0 - confidence) / 2.0), q((1.0 + confidence) / 2.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iqm_matches_scipy_trim_mean() {
        // scipy.stats.trim_mean(x, 0.25) for each x:
        assert_eq!(iqm(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]), Some(4.5)); // mean of 3..6
        assert_eq!(iqm(&[10.0, 0.0, 1.0, 2.0]), Some(1.5)); // sorted 0 1 2 10: mean of 1, 2
        assert_eq!(iqm(&[3.0, 100.0, -50.0]), Some(53.0 / 3.0)); // n = 3: nothing trimmed
        let x = [0.9, 0.1, 0.5, 0.7, 0.3, 100.0, -100.0, 0.2, 0.4];
        // n = 9: trim 2 from each end: mean of 0.2 0.3 0.4 0.5 0.7 = 0.42
        assert!((iqm(&x).unwrap() - 0.42).abs() < 1e-12);
        assert_eq!(iqm(&[]), None);
        assert_eq!(iqm(&[f64::NAN, 2.0]), Some(2.0));
    }

    #[test]
    fn constant_samples_have_degenerate_intervals() {
        let b = Bootstrap::default();
        let e = b.iqm(&[0.7; 5]).unwrap();
        for v in [e.point, e.low, e.high] {
            assert!((v - 0.7).abs() < 1e-12, "{e:?}");
        }
        let d = b.difference(&[1.0; 4], &[0.25; 3], mean).unwrap();
        assert_eq!((d.point, d.low, d.high), (0.75, 0.75, 0.75));
        assert!(d.excludes_zero());
    }

    /// Over many samples from N(0, 1), the 95% interval of the mean covers 0 about 95% of the
    /// time (the percentile bootstrap undercovers a little at n = 30).
    #[test]
    fn intervals_have_nominal_coverage() {
        let b = Bootstrap { resamples: 500, ..Bootstrap::default() };
        let mut rng = StreamKey([9, 9]).chacha();
        let mut normal = || {
            let u1 = ((rng.next_u64() >> 11) as f64 + 1.0) / (1u64 << 53) as f64;
            let u2 = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
            (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
        };
        let trials = 300;
        let covered = (0..trials)
            .filter(|_| {
                let x: Vec<f64> = (0..30).map(|_| normal()).collect();
                let e = b.stratified(&[&x], mean).unwrap();
                e.low <= 0.0 && 0.0 <= e.high
            })
            .count();
        let rate = covered as f64 / trials as f64;
        assert!((0.88..=0.99).contains(&rate), "coverage {rate}");
    }

    #[test]
    fn differences_detect_a_real_shift_and_not_a_null_one() {
        let b = Bootstrap::default();
        let a = [0.9, 0.85, 0.95, 0.92, 0.88];
        let c = [0.2, 0.25, 0.15, 0.3, 0.22];
        assert!(b.difference(&a, &c, iqm).unwrap().above(0.5));
        let d = b.difference(&a, &[0.91, 0.87, 0.93, 0.9, 0.86], iqm).unwrap();
        assert!(!d.excludes_zero(), "{d:?}");
    }
}
