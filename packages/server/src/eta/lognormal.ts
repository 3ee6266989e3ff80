/**
 * The little statistics the ETA needs: the standard normal distribution, recency-weighted
 * quantiles and a robust spread. Pure and allocation-light: durations are modelled as
 * log-normal (skewed, never negative), so everything works on logarithms.
 */

/** Standard normal CDF (Abramowitz & Stegun 7.1.26, error < 1.5e-7). */
export function normalCdf(z: number): number {
  const x = Math.abs(z) / Math.SQRT2;
  const t = 1 / (1 + 0.3275911 * x);
  const erf = 1 - ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * Math.exp(-x * x);
  return z >= 0 ? (1 + erf) / 2 : (1 - erf) / 2;
}

/** Inverse of the standard normal CDF (Acklam's rational approximation, relative error < 1.2e-9). */
export function normalQuantile(p: number): number {
  if (p <= 0) return -Infinity;
  if (p >= 1) return Infinity;
  const a = [-39.69683028665376, 220.9460984245205, -275.9285104469687, 138.357751867269, -30.66479806614716, 2.506628277459239];
  const b = [-54.47609879822406, 161.5858368580409, -155.6989798598866, 66.80131188771972, -13.28068155288572];
  const c = [-0.007784894002430293, -0.3223964580411365, -2.400758277161838, -2.549732539343734, 4.374664141464968, 2.938163982698783];
  const d = [0.007784695709041462, 0.3224671290700398, 2.445134137142996, 3.754408661907416];
  const lo = 0.02425;
  if (p < lo) {
    const q = Math.sqrt(-2 * Math.log(p));
    return (((((c[0]! * q + c[1]!) * q + c[2]!) * q + c[3]!) * q + c[4]!) * q + c[5]!) / ((((d[0]! * q + d[1]!) * q + d[2]!) * q + d[3]!) * q + 1);
  }
  if (p > 1 - lo) return -normalQuantile(1 - p);
  const q = p - 0.5;
  const r = q * q;
  return ((((((a[0]! * r + a[1]!) * r + a[2]!) * r + a[3]!) * r + a[4]!) * r + a[5]!) * q) / (((((b[0]! * r + b[1]!) * r + b[2]!) * r + b[3]!) * r + b[4]!) * r + 1);
}

/**
 * The `q` quantile of `values` where the i-th value weighs `weights[i]` (both unsorted).
 * Used with weights that halve every few runs, so a type that drifts is followed within a
 * handful of runs while a single outlier moves nothing.
 */
export function weightedQuantile(values: readonly number[], weights: readonly number[], q: number): number {
  const order = values.map((_, i) => i).sort((x, y) => values[x]! - values[y]!);
  let total = 0;
  for (const w of weights) total += w;
  let acc = 0;
  for (const i of order) {
    acc += weights[i]!;
    if (acc >= q * total) return values[i]!;
  }
  return values[order[order.length - 1]!]!;
}

/** Robust standard deviation: 1.4826 × the weighted median absolute deviation from `center`. */
export function robustSigma(values: readonly number[], weights: readonly number[], center: number): number {
  return 1.4826 * weightedQuantile(values.map((v) => Math.abs(v - center)), weights, 0.5);
}

/**
 * Spread from successive differences of `values` in time order: σ = median |x_i − x_{i+1}| /
 * (√2 · 0.6745). A level that drifts moves one difference, not the spread (the spread of all
 * runs around today's median would count a 30 % slowdown as noise), and an outlier moves two.
 */
export function successiveSigma(values: readonly number[]): number {
  if (values.length < 2) return 0;
  const d = new Float64Array(values.length - 1);
  for (let i = 1; i < values.length; i++) d[i - 1] = Math.abs(values[i]! - values[i - 1]!);
  d.sort();
  const m = d.length;
  const median = m % 2 ? d[(m - 1) / 2]! : (d[m / 2 - 1]! + d[m / 2]!) / 2;
  return median / (Math.SQRT2 * 0.6744897501960817);
}
