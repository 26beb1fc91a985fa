/** The global identity options of `hvctl` (docs/cli.md). */
export interface IdentityOptions {
  readonly ca?: string;
  readonly cert?: string;
  readonly key?: string;
  readonly token?: string;
}

/**
 * Hands --ca/--cert/--key/--token to every client this process opens, through the same
 * variables a script would set ($HVCTL_CA, $HVCTL_CERT, $HVCTL_KEY, $HVCTL_TOKEN), which
 * clusterConnector reads over the cluster file's `tls:` section.
 */
export function applyIdentityOptions(options: IdentityOptions, env: NodeJS.ProcessEnv = process.env): void {
  if (options.ca) env['HVCTL_CA'] = options.ca;
  if (options.cert) env['HVCTL_CERT'] = options.cert;
  if (options.key) env['HVCTL_KEY'] = options.key;
  if (options.token) env['HVCTL_TOKEN'] = options.token;
}
