// A FIFO with O(1) push, shift and unshift: the ready list of an in-memory queue.
// `Array.prototype.shift` is O(n) once an array outgrows V8's fast path, which turned
// a queue of 200,000 messages into the benchmark's hottest function.

export class MessageQueue<T> {
  #items: (T | undefined)[] = [];
  #head = 0;

  get length(): number {
    return this.#items.length - this.#head;
  }

  push(item: T): void {
    this.#items.push(item);
  }

  /** Puts an item back at the head (a requeue). */
  unshift(item: T): void {
    if (this.#head > 0) {
      this.#head -= 1;
      this.#items[this.#head] = item;
    } else {
      this.#items.unshift(item);
    }
  }

  shift(): T | undefined {
    if (this.#head >= this.#items.length) return undefined;
    const item = this.#items[this.#head];
    this.#items[this.#head] = undefined;
    this.#head += 1;
    // Compact once the consumed prefix dominates, so memory follows the live length.
    if (this.#head >= 1024 && this.#head * 2 >= this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
    return item;
  }

  /** The waiting items, oldest first (a copy). */
  toArray(): T[] {
    return this.#items.slice(this.#head) as T[];
  }

  /** Removes and returns every item. */
  clear(): T[] {
    const items = this.toArray();
    this.#items = [];
    this.#head = 0;
    return items;
  }
}
