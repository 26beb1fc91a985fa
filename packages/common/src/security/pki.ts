import { X509Certificate as NodeX509Certificate, randomBytes, webcrypto as nodeWebcrypto } from 'node:crypto';
import type * as X509 from '@peculiar/x509';
import { invalidArgument } from '../errors.js';
import { validateNodeName } from '../validation.js';
import { normalizeSerial } from './pem.js';
import { ROLE_URI_PREFIX, isRole, type Role } from './roles.js';

/**
 * The cluster's own certificate authority and the certificates it issues (ECDSA P-256,
 * SHA-256). A certificate names its holder in the subject CN and its role in a SAN URI
 * `urn:hvctl:role:ROLE`; node certificates also carry the node name (and any extra
 * host names or IPs) as DNS/IP SANs and may serve (serverAuth) as well as call
 * (clientAuth). Pure: files are the CA directory's business (ca-dir.ts).
 */

/**
 * @peculiar/x509 (with reflect-metadata ~16 MB of memory and ~0.25 s to load) is needed only
 * to create certificates, so it is imported on first use (then from Node's module cache):
 * the agent, which only reads certificates (node:crypto), never loads it.
 */
async function loadX509(): Promise<typeof X509> {
  await import('reflect-metadata');
  return import('@peculiar/x509');
}

type CryptoKey = nodeWebcrypto.CryptoKey;
type CryptoKeyPair = nodeWebcrypto.CryptoKeyPair;
/** Node's WebCrypto, typed as the DOM Crypto @peculiar/x509 expects (the same API). */
const webcrypto = nodeWebcrypto as unknown as Parameters<typeof X509.X509CertificateGenerator.create>[1];
const subtle = nodeWebcrypto.subtle;
const EC = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const SIGNING = { name: 'ECDSA', hash: 'SHA-256' } as const;
const DAY_MS = 86_400_000;

/** A certificate and its private key, PEM encoded. */
export interface PemPair {
  readonly certPem: string;
  readonly keyPem: string;
}

export interface IssuedCertificate extends PemPair {
  /** Upper-case hex, as agents see it. */
  readonly serial: string;
  readonly notAfter: Date;
}

/** What a certificate says about its holder. */
export interface CertificateInfo {
  readonly name: string;
  /** Undefined when the certificate carries no (or more than one) hvctl role. */
  readonly role: Role | undefined;
  readonly serial: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly issuer: string;
  readonly subject: string;
  /** DNS and IP subjectAltNames. */
  readonly hosts: readonly string[];
  readonly isCa: boolean;
}

/** A random positive serial (16 bytes; the first nibble is never 0, so its hex never changes when normalised). */
function randomSerial(): string {
  const bytes = randomBytes(16);
  bytes[0] = ((bytes[0] ?? 0) & 0x6f) | 0x10;
  return bytes.toString('hex');
}

async function newKeys(): Promise<CryptoKeyPair> {
  return subtle.generateKey(EC, true, ['sign', 'verify']) as Promise<CryptoKeyPair>;
}

async function keyPem(key: CryptoKey): Promise<string> {
  const x509 = await loadX509();
  return x509.PemConverter.encode(await subtle.exportKey('pkcs8', key), 'PRIVATE KEY');
}

async function importSigningKey(pem: string): Promise<CryptoKey> {
  const x509 = await loadX509();
  const der = x509.PemConverter.decodeFirst(pem);
  return subtle.importKey('pkcs8', der, EC, false, ['sign']);
}

/** Creates a self-signed CA for cluster `cluster`, valid `days` (default 10 years). */
export async function createCa(options: { readonly cluster: string; readonly days?: number; readonly now?: Date }): Promise<IssuedCertificate> {
  const x509 = await loadX509();
  const now = options.now ?? new Date();
  const keys = await newKeys();
  const serialNumber = randomSerial();
  const notAfter = new Date(now.getTime() + (options.days ?? 3650) * DAY_MS);
  const cert = await x509.X509CertificateGenerator.createSelfSigned(
    {
      serialNumber,
      name: [{ CN: [`hvctl cluster CA ${options.cluster}`] }, { O: ['hvctl'] }],
      notBefore: new Date(now.getTime() - 60_000),
      notAfter,
      keys,
      signingAlgorithm: SIGNING,
      extensions: [
        new x509.BasicConstraintsExtension(true, 0, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature, true),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey, false, webcrypto),
      ],
    },
    webcrypto,
  );
  return { certPem: cert.toString('pem'), keyPem: await keyPem(keys.privateKey), serial: normalizeSerial(serialNumber), notAfter };
}

export interface IssueOptions {
  readonly ca: PemPair;
  /** Holder: a node name for `node`, a person's or script's name otherwise. */
  readonly name: string;
  readonly role: Role;
  /** Extra DNS names or IPs (node certificates only). */
  readonly sans?: readonly string[];
  /** Validity; default 825 days for nodes, 365 for people and scripts. */
  readonly days?: number;
  /** Start of validity (tests issue expired certificates with a past date). */
  readonly now?: Date;
}

const IPV4 = /^\d{1,3}(\.\d{1,3}){3}$/;

/** Issues a certificate signed by the CA. */
export async function issueCertificate(options: IssueOptions): Promise<IssuedCertificate> {
  const name = validateNodeName(options.name, 'certificate name');
  if (!isRole(options.role)) throw invalidArgument(`unknown role "${String(options.role)}"`);
  const sans = options.sans ?? [];
  if (sans.length && options.role !== 'node') throw invalidArgument('--san is only for node certificates (people and scripts only call, they never serve)');
  for (const san of sans) {
    if (!IPV4.test(san) && !/^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?$/.test(san) && !san.includes(':')) {
      throw invalidArgument(`--san "${san}" is neither a host name nor an IP address`);
    }
  }
  const days = options.days ?? (options.role === 'node' ? 825 : 365);
  if (!(Number.isInteger(days) && days >= 1 && days <= 36_500)) throw invalidArgument(`--days must be a whole number from 1 to 36500, got ${days}`);
  const x509 = await loadX509();
  const now = options.now ?? new Date();
  const caCert = new x509.X509Certificate(options.ca.certPem);
  const caKey = await importSigningKey(options.ca.keyPem);
  const keys = await newKeys();
  const serialNumber = randomSerial();
  const notAfter = new Date(now.getTime() + days * DAY_MS);
  const names: X509.JsonGeneralNames = [{ type: 'url', value: `${ROLE_URI_PREFIX}${options.role}` }];
  if (options.role === 'node') {
    names.push({ type: 'dns', value: name });
    for (const san of sans) names.push(IPV4.test(san) || san.includes(':') ? { type: 'ip', value: san } : { type: 'dns', value: san });
  }
  const usages = options.role === 'node' ? [x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth] : [x509.ExtendedKeyUsage.clientAuth];
  const cert = await x509.X509CertificateGenerator.create(
    {
      serialNumber,
      subject: [{ CN: [name] }, { OU: [options.role] }, { O: ['hvctl'] }],
      issuer: caCert.subject,
      notBefore: new Date(now.getTime() - 60_000),
      notAfter,
      publicKey: keys.publicKey,
      signingKey: caKey,
      signingAlgorithm: SIGNING,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyAgreement, true),
        new x509.ExtendedKeyUsageExtension(usages, false),
        new x509.SubjectAlternativeNameExtension(names, false),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey, false, webcrypto),
        await x509.AuthorityKeyIdentifierExtension.create(caCert, false, webcrypto),
      ],
    },
    webcrypto,
  );
  return { certPem: cert.toString('pem'), keyPem: await keyPem(keys.privateKey), serial: normalizeSerial(serialNumber), notAfter };
}

/** The hvctl role in a subjectAltName string as Node prints it ("DNS:msk-1, URI:urn:hvctl:role:node"). */
export function roleFromSubjectAltName(subjectAltName: string | undefined): Role | undefined {
  const roles = (subjectAltName ?? '')
    .split(/,\s*/)
    .filter((entry) => entry.startsWith(`URI:${ROLE_URI_PREFIX}`))
    .map((entry) => entry.slice(`URI:${ROLE_URI_PREFIX}`.length));
  // Exactly one role, or none: a certificate claiming two roles is not trusted with either.
  return roles.length === 1 && isRole(roles[0]) ? roles[0] : undefined;
}

/** The CN of a subject as Node prints it ("CN=alice\nOU=operator\nO=hvctl"). */
function commonName(subject: string): string {
  return /(?:^|\n)CN=([^\n]*)/.exec(subject)?.[1] ?? '';
}

/** Reads what a certificate (PEM or DER) says about its holder. */
export function describeCertificate(cert: string | Buffer): CertificateInfo {
  const parsed = new NodeX509Certificate(cert);
  const hosts = (parsed.subjectAltName ?? '')
    .split(/,\s*/)
    .filter((entry) => entry.startsWith('DNS:') || entry.startsWith('IP Address:'))
    .map((entry) => entry.replace(/^(DNS|IP Address):/, ''));
  return {
    name: commonName(parsed.subject),
    role: roleFromSubjectAltName(parsed.subjectAltName),
    serial: normalizeSerial(parsed.serialNumber),
    notBefore: new Date(parsed.validFrom),
    notAfter: new Date(parsed.validTo),
    issuer: parsed.issuer.replace(/\n/g, ', '),
    subject: parsed.subject.replace(/\n/g, ', '),
    hosts,
    isCa: parsed.ca,
  };
}

/** True when `cert` was signed by the CA certificate `caPem` (signature and issuer name). */
export function isIssuedBy(cert: string | Buffer, caPem: string): boolean {
  const ca = new NodeX509Certificate(caPem);
  const parsed = new NodeX509Certificate(cert);
  return parsed.checkIssued(ca) && parsed.verify(ca.publicKey);
}
