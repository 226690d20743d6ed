/**
 * Certificate files of a TLS connection, and the one reader of them: every failure names the file
 * and its role (`Cannot read the NATS TLS CA file "ca.pem": not found`).
 *
 * @module
 */

/**
 * Certificate files of a TLS connection (`tls:` under `nats:` or `etcd:`). Paths only: the files
 * are read when the connection is made. In a config file a relative path is relative to the file.
 */
export interface TlsFiles {
  /** PEM file of the CA(s) that signed the server's certificate. Default: the system's CAs. */
  caFile?: string;
  /** PEM file of this client's certificate (mutual TLS); needs {@linkcode TlsFiles.keyFile}. */
  certFile?: string;
  /** PEM file of the private key of {@linkcode TlsFiles.certFile}. */
  keyFile?: string;
}

/** The contents of {@linkcode TlsFiles}, each checked to be PEM of the right kind. */
export interface TlsPem {
  ca?: string;
  cert?: string;
  key?: string;
}

/**
 * Reads a file for a connection; a failure names the file and its role.
 *
 * @example
 * ```ts ignore
 * const seed = readConnectionFile("nats.nk", "NATS NKey seed file");
 * ```
 */
export function readConnectionFile(path: string, what: string): string {
  try {
    return new TextDecoder().decode(Deno.readFileSync(path));
  } catch (error) {
    throw new Error(`Cannot read the ${what} "${path}": ${fileProblem(error)}`, { cause: error });
  }
}

/** A file error in a few words (`not found`, `permission denied`, ...). */
export function fileProblem(error: unknown): string {
  if (error instanceof Deno.errors.NotFound) return "not found";
  if (error instanceof Deno.errors.PermissionDenied) return "permission denied";
  if (error instanceof Deno.errors.NotCapable) return "no read permission (--allow-read)";
  if (error instanceof Deno.errors.IsADirectory) return "it is a directory";
  return error instanceof Error ? error.message : String(error);
}

/** Options for {@linkcode readTlsFiles}. */
export interface ReadTlsFilesOptions {
  /**
   * The message of the `TypeError` for a certificate without its key (or a key without its
   * certificate). Default: `<service> TLS: a client certificate needs its key (certFile and
   * keyFile)`.
   */
  unpairedMessage?: string;
}

/**
 * Reads the PEM files of a TLS connection to `service` ("NATS", "etcd"). A certificate without
 * its key (or a key without its certificate) is a `TypeError`; a file that is missing, unreadable
 * or holds no PEM of its kind is an `Error` naming it.
 *
 * @example
 * ```ts ignore
 * const pem = readTlsFiles({ caFile: "ca.pem" }, "etcd");
 * // or: Error: Cannot read the etcd TLS CA file "ca.pem": not found
 * ```
 */
export function readTlsFiles(
  files: TlsFiles,
  service: string,
  options: ReadTlsFilesOptions = {},
): TlsPem {
  if ((files.certFile === undefined) !== (files.keyFile === undefined)) {
    throw new TypeError(
      options.unpairedMessage ??
        `${service} TLS: a client certificate needs its key (certFile and keyFile)`,
    );
  }
  const read = (path: string | undefined, what: string, kind: RegExp) => {
    if (path === undefined) return undefined;
    const text = readConnectionFile(path, `${service} TLS ${what}`);
    if (!kind.test(text)) {
      throw new Error(
        `Cannot read the ${service} TLS ${what} "${path}": it holds no PEM ${kind.source}`,
      );
    }
    return text;
  };
  const pem: TlsPem = {};
  const ca = read(files.caFile, "CA file", /CERTIFICATE/);
  const cert = read(files.certFile, "certificate file", /CERTIFICATE/);
  const key = read(files.keyFile, "key file", /PRIVATE KEY/);
  if (ca !== undefined) pem.ca = ca;
  if (cert !== undefined) pem.cert = cert;
  if (key !== undefined) pem.key = key;
  return pem;
}
