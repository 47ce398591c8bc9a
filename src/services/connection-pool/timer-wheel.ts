import type { KeyedStore } from '../sharded-map/contract.js';
import { AddressCounter } from './address-counter.js';
import type { ConnectionPool, Pooled } from './contract.js';

/** Width of one wheel slot, ms (a quarter of the server's longest sweep period). */
export const DEFAULT_SLOT_MS = 250;
/** Slots in the wheel (a power of two); with DEFAULT_SLOT_MS it spans 256 s. */
export const DEFAULT_SLOTS = 1024;

/** `WheelNode.k` of a connection in no slot: yielded and not scheduled again (the least small integer). */
const UNSCHEDULED = -0x40000000;
/** `WheelNode.k` of a connection taken out by `due` and not yet yielded. */
const TAKEN = UNSCHEDULED + 1;

/**
 * A connection's entry in the pool's store and its place in the wheel: a
 * doubly-linked list per slot, with a sentinel node (conn null) as its head,
 * so linking and unlinking are a few pointer writes — no hashing, no
 * allocation — whatever list a node is in.
 */
export class WheelNode<C> {
  prev: WheelNode<C> = this;
  next: WheelNode<C> = this;
  /** Slot number (floor(ms / slotMs) - the pool's epoch: a small integer, not a boxed double), or UNSCHEDULED / TAKEN. */
  k = UNSCHEDULED;
  constructor(readonly conn: C | null) {}
}

function unlink<C>(n: WheelNode<C>): void {
  n.prev.next = n.next;
  n.next.prev = n.prev;
  n.prev = n.next = n;
}

/** Appends `n` (unlinked) to the list of `head`. */
function link<C>(head: WheelNode<C>, n: WheelNode<C>): void {
  n.prev = head.prev;
  n.next = head;
  head.prev.next = n;
  head.prev = n;
}

/** Moves every node of `from`'s list to the end of `to`'s, O(1). */
function splice<C>(to: WheelNode<C>, from: WheelNode<C>): void {
  if (from.next === from) return;
  const first = from.next, last = from.prev;
  first.prev = to.prev;
  to.prev.next = first;
  last.next = to;
  to.prev = last;
  from.next = from.prev = from;
}

/**
 * What `due` returns: pops the taken list one node at a time, so `schedule`
 * and `remove` of connections further down it (they unlink themselves) are
 * seen, and nothing comes up twice. One instance per pool, one result object:
 * a sweep allocates nothing.
 */
class TakenIterator<C> implements Iterator<C>, Iterable<C> {
  private readonly result: { value: C; done: boolean } = { value: undefined as C, done: false };
  constructor(private readonly taken: WheelNode<C>) {}
  [Symbol.iterator](): Iterator<C> {
    return this;
  }
  next(): IteratorResult<C> {
    const n = this.taken.next;
    const r = this.result;
    if (n === this.taken) {
      r.value = undefined as C;
      r.done = true;
    } else {
      unlink(n);
      n.k = UNSCHEDULED;
      r.value = n.conn!;
      r.done = false;
    }
    return r as IteratorResult<C>;
  }
}

/** `values()`: the connections of the store's nodes. */
class ConnValues<C> implements IterableIterator<C> {
  constructor(private readonly nodes: Iterator<WheelNode<C>>) {}
  [Symbol.iterator](): IterableIterator<C> {
    return this;
  }
  next(): IteratorResult<C> {
    const r = this.nodes.next();
    return r.done === true ? { value: undefined, done: true } : { value: r.value.conn!, done: false };
  }
}

/**
 * Hashed timing wheel (Varghese & Lauck) as a connection pool: each held
 * connection sits in the slot of its next check time, so a sweep costs
 * O(connections due) — plus those of the current slot not quite due yet —
 * instead of O(all connections). Same registry guarantees as the baseline;
 * the keyed store holds each connection's wheel node (the connection and its
 * two links), so one entry per connection serves as registry and wheel.
 *
 * Lazy by design: inbound bytes move a connection's deadlines later, so the
 * core does not touch the wheel for them; when a slot comes up, the core
 * re-checks each of its connections against the real deadlines and
 * schedules it again. Only an event that brings a deadline forward (a frame
 * left unfinished at the end of a chunk: frame_deadline_ms; a `gap` to send)
 * schedules it sooner.
 *
 * Times: slot k holds connections due in [k·slotMs, (k+1)·slotMs). `due(now)`
 * takes out every slot from the one of the previous call (again: it may have
 * been filled since, with connections not due then) up to the one of `now`,
 * at most the whole wheel. A request earlier than that current slot goes into
 * it; one past the wheel's span (slots × slotMs) goes into its last slot and
 * comes up early, to be scheduled again. A clock step backwards takes out the
 * whole wheel once, so every connection is re-checked on the new clock.
 */
export class TimerWheelPool<C extends Pooled> implements ConnectionPool<C> {
  private readonly perAddress: AddressCounter;
  /** Sentinel of each slot's list, by (slot number & mask). */
  private readonly slots: WheelNode<C>[];
  private readonly mask: number;
  /** Sentinel of the connections `due` took out and has not yielded yet. */
  private readonly taken = new WheelNode<C>(null);
  private readonly iterator = new TakenIterator<C>(this.taken);
  /** floor(startMs / slotMs): slot numbers count from it, so they stay small integers. */
  private readonly epoch: number;
  /** Slot number of the latest `due` call: the current slot. */
  private cursor = 0;

  /**
   * @param capacity most connections (config `max_connections`)
   * @param store an empty keyed store, the pool's own (from the sharded-map service): id → node
   * @param perAddressCapacity most connections from one address (config `max_connections_per_ip`)
   * @param slotMs width of a slot, ms (integer ≥ 1); at most the sweep period keeps early yields few
   * @param slots slots in the wheel, a power of two ≥ 2
   * @param startMs the clock now, ms (tests pass their own)
   * @throws RangeError on a bad `slotMs` or `slots`
   */
  constructor(
    readonly capacity: number,
    private readonly store: KeyedStore<number, WheelNode<C>>,
    readonly perAddressCapacity: number = capacity,
    readonly slotMs: number = DEFAULT_SLOT_MS,
    slots: number = DEFAULT_SLOTS,
    startMs: number = Date.now(),
  ) {
    this.perAddress = new AddressCounter(perAddressCapacity);
    if (!Number.isInteger(slotMs) || slotMs < 1) throw new RangeError(`slotMs must be an integer >= 1, got ${slotMs}`);
    if (!Number.isInteger(slots) || slots < 2 || (slots & (slots - 1)) !== 0) throw new RangeError(`slots must be a power of two >= 2, got ${slots}`);
    this.slots = Array.from({ length: slots }, () => new WheelNode<C>(null));
    this.mask = slots - 1;
    this.epoch = Math.floor(startMs / slotMs);
  }

  get size(): number {
    return this.store.size;
  }

  add(conn: C): boolean {
    if (this.store.size >= this.capacity || this.store.has(conn.id)) return false;
    if (!this.perAddress.acquire(conn.remoteAddress)) return false;
    const node = new WheelNode<C>(conn);
    this.store.set(conn.id, node);
    // Due at once: the next sweep looks at it.
    node.k = this.cursor;
    link(this.slots[this.cursor & this.mask]!, node);
    return true;
  }

  remove(conn: C): boolean {
    const node = this.store.get(conn.id);
    if (node === undefined) return false;
    this.store.delete(conn.id);
    unlink(node);
    this.perAddress.release(conn.remoteAddress);
    return true;
  }

  get(id: number): C | undefined {
    return this.store.get(id)?.conn ?? undefined;
  }

  countFor(address: string): number {
    return this.perAddress.count(address);
  }

  values(): IterableIterator<C> {
    return new ConnValues(this.store.values());
  }

  due(now: number): Iterable<C> {
    const from = this.cursor;
    const to = Math.floor(now / this.slotMs) - this.epoch;
    let n: number;
    if (to >= from) {
      n = Math.min(to - from + 1, this.mask + 1);
      this.cursor = to;
    } else {
      // Backwards (a clock step), or NaN: every slot is out of place; re-check all.
      n = this.mask + 1;
      if (to === to) this.cursor = to;
    }
    // Nodes still taken by an earlier call that was not iterated to the end come up first.
    for (let i = 0; i < n; i++) {
      const head = this.slots[(from + i) & this.mask]!;
      // Marked: scheduling one before it is yielded leaves it here (it comes up now: soon enough).
      for (let p = head.next; p !== head; p = p.next) p.k = TAKEN;
      splice(this.taken, head);
    }
    return this.iterator;
  }

  schedule(conn: C, atMs: number): void {
    const node = this.store.get(conn.id);
    if (node === undefined || node.conn !== conn || node.k === TAKEN) return; // taken: it comes up in this sweep
    let k = Math.floor(atMs / this.slotMs) - this.epoch;
    if (!(k >= this.cursor)) k = this.cursor; // the past, or NaN: the next call
    else if (k > this.cursor + this.mask) k = this.cursor + this.mask; // past the span: early, then again
    if (node.k !== UNSCHEDULED && node.k <= k) return; // a sooner request stands
    unlink(node);
    node.k = k;
    link(this.slots[k & this.mask]!, node);
  }

  /** Connections waiting in the wheel (held and scheduled, or added and not yet yielded). */
  get scheduled(): number {
    let n = 0;
    for (const head of [...this.slots, this.taken]) for (let p = head.next; p !== head; p = p.next) n++;
    return n;
  }
}
