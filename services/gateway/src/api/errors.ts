import { ErrorCode, HalError, httpStatusOf, toHalError } from '@hal/protocol';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';

/** The failure envelope every API error takes: `{"error": {code, message, details?}}`. */
export function sendError(reply: FastifyReply, err: HalError): FastifyReply {
  reply.request.halErrorCode = err.code;
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
    default:
      break;
  }
  if (typeof err.statusCode === 'number' && err.statusCode >= 400 && err.statusCode < 500) {
    return new HalError(ErrorCode.VALIDATION_FAILED, err.message);
  }
  return toHalError(err);
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
