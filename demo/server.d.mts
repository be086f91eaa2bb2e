/** Types of demo/server.mjs, for the browser test that imports it. */
export interface DemoServer {
  /** The URLs actually bound: the shop page (open this one), the widget, the attacker frame. */
  readonly urls: { readonly host: string; readonly widget: string; readonly attacker: string }
  close(): Promise<void>
}

export const DEFAULT_PORTS: readonly number[]

/** Builds the bundles and starts the three servers; a port of 0 picks a free one. */
export function startDemo(options?: {
  ports?: readonly number[]
  warn?: (message: string) => void
}): Promise<DemoServer>

export function portsFromEnv(env?: Record<string, string | undefined>): number[]
