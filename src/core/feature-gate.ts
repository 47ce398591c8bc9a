/**
 * Percentage rollout of features (issue #2, STYLE.md: Unleash-style buckets).
 *
 * A user is inside a feature when it is a beta user of it, or when the
 * stable bucket of `feature:user` (0..9999, from a 32-bit hash) is below
 * `percent × 100`. Buckets do not move, so a user inside at p% stays inside
 * at every p' > p, and about p% of users are inside.
 */

/** Initial state of one feature. */
export interface FeatureSetting {
  /** Rollout percentage, 0-100 (fractions allowed). */
  percent: number;
  /** Users always inside, whatever the percentage. */
  beta?: Iterable<string>;
}

/** murmur3's 32-bit finaliser over an FNV-1a hash of the UTF-16 units: cheap, stable, well spread. */
function hash32(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * The stable bucket of (feature, user): an integer 0..9999.
 * Exported for tests and for operators who want to predict a rollout.
 */
export function rolloutBucket(feature: string, user: string): number {
  return hash32(`${feature}:${user}`) % 10_000;
}

/** Per-feature rollout percentages and beta users, changeable at runtime. */
export class FeatureGate {
  private readonly percents = new Map<string, number>();
  private readonly betas = new Map<string, Set<string>>();
  private readonly nonCritical = new Set<string>();
  private shedding = false;

  /** @param features feature name → setting (from config `feature_<name>_pct` / `_beta`) */
  constructor(features: Record<string, FeatureSetting> = {}) {
    for (const [name, s] of Object.entries(features)) {
      this.setPercent(name, s.percent);
      for (const u of s.beta ?? []) this.addBetaUser(name, u);
    }
  }

  /**
   * True when `user` is inside `feature`. A feature the gate does not know
   * is open (gating is opt-in). While shedding load, non-critical features
   * are closed for everyone, beta users included.
   */
  isEnabled(feature: string, user: string): boolean {
    if (this.shedding && this.nonCritical.has(feature)) return false;
    const pct = this.percents.get(feature);
    if (pct === undefined || pct >= 100) return true;
    if (this.betas.get(feature)?.has(user)) return true;
    return rolloutBucket(feature, user) < pct * 100;
  }

  /**
   * Sets the rollout percentage at runtime.
   * @param percent 0-100
   * @throws RangeError outside 0-100 or not a number
   */
  setPercent(feature: string, percent: number): void {
    if (!(percent >= 0 && percent <= 100)) throw new RangeError(`percent for ${feature} must be 0-100, got ${percent}`);
    this.percents.set(feature, percent);
  }

  /** The feature's percentage, or undefined when it is not gated. */
  percent(feature: string): number | undefined {
    return this.percents.get(feature);
  }

  /** Marks `feature` as one to close while the server is overloaded (e.g. `voice`, `presence`). */
  markNonCritical(feature: string): void {
    this.nonCritical.add(feature);
  }

  /** Features closed while shedding. */
  nonCriticalFeatures(): string[] {
    return [...this.nonCritical];
  }

  /**
   * Closes (true) or reopens (false) every non-critical feature at once;
   * driven by the overload detector (src/services/perf-monitor/overload.ts).
   */
  setShedding(on: boolean): void {
    this.shedding = on;
  }

  /** True while non-critical features are closed for load. */
  get isShedding(): boolean {
    return this.shedding;
  }

  /** Puts `user` inside `feature` regardless of the percentage. */
  addBetaUser(feature: string, user: string): void {
    let set = this.betas.get(feature);
    if (!set) this.betas.set(feature, (set = new Set()));
    set.add(user);
  }

  /** Takes `user` out of the beta set (the percentage decides again). */
  removeBetaUser(feature: string, user: string): void {
    this.betas.get(feature)?.delete(user);
  }
}
