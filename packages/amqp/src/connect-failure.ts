// What went wrong when a broker connection could not be opened, or was lost: a kind an
// operator can act on (refused login, refused connection, unknown vhost…) and a
// sentence saying so. Shared by the transport (its logs and its status, which /readyz
// reports) and the CLI (its error messages), so they name a failure the same way.

/** The kinds of connection failure. */
export type ConnectFailureKind =
  /** 403 ACCESS_REFUSED at login: wrong user name or password. */
  | 'login-refused'
  /** The broker closed the connection when asked for the vhost: unknown, or not permitted. */
  | 'vhost-refused'
  /** Nothing listens at the address (ECONNREFUSED). */
  | 'connection-refused'
  /** The host name does not resolve. */
  | 'host-unknown'
  /** No answer in time (TCP connect, or the whole open with topology and consumers). */
  | 'timeout'
  /** The TLS handshake failed (certificate, host name, protocol). */
  | 'tls'
  /** A connection that was open has been closed or dropped. */
  | 'lost'
  | 'other';

/** A connection failure, described. */
export interface ConnectFailure {
  readonly kind: ConnectFailureKind;
  /** What to tell an operator, e.g. `the broker refused the login (403 ACCESS_REFUSED): …`. */
  readonly description: string;
  /** The underlying error's message, with any credentials in it redacted. */
  readonly message: string;
}

const summaries: Record<ConnectFailureKind, string> = {
  'login-refused': 'the broker refused the login (403 ACCESS_REFUSED): wrong user name or password',
  'vhost-refused':
    'the broker refused the vhost: it does not exist, or the user has no access to it',
  'connection-refused': 'connection refused: no broker listens at that address',
  'host-unknown': 'unknown host: the broker host name does not resolve',
  timeout: 'the broker did not answer in time',
  tls: 'the TLS handshake with the broker failed',
  lost: 'the connection to the broker was lost',
  other: 'the connection to the broker failed',
};

const tlsCodes =
  /^(ERR_TLS_|ERR_SSL_|CERT_|DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_)/;

/** `scheme://user:password@` → `scheme://***@` anywhere in a message. */
function redactMessage(message: string): string {
  return message.replaceAll(/\/\/[^\s/@]*:[^\s@]*@/g, '//***@');
}

/** Classifies an error thrown by `amqplib.connect` (or by opening a connection). */
export function describeConnectError(error: unknown): ConnectFailure {
  const message = redactMessage(
    error instanceof Error ? error.message : typeof error === 'string' ? error : String(error),
  );
  const code =
    typeof error === 'object' && error !== null && 'code' in error ? String(error.code) : '';
  let kind: ConnectFailureKind = 'other';
  if (/ACCESS[-_]REFUSED/.test(message)) kind = 'login-refused';
  // amqplib: the broker answers connection.open (the vhost) with connection.close.
  else if (/Expected ConnectionOpenOk; got <ConnectionClose|NOT[-_]ALLOWED.*vhost/.test(message))
    kind = 'vhost-refused';
  else if (code === 'ECONNREFUSED') kind = 'connection-refused';
  else if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') kind = 'host-unknown';
  else if (code === 'ETIMEDOUT' || /timed? ?out|not ready in time/i.test(message)) kind = 'timeout';
  else if (tlsCodes.test(code) || /certificate|SSL|TLS/.test(message)) kind = 'tls';
  else if (code === 'ECONNRESET' || code === 'EPIPE' || /socket closed|closed/i.test(message))
    kind = 'lost';
  return { kind, description: `${summaries[kind]} (${message})`, message };
}

/** A connection that was open and dropped, described. */
export function lostConnection(reason: string): ConnectFailure {
  const message = redactMessage(reason);
  return { kind: 'lost', description: `${summaries.lost} (${message})`, message };
}
