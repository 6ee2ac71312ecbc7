// Plain-text tables for the terminal: columns padded to their widest cell, numbers right-aligned.

export type Cell = string | number;

function isNumeric(cell: Cell): boolean {
  return typeof cell === 'number' || /^[-+]?[\d.,]+\s*[×x%]?$/.test(cell.trim());
}

export function renderTable(header: readonly string[], rows: readonly (readonly Cell[])[]): string {
  const text = rows.map((r) => r.map(String));
  const widths = header.map((h, i) => Math.max(h.length, ...text.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[], raw?: readonly Cell[]): string =>
    cells
      .map((c, i) => (raw && isNumeric(raw[i] ?? '') ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...text.map((r, i) => line(r, rows[i]))].join('\n');
}

/** A number with `digits` decimals, or `-` when there is none. */
export function fmt(value: number | undefined, digits = 1): string {
  return value === undefined || !Number.isFinite(value) ? '-' : value.toFixed(digits);
}
