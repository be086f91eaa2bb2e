import { spawn } from 'node:child_process'
import { once } from 'node:events'
import type { TestProject } from 'vitest/node'

declare module 'vitest' {
  export interface ProvidedContext {
    /** The X display (`:N`) that WebKit's MiniBrowser runs on. */
    display: string
  }
}

export const XVFB = process.env.XVFB_PATH ?? '/usr/bin/Xvfb'

/**
 * Global setup of the webkit project: MiniBrowser has no headless mode, so
 * start one Xvfb for the run. `-displayfd` lets Xvfb pick a free display
 * number (another run may hold :99) and tell us which once it is ready.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const xvfb = spawn(XVFB, ['-displayfd', '3', '-nolisten', 'tcp', '-screen', '0', '1280x1024x24'], {
    stdio: ['ignore', 'ignore', 'pipe', 'pipe'],
  })
  let stderr = ''
  xvfb.stderr?.on('data', (chunk) => (stderr += chunk))
  const fd = xvfb.stdio[3] as NodeJS.ReadableStream
  let number = ''
  const ready = new Promise<string>((resolve, reject) => {
    fd.on('data', (chunk) => {
      number += chunk
      if (number.includes('\n')) resolve(number.trim())
    })
    xvfb.on('exit', (code) => reject(new Error(`Xvfb exited with ${code}: ${stderr}`)))
    xvfb.on('error', reject)
  })
  const display = `:${await ready}`
  project.provide('display', display)
  return async () => {
    if (xvfb.exitCode !== null || xvfb.signalCode !== null) return
    const exited = once(xvfb, 'exit')
    xvfb.kill()
    await exited
  }
}
