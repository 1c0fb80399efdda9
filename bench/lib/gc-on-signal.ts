/**
 * Preloaded into every process the benchmark starts (`--expose-gc --require`): SIGUSR2 runs a full
 * garbage collection, so memory per socket is measured on live objects, not on garbage that a
 * lazy collector has not reclaimed yet. Nothing in Parley itself listens for SIGUSR2.
 */
process.on('SIGUSR2', () => (globalThis as { gc?: () => void }).gc?.());
