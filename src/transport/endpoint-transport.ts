import type { Endpoint, Receiver, Transport } from './transport.js'

const NO_PORTS: readonly MessagePort[] = []
const NO_TRANSFER: Transferable[] = []

/**
 * Talks over a `MessagePort`, a `Worker` or a worker's `self`. A port is a
 * capability: only its holder can post into it, so there is no origin to check.
 */
export class EndpointTransport implements Transport {
  readonly #endpoint: Endpoint
  readonly #ownsEndpoint: boolean
  readonly #carriesPorts: boolean
  #receiver: Receiver | undefined
  #closed = false
  readonly #onMessage = (event: MessageEvent): void => {
    // Reading `event.ports` allocates; the session port never carries any.
    this.#receiver?.(event.data, this.#carriesPorts ? (event.ports ?? NO_PORTS) : NO_PORTS)
  }

  constructor(endpoint: Endpoint, ownsEndpoint = false, carriesPorts = true) {
    this.#endpoint = endpoint
    this.#ownsEndpoint = ownsEndpoint
    this.#carriesPorts = carriesPorts
    endpoint.addEventListener('message', this.#onMessage)
    endpoint.start?.()
  }

  post(data: unknown, transfer?: Transferable[]): void {
    if (this.#closed) return
    // Most messages transfer nothing: share one empty list rather than allocate one each time.
    this.#endpoint.postMessage(data, transfer ?? NO_TRANSFER)
  }

  announce(data: unknown): void {
    this.post(data)
  }

  listen(receiver: Receiver): void {
    this.#receiver = receiver
  }

  close(): void {
    if (this.#closed) return
    this.#closed = true
    this.#receiver = undefined
    this.#endpoint.removeEventListener('message', this.#onMessage)
    if (this.#ownsEndpoint) this.#endpoint.close?.()
  }
}

/**
 * A new private channel: our end, ready as a session transport, and the other
 * end to transfer to the peer (in the handshake's ACK).
 */
export function openPrivateChannel(): { local: EndpointTransport; remote: MessagePort } {
  const { port1, port2 } = new MessageChannel()
  return { local: sessionTransport(port1), remote: port2 }
}

/** A session over a private port: it owns the port, and session messages never carry ports. */
export function sessionTransport(port: MessagePort): EndpointTransport {
  return new EndpointTransport(port, true, false)
}
