import { invalidArgument } from '../errors.js';

/**
 * What a caller may do (docs/security.md). `viewer` reads and watches, `operator` also
 * runs migrations, drains, undrains and backups, `admin` may do everything a person may
 * (failover, force-promote, break a lease, restore over data). `node` is another agent
 * of the cluster: it may do what a coordinator needs on its peers, and nothing else.
 */
export const ROLES = ['viewer', 'operator', 'admin', 'node'] as const;
export type Role = (typeof ROLES)[number];

/** The roles people and scripts hold, from least to most powerful. */
export const PERSON_ROLES = ['viewer', 'operator', 'admin'] as const;
export type PersonRole = (typeof PERSON_ROLES)[number];

/** A certificate carries its role as this URI in its subjectAltName: `urn:hvctl:role:operator`. */
export const ROLE_URI_PREFIX = 'urn:hvctl:role:';

export function isRole(value: unknown): value is Role {
  return typeof value === 'string' && (ROLES as readonly string[]).includes(value);
}

/** Parses a role name from a person (`--role`); INVALID_ARGUMENT names the choices. */
export function parseRole(value: string, field = '--role'): Role {
  if (!isRole(value)) throw invalidArgument(`${field} must be one of ${ROLES.join(', ')}; got "${value}"`);
  return value;
}

/** True when `held` is at least `needed` among the person roles (node is not ranked). */
export function roleAtLeast(held: Role, needed: PersonRole): boolean {
  if (held === 'node') return false;
  return PERSON_ROLES.indexOf(held) >= PERSON_ROLES.indexOf(needed);
}
