/** The agent's `tls:` section (agent.yaml); paths absolute. */
export interface AgentTlsConfig {
  /** The cluster CA certificate: the only CA the agent trusts, for clients and peers. */
  readonly ca: string;
  /** This node's certificate (role node, DNS name = node name). */
  readonly cert: string;
  /** Its private key. */
  readonly key: string;
  /** revoked.json from the CA directory; re-read when it changes. */
  readonly revoked?: string;
}

/** Parses `tls:`; `abs` resolves paths against the config file, `fail` throws INVALID_ARGUMENT. */
export function parseTlsSection(raw: unknown, abs: (path: string) => string, fail: (message: string) => never): AgentTlsConfig | undefined {
  if (raw === undefined || raw === null) return undefined;
  if (typeof raw !== 'object') fail('`tls:` must be a mapping with ca, cert, key and revoked');
  const tls = raw as Record<string, unknown>;
  const path = (key: string, required: boolean): string | undefined => {
    const value = tls[key];
    if (value === undefined && !required) return undefined;
    if (typeof value !== 'string' || !value) fail(`tls.${key} must be a file path (see docs/security.md)`);
    return abs(value);
  };
  const revoked = path('revoked', false);
  return { ca: path('ca', true) as string, cert: path('cert', true) as string, key: path('key', true) as string, ...(revoked ? { revoked } : {}) };
}
