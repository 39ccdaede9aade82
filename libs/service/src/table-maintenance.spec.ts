import { maintenanceDue, REANALYZE_AFTER_S } from './table-maintenance';
import type { TableStats } from './table-maintenance';

describe('maintenanceDue', () => {
  const table = (over: Partial<TableStats>): TableStats => ({
    table: 't',
    reltuples: 10_000,
    liveRows: 10_000,
    deadRows: 0,
    modifiedSinceAnalyze: 0,
    sinceAnalyzeS: 60,
    ...over,
  });

  it('analyzes a table never analyzed once 50 rows changed, as autovacuum does', () => {
    expect(
      maintenanceDue(table({ reltuples: -1, liveRows: 40, modifiedSinceAnalyze: 40, sinceAnalyzeS: null })),
    ).toEqual({ vacuum: false, analyze: false });
    expect(
      maintenanceDue(table({ reltuples: -1, liveRows: 60, modifiedSinceAnalyze: 60, sinceAnalyzeS: null })),
    ).toEqual({ vacuum: false, analyze: true });
  });

  it('leaves the statistics of a table whose rows changed but whose size held, until they are old', () => {
    const churned = { modifiedSinceAnalyze: 50_000, liveRows: 10_500 };
    expect(maintenanceDue(table(churned)).analyze).toBe(false);
    expect(maintenanceDue(table({ ...churned, sinceAnalyzeS: REANALYZE_AFTER_S })).analyze).toBe(true);
  });

  it('analyzes a table whose size moved by a tenth (and 50 rows) since its last VACUUM or ANALYZE', () => {
    expect(maintenanceDue(table({ liveRows: 11_100, modifiedSinceAnalyze: 1_100 })).analyze).toBe(true);
    expect(maintenanceDue(table({ liveRows: 8_900, modifiedSinceAnalyze: 1_100 })).analyze).toBe(true);
    expect(maintenanceDue(table({ liveRows: 11_000, modifiedSinceAnalyze: 1_000 })).analyze).toBe(false);
  });

  it('vacuums by autovacuum rule: 50 rows and a fifth of the table dead', () => {
    expect(maintenanceDue(table({ deadRows: 2_050 })).vacuum).toBe(false);
    expect(maintenanceDue(table({ deadRows: 2_051 })).vacuum).toBe(true);
  });
});
