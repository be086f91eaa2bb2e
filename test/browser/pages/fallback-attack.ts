import { params, runScenario } from './runner.js'

/** Scenarios of test/browser/fallback/attacks.test.ts (`?b=fallback-attack&s=<name>`), run by a hostile origin. */
runScenario({
  /**
   * A page of the attacker's origin that the attacker navigated a portcullis
   * hidden frame to: it plants `?reply=` in the frame's window.name, then
   * sends the frame on to `?to=` (the caller's relay page), as a responder would.
   */
  forge() {
    window.name = params.get('reply') ?? ''
    location.replace(params.get('to') ?? 'about:blank')
  },

  /** A frame of the attacker's origin that calls `?callback=` on its parent with a forged reply. */
  callParent() {
    const name = params.get('callback') ?? ''
    let outcome: string
    try {
      ;(parent as unknown as Record<string, (data: unknown) => void>)[name]?.({ k: 'r', v: 666 })
      outcome = 'called'
    } catch (error) {
      outcome = (error as Error).name
    }
    Object.assign(globalThis, { outcome })
  },
})
