/**
 * What the seed-004 notebook (`notebooks/llm_queue.ipynb`) shows, as Jupyter display bundles:
 * the instances it found, a table of answers, the burst's summary, and two SVG charts drawn here
 * (no network, no charting library): prompts per inference worker, and answers over time per
 * worker. Each bundle carries the HTML or SVG a reader sees and, under `application/json`, the
 * same facts as data (`kind` says which), so that a headless run can be checked.
 *
 * @example
 * ```ts ignore
 * await Deno.jupyter.display(answersBundle(rows), { raw: true });
 * ```
 *
 * @module
 */

import type { InstanceInfo } from "../protocol/instance_info.ts";
import type { Response } from "../examples/llm_queue/messages.ts";

/** A Jupyter MIME bundle (`Deno.jupyter.display(bundle, { raw: true })`). */
export type Bundle = Record<string, unknown>;

/**
 * Waits a moment after a cell's last display. Deno's kernel may report a cell's execution done
 * before the display it just sent has gone out, and a headless run (nbconvert) then drops that
 * output; a cell that ends with this gives the display time to go first.
 */
export function settled(ms = 100): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** One answered prompt, as the notebook saw it. */
export interface AnsweredPrompt {
  /** What the response workers handed back. */
  answer: Response;
  /** Milliseconds from putting the prompt to holding its answer, measured by the notebook. */
  ms: number;
  /** When the answer arrived, in milliseconds since the first prompt was put. */
  at: number;
}

/** The burst's outcome. */
export interface BurstSummary {
  kind: "burst_summary";
  prompts: number;
  answered: number;
  /** Answers per inference worker (instance id), busiest first. */
  perWorker: Record<string, number>;
  /** The host of each worker. */
  hosts: Record<string, string>;
  p50Ms: number;
  p99Ms: number;
  totalMs: number;
  /** Answers that needed a second worker (the first was lost with the prompt). */
  redelivered: number;
}

const _PALETTE = ["#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1"];
const _TABLE = "border-collapse:collapse;font-family:sans-serif;font-size:13px";
const _CELL = "border-bottom:1px solid #ddd;padding:4px 8px;text-align:left;vertical-align:top";

/** Escapes text for HTML and SVG. */
export function escapeHtml(text: unknown): string {
  return String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** The value at percentile `p` (0–100) of ascending `sorted` values (0 when empty). */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** The same color for a worker in every chart: by its place among the workers, sorted by id. */
function _colors(workers: Iterable<string>): Map<string, string> {
  const sorted = [...new Set(workers)].sort();
  return new Map(sorted.map((w, i) => [w, _PALETTE[i % _PALETTE.length]!]));
}

function _table(head: readonly string[], rows: readonly (readonly unknown[])[]): string {
  const th = head.map((h) => `<th style="${_CELL}">${escapeHtml(h)}</th>`).join("");
  const body = rows.map((row) =>
    `<tr>${row.map((cell) => `<td style="${_CELL}">${escapeHtml(cell)}</td>`).join("")}</tr>`
  ).join("");
  return `<table style="${_TABLE}"><thead><tr>${th}</tr></thead><tbody>${body}</tbody></table>`;
}

/** Which mode the notebook runs in, and the instances the registry lists. */
export function connectionBundle(
  mode: "embedded" | "cluster",
  where: string,
  instances: readonly InstanceInfo[],
): Bundle {
  const rows = instances.map((i) => [i.component, i.instance, i.hostname, i.pid]);
  const title = mode === "embedded"
    ? "<b>Embedded mode</b>: the whole llm_queue graph runs inside this kernel"
    : "<b>Cluster mode</b>: connected to a running mesh as an observer (it serves nothing)";
  return {
    "text/html": `<p>${title}; ${escapeHtml(where)}</p>` +
      _table(["component", "instance", "host", "pid"], rows),
    "text/plain": `${mode} mode; ${where}; ${instances.length} instances`,
    "application/json": {
      kind: "connection",
      mode,
      where,
      instances: instances.map(({ component, instance, hostname, pid }) => ({
        component,
        instance,
        hostname,
        pid,
      })),
    },
  };
}

/** A table of answers: prompt, text, worker, host, latency. */
export function answersBundle(answered: readonly AnsweredPrompt[]): Bundle {
  const rows = answered.map(({ answer, ms }) => [
    answer.prompt,
    answer.text ?? `(error: ${answer.error})`,
    answer.worker,
    answer.host,
    `${ms.toFixed(0)} ms`,
  ]);
  return {
    "text/html": _table(["prompt", "answer", "worker", "host", "latency"], rows),
    "text/plain": answered.map(({ answer }) => `${answer.prompt}\n  → ${answer.text}`).join("\n"),
    "application/json": {
      kind: "answers",
      answers: answered.map(({ answer, ms }) => ({ ...answer, round_trip_ms: Math.round(ms) })),
    },
  };
}

/** Counts and latencies of a burst of `prompts` prompts that took `totalMs`. */
export function summarizeBurst(
  prompts: number,
  answered: readonly AnsweredPrompt[],
  totalMs: number,
): BurstSummary {
  const good = answered.filter(({ answer }) => answer.text !== undefined && !answer.error);
  const counts = new Map<string, number>();
  const hosts: Record<string, string> = {};
  for (const { answer } of good) {
    counts.set(answer.worker, (counts.get(answer.worker) ?? 0) + 1);
    hosts[answer.worker] = answer.host;
  }
  const latencies = good.map(({ ms }) => ms).sort((a, b) => a - b);
  return {
    kind: "burst_summary",
    prompts,
    answered: good.length,
    perWorker: Object.fromEntries([...counts].sort((a, b) => b[1] - a[1])),
    hosts,
    p50Ms: Math.round(percentile(latencies, 50)),
    p99Ms: Math.round(percentile(latencies, 99)),
    totalMs: Math.round(totalMs),
    redelivered: good.filter(({ answer }) => answer.delivery >= 2).length,
  };
}

/** The burst's summary: answered N/M, per-worker counts, latency p50/p99, total time. */
export function summaryBundle(summary: BurstSummary): Bundle {
  const headline = `Answered ${summary.answered}/${summary.prompts} prompts in ` +
    `${(summary.totalMs / 1000).toFixed(2)} s; latency p50 ${summary.p50Ms} ms, ` +
    `p99 ${summary.p99Ms} ms; redelivered ${summary.redelivered}`;
  const rows = Object.entries(summary.perWorker).map(([worker, n]) => [
    worker,
    summary.hosts[worker] ?? "",
    n,
    `${((100 * n) / Math.max(1, summary.answered)).toFixed(0)} %`,
  ]);
  return {
    "text/html": `<p><b>${escapeHtml(headline)}</b></p>` +
      _table(["inference worker", "host", "prompts", "share"], rows),
    "text/plain": `${headline}\n${rows.map(([w, h, n]) => `  ${w} (${h}): ${n}`).join("\n")}`,
    "application/json": summary,
  };
}

/** An SVG bar chart of prompts per inference worker (one `rect.bar` per worker). */
export function loadChartBundle(summary: BurstSummary): Bundle {
  const entries = Object.entries(summary.perWorker).sort(([a], [b]) => a.localeCompare(b));
  const colors = _colors(entries.map(([worker]) => worker));
  const max = Math.max(1, ...entries.map(([, n]) => n));
  const barWidth = 70;
  const gap = 30;
  const left = 40;
  const top = 40;
  const height = 200;
  const width = left + entries.length * (barWidth + gap) + gap;
  const fair = summary.answered / Math.max(1, entries.length);
  const fairY = top + height - (fair / max) * height;
  const bars = entries.map(([worker, n], i) => {
    const x = left + gap + i * (barWidth + gap);
    const h = (n / max) * height;
    const y = top + height - h;
    const cx = x + barWidth / 2;
    return `<rect class="bar" data-worker="${escapeHtml(worker)}" data-count="${n}" x="${x}" ` +
      `y="${y.toFixed(1)}" width="${barWidth}" height="${h.toFixed(1)}" ` +
      `fill="${colors.get(worker)}"><title>${escapeHtml(worker)}: ${n}</title></rect>` +
      `<text x="${cx}" y="${(y + 16).toFixed(1)}" text-anchor="middle" fill="#fff" ` +
      `font-weight="bold">${n}</text>` +
      `<text x="${cx}" y="${top + height + 16}" text-anchor="middle">${escapeHtml(worker)}</text>` +
      `<text x="${cx}" y="${top + height + 30}" text-anchor="middle" fill="#777">` +
      `${escapeHtml(summary.hosts[worker] ?? "")}</text>`;
  }).join("");
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" data-chart="load" width="${width}" ` +
    `height="${top + height + 44}" font-family="sans-serif" font-size="12">` +
    `<text x="${left}" y="20" font-size="14" font-weight="bold">Prompts per inference worker ` +
    `(${summary.answered} answered)</text>` +
    `<line x1="${left}" y1="${top + height}" x2="${width - 10}" y2="${top + height}" ` +
    `stroke="#333"/>` + bars +
    `<line x1="${left}" y1="${fairY.toFixed(1)}" x2="${width - 10}" y2="${fairY.toFixed(1)}" ` +
    `stroke="#333" stroke-dasharray="4 3"><title>an even share: ${fair.toFixed(1)}</title></line>` +
    `</svg>`;
  return {
    "image/svg+xml": svg,
    "text/plain": entries.map(([w, n]) => `${w} ${"#".repeat(Math.round((n / max) * 40))} ${n}`)
      .join("\n"),
  };
}

/** An SVG chart of answers over time, one cumulative line (`polyline.timeline`) per worker. */
export function timelineBundle(answered: readonly AnsweredPrompt[]): Bundle {
  const byWorker = new Map<string, number[]>();
  for (const { answer, at } of answered) {
    const times = byWorker.get(answer.worker) ?? [];
    times.push(at);
    byWorker.set(answer.worker, times);
  }
  const left = 64;
  const top = 30;
  const width = 520;
  const height = 200;
  const end = Math.max(1, ...answered.map(({ at }) => at));
  const most = Math.max(1, ...[...byWorker.values()].map((t) => t.length));
  const x = (ms: number) => (left + (ms / end) * width).toFixed(1);
  const y = (n: number) => (top + height - (n / most) * height).toFixed(1);
  const colors = _colors(byWorker.keys());
  const workers = [...byWorker].sort(([a], [b]) => a.localeCompare(b));
  const lines = workers.map(([worker, times], i) => {
    const sorted = [...times].sort((a, b) => a - b);
    const points = [`${x(0)},${y(0)}`, ...sorted.map((t, n) => `${x(t)},${y(n + 1)}`)];
    const color = colors.get(worker);
    return `<polyline class="timeline" data-worker="${escapeHtml(worker)}" fill="none" ` +
      `stroke="${color}" stroke-width="2" points="${points.join(" ")}"/>` +
      `<text x="${left + width + 8}" y="${top + 14 + i * 16}" fill="${color}">` +
      `${escapeHtml(worker)} (${times.length})</text>`;
  }).join("");
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" data-chart="timeline" ` +
    `width="${left + width + 150}" height="${top + height + 40}" font-family="sans-serif" ` +
    `font-size="12"><text x="${left}" y="18" font-size="14" font-weight="bold">` +
    `Answers over time, per inference worker</text>` +
    `<line x1="${left}" y1="${top + height}" x2="${left + width}" y2="${top + height}" ` +
    `stroke="#333"/><line x1="${left}" y1="${top}" x2="${left}" y2="${top + height}" ` +
    `stroke="#333"/>` +
    `<text x="${left - 6}" y="${top + 4}" text-anchor="end">${most}</text>` +
    `<text x="${left - 6}" y="${top + height / 2}" text-anchor="end" fill="#777">answers</text>` +
    `<text x="${left - 6}" y="${top + height}" text-anchor="end">0</text>` +
    `<text x="${left}" y="${top + height + 16}">0 s</text>` +
    `<text x="${left + width}" y="${top + height + 16}" text-anchor="end">` +
    `${(end / 1000).toFixed(2)} s</text>` + lines + `</svg>`;
  return {
    "image/svg+xml": svg,
    "text/plain": `answers over ${(end / 1000).toFixed(2)} s by ${byWorker.size} workers`,
  };
}
