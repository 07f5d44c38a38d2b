/**
 * A clock tests move by hand, for modules that take a `Clock` (`{ now(): number }`): nothing
 * waits on the wall clock, and the module's own `tick()` is called after each `advance`.
 */
export class FakeClock {
  t: number;
  constructor(start: number = Date.parse('2030-01-01T00:00:00.000Z')) {
    this.t = start;
  }
  now(): number {
    return this.t;
  }
  advance(ms: number): void {
    this.t += ms;
  }
  /** This clock's time plus `offsetMs`, ISO: what a host whose clock is `offsetMs` off would write. */
  iso(offsetMs = 0): string {
    return new Date(this.t + offsetMs).toISOString();
  }
}
