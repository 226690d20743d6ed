/**
 * The failures of a remote text model, one class per condition, all {@linkcode ModelError}s, so
 * that a worker can tell them apart without reading messages. Messages are one line and name the
 * server.
 *
 * @module
 */

/** A text model could not answer. */
export class ModelError extends Error {
  override name = "ModelError";
}

/** The model server could not be reached (connection refused, unknown host, TLS failure). */
export class ModelUnreachableError extends ModelError {
  override name = "ModelUnreachableError";
}

/** The model server answered with an HTTP error status; the message carries its explanation. */
export class ModelHttpError extends ModelError {
  override name = "ModelHttpError";
  /** The HTTP status the server answered with. */
  readonly status: number;

  /** An error for an answer with `status`. */
  constructor(message: string, status: number, options?: ErrorOptions) {
    super(message, options);
    this.status = status;
  }
}

/** The server's stream was malformed, broke off, or reported an error mid-way. */
export class ModelStreamError extends ModelError {
  override name = "ModelStreamError";
}

/** The server sent nothing for longer than the configured timeout. */
export class ModelTimeoutError extends ModelError {
  override name = "ModelTimeoutError";
}
