import { expect } from 'chai';
import { createEventBus } from '../../src/core/event-bus.js';

interface Events {
  ping: { n: number };
  pong: { n: number };
}

describe('EventBus', () => {
  it('delivers to listeners of the kind and to any-listeners, in registration order', () => {
    const bus = createEventBus<Events>();
    const seen: string[] = [];
    bus.on('ping', (p) => seen.push(`on ${p.n}`));
    bus.onAny((kind, p) => seen.push(`any ${String(kind)} ${p.n}`));
    bus.emit('ping', { n: 1 });
    bus.emit('pong', { n: 2 });
    expect(seen).to.deep.equal(['on 1', 'any ping 1', 'any pong 2']);
  });

  it('says whether an emit would reach anyone, so payloads can be skipped', () => {
    const bus = createEventBus<Events>();
    expect(bus.wants('ping')).to.equal(false);
    const off = bus.on('ping', () => {});
    expect(bus.wants('ping')).to.equal(true);
    expect(bus.wants('pong')).to.equal(false);
    off();
    expect(bus.wants('ping')).to.equal(false);
    const offAny = bus.onAny(() => {});
    expect(bus.wants('pong')).to.equal(true);
    offAny();
    expect(bus.wants('pong')).to.equal(false);
  });

  it('a throwing listener does not stop the others', () => {
    const errors: unknown[] = [];
    const bus = createEventBus<Events>({ onError: (e) => errors.push(e) });
    const seen: number[] = [];
    bus.on('ping', () => {
      throw new Error('boom');
    });
    bus.on('ping', (p) => seen.push(p.n));
    bus.emit('ping', { n: 7 });
    expect(seen).to.deep.equal([7]);
    expect(errors).to.have.length(1);
  });
});
