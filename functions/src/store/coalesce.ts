/**
 * Request coalescing for hot reads (the config, an API key): concurrent callers share reads instead
 * of each making its own round trip, as a Cloud Functions (2nd gen) instance serving many requests
 * at once would otherwise read the same document once per request.
 *
 * A caller never gets a read that started before it asked: one that arrives while a read is in
 * flight waits for the next read, which starts when that one settles and is shared by everyone who
 * arrived meanwhile. So every answer is a read made after the call, as an uncoalesced read would be
 * (no staleness is added), and at most two reads per key are outstanding however many callers wait.
 */
export function coalesceByKey<K, V>(read: (key: K) => Promise<V>): (key: K) => Promise<V> {
  const states = new Map<K, { current?: Promise<V>; queued?: Promise<V> }>();

  function start(key: K, state: { current?: Promise<V>; queued?: Promise<V> }): Promise<V> {
    const reading = read(key);
    state.current = reading;
    const settle = () => {
      if (state.current === reading) state.current = undefined;
      if (!state.current && !state.queued) states.delete(key);
    };
    reading.then(settle, settle);
    return reading;
  }

  return (key) => {
    let state = states.get(key);
    if (!state) {
      state = {};
      states.set(key, state);
    }
    const { current } = state;
    if (!current) return start(key, state);
    if (state.queued) return state.queued;
    const owner = state;
    const queued = current
      .then(
        () => undefined,
        () => undefined,
      )
      .then(() => {
        owner.queued = undefined;
        return start(key, owner);
      });
    owner.queued = queued;
    return queued;
  };
}

/** `coalesceByKey` for a read without a key. */
export function coalesce<V>(read: () => Promise<V>): () => Promise<V> {
  const keyed = coalesceByKey<"only", V>(() => read());
  return () => keyed("only");
}
