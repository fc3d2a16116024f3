// Dates on the escrow command line: YYYY-MM-DD is UTC midnight; ISO times need a zone.
import { OperatorUsageError } from '../operator-cli.error';
import { parseCliDate } from './escrow.command';

describe('parseCliDate', () => {
  it('reads a date as UTC midnight and an ISO time with its zone', () => {
    expect(parseCliDate('2026-11-27', '--from').toISOString()).toBe('2026-11-27T00:00:00.000Z');
    expect(parseCliDate('2026-11-27T10:30:00+02:00', '--to').toISOString()).toBe('2026-11-27T08:30:00.000Z');
    expect(parseCliDate('2026-11-27T10:30Z', '--to').toISOString()).toBe('2026-11-27T10:30:00.000Z');
  });

  it.each(['2026-13-01', '2026-11-27T10:30:00', 'yesterday', '27.11.2026', ''])('refuses %j', (value) => {
    expect(() => parseCliDate(value, '--from')).toThrow(OperatorUsageError);
  });
});
