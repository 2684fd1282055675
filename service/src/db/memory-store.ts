// The embedded store used when MYSQL_URL is unset: bounded, column-packed rows in memory, behind the same Store
// interface. When full it refuses writes (resource_exhausted) rather than dropping accepted rows.
import type { PageviewRow, Store } from './store';
import { StoreError } from './store';

const INITIAL_ROWS = 1024;

export class MemoryStore implements Store {
  readonly kind = 'memory' as const;
  private length = 0;
  private sections = new Uint32Array(INITIAL_ROWS);
  private ids = new Uint32Array(INITIAL_ROWS);
  private stamps = new Float64Array(INITIAL_ROWS);
  private propertyRefs = new Uint32Array(INITIAL_ROWS);
  private ipRefs = new Uint32Array(INITIAL_ROWS);
  // Interned strings: few distinct properties and client addresses, many rows.
  private readonly strings: string[] = [];
  private readonly stringIndex = new Map<string, number>();
  /** Idempotency keys stored, with their row (the unique key column of the MySQL table). */
  private readonly keys = new Map<string, number>();
  private closed = false;

  constructor(readonly capacity: number) {}

  get size(): number {
    return this.length;
  }

  async migrate(): Promise<void> {}

  poolStats(): undefined {
    return undefined;
  }

  async insertBatch(rows: readonly PageviewRow[]): Promise<void> {
    if (this.closed) throw new StoreError('unavailable', 'STORE_CLOSED', 'store is closed');
    // As the MySQL table's unique key with ON DUPLICATE KEY UPDATE: a row whose key is stored, or came earlier in the
    // same batch, adds nothing and fails nothing. Counted first, so a batch is refused whole or stored whole.
    let fresh = 0;
    let seen: Set<string> | undefined;
    for (const r of rows) {
      const k = r.idempotencyKey;
      if (k === undefined) fresh++;
      else if (!this.keys.has(k) && !(seen ??= new Set()).has(k)) {
        seen!.add(k);
        fresh++;
      }
    }
    if (this.length + fresh > this.capacity) {
      throw new StoreError(
        'resource_exhausted',
        'MEMORY_STORE_FULL',
        `embedded store is full (${this.capacity} rows); set MYSQL_URL or MEMORY_STORE_CAPACITY`,
      );
    }
    this.ensure(this.length + fresh);
    for (const r of rows) {
      const k = r.idempotencyKey;
      if (k !== undefined) {
        if (this.keys.has(k)) continue;
        this.keys.set(k, this.length);
      }
      const i = this.length++;
      this.sections[i] = r.section;
      this.ids[i] = r.id;
      this.stamps[i] = r.stampMs;
      this.propertyRefs[i] = this.intern(r.property);
      this.ipRefs[i] = this.intern(r.remoteIp);
    }
  }

  async checkWritable(signal?: AbortSignal): Promise<void> {
    signal?.throwIfAborted();
    if (this.closed) throw new StoreError('unavailable', 'STORE_CLOSED', 'store is closed');
    if (this.length >= this.capacity) {
      throw new StoreError('resource_exhausted', 'MEMORY_STORE_FULL', `embedded store is full (${this.capacity} rows)`);
    }
  }

  /** The row stored with idempotency key `key`, if any. */
  rowIndexOfKey(key: string): number | undefined {
    return this.keys.get(key);
  }

  /** Row `i` (0-based, insertion order), for tests and inspection. */
  row(i: number): PageviewRow | undefined {
    if (i < 0 || i >= this.length) return undefined;
    return {
      property: this.strings[this.propertyRefs[i]!]!,
      section: this.sections[i]!,
      id: this.ids[i]!,
      remoteIp: this.strings[this.ipRefs[i]!]!,
      stampMs: this.stamps[i]!,
    };
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  private intern(s: string): number {
    let ref = this.stringIndex.get(s);
    if (ref === undefined) {
      ref = this.strings.length;
      this.strings.push(s);
      this.stringIndex.set(s, ref);
    }
    return ref;
  }

  private ensure(rows: number): void {
    if (rows <= this.sections.length) return;
    let n = this.sections.length;
    while (n < rows) n *= 2;
    n = Math.min(n, this.capacity);
    const grow = <T extends Uint32Array | Float64Array>(a: T, make: (n: number) => T): T => {
      const b = make(n);
      b.set(a);
      return b;
    };
    this.sections = grow(this.sections, (k) => new Uint32Array(k));
    this.ids = grow(this.ids, (k) => new Uint32Array(k));
    this.stamps = grow(this.stamps, (k) => new Float64Array(k));
    this.propertyRefs = grow(this.propertyRefs, (k) => new Uint32Array(k));
    this.ipRefs = grow(this.ipRefs, (k) => new Uint32Array(k));
  }
}
