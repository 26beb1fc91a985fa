import { X509Certificate, createPrivateKey } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { describeCertificate, isIssuedBy, readRevocationList } from '@hvctl/common';
import type { AgentConfig } from '../config.js';
import type { DoctorCheck } from './doctor.js';

/** A node certificate expiring sooner than this is a warning. */
const EXPIRY_WARNING_DAYS = 30;
const DAY_MS = 86_400_000;

async function readable(path: string): Promise<Buffer | string> {
  try {
    return await readFile(path);
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'does not exist' : (error as Error).message;
  }
}

/**
 * The `tls:` section (docs/security.md): the files exist, the key is private (0600), the
 * certificate is a node certificate for this node, issued by the configured CA, not
 * expired (a warning within 30 days), matching its key and not revoked. The agent refuses
 * to start on most of these; doctor says which one and how to fix it before it does.
 */
export async function tlsChecks(config: AgentConfig, now: Date = new Date()): Promise<DoctorCheck[]> {
  const tls = config.tls;
  const reissue = `on the admin machine: hvctl certs issue ${config.node} --role node --force, then copy issued/${config.node}.crt and .key here`;
  if (!tls) {
    return [
      {
        name: 'tls',
        status: 'fail',
        detail: 'no tls: section: the agent refuses to start without it (it never serves plaintext unless run with --insecure-lab, for labs only)',
        fix: `hvctl certs issue ${config.node} --role node on the admin machine, copy ca.crt, ${config.node}.crt, ${config.node}.key and revoked.json to /etc/hvctl/tls/ (0600) and add the tls: section (agent.example.yaml)`,
      },
    ];
  }
  const checks: DoctorCheck[] = [];
  const [ca, cert, key] = await Promise.all([readable(tls.ca), readable(tls.cert), readable(tls.key)]);
  for (const [what, path, content] of [
    ['tls ca', tls.ca, ca],
    ['tls cert', tls.cert, cert],
    ['tls key', tls.key, key],
  ] as const) {
    if (typeof content === 'string') checks.push({ name: what, status: 'fail', detail: `${path}: ${content}`, fix: `copy it from the CA directory (hvctl certs issue writes issued/${config.node}.crt and .key next to ca.crt)` });
  }

  if (typeof key !== 'string') {
    const mode = (await stat(tls.key)).mode & 0o777;
    const loose = (mode & 0o077) !== 0;
    checks.push({ name: 'tls key', status: loose ? 'fail' : 'ok', detail: `${tls.key} mode ${mode.toString(8).padStart(4, '0')}`, ...(loose ? { fix: `chmod 600 ${tls.key}` } : {}) });
  }

  if (typeof cert !== 'string') {
    let info: ReturnType<typeof describeCertificate> | undefined;
    try {
      info = describeCertificate(cert);
    } catch (error) {
      checks.push({ name: 'tls cert', status: 'fail', detail: `${tls.cert} is not a PEM certificate: ${(error as Error).message}`, fix: reissue });
    }
    if (info) {
      const problems: string[] = [];
      if (info.role !== 'node') problems.push(`a ${info.role ?? 'role-less'} certificate, not a node certificate`);
      if (!info.hosts.includes(config.node)) problems.push(`issued for ${info.hosts.join(', ') || info.name}, not for node ${config.node}`);
      if (info.notAfter.getTime() <= now.getTime()) problems.push(`expired at ${info.notAfter.toISOString()}`);
      else if (info.notBefore.getTime() > now.getTime()) problems.push(`not valid before ${info.notBefore.toISOString()} (check the clock)`);
      if (typeof ca !== 'string') {
        try {
          if (!isIssuedBy(cert, ca.toString('utf8'))) problems.push(`not issued by the CA in ${tls.ca}`);
        } catch (error) {
          checks.push({ name: 'tls ca', status: 'fail', detail: `${tls.ca} is not a PEM certificate: ${(error as Error).message}`, fix: 'copy ca.crt from the CA directory' });
        }
      }
      if (typeof key !== 'string') {
        try {
          if (!new X509Certificate(cert).checkPrivateKey(createPrivateKey(key))) problems.push(`${tls.key} is not its key`);
        } catch (error) {
          problems.push(`${tls.key} is not a private key: ${(error as Error).message}`);
        }
      }
      const daysLeft = Math.floor((info.notAfter.getTime() - now.getTime()) / DAY_MS);
      if (problems.length) {
        checks.push({ name: 'tls cert', status: 'fail', detail: `${tls.cert}: ${problems.join('; ')}`, fix: reissue });
      } else if (daysLeft < EXPIRY_WARNING_DAYS) {
        checks.push({ name: 'tls cert', status: 'warn', detail: `${tls.cert}: node ${config.node}, expires in ${daysLeft} day(s) (${info.notAfter.toISOString()})`, fix: reissue });
      } else {
        checks.push({ name: 'tls cert', status: 'ok', detail: `${tls.cert}: node certificate for ${config.node}, issued by the cluster CA, valid until ${info.notAfter.toISOString().slice(0, 10)}` });
      }
      checks.push(await revocationCheck(tls.revoked, info.serial, reissue));
    }
  }
  return checks;
}

async function revocationCheck(path: string | undefined, serial: string, reissue: string): Promise<DoctorCheck> {
  if (!path) {
    return { name: 'tls revoked', status: 'warn', detail: 'tls.revoked is not set: revoked certificates and tokens would still be accepted', fix: 'copy revoked.json from the CA directory and set tls.revoked' };
  }
  try {
    const list = await readRevocationList(path);
    const own = list.serials.find((entry) => entry.id === serial);
    if (own) return { name: 'tls revoked', status: 'fail', detail: `${path} revokes this node's own certificate (serial ${serial}, ${own.reason})`, fix: reissue };
    return { name: 'tls revoked', status: 'ok', detail: `${path}: ${list.serials.length} certificate(s), ${list.tokens.length} token(s) revoked${list.number ? `, list #${list.number}` : ''}` };
  } catch (error) {
    return { name: 'tls revoked', status: 'fail', detail: (error as Error).message, fix: `restore ${path} from the CA directory` };
  }
}
