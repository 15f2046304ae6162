// A WebSocket client for the dashboard tests: every message kept, and a promise per awaited one.
import WebSocket from 'ws';

export interface Msg { type: string; [k: string]: unknown }

export class Client {
  readonly messages: Msg[] = [];
  private waiters: { pred: (m: Msg) => boolean; resolve: (m: Msg) => void }[] = [];
  closed: Promise<{ code: number; reason: string }>;
  private nextId = 1;

  constructor(readonly ws: WebSocket) {
    ws.on('message', (data) => {
      const m = JSON.parse(String(data)) as Msg;
      this.messages.push(m);
      this.waiters = this.waiters.filter((w) => (w.pred(m) ? (w.resolve(m), false) : true));
    });
    this.closed = new Promise((r) => ws.on('close', (code, reason) => r({ code, reason: String(reason) })));
  }

  /** The next message (from now on) that satisfies `pred`. */
  next(pred: (m: Msg) => boolean): Promise<Msg> {
    return new Promise((resolve) => this.waiters.push({ pred, resolve }));
  }

  /** Send `m` (a raw string as is) and wait for the reply carrying its id (or, for raw strings, the next error). */
  ask(m: Record<string, unknown> | string): Promise<Msg> {
    if (typeof m === 'string') {
      const p = this.next((x) => x.type === 'error');
      this.ws.send(m);
      return p;
    }
    const id = this.nextId++;
    const p = this.next((x) => x.id === id);
    this.ws.send(JSON.stringify({ ...m, id }));
    return p;
  }

  close(): void { this.ws.close(); }
}

/** Connect to a dashboard's socket; resolves once its hello arrived. */
export function connect(pageUrl: string, options: WebSocket.ClientOptions = {}): Promise<Client> {
  const ws = new WebSocket(pageUrl.replace(/^http/, 'ws') + 'ws', options);
  const c = new Client(ws);
  return new Promise((resolve, reject) => {
    c.next((m) => m.type === 'hello').then(() => resolve(c), reject);
    ws.on('error', reject);
  });
}

/** Try to open the socket; resolves with the HTTP status of a refused upgrade, or 101 when it opened. */
export function upgradeStatus(pageUrl: string, options: WebSocket.ClientOptions): Promise<number> {
  const ws = new WebSocket(pageUrl.replace(/^http/, 'ws') + 'ws', options);
  return new Promise((resolve) => {
    ws.on('unexpected-response', (_req, res) => { resolve(res.statusCode ?? 0); ws.terminate(); });
    ws.on('open', () => { resolve(101); ws.close(); });
    ws.on('error', () => { /* after unexpected-response */ });
  });
}
