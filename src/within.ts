/** Resolves `work` or rejects after `ms` (with `timeoutError()`): for waits that must end even when what they wait on hangs. */
export async function withinMs<T>(ms: number, work: Promise<T>, timeoutError: () => Error = () => new Error(`no answer within ${ms} ms`)): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      work,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          reject(timeoutError());
        }, ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
