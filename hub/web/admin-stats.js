// Anonymised statistics of a date range: totals, consultations per day and per hour of day
// (charts), a table per branch label; suppressed cells read "fewer than N"; CSV download.

import { statsCsvUrl } from "./admin-api.js";
import { barChart } from "./admin-chart.js";
import { byId, duration, failure, fill, h, showError, table } from "./admin-dom.js";

/** @typedef {import("./admin-api.js").AdminApi} AdminApi */
/** @typedef {import("./admin-types.js").Figures} Figures */
/** @typedef {import("./admin-types.js").Percentiles} Percentiles */

const BRANCH_HEADS = [
  "Branch",
  "Consultations",
  "Abandoned",
  "Wait median",
  "Wait p90",
  "Call median",
  "Call p90",
];

export class StatisticsPage {
  /**
   * @param {object} parts
   * @param {AdminApi} parts.api
   */
  constructor({ api }) {
    this.api = api;
    this.from = byId("stats-from", HTMLInputElement);
    this.to = byId("stats-to", HTMLInputElement);
    this.csv = byId("stats-csv", HTMLAnchorElement);
    this.body = byId("stats-body", HTMLDivElement);
    this.error = byId("stats-error", HTMLParagraphElement);
    byId("stats-form", HTMLFormElement).addEventListener("submit", (event) => {
      event.preventDefault();
      this.load();
    });
    for (const input of [this.from, this.to]) {
      input.addEventListener("change", () => this.updateCsv());
    }
  }

  updateCsv() {
    this.csv.href = statsCsvUrl(this.from.value, this.to.value);
  }

  async load() {
    this.updateCsv();
    try {
      const figures = await this.api.stats(this.from.value, this.to.value);
      showError(this.error, "");
      // The hub's range (its default: the last 30 days) becomes the form's.
      this.from.value = figures.from;
      this.to.value = figures.to;
      this.updateCsv();
      this.render(figures);
    } catch (exc) {
      showError(this.error, failure(exc));
      fill(this.body);
    }
  }

  /** @param {Figures} figures */
  render(figures) {
    const n = figures.min_cell;
    /** @param {number | null} value */
    const count = (value) => (value === null ? suppressed(n) : String(value));
    /** @param {number | null} value */
    const time = (value) => (value === null ? suppressed(n) : duration(value));
    const total = figures.total;
    const summary = h(
      "dl",
      { class: "stats-summary", id: "stats-total" },
      pair("Consultations", count(total.consultations)),
      pair("Abandoned waits", count(total.abandoned)),
      pair("Wait, median", time(total.wait_p50_s)),
      pair("Wait, 90th percentile", time(total.wait_p90_s)),
      pair("Call, median", time(total.duration_p50_s)),
      pair("Call, 90th percentile", time(total.duration_p90_s)),
    );
    const perDay = barChart({
      title: "Consultations per day",
      bars: figures.per_day.map((d) => ({
        label: d.day.slice(5),
        title: d.day,
        value: d.consultations,
      })),
      minCell: n,
      labelEvery: Math.max(1, Math.ceil(figures.per_day.length / 10)),
    });
    const perHour = barChart({
      title: "Consultations per hour of day (UTC)",
      bars: figures.per_hour.map((x) => ({
        label: String(x.hour),
        title: `${pad(x.hour)}:00–${pad(x.hour + 1)}:00 UTC`,
        value: x.consultations,
      })),
      minCell: n,
      labelEvery: 3,
    });
    const branches = table(
      BRANCH_HEADS,
      figures.branches,
      (b) => [
        b.branch ?? h("em", {}, "no branch label"),
        count(b.consultations),
        count(b.abandoned),
        time(b.wait_p50_s),
        time(b.wait_p90_s),
        time(b.duration_p50_s),
        time(b.duration_p90_s),
      ],
    );
    branches.id = "stats-branches";
    fill(
      this.body,
      summary,
      h(
        "p",
        { class: "admin-hint" },
        `Days, hours and branches with fewer than ${n} consultations are not shown, nor ` +
          "some larger ones that would give them away " +
          `(${figures.suppressed_cells} suppressed). ` +
          "Nothing here identifies a customer or an adviser.",
      ),
      h(
        "div",
        { class: "charts" },
        figure("Per day", perDay),
        figure("Per hour of day (UTC)", perHour),
      ),
      h("h2", {}, "Per branch"),
      figures.branches.length === 0
        ? h("p", { class: "empty" }, "No consultations in this range.")
        : branches,
    );
  }
}

/** @param {number} value */
const pad = (value) => String(value % 24).padStart(2, "0");

/**
 * A hidden cell: fewer than n, or a larger one hidden so the small ones cannot be worked out
 * by subtraction (hub/governance/stats.py); either way no count is shown.
 * @param {number} n
 */
const suppressed = (n) => `suppressed (fewer than ${n} or hiding one)`;

/**
 * @param {string} term
 * @param {string} value
 */
function pair(term, value) {
  return h("div", {}, h("dt", {}, term), h("dd", {}, value));
}

/**
 * @param {string} caption
 * @param {SVGElement} chart
 */
function figure(caption, chart) {
  const node = h("figure", { class: "chart-figure" }, h("figcaption", {}, caption));
  node.append(chart);
  return node;
}
