import type { DecodedMessage } from '../kafka/decode';

/** A message for people: coordinates, type and correlation id, payload, headers. */
export function formatMessage(m: DecodedMessage): string {
  const head = `${m.time}  ${m.topic}  p${m.partition}#${m.offset}  key=${m.key ?? '-'}`;
  const what = `  ${m.type ?? '(no type)'}  correlation=${m.correlationId ?? '-'}${m.problem ? `  [${m.problem}]` : ''}`;
  const body =
    m.problem && m.payload === null
      ? `  value: ${m.value ?? '-'}`
      : `  payload: ${JSON.stringify(m.payload)}`;
  const headers = Object.entries(m.headers)
    .map(([k, v]) => `${k}=${v.length > 120 ? `${v.slice(0, 119)}…` : v}`)
    .join('  ');
  return [head, what, body, `  headers: ${headers || '-'}`].join('\n');
}

/** The JSON form of a message (one line each with --json). */
export function messageJson(m: DecodedMessage): string {
  return JSON.stringify(m);
}
