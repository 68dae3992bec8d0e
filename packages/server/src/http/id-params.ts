/** The `{id}` of a session, call or key in a path: part of the API contract (see @warden/api). */
export { IdParamsSchema as IdParams } from '@warden/api';
