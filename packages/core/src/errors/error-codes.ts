/** The error codes are part of the HTTP API's contract: defined in @warden/api, used everywhere from here. */
export { ERROR_CODES, type ErrorCode } from '@warden/api';
