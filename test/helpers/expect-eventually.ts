/**
 * Retries `assertion` until it stops throwing or `timeoutMs` passes, then rethrows its last error.
 * For effects that land asynchronously (a published event, a closed socket, a health flip).
 */
export async function expectEventually<T>(assertion: () => T | Promise<T>, { timeoutMs = 5_000, intervalMs = 25 } = {}): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await assertion();
    } catch (error) {
      if (Date.now() >= deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, intervalMs));
    }
  }
}
