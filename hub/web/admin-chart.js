// Bar charts of the statistics as SVG drawn here (no library, no inline style: classes only,
// admin.css colours them). A suppressed cell (fewer than the smallest cell) is a grey stub
// with its reason as the tooltip, never a count.

const SVG = "http://www.w3.org/2000/svg";
const HEIGHT = 180;
const TOP = 14; // room for the top grid line's label
const BOTTOM = 22; // room for the labels under the bars
const LEFT = 36; // room for the axis labels
const STUB = 4; // the height of a suppressed cell's bar

/**
 * @typedef {object} Bar
 * @property {string} label under the bar (every `labelEvery`-th is drawn)
 * @property {string} title the bar's tooltip subject ("2026-12-01", "14:00–15:00")
 * @property {number | null} value null: suppressed
 */

/**
 * @param {string} tag
 * @param {Record<string, string | number>} attrs
 * @param {string} [text]
 * @returns {SVGElement}
 */
function svg(tag, attrs, text) {
  const node = /** @type {SVGElement} */ (document.createElementNS(SVG, tag));
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, String(value));
  if (text !== undefined) node.textContent = text;
  return node;
}

/**
 * A bar chart of `bars`, scaled to the largest value.
 * @param {object} spec
 * @param {string} spec.title what the chart shows (its accessible name)
 * @param {Bar[]} spec.bars
 * @param {number} spec.minCell the smallest cell shown (for the suppressed bars' words)
 * @param {number} [spec.labelEvery] draw every n-th label under the bars
 * @returns {SVGElement}
 */
export function barChart({ title, bars, minCell, labelEvery = 1 }) {
  const slot = bars.length > 40 ? 12 : 22;
  const width = LEFT + Math.max(1, bars.length) * slot + 8;
  const plot = HEIGHT - TOP - BOTTOM;
  const max = Math.max(1, ...bars.map((b) => b.value ?? 0));
  const chart = svg("svg", {
    class: "chart",
    viewBox: `0 0 ${width} ${HEIGHT}`,
    role: "img",
    "aria-label": title,
    preserveAspectRatio: "xMinYMin meet",
  });
  chart.append(svg("title", {}, title));
  for (const [fraction, cls] of [
    [0, "axis"],
    [0.5, "grid"],
    [1, "grid"],
  ]) {
    const y = TOP + plot - plot * Number(fraction);
    chart.append(svg("line", { class: String(cls), x1: LEFT, x2: width, y1: y, y2: y }));
    const value = Math.round(max * Number(fraction));
    const tick = { class: "tick", x: LEFT - 4, y: y + 4, "text-anchor": "end" };
    chart.append(svg("text", tick, String(value)));
  }
  bars.forEach((bar, i) => {
    const x = LEFT + i * slot + 2;
    const w = slot - 4;
    if (bar.value === null) {
      const stub = svg("rect", {
        class: "bar bar-suppressed",
        x,
        y: TOP + plot - STUB,
        width: w,
        height: STUB,
        "data-suppressed": "true",
      });
      const why = `suppressed (fewer than ${minCell} or hiding one)`;
      stub.append(svg("title", {}, `${bar.title}: ${why}`));
      chart.append(stub);
    } else if (bar.value > 0) {
      const h = (plot * bar.value) / max;
      const rect = svg("rect", { class: "bar", x, y: TOP + plot - h, width: w, height: h });
      rect.append(svg("title", {}, `${bar.title}: ${bar.value}`));
      chart.append(rect);
    }
    if (i % labelEvery === 0) {
      chart.append(
        svg(
          "text",
          { class: "tick", x: x + w / 2, y: HEIGHT - 6, "text-anchor": "middle" },
          bar.label,
        ),
      );
    }
  });
  return chart;
}
