// Small DOM helpers shared by the demo pages (no framework).

/** The origins the demo server bound, written into each page's `<html data-*>`. */
export interface DemoConfig {
  readonly host: string
  readonly widget: string
  readonly attacker: string
}

export function readConfig(): DemoConfig {
  const { host = '', widget = '', attacker = '' } = document.documentElement.dataset
  return { host, widget, attacker }
}

export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const element = document.getElementById(id)
  if (element === null) throw new Error(`#${id} is missing from the page`)
  return element as T
}

type Child = Node | string | number | null | undefined | false

/** Creates an element: `h('li', { class: 'ok' }, 'text', child)`. */
export function h(tag: string, attrs: Record<string, string> = {}, ...children: Child[]): HTMLElement {
  const element = document.createElement(tag)
  for (const [name, value] of Object.entries(attrs)) element.setAttribute(name, value)
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue
    element.append(typeof child === 'object' ? child : String(child))
  }
  return element
}

export function onClick(id: string, handler: () => unknown): void {
  byId(id).addEventListener('click', () => {
    void handler()
  })
}

export const euros = (amount: number): string => `€${amount.toFixed(2)}`
