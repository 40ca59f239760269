/** "Track this cell": the cell's source with `%%track` as its first line. */
export function trackCellSource(source: string): string {
  const first = source.split('\n', 1)[0].trim();
  if (first.startsWith('%%track')) {
    return source;
  }
  return source ? `%%track\n${source}` : '%%track\n';
}
