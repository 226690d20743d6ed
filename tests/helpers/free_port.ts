/** A TCP port on 127.0.0.1 that was free a moment ago (the OS picked it). */
export function freePort(): Promise<number> {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return Promise.resolve(port);
}

/**
 * A base port whose next `count - 1` ports are free too, for a process that numbers its ports
 * from a base (bounded number of tries; another process may still take one before it is used).
 */
export function freePortRun(count: number): number {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 20_000 + Math.floor(Math.random() * 40_000);
    const held: Deno.Listener[] = [];
    try {
      for (let i = 0; i < count; i++) {
        held.push(Deno.listen({ hostname: "0.0.0.0", port: base + i }));
      }
      return base;
    } catch {
      // taken; try another
    } finally {
      for (const listener of held) listener.close();
    }
  }
  throw new Error(`No run of ${count} free ports found`);
}
