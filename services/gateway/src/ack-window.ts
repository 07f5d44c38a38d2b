/** One event's place in the window; the ingest's waiting event is its own slot. */
export interface Slot {
  readonly seq: number;
  done: boolean;
}

/**
 * Computes the `ack` of one connection: the highest seq N such that every event this
 * connection received with seq ≤ N is durable in JetStream or was rejected. Publishes are
 * pipelined and their acks come back in any order, so completions are parked until every
 * earlier event is settled too. Events arrive in seq order (the agent sends its spool in order).
 */
export class AckWindow {
  readonly #slots: Slot[] = [];
  /** Index of the first unsettled slot; the array is compacted now and then, not on every ack. */
  #head = 0;
  #acked = -1;

  /** Registers an event about to be published; settle it later with the returned slot. */
  open(seq: number): Slot {
    return this.track({ seq, done: false });
  }

  /** Registers a slot made by the caller (an accepted event's own record, no second object). */
  track<S extends Slot>(slot: S): S {
    this.#slots.push(slot);
    return slot;
  }

  /** Marks a slot settled (stored, duplicate or rejected); true when the ack moved forward. */
  settle(slot: Slot): boolean {
    slot.done = true;
    let moved = false;
    while (this.#head < this.#slots.length && this.#slots[this.#head]!.done) {
      const seq = this.#slots[this.#head]!.seq;
      if (seq > this.#acked) {
        this.#acked = seq;
        moved = true;
      }
      this.#head++;
    }
    if (this.#head === this.#slots.length) {
      // Everything settled (the usual state between frames): drop the settled slots now. Kept until
      // 1,024 had piled up, they were most of a loaded connection's memory (~40 B per event, #13).
      this.#slots.length = 0;
      this.#head = 0;
    } else if (this.#head > 1024 && this.#head * 2 > this.#slots.length) {
      this.#slots.splice(0, this.#head);
      this.#head = 0;
    }
    return moved;
  }

  /** The seq to put in the next `ack` frame, or -1 before anything settled. */
  get acked(): number {
    return this.#acked;
  }

  /** Events received and not yet settled. */
  get pending(): number {
    return this.#slots.length - this.#head;
  }
}
