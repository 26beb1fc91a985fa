import { Command, InvalidArgumentError } from 'commander';
import {
  createTokenInCaDir,
  defaultCaDir,
  initCaDir,
  issueInCaDir,
  listCaDir,
  parseDays,
  parseRole,
  parseTokenLifetime,
  revokeInCaDir,
  signedRevocationsInCaDir,
  validateNodeName,
  type ClusterFile,
} from '@hvctl/common';
import { loadCluster } from './cluster.js';
import { table } from './format.js';
import { formatPushResults, pushRevocations, type PushResult } from './revocation-push.js';

const dirOption = ['--dir <dir>', 'CA directory (default: $HVCTL_CA_DIR or ~/.config/hvctl/ca)'] as const;
const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

/** Sends the CA directory's signed list to every agent of the cluster; exit code 1 when any agent was not updated. */
async function pushFromCaDir(dir: string, cluster: ClusterFile, timeoutMs: number): Promise<{ number: number; results: PushResult[] }> {
  const { list } = await signedRevocationsInCaDir(dir);
  const results = await pushRevocations(cluster, list, timeoutMs);
  if (results.some((result) => !result.ok)) process.exitCode = 1;
  return { number: list.number ?? 0, results };
}

const timeoutMs = (value: string): number => {
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < 100 || parsed > 120_000) throw new InvalidArgumentError('expected milliseconds from 100 to 120000');
  return parsed;
};

/** `hvctl certs ...`: the cluster's own CA, certificates, tokens and revocation (docs/security.md). */
export function certsCommand(): Command {
  const certs = new Command('certs').description("Manage the cluster's own CA: issue node, person and script certificates and tokens, revoke them.").addHelpText(
    'after',
    `
Files are written 0600 in a 0700 directory: ca.crt ca.key index.json revoked.json issued/NAME.{crt,key}.
Keep ca.key on an admin machine only; agents need ca.crt, their own pair and revoked.json.

Examples:
  hvctl certs init --cluster prod
  hvctl certs issue msk-1 --role node --san 10.0.1.11
  hvctl certs issue alice --role operator
  hvctl certs token billing --role viewer --expires 24h --nodes msk-1,spb-1
  hvctl certs revoke alice --cluster prod.yaml      (also pushes the list to every agent)
  hvctl certs push --cluster prod.yaml
  hvctl certs list --json`,
  );

  certs
    .command('init')
    .description('Create the cluster CA (ECDSA P-256, 10 years). Refuses to replace an existing one without --force.')
    .option(...dirOption)
    .option('--cluster <name>', 'cluster name recorded in the CA', 'cluster')
    .option('--force', 'replace an existing CA: everything it issued stops working on agents given the new ca.crt')
    .action(async (options: { dir?: string; cluster: string; force?: boolean }) => {
      const dir = options.dir ?? defaultCaDir();
      const ca = await initCaDir(dir, { cluster: options.cluster, ...(options.force ? { force: true } : {}) });
      console.log(`CA created in ${dir} (serial ${ca.serial}, valid until ${ca.notAfter.toISOString().slice(0, 10)})`);
      console.log(`next: hvctl certs issue NODE --role node (one per agent), hvctl certs issue NAME --role operator`);
    });

  certs
    .command('issue <name>')
    .description('Issue a certificate: node (an agent; serves and calls), or viewer/operator/admin (a person or script; calls).')
    .option(...dirOption)
    .requiredOption('--role <role>', 'node, viewer, operator or admin')
    .option('--san <host>', 'extra DNS name or IP of a node certificate (repeatable)', collect)
    .option('--days <n>', 'validity in days (default 825 for nodes, 365 otherwise)')
    .option('--force', 'replace an issued certificate of the same name (rotation; revoke the old serial afterwards)')
    .option('--json', 'machine-readable output')
    .addHelpText('after', '\nExamples:\n  hvctl certs issue msk-1 --role node --san msk-1.dc.example.net --san 10.0.1.11\n  hvctl certs issue alice --role operator --days 90')
    .action(async (name: string, options: { dir?: string; role: string; san?: string[]; days?: string; force?: boolean; json?: boolean }) => {
      const dir = options.dir ?? defaultCaDir();
      const result = await issueInCaDir(dir, {
        name: validateNodeName(name, 'NAME'),
        role: parseRole(options.role),
        ...(options.san ? { sans: options.san } : {}),
        ...(options.days ? { days: parseDays(options.days) } : {}),
        ...(options.force ? { force: true } : {}),
      });
      if (options.json) {
        console.log(JSON.stringify(result, null, 2));
        return;
      }
      console.log(`issued ${result.record.role} certificate for ${name}: serial ${result.record.serial}, valid until ${result.record.notAfter.slice(0, 10)}`);
      console.log(`  certificate ${result.certPath}\n  key         ${result.keyPath}\n  CA          ${result.caPath}`);
      console.log(
        result.record.role === 'node'
          ? `next: copy the three files and ${dir}/revoked.json to ${name} and set tls: {ca, cert, key, revoked} in its agent.yaml`
          : `next: give the pair to ${name}; in their cluster file: tls: {ca: ca.crt, cert: ${name}.crt, key: ${name}.key}`,
      );
    });

  certs
    .command('token <name>')
    .description('Sign a bearer token for a script that cannot hold a certificate (sent as "authorization: Bearer TOKEN").')
    .option(...dirOption)
    .requiredOption('--role <role>', 'viewer, operator or admin')
    .option('--expires <duration>', 'lifetime: 30m, 24h, 7d', '24h')
    .option('--nodes <a,b>', 'only valid on these nodes')
    .option('--json', 'machine-readable output')
    .addHelpText('after', '\nThe token is printed once and never stored; its id is recorded for revocation.\n\nExamples:\n  HVCTL_TOKEN=$(hvctl certs token billing --role viewer --expires 7d) hvctl status --ca ca.crt\n  hvctl certs token backup-cron --role operator --expires 1h --nodes bak-1')
    .action(async (name: string, options: { dir?: string; role: string; expires: string; nodes?: string; json?: boolean }) => {
      const { token, payload } = await createTokenInCaDir(options.dir ?? defaultCaDir(), {
        name: validateNodeName(name, 'NAME'),
        role: parseRole(options.role),
        expiresMs: parseTokenLifetime(options.expires),
        ...(options.nodes ? { nodes: options.nodes.split(',').map((node) => node.trim()).filter(Boolean) } : {}),
      });
      if (options.json) console.log(JSON.stringify({ token, ...payload }, null, 2));
      else {
        console.log(token);
        console.error(`token ${payload.id} for ${payload.name} (${payload.role}) expires ${new Date(payload.exp * 1000).toISOString()}`);
      }
    });

  certs
    .command('revoke <target>')
    .description('Revoke by name (every certificate and token of that holder), certificate serial, or token id, and push the signed list to every agent.')
    .option(...dirOption)
    .option('--reason <text>', 'why (recorded)', 'revoked by an admin')
    .option('--push', 'send the signed list to every agent of the cluster (default when --cluster or $HVCTL_CLUSTER is given)')
    .option('--no-push', 'only write the CA directory\'s revoked.json')
    .option('--timeout <ms>', 'how long to wait for each agent when pushing', timeoutMs, 5000)
    .option('--json', 'machine-readable output')
    .addHelpText(
      'after',
      `
The CA directory's revoked.json is numbered and signed with ca.key. With --push (the default
when a cluster is named) every agent gets it at once over SecurityService.UpdateRevocations
(your identity must be admin); each agent checks the signature, refuses an older list,
writes it to its tls.revoked file and refuses the revoked identity from its next call.
Exit code 1 when an agent was not updated: run \`hvctl certs push\` once it is back.
Without a push, copy revoked.json to every agent's tls.revoked path (re-read within a second).

Examples:
  hvctl certs revoke alice --reason "left the company" --cluster prod.yaml
  hvctl certs revoke 5A1F3C0D9E... --no-push
  hvctl certs revoke tok-3f2a9c1b0d4e5f60 --push --json`,
    )
    .action(async (target: string, options: { dir?: string; reason: string; push?: boolean; timeout: number; json?: boolean }, command: Command) => {
      const dir = options.dir ?? defaultCaDir();
      const { cluster: clusterOption } = command.optsWithGlobals<{ cluster?: string }>();
      const push = options.push ?? Boolean(clusterOption || process.env['HVCTL_CLUSTER']);
      // The cluster is read first: a bad cluster file stops the command before anything is revoked.
      const cluster = push ? await loadCluster(clusterOption) : undefined;
      const revoked = await revokeInCaDir(dir, target, options.reason);
      const pushed = cluster ? await pushFromCaDir(dir, cluster, options.timeout) : undefined;
      if (options.json) {
        console.log(JSON.stringify({ revoked, ...(pushed ? { list: pushed.number, pushed: pushed.results } : {}) }, null, 2));
        return;
      }
      console.log(revoked.length ? revoked.map((entry) => `revoked ${entry.id} (${entry.name})`).join('\n') : `already revoked: ${target}`);
      if (pushed) console.log(formatPushResults(pushed.results, pushed.number));
      else console.log(`next: hvctl certs push --cluster FILE, or copy ${dir}/revoked.json to every agent's tls.revoked path`);
    });

  certs
    .command('push')
    .description("Send the CA directory's signed revocation list to every agent of the cluster (admin identity needed).")
    .option(...dirOption)
    .option('--timeout <ms>', 'how long to wait for each agent', timeoutMs, 5000)
    .option('--json', 'machine-readable output')
    .addHelpText(
      'after',
      `
For agents that were down during \`hvctl certs revoke\`, or after restoring one. Agents keep
the newest list they were given and refuse an older one. Exit code 1 when an agent was not updated.

Examples:
  hvctl certs push --cluster prod.yaml
  hvctl certs push --json | jq '.pushed[] | select(.ok | not)'`,
    )
    .action(async (options: { dir?: string; timeout: number; json?: boolean }, command: Command) => {
      const { cluster: clusterOption } = command.optsWithGlobals<{ cluster?: string }>();
      const pushed = await pushFromCaDir(options.dir ?? defaultCaDir(), await loadCluster(clusterOption), options.timeout);
      console.log(options.json ? JSON.stringify({ list: pushed.number, pushed: pushed.results }, null, 2) : formatPushResults(pushed.results, pushed.number));
    });

  certs
    .command('list')
    .description('Show the CA, every certificate and token it issued, and which are revoked or expired.')
    .option(...dirOption)
    .option('--json', 'machine-readable output')
    .action(async (options: { dir?: string; json?: boolean }) => {
      const listing = await listCaDir(options.dir ?? defaultCaDir());
      if (options.json) {
        console.log(JSON.stringify(listing, null, 2));
        return;
      }
      const state = (entry: { revoked: boolean; expired: boolean }): string => (entry.revoked ? 'REVOKED' : entry.expired ? 'expired' : 'valid');
      console.log(`CA ${listing.dir} (cluster ${listing.cluster}), valid until ${listing.ca.notAfter.toISOString().slice(0, 10)}\n`);
      console.log(table(['NAME', 'ROLE', 'SERIAL', 'UNTIL', 'STATE'], listing.certificates.map((c) => [c.name, c.role, c.serial, c.notAfter.slice(0, 10), state(c)])));
      if (listing.tokens.length) {
        console.log('');
        console.log(table(['TOKEN', 'NAME', 'ROLE', 'NODES', 'EXPIRES', 'STATE'], listing.tokens.map((t) => [t.id, t.name, t.role, t.nodes?.join(',') ?? 'all', t.expiresAt.slice(0, 16), state(t)])));
      }
    });
  return certs;
}
