// An EventTarget whose events and their details are typed: emit() and on() take the event
// names of one map, so a misspelt event or a wrong detail is a type error, not a silent no-op.

/**
 * Events are CustomEvents whose `detail` is the map's entry for their name; addEventListener
 * works as on any EventTarget.
 * @template {object} M event name -> detail
 */
export class Emitter extends EventTarget {
  /**
   * Dispatch `type` with `detail` (listeners run synchronously).
   * @template {keyof M & string} K
   * @param {K} type
   * @param {M[K]} detail
   */
  emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  /**
   * Listen to `type`; the listener gets the event's detail.
   * @template {keyof M & string} K
   * @param {K} type
   * @param {(detail: M[K]) => void} listener
   */
  on(type, listener) {
    this.addEventListener(type, (event) => {
      listener(/** @type {CustomEvent<M[K]>} */ (event).detail);
    });
  }
}
