// Credential redaction: one function for every place a URL may be shown (logs, errors,
// the CLI). It works on text, not on parsed URLs, because the URLs that leak are often
// the ones a parser rejects: a `/`, `@` or `:` inside a password moves where a parser
// thinks the host starts, and an error message quotes the URL as it was given.

/** What a redacted password reads as. */
export const redactedPassword = '***';

// A URL starts at a scheme and `//`; it ends at whitespace, a quote, a backtick or an
// angle bracket (a `"` ends it so that a JSON log line keeps its structure).
const candidate = /[a-z][a-z0-9+.-]*:\/\/[^\s"'`<>]*/gi;
// In a comma-separated list, each `scheme://` starts a URL of its own.
const nextUrl = /,(?=[a-z][a-z0-9+.-]*:\/\/)/i;

function redactOne(url: string): string {
  const start = url.indexOf('://') + 3;
  // The userinfo ends at the last `@`: a password may hold `@`, `/` and `:` too, and a
  // host never holds `@`. (An `@` in a path or query makes this redact more, not less.)
  const at = url.lastIndexOf('@');
  if (at < start) return url;
  const userinfo = url.slice(start, at);
  const colon = userinfo.indexOf(':');
  if (colon < 0) return url;
  return `${url.slice(0, start)}${userinfo.slice(0, colon)}:${redactedPassword}${url.slice(at)}`;
}

/**
 * Replaces the password of every URL in `text` with `***`, keeping the user name:
 * one URL, several in a comma-separated list, or URLs quoted inside an error message
 * or a log line. Passwords holding `/`, `@`, `:` or percent-encoded characters are
 * redacted whole. Text without `://` is returned as it is.
 *
 * @example
 * redactCredentials('arangodb://root:Sec/ret@db:8529/app'); // 'arangodb://root:***@db:8529/app'
 * redactCredentials('connect ECONNREFUSED "amqp://u:p@h,amqp://u:q@k"'); // both redacted
 */
export function redactCredentials(text: string): string {
  if (!text.includes('://')) return text;
  return text.replace(candidate, (match) => match.split(nextUrl).map(redactOne).join(','));
}

/**
 * {@link redactCredentials} for anything: strings are redacted, an `Error` gives its
 * message, anything else its `String()` form.
 */
export function redactedMessage(value: unknown): string {
  try {
    return redactCredentials(value instanceof Error ? String(value.message) : String(value));
  } catch {
    return 'unreadable error';
  }
}
