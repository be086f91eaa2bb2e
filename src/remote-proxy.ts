import type { Contract, RemoteProxy } from './contract.js'
import type { CallOptions } from './rpc/caller.js'
import { peekTransfer } from './rpc/transfer.js'

/** Starts one call: the connection supplies it. */
export type Invoke = (
  method: string,
  args: unknown[],
  options: CallOptions | undefined,
  transfer: Transferable[] | undefined,
) => Promise<unknown>

function collectTransfer(args: unknown[], options: CallOptions | undefined): Transferable[] | undefined {
  let list: Transferable[] | undefined
  for (const arg of args) {
    if (typeof arg === 'object' && arg !== null) {
      list ??= []
      peekTransfer(arg, list)
    }
  }
  if (options?.transfer) (list ??= []).push(...options.transfer)
  return list === undefined || list.length === 0 ? undefined : list
}

/**
 * Builds the typed proxy: a frozen null-prototype object with one function
 * per declared method (no `Proxy`, so there is no trap to slow a call and no
 * way to reach an undeclared name).
 */
export function createRemoteProxy<C extends Contract>(contract: C, invoke: Invoke): RemoteProxy<C> {
  const proxy: Record<string, unknown> = Object.create(null)
  for (const method of Object.keys(contract.methods)) {
    const call =
      (options: CallOptions | undefined) =>
      (...args: unknown[]) =>
        invoke(method, args, options, collectTransfer(args, options))
    const direct = call(undefined) as ((...args: unknown[]) => Promise<unknown>) & { with?: unknown }
    direct.with = (options: CallOptions, ...rest: unknown[]) => {
      // Plain JavaScript: `add.with(options, 1, 2)` would return a function and call nothing.
      if (rest.length > 0) throw new TypeError(`${method}.with(options) takes the options alone: call what it returns`)
      return call(options)
    }
    proxy[method] = Object.freeze(direct)
  }
  return Object.freeze(proxy) as RemoteProxy<C>
}
