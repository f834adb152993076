// Shared by the tests: a deterministic PRNG (mulberry32), so that failures reproduce.

/**
 * @param {number} seed
 * @returns {() => number} uniform numbers in [0, 1)
 */
export function rng(seed) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
