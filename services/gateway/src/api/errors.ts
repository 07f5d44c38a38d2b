import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from '@hal/observability';
import { ErrorCode, HalError, httpStatusOf, toHalError } from '@hal/protocol';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

/**
 * Longest raw path parameter the router takes. Above any id's escaped form (256 characters,
 * percent-encoded up to 3 bytes each), so an id too long is refused by its schema, with its path.
 */
export const MAX_PARAM_LENGTH = 2048;

/** The failure envelope every API error takes: `{"error": {code, message, details?}}`. */
export function sendError(reply: FastifyReply, err: HalError): FastifyReply {
  reply.request.halErrorCode = err.code;
  reply.request.halErrorMessage = err.message;
  return reply.code(httpStatusOf[err.code]).send({ error: err.toBody() });
}

/**
 * Fastify raises its own errors before our handlers run (body parsing, size limits). They are
 * mapped into the catalogue here, so a client sees one vocabulary whatever layer refused it.
 */
export function fromFastifyError(err: FastifyError): HalError {
  switch (err.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new HalError(ErrorCode.PAYLOAD_TOO_LARGE, 'request body is larger than server.max_body_bytes');
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new HalError(ErrorCode.VALIDATION_FAILED, `invalid JSON body: ${err.message}`);
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new HalError(ErrorCode.VALIDATION_FAILED, 'unsupported content-type: send application/json');
    case 'FST_ERR_BAD_URL':
      return new HalError(ErrorCode.VALIDATION_FAILED, 'the URL path is not valid percent-encoded UTF-8');
    case 'FST_ERR_MAX_PARAM_LENGTH':
      return new HalError(
        ErrorCode.VALIDATION_FAILED,
        `a path parameter is longer than ${MAX_PARAM_LENGTH} characters`,
      );
    default:
      break;
  }
  if (typeof err.statusCode === 'number' && err.statusCode >= 400 && err.statusCode < 500) {
    return new HalError(ErrorCode.VALIDATION_FAILED, err.message);
  }
  return toHalError(err);
}

/**
 * Fastify's `clientErrorHandler`: what Node's HTTP parser refuses (a URL or headers past its
 * 16 KiB limit, a malformed request line) is answered in the error envelope like everything else.
 */
export function answerClientError(err: Error & { code?: string }, socket: Duplex): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const tooLarge = err.code === 'HPE_HEADER_OVERFLOW';
  const halErr = tooLarge
    ? new HalError(ErrorCode.PAYLOAD_TOO_LARGE, 'the request line and headers are larger than 16 KiB')
    : new HalError(ErrorCode.VALIDATION_FAILED, 'malformed HTTP request');
  const body = JSON.stringify({ error: halErr.toBody() });
  const status = httpStatusOf[halErr.code];
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}

/**
 * Fastify's `frameworkErrors`: what its router refuses before any route runs (a path that is not
 * valid percent-encoding, a parameter past MAX_PARAM_LENGTH) gets the error envelope too.
 */
export function answerFrameworkError(err: FastifyError, _req: FastifyRequest, reply: FastifyReply): void {
  void sendError(reply, fromFastifyError(err));
}

export function installErrorHandlers(app: FastifyInstance, log: Logger): void {
  app.setErrorHandler((err: FastifyError | HalError, req: FastifyRequest, reply: FastifyReply) => {
    const halErr = err instanceof HalError ? err : fromFastifyError(err);
    if (halErr.code === ErrorCode.INTERNAL) {
      log.error({ err, request_id: req.id, route: req.routeOptions.url }, 'request failed');
      // The cause may hold internals (paths, stack); the client gets a stable, bland message.
      return sendError(
        reply,
        new HalError(ErrorCode.INTERNAL, 'internal error', { details: { request_id: req.id } }),
      );
    }
    return sendError(reply, halErr);
  });
  app.setNotFoundHandler((req, reply) =>
    sendError(reply, new HalError(ErrorCode.NOT_FOUND, `no route ${req.method} ${req.url.split('?')[0]}`)),
  );
}
