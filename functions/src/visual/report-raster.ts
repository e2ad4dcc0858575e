/**
 * Reports as pixels and pages: a one-page PNG report card (an SVG rasterized by resvg) and a PDF
 * (pdfkit) with the charts embedded as 2x PNGs, the tables and the recommendations. No I/O beyond
 * the fonts resvg loads from the system.
 */
import { Resvg } from "@resvg/resvg-js";
import PDFDocument from "pdfkit";
import type { Cell, ReportModel, ReportTable } from "./report-documents.js";
import { el, label, svgDocument, truncate } from "./svg.js";

/** An SVG document as PNG bytes, `zoom` times its own size, text in DejaVu Sans or the system's sans-serif. */
export function svgToPng(svg: string, zoom = 1): Buffer {
  return new Resvg(svg, {
    fitTo: { mode: "zoom", value: zoom },
    background: "#ffffff",
    font: { loadSystemFonts: true, defaultFontFamily: "DejaVu Sans", sansSerifFamily: "DejaVu Sans" },
    logLevel: "off",
  })
    .render()
    .asPng();
}

/** The width and height a standalone SVG document from `svg.ts` declares. */
export function svgSize(svg: string): { width: number; height: number } {
  const root = /^<svg\b[^>]*>/.exec(svg)?.[0] ?? "";
  const width = Number(/\swidth="([\d.]+)"/.exec(root)?.[1]);
  const height = Number(/\sheight="([\d.]+)"/.exec(root)?.[1]);
  if (!(width > 0 && height > 0)) throw new RangeError("not a standalone SVG with a width and height");
  return { width, height };
}

const CARD_WIDTH = 1200;
const PAD = 24;

/** The report on one page: title, range, headline numbers, every chart stacked, the first recommendations. */
export function reportCardSvg(model: ReportModel): string {
  const inner = CARD_WIDTH - 2 * PAD;
  const marks: string[] = [
    label(PAD, 44, model.title, { "font-size": 28, "font-weight": "bold", fill: "#0f172a" }),
    ...model.meta.map((line, i) => label(PAD, 70 + i * 18, line, { "font-size": 13, fill: "#475569" })),
  ];
  let y = 70 + model.meta.length * 18 + 8;
  const perRow = 4;
  const gap = 12;
  const cardWidth = (inner - (perRow - 1) * gap) / perRow;
  model.headline.forEach((h, i) => {
    const x = PAD + (i % perRow) * (cardWidth + gap);
    const top = y + Math.floor(i / perRow) * (64 + gap);
    marks.push(
      el("g", { "data-headline": h.label }, [
        el("rect", { x, y: top, width: cardWidth, height: 64, rx: 8, fill: "#f8fafc", stroke: "#cbd5e1" }),
        label(x + 12, top + 30, truncate(h.value, 28), {
          "font-size": 22,
          "font-weight": "bold",
          fill: "#0f172a",
        }),
        label(x + 12, top + 50, truncate(h.label, 40), { "font-size": 12, fill: "#475569" }),
      ]),
    );
  });
  y += Math.ceil(model.headline.length / perRow) * (64 + gap) + 8;
  for (const chart of model.charts) {
    const size = svgSize(chart.svg);
    const scale = Math.min(1, inner / size.width);
    // A nested <svg> is its own viewport: the chart keeps its coordinates, the group places and scales it.
    marks.push(
      el("g", { transform: `translate(${PAD} ${y}) scale(${scale})`, "data-chart": chart.id }, [chart.svg]),
    );
    y += size.height * scale + 16;
  }
  if (model.recommendations.length > 0) {
    marks.push(
      label(PAD, y + 16, "Recommendations", { "font-size": 16, "font-weight": "bold", fill: "#0f172a" }),
    );
    y += 28;
    for (const rec of model.recommendations.slice(0, 5)) {
      marks.push(
        label(PAD, y + 14, truncate(`${rec.title}: ${rec.lines[0] ?? ""}`, 150), { fill: "#0f172a" }),
      );
      y += 20;
    }
    if (model.recommendations.length > 5)
      marks.push(
        label(PAD, y + 14, `and ${model.recommendations.length - 5} more in the PDF or HTML report`, {
          fill: "#475569",
        }),
      );
    y += 20;
  }
  return svgDocument({
    width: CARD_WIDTH,
    height: y + PAD,
    title: model.title,
    kind: "report-card",
    children: marks,
  });
}

/** The report card as a PNG. */
export function renderPng(model: ReportModel): Buffer {
  return svgToPng(reportCardSvg(model));
}

// ---------------------------------------------------------------------------------------------
// PDF

const MARGIN = 40;
const BODY = "Helvetica";
const BOLD = "Helvetica-Bold";
const TABLE_FONT_SIZE = 7.5;
const ROW_HEIGHT = 13;

/**
 * pdfkit's built-in fonts encode WinAnsi only (no font file to ship or find); other characters
 * become "?" rather than garbage, and control characters are dropped.
 */
function pdfText(value: string): string {
  return (
    value
      .replace(/…/g, "...")
      .replace(/[\u2012-\u2015]/g, "-")
      .replace(/[\u2018\u2019]/g, "'")
      .replace(/[\u201C\u201D]/g, '"')
      // eslint-disable-next-line no-control-regex
      .replace(/[\u0000-\u001F\u007F]/g, " ")
      .replace(/[^\u0020-\u00FF]/gu, "?")
  );
}

type Doc = PDFKit.PDFDocument;

const bottomOf = (doc: Doc) => doc.page.height - doc.page.margins.bottom;

function ensureRoom(doc: Doc, height: number): void {
  if (doc.y + height > bottomOf(doc)) doc.addPage();
}

/** Cuts text to fit a width, marking the cut. */
function fit(doc: Doc, text: string, width: number): string {
  if (doc.widthOfString(text) <= width) return text;
  let low = 0;
  let high = text.length;
  while (low < high) {
    const mid = Math.ceil((low + high) / 2);
    if (doc.widthOfString(`${text.slice(0, mid)}...`) <= width) low = mid;
    else high = mid - 1;
  }
  return `${text.slice(0, low)}...`;
}

/** Column widths: narrow columns get what they need, the wide ones share the rest equally. */
function columnWidths(
  doc: Doc,
  columns: readonly string[],
  rows: readonly string[][],
  total: number,
): number[] {
  doc.font(BOLD).fontSize(TABLE_FONT_SIZE);
  const headers = columns.map((column) => doc.widthOfString(column));
  doc.font(BODY);
  // The first rows are enough to size the columns; a long table would otherwise be measured twice.
  const wanted = columns.map(
    (_, i) =>
      Math.max(headers[i] ?? 0, ...rows.slice(0, 200).map((row) => doc.widthOfString(row[i] ?? ""))) + 8,
  );
  const widths = wanted.map(() => 0);
  let open = wanted.map((_, i) => i);
  let remaining = total;
  while (open.length > 0) {
    const share = remaining / open.length;
    const fits = open.filter((i) => wanted[i]! <= share);
    if (fits.length === 0) {
      for (const i of open) widths[i] = share;
      break;
    }
    for (const i of fits) {
      widths[i] = wanted[i]!;
      remaining -= wanted[i]!;
    }
    open = open.filter((i) => !fits.includes(i));
  }
  return widths;
}

function tableRow(
  doc: Doc,
  cells: readonly string[],
  widths: readonly number[],
  y: number,
  header: boolean,
  numeric: readonly boolean[],
) {
  let x = MARGIN;
  if (header)
    doc
      .rect(
        MARGIN,
        y,
        widths.reduce((a, b) => a + b, 0),
        ROW_HEIGHT,
      )
      .fill("#f1f5f9");
  doc
    .fillColor("#0f172a")
    .font(header ? BOLD : BODY)
    .fontSize(TABLE_FONT_SIZE);
  cells.forEach((cell, i) => {
    const width = widths[i] ?? 0;
    const text = fit(doc, cell, width - 6);
    doc.text(text, x + 3, y + 3, {
      width: width - 6,
      lineBreak: false,
      align: numeric[i] && !header ? "right" : "left",
    });
    x += width;
  });
  doc
    .moveTo(MARGIN, y + ROW_HEIGHT)
    .lineTo(x, y + ROW_HEIGHT)
    .lineWidth(0.5)
    .strokeColor("#e2e8f0")
    .stroke();
}

const pdfCell = (cell: Cell) =>
  pdfText(cell === null ? "n/a" : typeof cell === "number" ? JSON.stringify(cell) : String(cell));

/** A table over as many pages as it takes, the header repeated on each. */
function drawTable(doc: Doc, table: ReportTable, contentWidth: number): void {
  ensureRoom(doc, 24 + 3 * ROW_HEIGHT);
  doc.moveDown(0.6).font(BOLD).fontSize(12).fillColor("#0f172a").text(pdfText(table.title), MARGIN, doc.y);
  doc.moveDown(0.3);
  const header = table.columns.map(pdfText);
  const rows =
    table.rows.length === 0
      ? [header.map((_, i) => (i === 0 ? "none" : ""))]
      : table.rows.map((row) => row.map(pdfCell));
  const numeric = table.columns.map((_, i) => table.rows.some((row) => typeof row[i] === "number"));
  const widths = columnWidths(doc, header, rows, contentWidth);
  let y = doc.y;
  tableRow(doc, header, widths, y, true, numeric);
  y += ROW_HEIGHT;
  for (const row of rows) {
    if (y + ROW_HEIGHT > bottomOf(doc)) {
      doc.addPage();
      y = doc.page.margins.top;
      tableRow(doc, header, widths, y, true, numeric);
      y += ROW_HEIGHT;
    }
    tableRow(doc, row, widths, y, false, numeric);
    y += ROW_HEIGHT;
  }
  doc.x = MARGIN;
  doc.y = y + 4;
}

/** The report as an A4 PDF: headline numbers, charts (2x PNG), tables, recommendations and notes. */
export function renderPdf(model: ReportModel): Promise<Buffer> {
  const doc = new PDFDocument({
    size: "A4",
    margin: MARGIN,
    compress: true,
    info: {
      Title: pdfText(model.title),
      Creator: "Firebase Master Orchestration System",
      CreationDate: model.generatedAt,
    },
  });
  const done = new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    doc.on("data", (chunk: Buffer) => chunks.push(chunk));
    doc.on("end", () => resolve(Buffer.concat(chunks)));
    doc.on("error", reject);
  });
  const contentWidth = doc.page.width - 2 * MARGIN;

  doc.font(BOLD).fontSize(22).fillColor("#0f172a").text(pdfText(model.title));
  doc.font(BODY).fontSize(9).fillColor("#475569");
  for (const line of model.meta) doc.text(pdfText(line));
  doc.moveDown(0.8);

  const perRow = 4;
  const gap = 8;
  const cardWidth = (contentWidth - (perRow - 1) * gap) / perRow;
  const top = doc.y;
  model.headline.forEach((h, i) => {
    const x = MARGIN + (i % perRow) * (cardWidth + gap);
    const y = top + Math.floor(i / perRow) * (44 + gap);
    doc.roundedRect(x, y, cardWidth, 44, 5).lineWidth(0.75).strokeColor("#cbd5e1").stroke();
    doc
      .font(BOLD)
      .fontSize(15)
      .fillColor("#0f172a")
      .text(pdfText(h.value), x + 8, y + 8, { width: cardWidth - 16, lineBreak: false });
    doc
      .font(BODY)
      .fontSize(8)
      .fillColor("#475569")
      .text(pdfText(h.label), x + 8, y + 29, { width: cardWidth - 16, lineBreak: false });
  });
  doc.x = MARGIN;
  doc.y = top + Math.ceil(model.headline.length / perRow) * (44 + gap) + 6;

  for (const chart of model.charts) {
    const size = svgSize(chart.svg);
    // SVG pixels are 1/96 in, PDF points 1/72 in: 0.75 keeps a chart its own size, when it fits.
    const width = Math.min(contentWidth, size.width * 0.75);
    const height = (size.height / size.width) * width;
    ensureRoom(doc, height + 8);
    doc.image(svgToPng(chart.svg, 2), MARGIN, doc.y, { width, height });
    doc.y += height + 8;
  }

  for (const table of model.tables) drawTable(doc, table, contentWidth);

  ensureRoom(doc, 60);
  doc.moveDown(0.6).font(BOLD).fontSize(12).fillColor("#0f172a").text("Recommendations", MARGIN, doc.y);
  doc.moveDown(0.3);
  if (model.recommendations.length === 0)
    doc.font(BODY).fontSize(9).text("No recommendations: nothing in the history crossed a rule's threshold.");
  model.recommendations.forEach((rec, i) => {
    ensureRoom(doc, 48);
    doc
      .font(BOLD)
      .fontSize(9)
      .fillColor("#0f172a")
      .text(pdfText(`${i + 1}. ${rec.title}`), MARGIN, doc.y, { width: contentWidth });
    doc.font(BODY).fontSize(8.5).fillColor("#334155");
    for (const line of rec.lines) doc.text(pdfText(line), MARGIN + 12, doc.y, { width: contentWidth - 12 });
    doc.moveDown(0.4);
  });
  if (model.notes.length > 0) {
    ensureRoom(doc, 40);
    doc.moveDown(0.6).font(BOLD).fontSize(12).fillColor("#0f172a").text("Notes", MARGIN, doc.y);
    doc.font(BODY).fontSize(8.5).fillColor("#334155");
    for (const note of model.notes) doc.text(pdfText(`- ${note}`), MARGIN, doc.y, { width: contentWidth });
  }
  doc.end();
  return done;
}
