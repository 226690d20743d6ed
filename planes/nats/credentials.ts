/**
 * The credentials of a NATS connection: a user and password, a token, or an NKey seed file (never
 * more than one kind), and TLS with a CA file and, for mutual TLS, a client certificate and key.
 * The files are read (and checked) before connecting, so a missing or unreadable one is an error
 * naming it. Passwords, tokens and seeds never appear in a message or a log line.
 *
 * @module
 */

import {
  type Authenticator,
  type ConnectionOptions,
  nkeyAuthenticator,
  nkeys,
} from "@nats-io/transport-node";
import { readConnectionFile, readTlsFiles, type TlsFiles } from "../../utils/pem.ts";

/** What a NATS client proves itself with, and how its connection is secured. */
export interface NatsCredentials {
  /** User for user/password authentication. */
  user?: string;
  /** Password for user/password authentication. */
  pass?: string;
  /** Token for token authentication. */
  token?: string;
  /**
   * A file holding a user NKey seed (`SU...`, as `nk -gen user` or `nsc` write it) for NKey
   * authentication: the seed signs the server's nonce; only the public key is sent.
   */
  nkeySeedFile?: string;
  /**
   * TLS. When present (even `{}`), the connection must be TLS; without it, TLS is used when the
   * server asks for it, verified against the system's CAs.
   */
  tls?: TlsFiles;
}

/**
 * The nats.js connection options for `credentials`, with the files read and checked. `shown` is
 * the server list for messages (without credentials).
 *
 * @throws {TypeError} when more than one kind of credentials is given, or a TLS certificate
 * without its key.
 * @throws {Error} `Cannot read the NATS TLS CA file "...": not found` (or certificate, key, NKey
 * seed file) when a file cannot be read or does not hold what it should.
 */
export function credentialOptions(
  credentials: NatsCredentials,
  shown: string,
): Pick<ConnectionOptions, "user" | "pass" | "token" | "authenticator" | "tls"> {
  const kinds = [
    credentials.user !== undefined || credentials.pass !== undefined ? "a user and password" : "",
    credentials.token !== undefined ? "a token" : "",
    credentials.nkeySeedFile !== undefined ? "an NKey seed file" : "",
  ].filter(Boolean);
  if (kinds.length > 1) {
    throw new TypeError(
      `Cannot connect to NATS at ${shown}: give one kind of credentials, not ${
        kinds.join(" and ")
      }`,
    );
  }
  const authenticator = credentials.nkeySeedFile === undefined
    ? undefined
    : _nkeyAuthenticator(credentials.nkeySeedFile);
  const tls = credentials.tls === undefined ? undefined : readTlsFiles(credentials.tls, "NATS", {
    unpairedMessage:
      "Cannot connect to NATS: a TLS client certificate needs its key (certFile and keyFile)",
  });
  return {
    user: credentials.user,
    pass: credentials.pass,
    token: credentials.token,
    ...(authenticator ? { authenticator } : {}),
    ...(tls ? { tls } : {}),
  };
}

/** An NKey authenticator from a seed file; checks that it holds a user seed (never shown). */
function _nkeyAuthenticator(path: string): Authenticator {
  const what = "NATS NKey seed file";
  const text = readConnectionFile(path, what);
  // The file may hold only the seed, or the seed among other lines (as `nk -gen user -pubout`).
  const seed = /\bSU[A-Z2-7]{50,}\b/.exec(text)?.[0];
  let publicKey = "";
  try {
    if (seed) publicKey = nkeys.fromSeed(new TextEncoder().encode(seed)).getPublicKey();
  } catch {
    // not a valid seed: said below
  }
  if (!publicKey.startsWith("U")) {
    throw new Error(`Cannot read the ${what} "${path}": it holds no user NKey seed (SU...)`);
  }
  const bytes = new TextEncoder().encode(seed);
  return nkeyAuthenticator(() => bytes);
}
